package profile

import (
	"errors"
	"strings"
	"testing"
)

// render shows a parsed file compactly: one line per option, values with
// their newlines escaped.
func render(f *File) string {
	var b strings.Builder
	for _, s := range f.Sections {
		b.WriteString("[" + s.Name + "]\n")
		for _, o := range s.Options {
			b.WriteString(o.Name + " " + o.Op.String() + " " + strings.ReplaceAll(o.Value, "\n", `\n`) + "\n")
		}
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"byte order mark", "\ufeff[a]\nx = 1\n", "[a]\nx = 1\n"},
		{"comments and blank lines", "# c\n; c\n\n[a]\n# c\nx = 1\n", "[a]\nx = 1\n"},
		{"header comment", "[a] # the a section\nx=1", "[a]\nx = 1\n"},
		{"operators", "[a]\nx += 1\ny -= 2\nz=3\n", "[a]\nx += 1\ny -= 2\nz = 3\n"},
		{"operators without blanks", "[a]\nx+=1\ny-=2\n", "[a]\nx += 1\ny -= 2\n"},
		{"value keeps later equals and hashes", "[a]\ncmd = a=b # not a comment\n", "[a]\ncmd = a=b # not a comment\n"},
		{"empty value", "[a]\nx =\n", "[a]\nx = \n"},
		{"continuation after first line", "[a]\nparts = a\n  b\n  c\n", "[a]\nparts = a\\nb\\nc\n"},
		{"continuation only", "[a]\nparts =\n    a\n    b\n", "[a]\nparts = a\\nb\n"},
		{"relative indentation kept", "[a]\ncmd =\n  if x; then\n    y\n  fi\n", "[a]\ncmd = if x; then\\n  y\\nfi\n"},
		{"blank lines inside kept, outside dropped", "[a]\nt =\n\n  a\n\n  b\n\n\nu = 1\n", "[a]\nt = a\\n\\nb\nu = 1\n"},
		{"comment between continuation lines", "[a]\nx =\n  a\n# comment\n  b\n", "[a]\nx = a\\nb\n"},
		{"indented hash is value", "[a]\nx =\n  a\n  # kept\n", "[a]\nx = a\\n# kept\n"},
		{"tabs", "[a]\nx =\n\ta\n\t\tb\n", "[a]\nx = a\\n\tb\n"},
		{"CRLF", "[a]\r\nx = 1\r\ny =\r\n  2\r\n", "[a]\nx = 1\ny = 2\n"},
		{"macro option", "[a]\n<= b\n", "[a]\n< = b\n"},
		{"dotted and dashed names", "[slap-configuration]\nconfiguration.port = 1\n-slave-reference = x\n", "[slap-configuration]\nconfiguration.port = 1\n-slave-reference = x\n"},
		{"two sections", "[a]\nx = 1\n[b]\nx = 2\n", "[a]\nx = 1\n[b]\nx = 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("test.cfg", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := render(f); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseLines(t *testing.T) {
	f, err := Parse("x.cfg", []byte("# head\n[a]\nx = 1\ny =\n\n   two\n   three\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Sections[0]
	if s.Line != 2 || s.Options[0].Line != 3 || s.Options[1].Line != 4 || s.Options[1].ValueLine != 6 {
		t.Errorf("lines: section %d, x %d, y %d (value %d); want 2, 3, 4 (6)", s.Line, s.Options[0].Line, s.Options[1].Line, s.Options[1].ValueLine)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, in string
		line     int
		section  string
		option   string
		want     string
	}{
		{"option before section", "x = 1\n", 1, "", "", "before any [section]"},
		{"no equal sign", "[a]\njust words\n", 2, "a", "", "neither a [section], an option"},
		{"unclosed header", "[a\nx = 1\n", 1, "", "", "no closing ']'"},
		{"text after header", "[a] b\n", 1, "", "", `unexpected "b"`},
		{"empty section name", "[ ]\n", 1, "", "", "is empty"},
		{"conditional section", "[a:python3]\n", 1, "", "", "contains ':'"},
		{"indented line first", "[a]\n  x = 1\n", 2, "a", "", "continues no option"},
		{"duplicate section", "[a]\n[b]\n[a]\n", 3, "", "", "defined twice in this file (first at line 1)"},
		{"duplicate option", "[a]\nx = 1\nx += 2\n", 3, "a", "x", "set twice in section [a] (first at line 2)"},
		{"empty option name", "[a]\n= 1\n", 2, "a", "", "is empty"},
		{"blank in option name", "[a]\nmy option = 1\n", 2, "a", "", "contains whitespace"},
		{"brace in option name", "[a]\nx{ = 1\n", 2, "a", "", "contains '{'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("bad.cfg", []byte(tt.in))
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) {
				t.Fatalf("err = %v, want a located syntax error", err)
			}
			if pe.File != "bad.cfg" || pe.Line != tt.line || pe.Section != tt.section || pe.Option != tt.option {
				t.Errorf("located at %s:%d [%s] %s, want bad.cfg:%d [%s] %s", pe.File, pe.Line, pe.Section, pe.Option, tt.line, tt.section, tt.option)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestFormatRoundTrip(t *testing.T) {
	in := "[a]\nx = 1\ny +=\n    two\n      indented\n\n    after blank\nz -= w\n\n[b]\nempty =\n"
	f, err := Parse("a.cfg", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse("a.cfg", f.Format())
	if err != nil {
		t.Fatalf("Parse(Format): %v\n%s", err, f.Format())
	}
	if render(f) != render(g) {
		t.Errorf("round trip changed the file:\n%s\nvs\n%s", render(f), render(g))
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"[buildout]\nparts = a\n  b\n[a]\nrecipe = cmmi\nurl = ${:_profile_base_location_}/x.tgz\n",
		"[a]\nx =\n\n\t y\n\t\tz\n# c\n w\n",
		"[a] # c\nx += 1\ny -= 2\n<= b\n",
		"x\n[\n]\n = \n",
		"[a]\r\nx = \r\r\n  y\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.cfg", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || !errors.Is(err, ErrSyntax) || pe.Line < 1 {
				t.Fatalf("error %v is not a located syntax error", err)
			}
			return
		}
		q, err := Parse("fuzz.cfg", p.Format())
		if err != nil {
			t.Fatalf("Parse(Format(Parse(x))) failed: %v\nformatted:\n%q", err, p.Format())
		}
		if render(p) != render(q) {
			t.Fatalf("round trip changed the file:\n%q\nvs\n%q", render(p), render(q))
		}
	})
}

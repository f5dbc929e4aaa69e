package profile

import (
	"slices"
	"testing"
)

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"a b  c", []string{"a", "b", "c"}, false},
		{"  lead\n\ttrail  ", []string{"lead", "trail"}, false},
		{`'single quoted' "double \"q\" \$x" back\ slash`, []string{"single quoted", `double "q" $x`, "back slash"}, false},
		{"joined\\\nline next", []string{"joinedline", "next"}, false},
		{`a''b ""`, []string{"ab", ""}, false},
		{"bin/x -a ${s:o} -n '${s:name}'", []string{"bin/x", "-a", "${s:o}", "-n", "${s:name}"}, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
	}
	for _, tt := range tests {
		words, err := splitWords(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("splitWords(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		var got []string
		for _, w := range words {
			got = append(got, w.text)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path-1.0": "plain/path-1.0",
		"":               "''",
		"two words":      "'two words'",
		"it's":           `'it'\''s'`,
		"$(rm -rf ~)":    "'$(rm -rf ~)'",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

package profile

import (
	"strings"
)

// Op says how an option line combines with the value the same option has in
// the profiles the file extends.
type Op uint8

const (
	OpSet    Op = iota // name = value: replaces
	OpAppend           // name += value: appends the lines to the extended value
	OpRemove           // name -= value: removes the words from the extended value
)

func (o Op) String() string {
	switch o {
	case OpAppend:
		return "+="
	case OpRemove:
		return "-="
	}
	return "="
}

// File is one profile file as written, before extends and substitutions.
type File struct {
	Location string // path or URL it was read from, as used in errors
	Sections []*FileSection
}

// FileSection is one [section] of a File, in file order.
type FileSection struct {
	Name    string
	Line    int
	Options []FileOption
}

// FileOption is one option line (with its continuation lines).
type FileOption struct {
	Name  string
	Op    Op
	Value string // continuation lines dedented, surrounding blank lines removed
	Line  int    // line of "name = …"
	// ValueLine is the line of the value's first line: Line, or the first
	// continuation line when nothing follows the "=". It locates
	// substitution errors inside multi-line values.
	ValueLine int
}

// Parse reads one profile file. The syntax is buildout's INI dialect:
//
//   - "[name]" starts a section (a trailing "# comment" is allowed);
//   - "name = value", "name += value", "name -= value" set an option;
//   - lines starting with whitespace continue the previous option's value;
//     their common indentation is removed, relative indentation and blank
//     lines inside the value are kept;
//   - lines starting with "#" or ";" in the first column are comments, even
//     between continuation lines; a "#" anywhere else is part of the value.
//
// A section or an option given twice in the same file is an error: merging
// happens between files, through extends.
func Parse(location string, data []byte) (*File, error) {
	f := &File{Location: location}
	p := parser{file: f}
	text := strings.TrimPrefix(string(data), "\ufeff") // a byte order mark some editors write
	for i, raw := range strings.Split(text, "\n") {
		if err := p.line(i+1, strings.TrimSuffix(raw, "\r")); err != nil {
			return nil, err
		}
	}
	p.flush()
	return f, nil
}

// spaces are the characters trimmed around names and values.
const spaces = " \t\r"

type parser struct {
	file     *File
	sec      *FileSection
	secLines map[string]int
	optLines map[string]int
	opt      *pendingOption
}

type pendingOption struct {
	name  string
	op    Op
	first string
	line  int
	cont  []string // raw continuation lines, "" for blank ones
	lines []int    // line numbers of cont
}

func (p *parser) fail(line int, option, format string, args ...any) error {
	e := &Error{File: p.file.Location, Line: line, Option: option, Err: errorf(ErrSyntax, format, args...)}
	if p.sec != nil {
		e.Section = p.sec.Name
	}
	return e
}

func (p *parser) line(n int, line string) error {
	if strings.Trim(line, spaces) == "" {
		if p.opt != nil {
			p.opt.cont = append(p.opt.cont, "")
			p.opt.lines = append(p.opt.lines, n)
		}
		return nil
	}
	switch line[0] {
	case '#', ';':
		return nil
	case ' ', '\t':
		if p.opt == nil {
			return p.fail(n, "", "indented line %q continues no option: remove the indentation, or put it under a \"name =\" line", strings.Trim(line, spaces))
		}
		p.opt.cont = append(p.opt.cont, strings.TrimRight(line, spaces))
		p.opt.lines = append(p.opt.lines, n)
		return nil
	case '[':
		p.flush()
		p.sec = nil
		return p.header(n, line)
	}
	p.flush()
	return p.option(n, line)
}

func (p *parser) header(n int, line string) error {
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return p.fail(n, "", "section header %q has no closing ']'", line)
	}
	if rest := strings.Trim(line[end+1:], spaces); rest != "" && rest[0] != '#' && rest[0] != ';' {
		return p.fail(n, "", "unexpected %q after section header: only a comment may follow ']'", rest)
	}
	name := strings.Trim(line[1:end], spaces)
	if err := checkName(name); err != "" {
		return p.fail(n, "", "section name %q %s", name, err)
	}
	if prev, dup := p.secLines[name]; dup {
		return p.fail(n, "", "section [%s] is defined twice in this file (first at line %d): merge them", name, prev)
	}
	if p.secLines == nil {
		p.secLines = map[string]int{}
	}
	p.secLines[name] = n
	p.sec = &FileSection{Name: name, Line: n}
	p.file.Sections = append(p.file.Sections, p.sec)
	p.optLines = map[string]int{}
	return nil
}

func (p *parser) option(n int, line string) error {
	eq := strings.IndexByte(line, '=')
	if eq < 0 {
		return p.fail(n, "", "line %q is neither a [section], an option (name = value) nor a comment", line)
	}
	if p.sec == nil {
		return p.fail(n, "", "option line %q comes before any [section]", line)
	}
	name, op := line[:eq], OpSet
	switch {
	case strings.HasSuffix(name, "+"):
		name, op = name[:len(name)-1], OpAppend
	case strings.HasSuffix(name, "-"):
		name, op = name[:len(name)-1], OpRemove
	}
	name = strings.Trim(name, spaces)
	if err := checkName(name); err != "" {
		return p.fail(n, "", "option name %q %s", name, err)
	}
	if prev, dup := p.optLines[name]; dup {
		return p.fail(n, name, "option is set twice in section [%s] (first at line %d)", p.sec.Name, prev)
	}
	p.optLines[name] = n
	p.opt = &pendingOption{name: name, op: op, first: strings.Trim(line[eq+1:], spaces), line: n}
	return nil
}

// checkName returns why name cannot be a section or option name, or "".
func checkName(name string) string {
	if name == "" {
		return "is empty"
	}
	if i := strings.IndexAny(name, " \t\r[]{}:;#$"); i >= 0 {
		return "contains " + quoteRune(name[i]) + ": names may not contain whitespace or any of []{}:;#$"
	}
	return ""
}

func quoteRune(c byte) string {
	if c == ' ' || c == '\t' || c == '\r' {
		return "whitespace"
	}
	return "'" + string(c) + "'"
}

// flush turns the pending option into a FileOption.
func (p *parser) flush() {
	o := p.opt
	if o == nil {
		return
	}
	p.opt = nil
	cont, lines := o.cont, o.lines
	for len(cont) > 0 && cont[len(cont)-1] == "" {
		cont, lines = cont[:len(cont)-1], lines[:len(lines)-1]
	}
	if o.first == "" {
		for len(cont) > 0 && cont[0] == "" {
			cont, lines = cont[1:], lines[1:]
		}
	}
	prefix, seen := "", false
	for _, c := range cont {
		if c == "" {
			continue
		}
		ws := c[:len(c)-len(strings.TrimLeft(c, " \t"))]
		if !seen {
			prefix, seen = ws, true
			continue
		}
		prefix = commonPrefix(prefix, ws)
	}
	out := make([]string, 0, len(cont)+1)
	valueLine := o.line
	if o.first != "" {
		out = append(out, o.first)
	} else if len(lines) > 0 {
		valueLine = lines[0]
	}
	for _, c := range cont {
		out = append(out, strings.TrimPrefix(c, prefix))
	}
	p.sec.Options = append(p.sec.Options, FileOption{
		Name: o.name, Op: o.op, Value: strings.Join(out, "\n"), Line: o.line, ValueLine: valueLine,
	})
}

func commonPrefix(a, b string) string {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return a[:i]
}

// Format writes f back in the syntax Parse reads: Parse(Format(f)) gives the
// same sections, options, operators and values. Multi-line values are
// written as indented continuation lines.
func (f *File) Format() []byte {
	var b strings.Builder
	for i, s := range f.Sections {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("[" + s.Name + "]\n")
		for _, o := range s.Options {
			b.WriteString(o.Name + " " + o.Op.String())
			if o.Value == "" {
				b.WriteByte('\n')
				continue
			}
			if !strings.Contains(o.Value, "\n") {
				b.WriteString(" " + o.Value + "\n")
				continue
			}
			b.WriteByte('\n')
			for _, l := range strings.Split(o.Value, "\n") {
				if l != "" {
					b.WriteString("    " + l)
				}
				b.WriteByte('\n')
			}
		}
	}
	return []byte(b.String())
}

package account

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// maxDepth bounds element nesting. The deepest legitimate element is a
// movement field (journal > transaction > movement > quantity, depth 4);
// anything far deeper is rejected before it costs memory.
const maxDepth = 16

// element is one XML element of a usage document, read whole before it is
// interpreted, so that errors can name the logical place (transaction 2
// movement 5) and the line.
type element struct {
	name     string
	attrs    []xml.Attr
	children []*element
	text     strings.Builder // character data directly inside, comments dropped
	line     int             // line of the start tag
	strayAt  int             // line of the first non-blank text, 0 if none
}

// readTree parses data into a tree of elements. It rejects what no usage
// document holds: namespaces, more than one root, text outside the root,
// nesting deeper than maxDepth. Comments, processing instructions and the
// DOCTYPE are skipped (encoding/xml expands no custom entity). Documents are
// UTF-8 (or US-ASCII), with or without a byte order mark.
func readTree(data []byte) (*element, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "us-ascii") || strings.EqualFold(charset, "ascii") {
			return input, nil // a subset of UTF-8
		}
		return nil, fmt.Errorf("encoding %q is not supported: write the document in UTF-8", charset)
	}
	var root *element
	var stack []*element
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not well-formed XML: %v", err)
		}
		line, _ := d.InputPos()
		switch tok := tok.(type) {
		case xml.StartElement:
			if tok.Name.Space != "" {
				return nil, fmt.Errorf("element <%s> is in namespace %q (line %d): usage documents use no namespace",
					tok.Name.Local, tok.Name.Space, line)
			}
			if len(stack) == 0 && root != nil {
				return nil, fmt.Errorf("second root element <%s> (line %d): a document has one root", tok.Name.Local, line)
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("element <%s> is nested more than %d levels deep (line %d)", tok.Name.Local, maxDepth, line)
			}
			e := &element{name: tok.Name.Local, attrs: tok.Attr, line: line}
			if len(stack) == 0 {
				root = e
			} else {
				parent := stack[len(stack)-1]
				parent.children = append(parent.children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1] // the decoder matched the tags
		case xml.CharData:
			if len(stack) == 0 {
				if len(bytes.TrimSpace(tok)) != 0 {
					return nil, fmt.Errorf("text %q outside the root element (line %d)", clip(string(tok)), line)
				}
				continue
			}
			e := stack[len(stack)-1]
			e.text.Write(tok)
			if e.strayAt == 0 && len(bytes.TrimSpace(tok)) != 0 {
				e.strayAt = line
			}
		}
	}
	if root == nil {
		return nil, errors.New("the document is empty: expected a root element")
	}
	return root, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	s = strings.TrimSpace(s)
	if len(s) <= max {
		return s
	}
	// Cut on a rune boundary.
	for i := max; i > 0; i-- {
		if !isContinuation(s[i]) {
			return s[:i] + "…"
		}
	}
	return s[:max] + "…"
}

func isContinuation(b byte) bool { return b&0xC0 == 0x80 }

// place names where a problem is, for error messages: "transaction 2
// movement 5" and a line when known.
type place struct {
	path string
	line int
}

func (p place) errorf(sentinel error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if p.path != "" {
		msg = p.path + ": " + msg
	}
	if p.line > 0 {
		msg += fmt.Sprintf(" (line %d)", p.line)
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}

// fieldSpec describes one child of a container element: its name, whether
// it must be present, and whether it is itself a container (arrow) rather
// than a text field.
type fieldSpec struct {
	name     string
	required bool
	nested   bool
}

// fields holds the children of a container element: text fields by name,
// nested containers by name, the repeated child (movement, transaction) in
// document order, and the line of each named child.
type fields struct {
	text     map[string]string
	nested   map[string]*element
	lines    map[string]int
	repeated []*element
}

// readFields reads the children of container e. Every child named in specs
// may appear at most once; children named repeated may appear any number of
// times; any other child, and any non-blank text between children, is an
// error naming the place.
func readFields(e *element, at place, sentinel error, specs []fieldSpec, repeated string) (fields, error) {
	f := fields{text: map[string]string{}, nested: map[string]*element{}, lines: map[string]int{}}
	if e.strayAt != 0 {
		return f, place{at.path, e.strayAt}.errorf(sentinel, "unexpected text %q inside <%s>: expected only elements",
			clip(e.text.String()), e.name)
	}
	for _, c := range e.children {
		if c.name == repeated {
			f.repeated = append(f.repeated, c)
			continue
		}
		i := slices.IndexFunc(specs, func(s fieldSpec) bool { return s.name == c.name })
		if i < 0 {
			return f, place{at.path, c.line}.errorf(sentinel, "unknown element <%s> in <%s>: expected %s",
				c.name, e.name, expectedChildren(specs, repeated))
		}
		if first, dup := f.lines[c.name]; dup {
			return f, place{at.path, c.line}.errorf(sentinel, "<%s> appears twice in <%s> (first on line %d): expected at most one",
				c.name, e.name, first)
		}
		f.lines[c.name] = c.line
		if specs[i].nested {
			f.nested[c.name] = c
			continue
		}
		if err := textOnly(c, at, sentinel); err != nil {
			return f, err
		}
		f.text[c.name] = c.text.String()
	}
	for _, s := range specs {
		if _, ok := f.lines[s.name]; s.required && !ok {
			return f, place{at.path, e.line}.errorf(sentinel, "<%s> is missing from <%s>", s.name, e.name)
		}
	}
	return f, nil
}

func expectedChildren(specs []fieldSpec, repeated string) string {
	var names []string
	for _, s := range specs {
		names = append(names, "<"+s.name+">")
	}
	if repeated != "" {
		names = append(names, "<"+repeated+">")
	}
	if len(names) == 0 {
		return "no child element"
	}
	return strings.Join(names, ", ")
}

// textOnly checks that a field element holds text and nothing else.
func textOnly(c *element, at place, sentinel error) error {
	if len(c.attrs) > 0 {
		return place{at.path, c.line}.errorf(sentinel, "<%s> has an attribute %q: expected none", c.name, c.attrs[0].Name.Local)
	}
	if len(c.children) > 0 {
		return place{at.path, c.children[0].line}.errorf(sentinel, "<%s> contains element <%s>: expected text only", c.name, c.children[0].name)
	}
	return nil
}

// attributes checks e's attributes against the allowed names and returns
// their values. Required ones must be present.
func attributes(e *element, at place, sentinel error, allowed ...string) (map[string]string, error) {
	got := map[string]string{}
	for _, a := range e.attrs {
		name := a.Name.Local
		if a.Name.Space != "" {
			name = a.Name.Space + ":" + name
		}
		if a.Name.Space != "" || !slices.Contains(allowed, name) {
			if len(allowed) == 0 {
				return nil, place{at.path, e.line}.errorf(sentinel, "<%s> has an attribute %q: expected none", e.name, name)
			}
			return nil, place{at.path, e.line}.errorf(sentinel, "<%s> has an unknown attribute %q: expected %s", e.name, name, strings.Join(allowed, ", "))
		}
		if _, dup := got[name]; dup {
			return nil, place{at.path, e.line}.errorf(sentinel, "<%s> has the attribute %q twice", e.name, name)
		}
		got[name] = a.Value
	}
	return got, nil
}

package xmlm

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of Unmarshal.
const (
	// MaxDepth bounds the nesting of containers.
	MaxDepth = 100
	// MaxNodes bounds the values of a document, references expanded.
	MaxNodes = 1 << 18
)

// ErrSyntax wraps every error of Unmarshal.
var ErrSyntax = errors.New("xmlm: not an xml_marshaller document")

// Marshal writes v as an xml_marshaller document (no XML declaration, as
// xml_marshaller's dumps). It refuses a string holding a character XML
// cannot carry, a dict with an odd number of items, and an object that is
// not a tuple and a dict.
func Marshal(v Value) ([]byte, error) {
	e := encoder{b: make([]byte, 0, 256), id: 1}
	e.b = append(e.b, "<marshal>"...)
	if err := e.value(v, 0); err != nil {
		return nil, err
	}
	e.b = append(e.b, "</marshal>"...)
	return e.b, nil
}

type encoder struct {
	b  []byte
	id int
}

func (e *encoder) open(tag string) {
	e.id++
	e.b = append(e.b, '<')
	e.b = append(e.b, tag...)
	e.b = append(e.b, ` id="i`...)
	e.b = strconv.AppendInt(e.b, int64(e.id), 10)
	e.b = append(e.b, '"')
}

func (e *encoder) value(v Value, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("xmlm: values nested deeper than %d", MaxDepth)
	}
	switch v.Kind {
	case KindNone:
		e.b = append(e.b, "<none/>"...)
	case KindBool:
		if v.Bool {
			e.b = append(e.b, "<bool>1</bool>"...)
		} else {
			e.b = append(e.b, "<bool>0</bool>"...)
		}
	case KindInt:
		e.b = append(e.b, "<int>"...)
		e.b = strconv.AppendInt(e.b, v.Int, 10)
		e.b = append(e.b, "</int>"...)
	case KindFloat:
		e.b = append(e.b, "<float>"...)
		e.b = append(e.b, FormatFloat(v.Float)...)
		e.b = append(e.b, "</float>"...)
	case KindString:
		e.b = append(e.b, "<string>"...)
		if err := e.text(v.Str); err != nil {
			return err
		}
		e.b = append(e.b, "</string>"...)
	case KindTuple:
		e.b = append(e.b, "<tuple>"...)
		if err := e.items(v.Items, depth); err != nil {
			return err
		}
		e.b = append(e.b, "</tuple>"...)
	case KindList, KindSet, KindDict:
		tag := map[Kind]string{KindList: "list", KindSet: "set", KindDict: "dictionary"}[v.Kind]
		if v.Kind == KindDict && len(v.Items)%2 != 0 {
			return fmt.Errorf("xmlm: a dict holds %d items: expected keys and values in pairs", len(v.Items))
		}
		e.open(tag)
		e.b = append(e.b, '>')
		if err := e.items(v.Items, depth); err != nil {
			return err
		}
		e.b = append(e.b, "</"+tag+">"...)
	case KindObject:
		if len(v.Items) != 2 || v.Items[0].Kind != KindTuple || v.Items[1].Kind != KindDict {
			return fmt.Errorf("xmlm: object %s.%s must hold a tuple of arguments and a dict of attributes", v.Module, v.Class)
		}
		e.open("object")
		e.b = append(e.b, ` module="`...)
		if err := e.attr(v.Module); err != nil {
			return err
		}
		e.b = append(e.b, `" class="`...)
		if err := e.attr(v.Class); err != nil {
			return err
		}
		e.b = append(e.b, `">`...)
		if err := e.items(v.Items, depth); err != nil {
			return err
		}
		e.b = append(e.b, "</object>"...)
	default:
		return fmt.Errorf("xmlm: unknown kind %d", v.Kind)
	}
	return nil
}

func (e *encoder) items(items []Value, depth int) error {
	for _, it := range items {
		if err := e.value(it, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// text writes s escaped twice: saxutils.escape (& < >), then XML. The two
// combine into: & -> &amp;amp; < -> &amp;lt; > -> &amp;gt; (plus " and
// CR escaped once, for attributes and line ends).
func (e *encoder) text(s string) error {
	for i, r := range s {
		switch r {
		case '&':
			e.b = append(e.b, "&amp;amp;"...)
		case '<':
			e.b = append(e.b, "&amp;lt;"...)
		case '>':
			e.b = append(e.b, "&amp;gt;"...)
		case '"':
			e.b = append(e.b, "&#34;"...)
		case '\r':
			e.b = append(e.b, "&#13;"...)
		case '\t':
			e.b = append(e.b, "&#9;"...)
		case '\n':
			e.b = append(e.b, "&#10;"...)
		default:
			if !xmlChar(r) || r == utf8.RuneError && isBadRune(s[i:]) {
				return fmt.Errorf("xmlm: string %q holds %U at byte %d: XML cannot carry it", clip(s), r, i)
			}
			e.b = utf8.AppendRune(e.b, r)
		}
	}
	return nil
}

// attr writes an attribute value, escaped once (xml_marshaller does not
// escape attributes itself).
func (e *encoder) attr(s string) error {
	for i, r := range s {
		switch r {
		case '&':
			e.b = append(e.b, "&amp;"...)
		case '<':
			e.b = append(e.b, "&lt;"...)
		case '>':
			e.b = append(e.b, "&gt;"...)
		case '"':
			e.b = append(e.b, "&#34;"...)
		case '\r', '\t', '\n':
			e.b = append(e.b, "&#"...)
			e.b = strconv.AppendInt(e.b, int64(r), 10)
			e.b = append(e.b, ';')
		default:
			if !xmlChar(r) || r == utf8.RuneError && isBadRune(s[i:]) {
				return fmt.Errorf("xmlm: attribute %q holds %U at byte %d: XML cannot carry it", clip(s), r, i)
			}
			e.b = utf8.AppendRune(e.b, r)
		}
	}
	return nil
}

func isBadRune(s string) bool {
	r, size := utf8.DecodeRuneInString(s)
	return r == utf8.RuneError && size <= 1
}

// xmlChar is the XML 1.0 Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// Unmarshal reads one xml_marshaller document.
//
// NB: it reads raw tokens (no namespace resolution: a prefixed element is
// known by its local name) and checks that each end tag closes its start.
func Unmarshal(data []byte) (Value, error) {
	d := decoder{x: xml.NewDecoder(bytes.NewReader(data)), refs: map[string]ref{}}
	d.x.Strict = true
	d.x.CharsetReader = nil
	v, err := d.document()
	if err != nil {
		return Value{}, fmt.Errorf("%w: %s", ErrSyntax, err)
	}
	return v, nil
}

type ref struct {
	v     Value
	nodes int
	done  bool
}

type decoder struct {
	x     *xml.Decoder
	refs  map[string]ref
	nodes int
}

func (d *decoder) where() string { return fmt.Sprintf("byte %d", d.x.InputOffset()) }

// next returns the next start or end element, refusing text that is not
// white space.
func (d *decoder) next() (xml.Token, error) {
	for {
		tok, err := d.x.RawToken()
		if err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("the document ends early, at %s", d.where())
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("text %q outside a value at %s", clip(string(t)), d.where())
			}
		case xml.ProcInst, xml.Comment:
		case xml.Directive:
			return nil, fmt.Errorf("directive <!%s> at %s: not allowed", clip(string(t)), d.where())
		}
	}
}

func (d *decoder) document() (Value, error) {
	tok, err := d.next()
	if err != nil {
		return Value{}, err
	}
	st, ok := tok.(xml.StartElement)
	if !ok || st.Name.Local != "marshal" {
		return Value{}, fmt.Errorf("the root element is not <marshal>")
	}
	tok, err = d.next()
	if err != nil {
		return Value{}, err
	}
	st, ok = tok.(xml.StartElement)
	if !ok {
		return Value{}, fmt.Errorf("<marshal> holds no value")
	}
	v, err := d.value(st, 0)
	if err != nil {
		return Value{}, err
	}
	tok, err = d.next()
	if err != nil {
		return Value{}, err
	}
	if end, ok := tok.(xml.EndElement); !ok {
		return Value{}, fmt.Errorf("<marshal> holds more than one value (at %s)", d.where())
	} else if end.Name.Local != "marshal" {
		return Value{}, fmt.Errorf("</%s> closes <marshal> at %s", end.Name.Local, d.where())
	}
	for {
		tok, err := d.x.RawToken()
		if err == io.EOF {
			return v, nil
		}
		if err != nil {
			return Value{}, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
		case xml.Comment, xml.ProcInst:
			continue
		}
		return Value{}, fmt.Errorf("data after </marshal> at %s", d.where())
	}
}

func (d *decoder) count(n int) error {
	d.nodes += n
	if d.nodes > MaxNodes {
		return fmt.Errorf("more than %d values (references expanded)", MaxNodes)
	}
	return nil
}

func attr(st xml.StartElement, name string) (string, bool) {
	for _, a := range st.Attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// value reads the value whose start element is st, through its end.
func (d *decoder) value(st xml.StartElement, depth int) (Value, error) {
	if depth > MaxDepth {
		return Value{}, fmt.Errorf("values nested deeper than %d at %s", MaxDepth, d.where())
	}
	if err := d.count(1); err != nil {
		return Value{}, err
	}
	tag := st.Name.Local
	switch tag {
	case "none", "bool", "int", "long", "float", "string", "unicode":
		text, err := d.scalarText(tag)
		if err != nil {
			return Value{}, err
		}
		return d.scalar(tag, text)
	case "reference":
		id, _ := attr(st, "id")
		r, ok := d.refs[id]
		switch {
		case !ok:
			return Value{}, fmt.Errorf("<reference id=%q> names no container before it (at %s)", id, d.where())
		case !r.done:
			return Value{}, fmt.Errorf("<reference id=%q> names a container that is still open: cycles are not supported (at %s)", id, d.where())
		}
		if err := d.count(r.nodes - 1); err != nil {
			return Value{}, err
		}
		if err := d.expectEnd(tag); err != nil {
			return Value{}, err
		}
		return r.v, nil
	case "tuple", "list", "set", "dictionary", "object":
	default:
		return Value{}, fmt.Errorf("unknown element <%s> at %s", tag, d.where())
	}
	id, hasID := attr(st, "id")
	if hasID {
		if _, dup := d.refs[id]; dup {
			return Value{}, fmt.Errorf("id %q given twice (at %s)", id, d.where())
		}
		d.refs[id] = ref{}
	}
	start := d.nodes
	var v Value
	switch tag {
	case "tuple":
		v.Kind = KindTuple
	case "list":
		v.Kind = KindList
	case "set":
		v.Kind = KindSet
	case "dictionary":
		v.Kind = KindDict
	case "object":
		v.Kind = KindObject
		var ok1, ok2 bool
		v.Module, ok1 = attr(st, "module")
		v.Class, ok2 = attr(st, "class")
		if !ok1 || !ok2 {
			return Value{}, fmt.Errorf("<object> without module and class at %s", d.where())
		}
	}
	for {
		tok, err := d.next()
		if err != nil {
			return Value{}, err
		}
		if end, ok := tok.(xml.EndElement); ok {
			if end.Name.Local != tag {
				return Value{}, fmt.Errorf("</%s> closes <%s> at %s", end.Name.Local, tag, d.where())
			}
			break
		}
		item, err := d.value(tok.(xml.StartElement), depth+1)
		if err != nil {
			return Value{}, err
		}
		v.Items = append(v.Items, item)
	}
	if err := d.check(&v); err != nil {
		return Value{}, err
	}
	if hasID {
		d.refs[id] = ref{v: v, nodes: d.nodes - start + 1, done: true}
	}
	return v, nil
}

// check applies Python's rules to a finished container.
func (d *decoder) check(v *Value) error {
	switch v.Kind {
	case KindDict:
		if len(v.Items)%2 != 0 {
			return fmt.Errorf("<dictionary> holds %d values: expected keys and values in pairs (at %s)", len(v.Items), d.where())
		}
		seen := make(map[string]bool, len(v.Items)/2)
		for i := 0; i < len(v.Items); i += 2 {
			k := v.Items[i]
			if !hashable(k) {
				return fmt.Errorf("dictionary key #%d is a %s: unhashable (at %s)", i/2+1, k.Kind, d.where())
			}
			if ks, ok := keyOf(k); ok {
				if seen[ks] {
					return fmt.Errorf("dictionary key #%d is given twice (at %s)", i/2+1, d.where())
				}
				seen[ks] = true
			}
		}
	case KindSet:
		seen := make(map[string]bool, len(v.Items))
		for i, it := range v.Items {
			if !hashable(it) {
				return fmt.Errorf("set member #%d is a %s: unhashable (at %s)", i+1, it.Kind, d.where())
			}
			if ks, ok := keyOf(it); ok {
				if seen[ks] {
					return fmt.Errorf("set member #%d is given twice (at %s)", i+1, d.where())
				}
				seen[ks] = true
			}
		}
	case KindObject:
		if len(v.Items) != 2 || v.Items[0].Kind != KindTuple || v.Items[1].Kind != KindDict {
			return fmt.Errorf("<object> of %s.%s must hold a tuple of arguments and a dictionary of attributes (at %s)", v.Module, v.Class, d.where())
		}
		attrs := v.Items[1]
		for i := 0; i < len(attrs.Items); i += 2 {
			if attrs.Items[i].Kind != KindString {
				return fmt.Errorf("attribute #%d of %s.%s is named by a %s: expected a str (at %s)", i/2+1, v.Module, v.Class, attrs.Items[i].Kind, d.where())
			}
		}
	}
	return nil
}

// scalarText reads the text of a scalar element through its end.
func (d *decoder) scalarText(tag string) (string, error) {
	var b strings.Builder
	for {
		tok, err := d.x.RawToken()
		if err != nil {
			if err == io.EOF {
				return "", fmt.Errorf("the document ends inside <%s>", tag)
			}
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			if t.Name.Local != tag {
				return "", fmt.Errorf("</%s> closes <%s> at %s", t.Name.Local, tag, d.where())
			}
			return b.String(), nil
		case xml.StartElement:
			return "", fmt.Errorf("element <%s> inside <%s> at %s", t.Name.Local, tag, d.where())
		case xml.Directive:
			return "", fmt.Errorf("directive inside <%s> at %s", tag, d.where())
		}
	}
}

func (d *decoder) expectEnd(tag string) error {
	_, err := d.scalarText(tag)
	return err
}

func (d *decoder) scalar(tag, text string) (Value, error) {
	switch tag {
	case "none":
		return None(), nil
	case "string", "unicode":
		return String(saxUnescape(text)), nil
	case "bool":
		n, err := parseInt(text)
		if err != nil {
			return Value{}, fmt.Errorf("<bool>%s</bool> at %s: %v", clip(text), d.where(), err)
		}
		return Bool(n != 0), nil
	case "int", "long":
		n, err := parseInt(text)
		if err != nil {
			return Value{}, fmt.Errorf("<%s>%s</%s> at %s: %v", tag, clip(text), tag, d.where(), err)
		}
		return Int(n), nil
	}
	f, err := parseFloat(text)
	if err != nil {
		return Value{}, fmt.Errorf("<float>%s</float> at %s: %v", clip(text), d.where(), err)
	}
	return Float(f), nil
}

func parseInt(text string) (int64, error) {
	s := strings.TrimSpace(text)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, errors.New("integer out of the 64-bit range")
		}
		return 0, errors.New("not a decimal integer")
	}
	return n, nil
}

func parseFloat(text string) (float64, error) {
	s := strings.TrimSpace(text)
	switch strings.ToLower(strings.TrimLeft(s, "+-")) {
	case "inf", "infinity", "nan":
	default:
		if s == "" || strings.ContainsAny(s, "xXpP_") {
			return 0, errors.New("not a decimal number")
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, nil // Python reads 1e999 as inf
		}
		return 0, errors.New("not a decimal number")
	}
	if math.IsNaN(f) {
		return math.NaN(), nil
	}
	return f, nil
}

// saxUnescape undoes saxutils.escape, in its order.
func saxUnescape(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	s = strings.ReplaceAll(s, "&lt;", "<")
	s = strings.ReplaceAll(s, "&gt;", ">")
	return strings.ReplaceAll(s, "&amp;", "&")
}

package server

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/slapgo/slapgo/master/api"
)

// Media types the API reads.
const (
	mediaJSON = "application/json"
	mediaXML  = "application/xml"
)

// checkMediaType refuses (415) a Content-Type that is none of want, or
// that declares a charset other than UTF-8. An empty header is left to
// the caller: it is fine for an empty body only.
func checkMediaType(header string, want ...string) error {
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return unsupportedMedia("Content-Type %q cannot be parsed (%v): expected %s", header, err, strings.Join(want, " or "))
	}
	ok := false
	for _, w := range want {
		ok = ok || mt == w
	}
	if !ok {
		return unsupportedMedia("Content-Type %q is not accepted here: expected %s", mt, strings.Join(want, " or "))
	}
	if cs, has := params["charset"]; has && !strings.EqualFold(cs, "utf-8") {
		return unsupportedMedia("Content-Type charset %q is not accepted: expected UTF-8", cs)
	}
	return nil
}

func unsupportedMedia(format string, args ...any) *apiError {
	return newError(http.StatusUnsupportedMediaType, api.CodeUnsupportedMedia, format, args...)
}

// strictScanner walks a JSON body for checkStrictJSON. It only looks for
// what encoding/json accepts silently; on a syntax error it stops and
// leaves the error to the decoder, which names it.
type strictScanner struct {
	data []byte
	pos  int
}

// errSyntax stops the walk: the decoder will report the syntax error.
var errSyntax = &apiError{}

// checkStrictJSON refuses what encoding/json would accept silently: a key
// given twice in one object (at any depth; the last one would win), a
// field name in another case than its own (encoding/json matches names
// case-insensitively), invalid UTF-8 and \u escapes of lone surrogates
// (both replaced by U+FFFD). v is the value the body decodes into, to
// tell struct fields from map keys. Syntax errors are left to the
// decoder.
func checkStrictJSON(data []byte, v any) error {
	sc := &strictScanner{data: data}
	err := sc.value("", reflect.TypeOf(v), 0)
	if err == errSyntax {
		return nil
	}
	if err != nil {
		return err
	}
	// After the value: the decoder reports trailing data, but not bytes
	// that are not even UTF-8.
	if !utf8.Valid(data[sc.pos:]) {
		return badRequest("the request body is not valid UTF-8 after the JSON value (byte %d)", sc.pos+invalidUTF8At(data[sc.pos:]))
	}
	return nil
}

// invalidUTF8At is the offset of the first byte of b that is not valid
// UTF-8 (len(b) when all are).
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func (sc *strictScanner) skipSpace() {
	for sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// maxStrictDepth bounds the walk's recursion (encoding/json refuses
// deeper nesting anyway).
const maxStrictDepth = 10000

// value walks one value at path, of Go type typ (nil when unknown).
func (sc *strictScanner) value(path string, typ reflect.Type, depth int) error {
	sc.skipSpace()
	if sc.pos >= len(sc.data) || depth > maxStrictDepth {
		return errSyntax
	}
	switch sc.data[sc.pos] {
	case '{':
		return sc.object(path, typ, depth)
	case '[':
		return sc.array(path, typ, depth)
	case '"':
		_, err := sc.str(path, false)
		return err
	}
	// A number, true, false or null: ASCII up to the next delimiter.
	for sc.pos < len(sc.data) {
		switch sc.data[sc.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil
		}
		sc.pos++
	}
	return nil
}

func (sc *strictScanner) object(path string, typ reflect.Type, depth int) error {
	sc.pos++ // {
	t := deref(typ)
	isStruct := t != nil && t.Kind() == reflect.Struct
	var keys map[string]bool
	for first := true; ; first = false {
		sc.skipSpace()
		if sc.pos >= len(sc.data) {
			return errSyntax
		}
		if first && sc.data[sc.pos] == '}' {
			sc.pos++
			return nil
		}
		at := sc.pos
		if sc.data[sc.pos] != '"' {
			return errSyntax
		}
		key, err := sc.str(path, true)
		if err != nil {
			return err
		}
		if keys == nil {
			keys = map[string]bool{}
		}
		if keys[key] {
			return badRequest("%s has the key %q twice (byte %d): each key may appear once", where(path), key, at)
		}
		keys[key] = true
		var child reflect.Type
		var childPath string
		switch {
		case isStruct:
			f, exact := structField(t, key)
			if !exact {
				for _, name := range jsonFieldNames(t) {
					if strings.EqualFold(name, key) {
						return badRequest("field %q: field names are case-sensitive: expected %q", joinPath(path, key), name)
					}
				}
			}
			child, childPath = f.Type, joinPath(path, key)
		case t != nil && t.Kind() == reflect.Map:
			child, childPath = t.Elem(), path+"["+strconv.Quote(key)+"]"
		default:
			childPath = joinPath(path, key)
		}
		sc.skipSpace()
		if sc.pos >= len(sc.data) || sc.data[sc.pos] != ':' {
			return errSyntax
		}
		sc.pos++
		if err := sc.value(childPath, child, depth+1); err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos >= len(sc.data) {
			return errSyntax
		}
		switch sc.data[sc.pos] {
		case ',':
			sc.pos++
		case '}':
			sc.pos++
			return nil
		default:
			return errSyntax
		}
	}
}

func (sc *strictScanner) array(path string, typ reflect.Type, depth int) error {
	sc.pos++ // [
	var elem reflect.Type
	if t := deref(typ); t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	for i := 0; ; i++ {
		sc.skipSpace()
		if sc.pos >= len(sc.data) {
			return errSyntax
		}
		if i == 0 && sc.data[sc.pos] == ']' {
			sc.pos++
			return nil
		}
		if err := sc.value(path+"["+strconv.Itoa(i)+"]", elem, depth+1); err != nil {
			return err
		}
		sc.skipSpace()
		if sc.pos >= len(sc.data) {
			return errSyntax
		}
		switch sc.data[sc.pos] {
		case ',':
			sc.pos++
		case ']':
			sc.pos++
			return nil
		default:
			return errSyntax
		}
	}
}

// str walks a string (the value at path, or a key of the object at path)
// and returns its text, escapes decoded.
func (sc *strictScanner) str(path string, isKey bool) (string, error) {
	start := sc.pos
	sc.pos++ // "
	escaped := false
	for sc.pos < len(sc.data) {
		c := sc.data[sc.pos]
		switch {
		case c == '"':
			sc.pos++
			raw := sc.data[start:sc.pos]
			if !utf8.Valid(raw) {
				what := where(path)
				if isKey {
					what = "a key of " + what
				}
				return "", badRequest("%s is not valid UTF-8 (byte %d): JSON text must be UTF-8", what, start+invalidUTF8At(raw))
			}
			if !escaped {
				return string(raw[1 : len(raw)-1]), nil
			}
			if off, ok := loneSurrogate(raw); ok {
				what := where(path)
				if isKey {
					what = "a key of " + what
				}
				return "", badRequest("%s holds a \\u escape of a lone UTF-16 surrogate (byte %d): it stands for no character", what, start+off)
			}
			var text string
			if json.Unmarshal(raw, &text) != nil {
				return "", errSyntax
			}
			return text, nil
		case c == '\\':
			escaped = true
			sc.pos += 2
		case c < 0x20:
			return "", errSyntax
		default:
			sc.pos++
		}
	}
	return "", errSyntax
}

// loneSurrogate finds a \uD800-\uDFFF escape not in a valid high-low
// pair in a quoted JSON string; it returns its offset.
func loneSurrogate(raw []byte) (int, bool) {
	hex4 := func(i int) (rune, bool) {
		if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		r, ok := hex4(i)
		if !ok {
			i++ // a one-character escape
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := hex4(i + 6); ok && lo >= 0xDC00 && lo < 0xE000 {
				i += 11
				continue
			}
			return i, true
		case r >= 0xDC00 && r < 0xE000:
			return i, true
		}
		i += 5
	}
	return 0, false
}

// joinPath names a struct field (or a key of unknown type) under path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// jsonFieldNames lists the JSON names of a struct's fields.
func jsonFieldNames(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// where names a place of the body in messages.
func where(path string) string {
	if path == "" {
		return "the request body"
	}
	return fmt.Sprintf("field %q", path)
}

// structField finds the field a JSON key names exactly.
func structField(t reflect.Type, key string) (reflect.StructField, bool) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

package server

import (
	"bytes"
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

// jsonFrame is one object or array being walked by checkStrictJSON.
type jsonFrame struct {
	path   string
	object bool
	typ    reflect.Type // the Go type it decodes into; nil when unknown
	keys   map[string]bool
	key    string // the key whose value comes next (objects)
	valued bool   // a key was read: its value comes next
	index  int    // the index of the next element (arrays)
}

// childPath is the path of the value that comes next in f.
func (f *jsonFrame) childPath() string {
	if !f.object {
		return f.path + "[" + strconv.Itoa(f.index) + "]"
	}
	if t := deref(f.typ); t != nil && t.Kind() == reflect.Struct || f.path == "" {
		if f.path == "" {
			return f.key
		}
		return f.path + "." + f.key
	}
	return f.path + "[" + strconv.Quote(f.key) + "]"
}

// childType is the Go type of the value that comes next in f.
func (f *jsonFrame) childType() reflect.Type {
	t := deref(f.typ)
	switch {
	case t == nil:
		return nil
	case f.object && t.Kind() == reflect.Struct:
		if fld, ok := structField(t, f.key); ok {
			return fld.Type
		}
		return nil
	case t.Kind() == reflect.Map, t.Kind() == reflect.Slice, t.Kind() == reflect.Array:
		return t.Elem()
	}
	return nil
}

func deref(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
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

// where names a place of the body in messages.
func where(path string) string {
	if path == "" {
		return "the request body"
	}
	return fmt.Sprintf("field %q", path)
}

// checkStrictJSON refuses what encoding/json would accept silently: a key
// given twice in one object (at any depth; the last one would win), a
// field name in another case than its own (encoding/json matches names
// case-insensitively), and invalid UTF-8 (replaced by U+FFFD). v is the
// value the body decodes into, to tell struct fields from map keys.
// Syntax errors are left to the decoder, which names them.
func checkStrictJSON(data []byte, v any) error {
	bad := -1 // offset of the first invalid UTF-8 byte
	if !utf8.Valid(data) {
		for i := 0; i < len(data); {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				bad = i
				break
			}
			i += n
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var stack []*jsonFrame
	rootType := reflect.TypeOf(v)
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or a syntax error the decoder reports
		}
		end := dec.InputOffset()
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && !top.valued && tok != json.Delim('}')
		if bad >= int(start) && bad < int(end) {
			if isKey {
				return badRequest("a key of %s is not valid UTF-8 (byte %d): JSON text must be UTF-8", where(top.path), bad)
			}
			path := ""
			if top != nil {
				path = top.childPath()
			}
			return badRequest("%s is not valid UTF-8 (byte %d): JSON text must be UTF-8", where(path), bad)
		}
		if isKey {
			key := tok.(string)
			if top.keys[key] {
				return badRequest("%s has the key %q twice (byte %d): each key may appear once", where(top.path), key, start)
			}
			top.keys[key] = true
			if t := deref(top.typ); t != nil && t.Kind() == reflect.Struct {
				if _, exact := structField(t, key); !exact {
					for _, name := range jsonFieldNames(t) {
						if strings.EqualFold(name, key) {
							return badRequest("field %q: field names are case-sensitive: expected %q", key, name)
						}
					}
				}
			}
			top.key, top.valued = key, true
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			f := &jsonFrame{object: tok == json.Delim('{'), typ: rootType}
			if top != nil {
				f.path, f.typ = top.childPath(), top.childType()
			}
			if f.object {
				f.keys = map[string]bool{}
			}
			stack = append(stack, f)
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				// One value only: trailing data is the decoder's to report.
				if bad >= int(end) {
					return badRequest("the request body is not valid UTF-8 after the JSON value (byte %d)", bad)
				}
				return nil
			}
			top = stack[len(stack)-1]
		}
		// A value (scalar or a closed container) ends: move to the next.
		if top != nil {
			if top.object {
				top.valued = false
			} else {
				top.index++
			}
		}
	}
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

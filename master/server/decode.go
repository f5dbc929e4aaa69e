package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/slapgo/slapgo/master/api"
)

// readBody reads a request body of at most limit bytes (413 beyond).
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, newError(http.StatusRequestEntityTooLarge, api.CodeTooLarge,
				"request body is larger than %d bytes: the limit of this route", limit)
		}
		return nil, badRequest("reading the request body: %v", err)
	}
	return data, nil
}

// decodeBody reads and decodes a JSON request body into a T (see
// decodeJSON). allowEmpty accepts an empty body as the zero T. A body
// must be labelled Content-Type: application/json (415 otherwise).
func decodeBody[T any](w http.ResponseWriter, r *http.Request, allowEmpty bool) (T, error) {
	var v T
	data, err := readTypedBody(w, r, api.MaxJSONBody, mediaJSON)
	if err != nil {
		return v, err
	}
	return v, decodeJSON(data, &v, allowEmpty)
}

// readTypedBody reads a body of at most limit bytes whose Content-Type is
// one of want. A wrong type is refused before the body is read; a missing
// one is fine for an empty body only.
func readTypedBody(w http.ResponseWriter, r *http.Request, limit int64, want ...string) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if err := checkMediaType(ct, want...); err != nil {
			return nil, err
		}
	}
	data, err := readBody(w, r, limit)
	if err != nil {
		return nil, err
	}
	if ct == "" && len(data) > 0 {
		return nil, unsupportedMedia("the request body has no Content-Type: expected %s", strings.Join(want, " or "))
	}
	return data, nil
}

// decodeJSON decodes one JSON object into v (a pointer to a struct),
// strictly: unknown fields, field names in another case, keys given
// twice, invalid UTF-8, wrong types, malformed or trailing data are
// errors (400) naming the field or the byte offset.
func decodeJSON(data []byte, v any, allowEmpty bool) error {
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("request body is empty: expected a JSON object")
	}
	if err := checkStrictJSON(data, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return describeDecodeError(err, v)
	}
	if _, err := dec.Token(); err != io.EOF {
		return badRequest("malformed JSON: unexpected data after the JSON object at byte %d", dec.InputOffset())
	}
	return nil
}

func describeDecodeError(err error, v any) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return badRequest("malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("request body is JSON %s: expected %s", typ.Value, jsonKind(typ.Type))
		}
		return badRequest("field %q is JSON %s: expected %s", typ.Field, typ.Value, jsonKind(typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed JSON: the body ends in the middle of a value")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s: expected only %s", name, strings.Join(jsonFields(reflect.TypeOf(v)), ", "))
	}
	return badRequest("malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// jsonKind describes in JSON terms what a Go type accepts.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Map:
		return "an object of " + strings.TrimPrefix(jsonKind(t.Elem()), "a ") + " values"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct:
		if t.PkgPath() == "time" && t.Name() == "Time" {
			return "an RFC 3339 time string"
		}
		return "an object"
	}
	return t.String()
}

// jsonFields lists the JSON field names of a struct type, in order, quoted.
func jsonFields(t reflect.Type) []string {
	t = deref(t)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for _, name := range jsonFieldNames(t) {
		out = append(out, strconv.Quote(name))
	}
	return out
}

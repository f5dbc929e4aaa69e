package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/slapgo/slapgo/master/api"
)

// checkDecoder is the property every request decoder must have: it never
// panics; it fails only with a 400; what it accepts is valid UTF-8, means
// the same whatever the order of its keys (no key given twice, in any
// case), and re-encodes to JSON it accepts again, to the same value.
func checkDecoder[T any](t *testing.T, data []byte) {
	var v T
	err := decodeJSON(data, &v, false)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) || ae.status != http.StatusBadRequest || ae.code != api.CodeInvalid || ae.message == "" {
			t.Fatalf("decode error %v is not a 400 invalid with a message", err)
		}
		return
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("accepted %q but cannot re-encode it: %v", data, err)
	}
	var w T
	if err := decodeJSON(again, &w, false); err != nil {
		t.Fatalf("accepted %q but not its re-encoding %s: %v", data, again, err)
	}
	third, _ := json.Marshal(w)
	if !bytes.Equal(again, third) {
		t.Fatalf("re-decoding changed the value: %s then %s", again, third)
	}
	if !utf8.Valid(data) {
		t.Fatalf("accepted %q, which is not valid UTF-8", data)
	}
	// The same members in another order (a generic map sorts its keys).
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		t.Fatalf("accepted %q but it is not JSON: %v", data, err)
	}
	sorted, err := json.Marshal(generic)
	if err != nil {
		t.Fatalf("accepted %q but its members cannot be re-encoded: %v", data, err)
	}
	var x T
	if err := decodeJSON(sorted, &x, false); err != nil {
		t.Fatalf("accepted %q but not the same members sorted %s: %v", data, sorted, err)
	}
	if fourth, _ := json.Marshal(x); !bytes.Equal(again, fourth) {
		t.Fatalf("accepted %q, whose meaning depends on the order of its keys: %s, sorted %s", data, again, fourth)
	}
}

var decoderSeeds = []string{
	`{"title":"db","software_release":"https://example.org/sr.cfg","parameters":{"a":"b"},"sla":{"region":"eu"},"shared":true,"state":"started"}`,
	`{"id":"COMP-1","hardware":{"cpu":4,"ram":8192},"prices":{"hosting":0.5},"attributes":{"gpu":"yes"},"token":true}`,
	`{"partitions":[{"id":"slappart0","addresses":[{"iface":"lo","addr":"10.0.0.1"}]}],"hardware":{"arch":"x86_64"}}`,
	`{"shared_guid":"SOFTINST-2","parameters":{"url":"https://x"}}`,
	`{"region":"eu","scope":"closed","prices":{"hosting":1e-3}}`,
	`{"url":"https://example.org/sr.cfg","state":"available","error":"x"}`,
	`{"title": 5}`, `{"bogus":1}`, `[]`, `null`, `{} {}`, `{"parameters":{"a":1}}`, `{"hardware":{"cpu":1e99}}`,
	"{\"title\":\"\xff\"}", `{"title":"a\u0000b"}`, ``, `   `, `{`,
	`{"title":"a","title":"b"}`, `{"title":"a","TITLE":"b"}`, `{"Title":"a"}`, `{"parameters":{"k":"1","k":"2"}}`,
	`{"parameters":{"k":"1","K":"2"}}`, `{"partitions":[{"id":"a"},{"id":"b","id":"c"}]}`, "{\"parameters\":{\"\xc3\":\"v\"}}",
	"{\"title\":\"x\"}\xff", `{"sla":{"region":"eu"},"sla":{}}`, `{"":1,"":2}`,
	`{"title":"\ud83d\ude00"}`, `{"title":"\ud800"}`, `{"title":"a","\u0074itle":"b"}`, `{"title":"\\ud800"}`,
}

func fuzzDecoder[T any](f *testing.F) {
	for _, s := range decoderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecoder[T](t, data) })
}

func FuzzDecodeInstanceRequest(f *testing.F)         { fuzzDecoder[api.InstanceRequest](f) }
func FuzzDecodeRegisterComputerRequest(f *testing.F) { fuzzDecoder[api.RegisterComputerRequest](f) }
func FuzzDecodeUpdateComputerRequest(f *testing.F)   { fuzzDecoder[api.UpdateComputerRequest](f) }
func FuzzDecodeCapacityRequest(f *testing.F)         { fuzzDecoder[api.CapacityRequest](f) }
func FuzzDecodeConnectionRequest(f *testing.F)       { fuzzDecoder[api.ConnectionRequest](f) }
func FuzzDecodeSoftwareStateRequest(f *testing.F)    { fuzzDecoder[api.SoftwareStateRequest](f) }
func FuzzDecodePartitionStateRequest(f *testing.F)   { fuzzDecoder[api.PartitionStateRequest](f) }
func FuzzDecodeSupplyRequest(f *testing.F)           { fuzzDecoder[api.SupplyRequest](f) }
func FuzzDecodeSmallRequests(f *testing.F) {
	for _, s := range decoderSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkDecoder[api.AddPersonRequest](t, data)
		checkDecoder[api.TokenExchange](t, data)
		checkDecoder[api.BangRequest](t, data)
		checkDecoder[api.RenameRequest](t, data)
	})
}

// FuzzETagMatches: If-None-Match parsing never panics, and a header
// holding exactly the ETag of a version always matches it.
func FuzzETagMatches(f *testing.F) {
	for _, s := range []string{`"1"`, `W/"2"`, `"1", "2"`, `*`, `"`, `""`, `W/`, `,,,`, `"18446744073709551616"`} {
		f.Add(s, uint64(2))
	}
	f.Fuzz(func(t *testing.T, header string, version uint64) {
		etagMatches(header, version)
		if !etagMatches(formatETag(version), version) || !etagMatches("W/"+formatETag(version), version) {
			t.Fatalf("ETag of version %d does not match itself", version)
		}
		if etagMatches(`"`+strconv.FormatUint(version, 10)+`x"`, version) {
			t.Fatalf("a different tag matches version %d", version)
		}
	})
}

// TestDecodeJSONMessages pins the messages users see for each kind of
// mistake.
func TestDecodeJSONMessages(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{`{"title":1}`, `field "title" is JSON number: expected a string`},
		{`{"shared":"yes"}`, `field "shared" is JSON string: expected true or false`},
		{`{"sla":[]}`, `field "sla" is JSON array: expected an object of string values`},
		{`{"nope":1}`, `unknown field "nope": expected only "title", "software_release", "software_type", "parameters", "sla", "shared", "state"`},
		{`{"title":"x"`, `malformed JSON: the body ends in the middle of a value`},
		{`{"title":"x",}`, `malformed JSON at byte 14`},
		{`"x"`, `request body is JSON string: expected an object`},
		{`{} x`, `unexpected data after the JSON object`},
		{``, `request body is empty`},
		{`{"title":"a","title":"b"}`, `the request body has the key "title" twice (byte 13)`},
		{`{"title":"a","\u0074itle":"b"}`, `the request body has the key "title" twice`},
		{`{"ti\u0054le":"a"}`, `field "tiTle": field names are case-sensitive: expected "title"`},
		{`{"title":"\ud800"}`, `field "title" holds a \u escape of a lone UTF-16 surrogate (byte 10)`},
		{`{"parameters":{"a":"x\udc00y"}}`, `field "parameters[\"a\"]" holds a \u escape of a lone UTF-16 surrogate`},
		{`{"parameters":{"\ud83d\u0041":"v"}}`, `a key of field "parameters" holds a \u escape of a lone UTF-16 surrogate`},
		{`{"parameters":{"k":"1","k":"2"}}`, `field "parameters" has the key "k" twice`},
		{`{"TITLE":"x"}`, `field "TITLE": field names are case-sensitive: expected "title"`},
		{"{\"title\":\"caf\xe9\"}", `field "title" is not valid UTF-8 (byte 13)`},
		{"{\"parameters\":{\"a\":\"\xff\"}}", `field "parameters[\"a\"]" is not valid UTF-8 (byte 20)`},
		{"{\"parameters\":{\"\xff\":\"v\"}}", `a key of field "parameters" is not valid UTF-8 (byte 16)`},
		{"{\"sla\":{}}\xff", `not valid UTF-8 after the JSON value (byte 10)`},
	} {
		var v api.InstanceRequest
		err := decodeJSON([]byte(tc.in), &v, false)
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("decodeJSON(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
	var b api.BangRequest
	if err := decodeJSON(nil, &b, true); err != nil {
		t.Errorf("an empty body where allowed: %v", err)
	}
}

package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/master/api"
)

// TestBadInputChangesNothing: malformed, mistyped, unknown, oversize or
// invalid input answers a 4xx JSON error naming the problem, and the state
// stays exactly as it was.
func TestBadInputChangesNothing(t *testing.T) {
	w := newAuthzWorld(t)
	m := w.m
	raw := func(s string) []byte { return []byte(s) }
	type tc struct {
		name   string
		as     *api.Client
		method string
		path   string
		body   []byte
		status int
		want   string // in the message
	}
	cases := []tc{
		{"malformed JSON", w.alice, "POST", "/instances", raw(`{"title": "x", "software_release":`), 400, "malformed JSON"},
		{"not JSON at all", w.alice, "POST", "/instances", raw(`title=x`), 400, "malformed JSON at byte"},
		{"empty body", w.alice, "POST", "/instances", nil, 400, "empty"},
		{"array instead of object", w.alice, "POST", "/instances", raw(`[1,2]`), 400, "expected an object"},
		{"trailing data", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `"} {}`), 400, "after the JSON object"},
		{"wrong type of a field", w.alice, "POST", "/instances", raw(`{"title": 5, "software_release":"` + softURL + `"}`), 400, `field "title" is JSON number: expected a string`},
		{"wrong type of a map value", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `","parameters":{"a":1}}`), 400, `field "parameters" is JSON number: expected a string`},
		{"wrong type of a nested field", w.alice, "POST", "/computers", raw(`{"id":"COMP-N","hardware":{"cpu":"four"}}`), 400, `field "hardware.cpu" is JSON string: expected an integer`},
		{"wrong type of a bool", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `","shared":"yes"}`), 400, `field "shared"`},
		{"unknown field", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `","partition_reference":"y"}`), 400, `unknown field "partition_reference"`},
		{"unknown nested field", w.compA, "PUT", "/computers/COMP-A/capacity", raw(`{"partitions":[{"id":"slappart0","tap":"x"}]}`), 400, `unknown field "tap"`},
		{"unknown SLA key", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `","sla":{"regoin":"eu"}}`), 400, `sla key "regoin" is unknown`},
		{"bad SLA value", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `","sla":{"min_ram":"lots"}}`), 400, "min_ram"},
		{"unknown requested state", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"` + softURL + `","state":"running"}`), 400, `state "running"`},
		{"relative software URL", w.alice, "POST", "/instances", raw(`{"title":"x","software_release":"software.cfg"}`), 400, "not absolute"},
		{"empty title", w.alice, "POST", "/instances", raw(`{"title":" ","software_release":"` + softURL + `"}`), 400, "title is empty"},
		{"bad supply state", w.alice, "POST", "/computers/COMP-A/supply", raw(`{"url":"` + otherURL + `","state":"installed"}`), 400, "installed"},
		{"bad computer id", w.alice, "POST", "/computers", raw(`{"id":"COMP 1"}`), 400, "computer id"},
		{"negative price", w.alice, "PATCH", "/computers/COMP-A", raw(`{"prices":{"hosting":-1}}`), 400, "non-negative"},
		{"bad scope", w.alice, "PATCH", "/computers/COMP-A", raw(`{"scope":"private"}`), 400, "scope"},
		{"duplicate partition", w.compA, "PUT", "/computers/COMP-A/capacity", raw(`{"partitions":[{"id":"p1"},{"id":"p1"}]}`), 400, "twice"},
		{"bad reported state", w.compA, "PUT", "/computers/COMP-A/partitions/slappart0/state", raw(`{"state":"running"}`), 400, "running"},
		{"bad software state", w.compA, "PUT", "/computers/COMP-A/software-state", raw(`{"url":"` + softURL + `","state":"done"}`), 400, "done"},
		{"bad connection key", w.compA, "PUT", "/computers/COMP-A/partitions/slappart0/connection", raw(`{"parameters":{"a=b":"c"}}`), 400, "parameter key"},
		{"bad invoice date", w.alice, "GET", "/invoices?from=yesterday", nil, 400, "RFC 3339"},
		{"empty invoice period", w.alice, "GET", "/invoices?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", nil, 400, "empty"},
		{"bad list flag", w.alice, "GET", "/instances?all=maybe", nil, 400, "all="},
		{"oversize JSON body", w.alice, "POST", "/instances", oversizeJSON(api.MaxJSONBody), 413, "larger than"},
		{"oversize usage journal", w.compA, "POST", "/computers/COMP-A/usage", bytes.Repeat([]byte(" "), api.MaxUsageBody+1), 413, "larger than"},
		{"usage journal that is JSON", w.compA, "POST", "/computers/COMP-A/usage", raw(`{"journal":[]}`), 400, "usage journal"},
		{"unknown route", w.alice, "DELETE", "/instances/x", nil, 404, "no route"},
	}
	fixtures, err := filepath.Glob("../../fixtures/usage/bad-*.xml")
	noErr(t, err)
	if len(fixtures) == 0 {
		t.Fatal("no invalid usage journal in fixtures/usage")
	}
	for _, f := range fixtures {
		data, err := os.ReadFile(f)
		noErr(t, err)
		cases = append(cases, tc{"invalid TioXML " + filepath.Base(f), w.compA, "POST", "/computers/COMP-A/usage", data, 400, "usage journal"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := m.snapshot()
			var body any
			if c.body != nil {
				body = c.body
			}
			status, resp, _ := call(t, c.as, c.method, api.Prefix+c.path, body)
			var eb api.ErrorBody
			if err := json.Unmarshal(resp, &eb); err != nil {
				t.Fatalf("answer %q is not a JSON error", resp)
			}
			if status != c.status || !strings.Contains(eb.Message, c.want) {
				t.Errorf("%d %s: %s, want %d with %q", status, eb.Code, eb.Message, c.status, c.want)
			}
			if !bytes.Equal(before, m.snapshot()) {
				t.Error("bad input changed the state")
			}
		})
	}
	if status, _, _ := call(t, w.alice, "GET", api.Prefix+"/whoami", nil); status != http.StatusOK {
		t.Errorf("the master does not answer after bad input: %d", status)
	}
}

// oversizeJSON is a well-formed instance request one byte over limit.
func oversizeJSON(limit int) []byte {
	head := `{"title":"x","software_release":"` + softURL + `","parameters":{"blob":"`
	tail := `"}}`
	pad := limit + 1 - len(head) - len(tail)
	return []byte(head + strings.Repeat("a", pad) + tail)
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// inputCase is one request the master must refuse (or accept: status
// below 300) without changing anything it refuses.
type inputCase struct {
	name   string
	as     *api.Client
	method string
	path   string
	body   []byte
	header []string // name, value pairs
	status int
	code   string
	want   []string // in the message
}

// runInputCases sends each case and checks the answer; a refusal must
// leave the state as it was.
func runInputCases(t *testing.T, m *testMaster, cases []inputCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := m.snapshot()
			var body any
			if c.body != nil {
				body = c.body
			}
			status, resp, _ := call(t, c.as, c.method, api.Prefix+c.path, body, c.header...)
			if c.status < 300 {
				if status != c.status {
					t.Fatalf("%d %s, want %d", status, resp, c.status)
				}
				return
			}
			var eb api.ErrorBody
			if err := json.Unmarshal(resp, &eb); err != nil {
				t.Fatalf("%d: answer %q is not a JSON error", status, resp)
			}
			if status != c.status || eb.Code != c.code {
				t.Errorf("%d %s: %s, want %d %s", status, eb.Code, eb.Message, c.status, c.code)
			}
			for _, w := range c.want {
				if !strings.Contains(eb.Message, w) {
					t.Errorf("message %q does not say %q", eb.Message, w)
				}
			}
			if !bytes.Equal(before, m.snapshot()) {
				t.Error("refused input changed the state")
			}
		})
	}
}

// TestStrictJSONInput: what encoding/json would take silently (invalid
// UTF-8, a key given twice at any depth, a field name in another case) and
// a body that is not labelled JSON are refused, naming the place.
func TestStrictJSONInput(t *testing.T) {
	w := newAuthzWorld(t)
	raw := func(s string) []byte { return []byte(s) }
	inst := func(rest string) []byte {
		return raw(`{"title":"x","software_release":"` + softURL + `"` + rest + `}`)
	}
	const bad, invalid, media = http.StatusBadRequest, api.CodeInvalid, api.CodeUnsupportedMedia
	ct := func(v string) []string { return []string{"Content-Type", v} }
	runInputCases(t, w.m, []inputCase{
		{"invalid UTF-8 in a field", w.alice, "POST", "/instances", inst(",\"software_type\":\"caf\xe9\""), nil, bad, invalid,
			[]string{`field "software_type" is not valid UTF-8`, "byte"}},
		{"invalid UTF-8 in a parameter value", w.alice, "POST", "/instances", inst(`,"parameters":{"name":"` + "\xff\xfe" + `"}`), nil, bad, invalid,
			[]string{`field "parameters[\"name\"]" is not valid UTF-8`}},
		{"invalid UTF-8 in a parameter key", w.alice, "POST", "/instances", inst(`,"parameters":{"` + "\xc3" + `":"v"}`), nil, bad, invalid,
			[]string{`a key of field "parameters" is not valid UTF-8`}},
		{"invalid UTF-8 deep in an array", w.compA, "PUT", "/computers/COMP-A/capacity",
			raw(`{"partitions":[{"id":"slappart0"},{"id":"slappart1","addresses":[{"iface":"lo","addr":"` + "\x80" + `"}]}]}`), nil, bad, invalid,
			[]string{`field "partitions[1].addresses[0].addr" is not valid UTF-8`}},
		{"invalid UTF-8 in a connection parameter", w.compA, "PUT", "/computers/COMP-A/partitions/slappart0/connection",
			raw(`{"parameters":{"url":"` + "\xed\xa0\x80" + `"}}`), nil, bad, invalid, []string{`field "parameters[\"url\"]" is not valid UTF-8`}},
		{"a field twice", w.alice, "POST", "/instances", inst(`,"title":"y"`), nil, bad, invalid,
			[]string{`the request body has the key "title" twice`}},
		{"a parameter twice", w.alice, "POST", "/instances", inst(`,"parameters":{"a":"1","a":"2"}`), nil, bad, invalid,
			[]string{`field "parameters" has the key "a" twice`}},
		{"an SLA condition twice", w.alice, "POST", "/instances", inst(`,"sla":{"region":"eu","region":"jp"}`), nil, bad, invalid,
			[]string{`field "sla" has the key "region" twice`}},
		{"a key twice deep in an array", w.compA, "PUT", "/computers/COMP-A/capacity",
			raw(`{"partitions":[{"id":"slappart0"},{"id":"slappart1","id":"slappart2"}]}`), nil, bad, invalid,
			[]string{`field "partitions[1]" has the key "id" twice`}},
		{"a field in another case", w.alice, "POST", "/instances", raw(`{"Title":"x","software_release":"` + softURL + `"}`), nil, bad, invalid,
			[]string{`field "Title": field names are case-sensitive: expected "title"`}},
		{"a field twice in two cases", w.alice, "POST", "/instances", inst(`,"TITLE":"y"`), nil, bad, invalid,
			[]string{`expected "title"`}},
		{"trailing data", w.alice, "POST", "/instances", inst(`} {`), nil, bad, invalid, []string{"after the JSON object"}},
		{"trailing invalid UTF-8", w.alice, "POST", "/instances", append(inst(""), 0xff), nil, bad, invalid,
			[]string{"not valid UTF-8 after the JSON value"}},
		{"form instead of JSON", w.alice, "POST", "/instances", raw(`title=x`), ct("application/x-www-form-urlencoded"),
			http.StatusUnsupportedMediaType, media, []string{`Content-Type "application/x-www-form-urlencoded" is not accepted here: expected application/json`}},
		{"text/plain", w.alice, "POST", "/instances", inst(""), ct("text/plain"), http.StatusUnsupportedMediaType, media,
			[]string{"expected application/json"}},
		{"no content type", w.alice, "POST", "/instances", inst(""), ct(""), http.StatusUnsupportedMediaType, media,
			[]string{"no Content-Type: expected application/json"}},
		{"a charset other than UTF-8", w.alice, "POST", "/instances", inst(""), ct("application/json; charset=iso-8859-1"),
			http.StatusUnsupportedMediaType, media, []string{`charset "iso-8859-1"`, "expected UTF-8"}},
		{"an unparsable content type", w.alice, "POST", "/instances", inst(""), ct("application/json; charset"),
			http.StatusUnsupportedMediaType, media, []string{"cannot be parsed"}},
		{"JSON posted as usage", w.compA, "POST", "/computers/COMP-A/usage", w.journalA, ct("application/json"),
			http.StatusUnsupportedMediaType, media, []string{"expected application/xml or text/xml"}},
		{"an empty body needs no type", w.alice, "POST", "/instances/" + w.aRoot.GUID + "/bang", nil, nil, http.StatusOK, "", nil},
		{"JSON with a UTF-8 charset", w.alice, "POST", "/instances", inst(`,"parameters":{"name":"café"}`),
			ct("application/json; charset=UTF-8"), http.StatusOK, "", nil},
		{"usage as text/xml", w.compA, "POST", "/computers/COMP-A/usage", w.journalA, ct("text/xml; charset=utf-8"), http.StatusOK, "", nil},
	})
}

// smallLimits are limits a test can reach with small bodies.
var smallLimits = master.Limits{MaxParameters: 4, MaxParameterKeyBytes: 16, MaxParameterValueBytes: 64, MaxSLAEntries: 2,
	MaxPartitions: 3, MaxAddressesPerPartition: 2, MaxTreeInstances: 2, MaxSharedPerHost: 1}

// TestCountLimitsThroughAPI: each count limit answers 400 naming the field
// and the limit; a tree over its limit is a 403 quota_exceeded.
func TestCountLimitsThroughAPI(t *testing.T) {
	lim := smallLimits
	m := startMaster(t, func(o *Options) { o.Limits = &lim })
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-A", 3, "eu")
	ctx := context.Background()
	root, err := alice.Request(ctx, api.InstanceRequest{Title: "root", SoftwareRelease: softURL})
	noErr(t, err)
	cred, err := comp.PartitionCertificate(ctx, "COMP-A", root.PartitionID)
	noErr(t, err)
	rootInst := m.client(cred)
	_, err = rootInst.Request(ctx, api.InstanceRequest{Title: "child", SoftwareRelease: softURL})
	noErr(t, err)

	body := func(v any) []byte {
		data, err := json.Marshal(v)
		noErr(t, err)
		return data
	}
	many := func(n int) map[string]string {
		p := map[string]string{}
		for i := range n {
			p[fmt.Sprintf("k%d", i)] = "v"
		}
		return p
	}
	const bad = http.StatusBadRequest
	runInputCases(t, m, []inputCase{
		{"parameters", alice, "POST", "/instances", body(api.InstanceRequest{Title: "x", SoftwareRelease: softURL, Parameters: many(5)}),
			nil, bad, api.CodeInvalid, []string{"parameters: 5 entries", "max-parameters=4"}},
		{"parameter key", alice, "POST", "/instances", body(api.InstanceRequest{Title: "x", SoftwareRelease: softURL,
			Parameters: map[string]string{strings.Repeat("k", 17): "v"}}), nil, bad, api.CodeInvalid, []string{"17 bytes", "max-parameter-key-bytes=16"}},
		{"parameter value", alice, "POST", "/instances", body(api.InstanceRequest{Title: "x", SoftwareRelease: softURL,
			Parameters: map[string]string{"k": strings.Repeat("v", 65)}}), nil, bad, api.CodeInvalid, []string{`value of "k" is 65 bytes`, "max-parameter-value-bytes=64"}},
		{"SLA conditions", alice, "POST", "/instances", body(api.InstanceRequest{Title: "x", SoftwareRelease: softURL,
			SLA: map[string]string{"region": "eu", "min_ram": "1", "min_cpu": "1"}}), nil, bad, api.CodeInvalid, []string{"sla: 3 conditions", "max-sla-entries=2"}},
		{"partitions", comp, "PUT", "/computers/COMP-A/capacity", body(capacity(4)), nil, bad, api.CodeInvalid,
			[]string{"partitions: 4 announced", "max-partitions=3"}},
		{"addresses", comp, "PUT", "/computers/COMP-A/capacity", body(api.CapacityRequest{Partitions: []api.PartitionCapacity{{ID: "slappart0",
			Addresses: []model.Address{{Iface: "lo", Addr: "10.0.0.1"}, {Iface: "lo", Addr: "10.0.0.2"}, {Iface: "lo", Addr: "10.0.0.3"}}}}}),
			nil, bad, api.CodeInvalid, []string{"partition slappart0: 3 addresses", "max-addresses-per-partition=2"}},
		{"connection parameters", comp, "PUT", "/computers/COMP-A/partitions/" + root.PartitionID + "/connection",
			body(api.ConnectionRequest{Parameters: many(5)}), nil, bad, api.CodeInvalid, []string{"connection parameters: 5 entries"}},
		{"computer attributes", alice, "PATCH", "/computers/COMP-A", body(api.UpdateComputerRequest{Attributes: many(5)}), nil, bad, api.CodeInvalid,
			[]string{"attributes: 5 entries"}},
		{"instances in a tree", rootInst, "POST", "/instances", body(api.InstanceRequest{Title: "child2", SoftwareRelease: softURL}),
			nil, http.StatusForbidden, api.CodeQuotaExceeded, []string{`instance tree "root"`, "holds 2 instances", "max-tree-instances=2"}},
		{"the limit itself", alice, "POST", "/instances", body(api.InstanceRequest{Title: "y", SoftwareRelease: softURL, Parameters: many(4),
			SLA: map[string]string{"region": "eu", "computer_guid": "COMP-A"}}), nil, http.StatusOK, "", nil},
	})
}

// TestQuotasThroughAPI: a person over a quota gets 403 quota_exceeded
// naming the quota, the usage and the limit; the usage is derived again
// from the stored instances after a restart; destroying frees the quota.
func TestQuotasThroughAPI(t *testing.T) {
	tune := func(o *Options) { o.Quotas = master.Quotas{MaxInstances: 2, MaxParameterBytes: 20} }
	m := startMaster(t, tune)
	alice, _ := m.person("Alice")
	bob, _ := m.person("Bob")
	m.computer(alice, "COMP-A", 5, "eu")
	ctx := context.Background()
	for _, title := range []string{"a", "b"} {
		_, err := alice.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL, Parameters: map[string]string{"k": "12345"}})
		noErr(t, err)
	}
	third := func(title string, params map[string]string) []byte {
		data, err := json.Marshal(api.InstanceRequest{Title: title, SoftwareRelease: softURL, Parameters: params})
		noErr(t, err)
		return data
	}
	cases := func(alice *api.Client) []inputCase {
		return []inputCase{{"one instance too many", alice, "POST", "/instances", third("c", nil), nil, http.StatusForbidden, api.CodeQuotaExceeded,
			[]string{"instances of person", "2 used of 2", "quota max-instances"}},
			{"parameters over the quota", alice, "POST", "/instances", third("a", map[string]string{"k": strings.Repeat("x", 20)}), nil,
				http.StatusForbidden, api.CodeQuotaExceeded, []string{"parameter bytes of person", "12 used, 15 more asked", "max-parameter-bytes=20"}},
			{"another person has a quota of its own", bob, "POST", "/instances", third("c", nil), nil, http.StatusOK, "", nil}}
	}
	runInputCases(t, m, cases(alice))

	m.stop()
	m.start(tune)
	alice = m.clientTLS(alice.HTTP.Transport.(*http.Transport).TLSClientConfig)
	runInputCases(t, m, cases(alice)[:2])
	_, err := alice.Request(ctx, api.InstanceRequest{Title: "a", SoftwareRelease: softURL, State: model.StateDestroyed})
	noErr(t, err)
	runInputCases(t, m, []inputCase{{"freed by a destruction", alice, "POST", "/instances", third("c", nil), nil, http.StatusOK, "", nil}})
}

// TestLocalSoftwareURLsThroughAPI: a file:// software URL is refused with
// a 400 saying why, unless the master allows them.
func TestLocalSoftwareURLsThroughAPI(t *testing.T) {
	const local = "file:///srv/software/hello/software.cfg"
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowed=%v", allow), func(t *testing.T) {
			m := startMaster(t, func(o *Options) { o.AllowLocalSoftwareURLs = allow })
			alice, _ := m.person("Alice")
			m.computer(alice, "COMP-A", 2, "eu")
			status, code := http.StatusBadRequest, api.CodeInvalid
			if allow {
				status, code = http.StatusOK, ""
			}
			want := []string{`software release URL "` + local + `" is local to one machine`, "--allow-local-software-urls"}
			runInputCases(t, m, []inputCase{
				{"supply", alice, "POST", "/computers/COMP-A/supply", []byte(`{"url":"` + local + `","state":"available"}`), nil, status, code, want},
				{"request", alice, "POST", "/instances", []byte(`{"title":"x","software_release":"` + local + `"}`), nil, status, code, want},
			})
		})
	}
}

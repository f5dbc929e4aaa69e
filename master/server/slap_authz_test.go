package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// slapPair is one refused call made both ways: over SLAP and over its
// /api/v1 counterpart.
type slapPair struct {
	name    string
	as      *api.Client
	method  string
	route   string
	fields  []string
	apiVerb string
	apiPath string
	apiBody any
}

// TestSLAPAuthorizedLikeAPI: every SLAP call is refused exactly where its
// /api/v1 counterpart is, with the same status, and changes nothing.
func TestSLAPAuthorizedLikeAPI(t *testing.T) {
	w := newAuthzWorld(t)
	const get, post = http.MethodGet, http.MethodPost
	pa := w.aRoot.PartitionID
	po := w.aOther.PartitionID
	a := "/computers/COMP-A"
	formatA := strings.ReplaceAll(pyFormat, "slaptap", "tap") // COMP-A, three partitions
	softState := api.SoftwareStateRequest{URL: softURL, State: model.SoftwareReadyAvailable}
	request := func(title string, extra ...string) []string {
		return append([]string{"software_release", softURL, "software_type", "default", "partition_reference", title,
			"partition_parameter_xml", pyEmptyDict, "filter_xml", pyEmptyDict, "state", pyStarted, "shared_xml", pyFalse}, extra...)
	}
	anon := w.m.anonymous()
	cases := []slapPair{
		// A computer reaches only its own partitions.
		{"computer reads another computer", w.compB, get, "getFullComputerInformation", []string{"computer_id", "COMP-A"}, "GET", a, nil},
		{"computer formats another computer", w.compB, post, "loadComputerConfigurationFromXML", []string{"xml", formatA}, "PUT", a + "/capacity", capacity(3)},
		{"computer reports another computer's software", w.compB, post, "availableSoftwareRelease", []string{"url", softURL, "computer_id", "COMP-A"}, "PUT", a + "/software-state", softState},
		{"computer reports another computer's partition", w.compB, post, "startedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "PUT", a + "/partitions/" + pa + "/state", api.PartitionStateRequest{State: model.ReportedStarted}},
		{"computer publishes for another computer", w.compB, post, "setComputerPartitionConnectionXml", []string{"computer_id", "COMP-A", "computer_partition_id", pa, "connection_xml", pyConnection, "slave_reference", "None"}, "PUT", a + "/partitions/" + pa + "/connection", api.ConnectionRequest{Parameters: map[string]string{"url": "x"}}},
		{"computer frees another computer's partition", w.compB, post, "destroyedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "POST", a + "/partitions/" + pa + "/destroyed", nil},
		{"computer fetches another computer's certificate", w.compB, get, "getComputerPartitionCertificate", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "POST", a + "/partitions/" + pa + "/certificate", nil},
		{"computer posts usage for another computer", w.compB, post, "useComputer", []string{"computer_id", "COMP-A", "use_string", string(w.journalA)}, "POST", a + "/usage", w.journalA},
		{"computer bangs another computer's instance", w.compB, post, "softwareInstanceBang", []string{"computer_id", "COMP-A", "computer_partition_id", pa, "message", "x"}, "POST", "/instances/" + w.aRoot.GUID + "/bang", api.BangRequest{}},
		{"computer requests an instance", w.compA, post, "requestComputerPartition", request("x"), "POST", "/instances", api.InstanceRequest{Title: "x", SoftwareRelease: softURL}},
		{"computer supplies itself", w.compA, post, "supplySupply", []string{"url", otherURL, "computer_id", "COMP-A", "state", "available"}, "POST", a + "/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}},
		// An instance acts within its partition and tree.
		{"instance publishes for another partition", w.instARoot, post, "setComputerPartitionConnectionXml", []string{"computer_id", "COMP-A", "computer_partition_id", po, "connection_xml", pyConnection}, "PUT", a + "/partitions/" + po + "/connection", api.ConnectionRequest{Parameters: map[string]string{"url": "x"}}},
		{"instance bangs another tree", w.instARoot, post, "softwareInstanceBang", []string{"computer_id", "COMP-A", "computer_partition_id", po, "message", "x"}, "POST", "/instances/" + w.aOther.GUID + "/bang", api.BangRequest{}},
		{"instance renames another tree's root", w.instARoot, post, "softwareInstanceRename", []string{"computer_id", "COMP-A", "computer_partition_id", po, "new_name", "x"}, "POST", "/instances/" + w.aOther.GUID + "/rename", api.RenameRequest{Title: "x"}},
		{"instance reports a partition state", w.instARoot, post, "startedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", po}, "PUT", a + "/partitions/" + po + "/state", api.PartitionStateRequest{State: model.ReportedStarted}},
		{"instance reads its computer", w.instARoot, get, "getFullComputerInformation", []string{"computer_id", "COMP-A"}, "GET", a, nil},
		{"instance fetches a certificate", w.instARoot, get, "getComputerPartitionCertificate", []string{"computer_id", "COMP-A", "computer_partition_id", po}, "POST", a + "/partitions/" + po + "/certificate", nil},
		{"instance frees a partition", w.instARoot, post, "destroyedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", po}, "POST", a + "/partitions/" + po + "/destroyed", nil},
		{"instance supplies software", w.instARoot, post, "supplySupply", []string{"url", otherURL, "computer_id", "COMP-A"}, "POST", a + "/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}},
		{"instance formats its computer", w.instARoot, post, "loadComputerConfigurationFromXML", []string{"xml", formatA}, "PUT", a + "/capacity", capacity(3)},
		// A person reaches its own computers and instances, and no node call.
		{"person supplies another person's computer", w.bob, post, "supplySupply", []string{"url", otherURL, "computer_id", "COMP-A", "state", "available"}, "POST", a + "/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}},
		{"person reads another person's computer view", w.bob, get, "getFullComputerInformation", []string{"computer_id", "COMP-A"}, "GET", a, nil},
		{"person formats its computer", w.alice, post, "loadComputerConfigurationFromXML", []string{"xml", formatA}, "PUT", a + "/capacity", capacity(3)},
		{"person reports a partition", w.alice, post, "startedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "PUT", a + "/partitions/" + pa + "/state", api.PartitionStateRequest{State: model.ReportedStarted}},
		{"person reports software", w.alice, post, "buildingSoftwareRelease", []string{"url", softURL, "computer_id", "COMP-A"}, "PUT", a + "/software-state", api.SoftwareStateRequest{URL: softURL, State: model.SoftwareBuilding}},
		{"person fetches an instance certificate", w.alice, get, "getComputerPartitionCertificate", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "POST", a + "/partitions/" + pa + "/certificate", nil},
		{"person posts usage", w.alice, post, "useComputer", []string{"computer_id", "COMP-A", "use_string", string(w.journalA)}, "POST", a + "/usage", w.journalA},
		{"person frees a partition", w.alice, post, "destroyedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "POST", a + "/partitions/" + pa + "/destroyed", nil},
		{"person publishes connection parameters", w.alice, post, "setComputerPartitionConnectionXml", []string{"computer_id", "COMP-A", "computer_partition_id", pa, "connection_xml", pyConnection}, "PUT", a + "/partitions/" + pa + "/connection", api.ConnectionRequest{Parameters: map[string]string{"url": "x"}}},
		{"admin requests an instance", w.m.admin, post, "requestComputerPartition", request("x"), "POST", "/instances", api.InstanceRequest{Title: "x", SoftwareRelease: softURL}},
		{"admin fetches an instance certificate", w.m.admin, get, "getComputerPartitionCertificate", []string{"computer_id", "COMP-A", "computer_partition_id", pa}, "POST", a + "/partitions/" + pa + "/certificate", nil},
		// Without a certificate, nothing.
		{"anonymous view", anon, get, "getFullComputerInformation", []string{"computer_id", "COMP-A"}, "GET", a, nil},
		{"anonymous request", anon, post, "requestComputerPartition", request("x"), "POST", "/instances", api.InstanceRequest{Title: "x", SoftwareRelease: softURL}},
		{"anonymous format", anon, post, "loadComputerConfigurationFromXML", []string{"xml", formatA}, "PUT", a + "/capacity", capacity(3)},
		{"anonymous supply", anon, post, "supplySupply", []string{"url", otherURL, "computer_id", "COMP-A"}, "POST", a + "/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := w.m.snapshot()
			slapStatus, slapBody := slapCall(t, tc.as, tc.method, tc.route, tc.fields...)
			if after := w.m.snapshot(); !bytes.Equal(before, after) {
				t.Errorf("the refused SLAP call changed the state")
			}
			apiStatus, apiBody, _ := call(t, tc.as, tc.apiVerb, api.Prefix+tc.apiPath, tc.apiBody)
			if apiStatus < 400 {
				t.Fatalf("the /api/v1 counterpart %s %s was accepted (%d %s): not a forbidden path", tc.apiVerb, tc.apiPath, apiStatus, apiBody)
			}
			if slapStatus != apiStatus {
				t.Errorf("SLAP %s %s: %d %s; /api/v1 %s %s: %d %s", tc.method, tc.route, slapStatus, slapBody, tc.apiVerb, tc.apiPath, apiStatus, apiBody)
			}
			if len(bytes.TrimSpace(slapBody)) == 0 {
				t.Error("the SLAP refusal carries no message")
			}
		})
	}
	// And the instance's own calls pass where the /api/v1 ones do.
	slapOK(t, w.instARoot, post, "setComputerPartitionConnectionXml", "computer_id", "COMP-A", "computer_partition_id", pa, "connection_xml", pyConnection)
	slapOK(t, w.instARoot, post, "softwareInstanceBang", "computer_id", "COMP-A", "computer_partition_id", pa, "message", "ok")
	slapOK(t, w.instARoot, get, "registerComputerPartition", "computer_reference", "COMP-A", "computer_partition_reference", pa)
	if status, body := slapCall(t, w.instARoot, get, "registerComputerPartition", "computer_reference", "COMP-A", "computer_partition_reference", po); status != http.StatusForbidden {
		t.Errorf("an instance reading another partition: %d %s, want 403", status, body)
	}
	// A request naming a partition needs that partition's instance certificate.
	if status, body := slapCall(t, w.instARoot, post, "requestComputerPartition", request("c", "computer_id", "COMP-A", "computer_partition_id", po)...); status != http.StatusForbidden {
		t.Errorf("an instance requesting for another partition: %d %s, want 403", status, body)
	}
	if status, body := slapCall(t, w.compA, post, "requestComputerPartition", request("c", "computer_id", "COMP-A", "computer_partition_id", pa)...); status != http.StatusForbidden {
		t.Errorf("a computer requesting for its partition's instance: %d %s, want 403", status, body)
	}
}

// TestSLAPBadInput: malformed calls get the status slapgrid expects (400
// for bad input, 404 unknown, 413 too large, 415 wrong body type) and store
// nothing.
func TestSLAPBadInput(t *testing.T) {
	w := newAuthzWorld(t)
	const get, post = http.MethodGet, http.MethodPost
	pa := w.aRoot.PartitionID
	req := func(field, value string) []string {
		f := map[string]string{"software_release": softURL, "software_type": "default", "partition_reference": "bad",
			"partition_parameter_xml": pyEmptyDict, "filter_xml": pyEmptyDict, "state": pyStarted, "shared_xml": pyFalse}
		f[field] = value
		var out []string
		for k, v := range f {
			if v != "-" {
				out = append(out, k, v)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		as     *api.Client
		method string
		route  string
		fields []string
		want   int
		msg    string
	}{
		{"view without computer_id", w.compA, get, "getFullComputerInformation", nil, 400, `"computer_id" is missing`},
		{"view of an unknown computer (admin)", w.m.admin, get, "getFullComputerInformation", []string{"computer_id", "COMP-NONE"}, 404, "not registered"},
		{"computer_id twice", w.compA, get, "getFullComputerInformation", []string{"computer_id", "COMP-A", "computer_id", "COMP-B"}, 400, "given 2 times"},
		{"format: not a marshal document", w.compA, post, "loadComputerConfigurationFromXML", []string{"xml", "<computer/>"}, 400, "root element is not <marshal>"},
		{"format: no partition list", w.compA, post, "loadComputerConfigurationFromXML", []string{"xml", `<marshal><dictionary id="i2"><string>reference</string><string>COMP-A</string></dictionary></marshal>`}, 400, "partition_list"},
		{"format: missing field", w.compA, post, "loadComputerConfigurationFromXML", nil, 400, `"xml" is missing`},
		{"request: malformed parameters", w.alice, post, "requestComputerPartition", req("partition_parameter_xml", "<marshal><dictionary>"), 400, "partition_parameter_xml"},
		{"request: a list parameter", w.alice, post, "requestComputerPartition", req("partition_parameter_xml", `<marshal><dictionary id="i2"><string>a</string><list id="i3"/></dictionary></marshal>`), 400, `"a" holds a list`},
		{"request: unknown SLA key", w.alice, post, "requestComputerPartition", req("filter_xml", `<marshal><dictionary id="i2"><string>colour</string><string>blue</string></dictionary></marshal>`), 400, "colour"},
		{"request: unknown state", w.alice, post, "requestComputerPartition", req("state", `<marshal><string>running</string></marshal>`), 400, "running"},
		{"request: state not a str", w.alice, post, "requestComputerPartition", req("state", `<marshal><int>1</int></marshal>`), 400, `"state" is a int`},
		{"request: shared not a bool", w.alice, post, "requestComputerPartition", req("shared_xml", `<marshal><string>yes</string></marshal>`), 400, "shared_xml"},
		{"request: no title", w.alice, post, "requestComputerPartition", req("partition_reference", "-"), 400, "partition_reference"},
		{"request: bad software URL", w.alice, post, "requestComputerPartition", req("software_release", "ftp://x/y"), 400, "ftp"},
		{"supply: unknown state", w.alice, post, "supplySupply", []string{"url", otherURL, "computer_id", "COMP-A", "state", "maybe"}, 400, "maybe"},
		{"connection: not a dict", w.instARoot, post, "setComputerPartitionConnectionXml", []string{"computer_id", "COMP-A", "computer_partition_id", pa, "connection_xml", pyTrue}, 400, "expected a dict"},
		{"connection: unknown shared instance", w.instARoot, post, "setComputerPartitionConnectionXml", []string{"computer_id", "COMP-A", "computer_partition_id", pa, "connection_xml", pyConnection, "slave_reference", "SOFTINST-999"}, 404, "SOFTINST-999"},
		{"started: unknown partition", w.compA, post, "startedComputerPartition", []string{"computer_id", "COMP-A", "computer_partition_id", "slappart99"}, 404, "slappart99"},
		{"usage: not TioXML", w.compA, post, "useComputer", []string{"computer_id", "COMP-A", "use_string", "<journal"}, 400, ""},
		{"related list: not a list", w.compA, post, "updateComputerPartitionRelatedInstanceList", []string{"computer_id", "COMP-A", "computer_partition_id", pa, "instance_reference_xml", pyNone}, 400, "expected a list"},
		{"bang of a free partition", w.compA, post, "softwareInstanceBang", []string{"computer_id", "COMP-A", "computer_partition_id", "slappart3", "message", "x"}, 409, "free"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.m.snapshot()
			status, body := slapCall(t, tc.as, tc.method, tc.route, tc.fields...)
			if status != tc.want || !strings.Contains(string(body), tc.msg) {
				t.Errorf("%d %s, want %d mentioning %q", status, body, tc.want, tc.msg)
			}
			if !bytes.Equal(before, w.m.snapshot()) {
				t.Error("a refused call changed the state")
			}
		})
	}
	// A body that is not form encoded, and one too large.
	for _, tc := range []struct {
		ct   string
		body []byte
		want int
	}{
		{"application/json", []byte(`{"url":"x"}`), http.StatusUnsupportedMediaType},
		{"application/x-www-form-urlencoded", append([]byte("url="), bytes.Repeat([]byte("a"), maxSLAPForm)...), http.StatusRequestEntityTooLarge},
		{"application/x-www-form-urlencoded", []byte("url=%zz"), http.StatusBadRequest},
	} {
		before := w.m.snapshot()
		status, body, _ := call(t, w.alice, post, "/supplySupply", tc.body, "Content-Type", tc.ct)
		if status != tc.want {
			t.Errorf("supplySupply with %s (%d bytes): %d %s, want %d", tc.ct, len(tc.body), status, body, tc.want)
		}
		if !bytes.Equal(before, w.m.snapshot()) {
			t.Error("a refused call changed the state")
		}
	}
}

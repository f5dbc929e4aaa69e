package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap/xmlm"
)

// slapCall sends a SLAP call as slapos.core's ConnectionHelper does
// (python-requests): GET with the fields as query, POST with them form
// encoded, Accept */* and the slap library's User-agent. fields are name,
// value pairs.
func slapCall(t testing.TB, c *api.Client, method, route string, fields ...string) (int, []byte) {
	t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Add(fields[i], fields[i+1])
	}
	u := c.BaseURL + "/" + route
	var body io.Reader
	if method == http.MethodGet {
		if len(form) > 0 {
			u += "?" + form.Encode()
		}
	} else {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	noErr(t, err)
	req.Header.Set("Accept", "*/*")
	req.Header.Set("User-agent", "slapos.core/1.24.0")
	if method == http.MethodPost {
		req.Header.Set("Content-type", "application/x-www-form-urlencoded")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s /%s: %v", method, route, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	noErr(t, err)
	return resp.StatusCode, data
}

// slapOK sends a call that must answer 200 and returns the body.
func slapOK(t testing.TB, c *api.Client, method, route string, fields ...string) []byte {
	t.Helper()
	status, body := slapCall(t, c, method, route, fields...)
	if status != http.StatusOK {
		t.Fatalf("%s /%s: %d %s", method, route, status, body)
	}
	return body
}

// pickle decodes an answer and checks its class.
func pickle(t testing.TB, body []byte, class string) xmlm.Value {
	t.Helper()
	v, err := xmlm.Unmarshal(body)
	if err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	if class != "" && (v.Kind != xmlm.KindObject || v.Module != "slapos.slap.slap" || v.Class != class) {
		t.Fatalf("answer is %s %s.%s, want slapos.slap.slap.%s: %s", v.Kind, v.Module, v.Class, class, body)
	}
	return v
}

// get reads a path of attributes/keys ("_parameter_dict", "timestamp").
func get(t testing.TB, v xmlm.Value, path ...string) xmlm.Value {
	t.Helper()
	for _, k := range path {
		next, ok := v.Get(k)
		if !ok {
			t.Fatalf("no %q in %+v", k, v)
		}
		v = next
	}
	return v
}

func getStr(t testing.TB, v xmlm.Value, path ...string) string {
	t.Helper()
	s := get(t, v, path...)
	if s.Kind != xmlm.KindString {
		t.Fatalf("%v is a %s, want a str", path, s.Kind)
	}
	return s.Str
}

// partitionOf finds a partition in a Computer pickle.
func partitionOf(t testing.TB, comp xmlm.Value, pid string) xmlm.Value {
	t.Helper()
	for _, p := range get(t, comp, "_computer_partition_list").Items {
		if getStr(t, p, "_partition_id") == pid {
			return p
		}
	}
	t.Fatalf("no partition %s in the computer", pid)
	return xmlm.Value{}
}

// Payloads as slapos.core writes them (xml_marshaller's dumps).
const (
	pyNone        = `<marshal><none/></marshal>`
	pyFalse       = `<marshal><bool>0</bool></marshal>`
	pyTrue        = `<marshal><bool>1</bool></marshal>`
	pyEmptyDict   = `<marshal><dictionary id="i2"/></marshal>`
	pyStarted     = `<marshal><string>started</string></marshal>`
	pyStopped     = `<marshal><string>stopped</string></marshal>`
	pyDestroyed   = `<marshal><string>destroyed</string></marshal>`
	pyJSONParams  = `<marshal><dictionary id="i2"><string>_</string><string>{"cpu-count": 2, "name": "a&amp;amp;b"}</string></dictionary></marshal>`
	pyPinToCompA  = `<marshal><dictionary id="i2"><string>computer_guid</string><string>COMP-A</string></dictionary></marshal>`
	pyConnection  = `<marshal><dictionary id="i2"><string>url</string><string>https://[fd00::2]:8080/?a=1&amp;amp;b=2</string></dictionary></marshal>`
	pyRelatedList = `<marshal><list id="i2"><string>child</string></list></marshal>`
)

// pyFormat is what `slapos node format` sends for COMP-A with three
// partitions (slapformat's _getDict of its Computer: None and bool values,
// nested user and tap objects, an interface dict).
var pyFormat = `<marshal><dictionary id="i2"><string>address</string><string>10.0.0.1</string>` +
	`<string>instance_root</string><string>/srv/slapgrid</string>` +
	`<string>interface</string><dictionary id="i3"><string>ipv4_local_network</string><string>10.0.0.0/16</string><string>name</string><string>lo</string></dictionary>` +
	`<string>ipv6_interface</string><none/><string>netmask</string><string>255.255.255.0</string>` +
	`<string>os_type</string><string>["Linux", "debian", "12", "Debian GNU/Linux"]</string>` +
	`<string>partition_has_ipv6_range</string><bool>0</bool>` +
	`<string>partition_list</string><list id="i4">` +
	pyFormatPartition(0, 5) + pyFormatPartition(1, 6) + pyFormatPartition(2, 7) +
	`</list><string>reference</string><string>COMP-A</string><string>software_root</string><string>/opt/slapgrid</string>` +
	`<string>software_user</string><string>slapsoft</string><string>tap_gateway_interface</string><none/><string>tap_ipv6</string><bool>1</bool></dictionary></marshal>`

func pyFormatPartition(n, id int) string {
	return fmt.Sprintf(`<dictionary id="i%d"><string>address_list</string><list id="i%d">`+
		`<dictionary id="i%d"><string>addr</string><string>10.0.0.%d</string><string>netmask</string><string>255.255.255.255</string></dictionary>`+
		`<dictionary id="i%d"><string>addr</string><string>fd00::%d</string><string>netmask</string><string>ffff:ffff:ffff:ffff::</string></dictionary></list>`+
		`<string>external_storage_list</string><list id="i%d"/><string>ipv6_range</string><dictionary id="i%d"/>`+
		`<string>path</string><string>/srv/slapgrid/slappart%d</string><string>reference</string><string>slappart%d</string>`+
		`<string>tap</string><dictionary id="i%d"><string>ipv4_addr</string><string></string><string>name</string><string>slaptap%d</string></dictionary>`+
		`<string>tun</string><none/><string>user</string><dictionary id="i%d"><string>name</string><string>slapuser%d</string></dictionary></dictionary>`,
		id*10, id*10+1, id*10+2, n+2, id*10+3, n+2, id*10+4, id*10+5, n, n, id*10+6, n, id*10+7, n)
}

// slapWorld: Alice owns COMP-A (registered, no partition yet); Bob owns
// COMP-B with two partitions.
type slapWorld struct {
	m                *testMaster
	alice, bob       *api.Client
	compA, compB     *api.Client
	aliceID          string
	ctx              context.Context
	compAID, compBID string
}

func newSLAPWorld(t *testing.T) *slapWorld {
	w := &slapWorld{m: startMaster(t, nil), ctx: context.Background(), compAID: "COMP-A", compBID: "COMP-B"}
	var p model.Person
	w.alice, p = w.m.person("Alice")
	w.aliceID = p.ID
	w.bob, _ = w.m.person("Bob")
	reg, err := w.alice.RegisterComputer(w.ctx, api.RegisterComputerRequest{ID: "COMP-A", Region: "eu"})
	noErr(t, err)
	w.compA = w.m.client(*reg.Credentials)
	w.compB = w.m.computer(w.bob, "COMP-B", 2, "eu")
	return w
}

// TestSLAPLifeCycle runs one life cycle as SlapOS's programs make it
// (format, supply, software, request, instance, connection, shared
// instance, child request, bang, rename, usage, stop, destroy), each call
// built as the Python code sends it and answered by a real master; the
// answers are decoded back and checked against the /api/v1 state.
func TestSLAPLifeCycle(t *testing.T) {
	w := newSLAPWorld(t)
	ctx := w.ctx
	const gET, post = http.MethodGet, http.MethodPost

	// Every program asks for a REST API first: 404 says there is none.
	if status, _ := slapCall(t, w.compA, gET, "getHateoasUrl"); status != http.StatusNotFound {
		t.Fatalf("getHateoasUrl: %d, want 404", status)
	}

	// slapos node format
	if body := slapOK(t, w.compA, post, "loadComputerConfigurationFromXML", "xml", pyFormat); string(body) != "done" {
		t.Errorf("format answered %q, want done", body)
	}
	det, err := w.alice.ComputerDetails(ctx, "COMP-A")
	noErr(t, err)
	if len(det.Partitions) != 3 || len(det.Partitions[1].Addresses) != 2 ||
		det.Partitions[1].Addresses[0] != (model.Address{Iface: "slaptap1", Addr: "10.0.0.3"}) {
		t.Fatalf("partitions after format: %+v", det.Partitions)
	}

	// slapos supply
	slapOK(t, w.alice, post, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "available")

	// slapos node software
	comp := pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	if getStr(t, comp, "_computer_id") != "COMP-A" {
		t.Errorf("computer id %q", getStr(t, comp, "_computer_id"))
	}
	srs := get(t, comp, "_software_release_list").Items
	if len(srs) != 1 || srs[0].Class != "SoftwareRelease" || getStr(t, srs[0], "_software_release") != softURL ||
		getStr(t, srs[0], "_requested_state") != "available" || getStr(t, srs[0], "_computer_guid") != "COMP-A" {
		t.Fatalf("software list %+v", srs)
	}
	for _, p := range get(t, comp, "_computer_partition_list").Items {
		if getStr(t, p, "_requested_state") != "destroyed" || get(t, p, "_software_release_document").Kind != xmlm.KindNone {
			t.Errorf("free partition %+v", p)
		}
	}
	slapOK(t, w.compA, post, "buildingSoftwareRelease", "url", softURL, "computer_id", "COMP-A")
	slapOK(t, w.compA, post, "availableSoftwareRelease", "url", softURL, "computer_id", "COMP-A")
	det, err = w.alice.ComputerDetails(ctx, "COMP-A")
	noErr(t, err)
	if det.Software[0].Reported != model.SoftwareReadyAvailable {
		t.Errorf("software reported %q, want available", det.Software[0].Reported)
	}

	// slapos request (a person): the instance is placed at once.
	request := func(c *api.Client, title, state, shared, params string, extra ...string) (int, []byte) {
		fields := append([]string{"software_release", softURL, "software_type", "default", "partition_reference", title,
			"partition_parameter_xml", params, "filter_xml", pyPinToCompA, "state", state, "shared_xml", shared}, extra...)
		return slapCall(t, c, post, "requestComputerPartition", fields...)
	}
	status, body := request(w.alice, "main", pyStarted, pyFalse, pyJSONParams)
	if status != http.StatusOK {
		t.Fatalf("request: %d %s", status, body)
	}
	si := pickle(t, body, "SoftwareInstance")
	pid := getStr(t, si, "slap_computer_partition_id")
	guid := getStr(t, si, "_instance_guid")
	if getStr(t, si, "slap_computer_id") != "COMP-A" || getStr(t, si, "_requested_state") != "started" ||
		getStr(t, si, "_parameter_dict", "_") != `{"cpu-count": 2, "name": "a&b"}` {
		t.Fatalf("request answer %s", body)
	}
	inst, err := w.alice.Instance(ctx, guid)
	noErr(t, err)
	if inst.PartitionID != pid || inst.Parameters["_"] != `{"cpu-count": 2, "name": "a&b"}` || inst.SLA["computer_guid"] != "COMP-A" {
		t.Fatalf("/api/v1 sees %+v", inst)
	}

	// slapos node instance: the view carries what slapgrid reads.
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	part := partitionOf(t, comp, pid)
	pd := get(t, part, "_parameter_dict")
	for k, want := range map[string]string{"slap_software_type": "default", "instance_title": "main", "root_instance_title": "main",
		"slap_computer_id": "COMP-A", "slap_computer_partition_id": pid, "slap_software_release_url": softURL,
		"_": `{"cpu-count": 2, "name": "a&b"}`} {
		if got := getStr(t, pd, k); got != want {
			t.Errorf("_parameter_dict[%s] = %q, want %q", k, got, want)
		}
	}
	ts1 := getStr(t, pd, "timestamp")
	if ips := get(t, pd, "ip_list").Items; len(ips) != 2 || ips[0].Kind != xmlm.KindTuple || ips[0].Items[0].Str != "slaptap"+strings.TrimPrefix(pid, "slappart") {
		t.Errorf("ip_list %+v", ips)
	}
	if getStr(t, part, "_requested_state") != "started" || getStr(t, part, "_instance_guid") != guid ||
		getStr(t, part, "_software_release_document", "_software_release") != softURL ||
		getStr(t, part, "_filter_dict", "computer_guid") != "COMP-A" {
		t.Errorf("partition %+v", part)
	}
	// Partition certificate: the same one on every run.
	certBody := slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", pid)
	cert := pickle(t, certBody, "")
	if !strings.Contains(getStr(t, cert, "certificate"), "BEGIN CERTIFICATE") || !strings.Contains(getStr(t, cert, "key"), "PRIVATE KEY") {
		t.Fatalf("certificate answer %s", certBody)
	}
	if again := slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", pid); !bytes.Equal(again, certBody) {
		t.Error("a second getComputerPartitionCertificate gave other credentials")
	}
	// Once revoked, that certificate is never handed out again.
	block, _ := pem.Decode([]byte(getStr(t, cert, "certificate")))
	if block == nil {
		t.Fatal("the partition certificate is not PEM")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.m.admin.RevokeCertificate(context.Background(), leaf.SerialNumber.Text(16), "test"); err != nil {
		t.Fatal(err)
	}
	certBody = slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", pid)
	if cert = pickle(t, certBody, ""); strings.Contains(getStr(t, cert, "certificate"), string(pem.EncodeToMemory(block))) {
		t.Error("getComputerPartitionCertificate handed out a revoked certificate")
	}
	instC := w.m.client(api.Credentials{CertificatePEM: getStr(t, cert, "certificate"), KeyPEM: getStr(t, cert, "key"), CAPEM: string(w.m.srv.Authority().CertPEM())})
	// Inside the instance (slap library with the partition certificate).
	reg := pickle(t, slapOK(t, instC, gET, "registerComputerPartition", "computer_reference", "COMP-A", "computer_partition_reference", pid), "ComputerPartition")
	if getStr(t, reg, "_parameter_dict", "timestamp") != ts1 {
		t.Errorf("registerComputerPartition timestamp %q, want %q", getStr(t, reg, "_parameter_dict", "timestamp"), ts1)
	}
	slapOK(t, instC, post, "setComputerPartitionConnectionXml", "computer_id", "COMP-A", "computer_partition_id", pid,
		"connection_xml", pyConnection, "slave_reference", "None")
	slapOK(t, w.compA, post, "startedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", pid)
	slapOK(t, w.compA, post, "updateComputerPartitionRelatedInstanceList", "computer_id", "COMP-A", "computer_partition_id", pid,
		"instance_reference_xml", pyRelatedList)
	inst, err = w.alice.Instance(ctx, guid)
	noErr(t, err)
	if inst.ReportedState != model.ReportedStarted || inst.Connection["url"] != "https://[fd00::2]:8080/?a=1&b=2" {
		t.Fatalf("after started and publish: %+v", inst)
	}
	// The instance reads back what it published.
	reg = pickle(t, slapOK(t, instC, gET, "registerComputerPartition", "computer_reference", "COMP-A", "computer_partition_reference", pid), "ComputerPartition")
	if getStr(t, reg, "_connection_dict", "url") != "https://[fd00::2]:8080/?a=1&b=2" {
		t.Errorf("registerComputerPartition connection %+v", get(t, reg, "_connection_dict"))
	}
	// Publishing does not bump the timestamp.
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	if ts := getStr(t, partitionOf(t, comp, pid), "_parameter_dict", "timestamp"); ts != ts1 {
		t.Errorf("timestamp moved from %s to %s on publish", ts1, ts)
	}
	// A repeated request shows the connection parameters.
	si = pickle(t, slapOK(t, w.alice, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
		"partition_reference", "main", "partition_parameter_xml", pyJSONParams, "filter_xml", pyEmptyDict, "state", pyNone, "shared_xml", pyFalse), "SoftwareInstance")
	if getStr(t, si, "_connection_dict", "url") != "https://[fd00::2]:8080/?a=1&b=2" {
		t.Errorf("repeated request: connection %+v", get(t, si, "_connection_dict"))
	}

	// A child requested from inside the instance.
	status, body = request(instC, "child", pyStarted, pyFalse, pyEmptyDict, "computer_id", "COMP-A", "computer_partition_id", pid)
	if status != http.StatusOK {
		t.Fatalf("child request: %d %s", status, body)
	}
	child := pickle(t, body, "SoftwareInstance")
	childInfo, err := w.alice.Instance(ctx, getStr(t, child, "_instance_guid"))
	noErr(t, err)
	if childInfo.RootTitle != "main" {
		t.Errorf("child %+v: want root main", childInfo)
	}

	// A shared instance, hosted by main (same software, type default).
	status, body = request(w.alice, "frontend-entry", pyStarted, pyTrue, `<marshal><dictionary id="i2"><string>domain</string><string>example.org</string></dictionary></marshal>`)
	if status != http.StatusOK {
		t.Fatalf("shared request: %d %s", status, body)
	}
	sh := pickle(t, body, "SoftwareInstance")
	shGUID := getStr(t, sh, "_instance_guid")
	shInfo, err := w.alice.Instance(ctx, shGUID)
	noErr(t, err)
	hostPid := getStr(t, sh, "slap_computer_partition_id")
	host, err := w.alice.Instance(ctx, shInfo.HostGUID)
	noErr(t, err)
	if !shInfo.Shared || host.PartitionID != hostPid {
		t.Fatalf("shared instance %+v hosted in %s, answer says %s", shInfo, host.PartitionID, hostPid)
	}
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	slaves := get(t, partitionOf(t, comp, hostPid), "_parameter_dict", "slave_instance_list").Items
	if len(slaves) != 1 || getStr(t, slaves[0], "slave_reference") != shGUID || getStr(t, slaves[0], "slave_title") != "frontend-entry" ||
		getStr(t, slaves[0], "domain") != "example.org" {
		t.Fatalf("slave_instance_list %+v", slaves)
	}
	hostCert := pickle(t, slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", hostPid), "")
	hostC := w.m.client(api.Credentials{CertificatePEM: getStr(t, hostCert, "certificate"), KeyPEM: getStr(t, hostCert, "key"), CAPEM: string(w.m.srv.Authority().CertPEM())})
	slapOK(t, hostC, post, "setComputerPartitionConnectionXml", "computer_id", "COMP-A", "computer_partition_id", hostPid,
		"connection_xml", `<marshal><dictionary id="i2"><string>site_url</string><string>https://example.org</string></dictionary></marshal>`, "slave_reference", shGUID)
	sh = pickle(t, slapOK(t, w.alice, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
		"partition_reference", "frontend-entry", "partition_parameter_xml", pyEmptyDict, "filter_xml", pyEmptyDict, "state", pyNone, "shared_xml", pyTrue), "SoftwareInstance")
	if getStr(t, sh, "_connection_dict", "site_url") != "https://example.org" {
		t.Errorf("shared instance connection %+v", get(t, sh, "_connection_dict"))
	}

	// Bang (from the instance) bumps the tree's timestamp.
	slapOK(t, instC, post, "softwareInstanceBang", "computer_id", "COMP-A", "computer_partition_id", pid, "message", "promise failed")
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	ts2 := getStr(t, partitionOf(t, comp, pid), "_parameter_dict", "timestamp")
	if ts2 == ts1 {
		t.Error("bang did not change the timestamp")
	}
	// Rename (from the child's own partition).
	childCert := pickle(t, slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A",
		"computer_partition_id", childInfo.PartitionID), "")
	childC := w.m.client(api.Credentials{CertificatePEM: getStr(t, childCert, "certificate"), KeyPEM: getStr(t, childCert, "key"), CAPEM: string(w.m.srv.Authority().CertPEM())})
	slapOK(t, childC, post, "softwareInstanceRename", "computer_id", "COMP-A", "computer_partition_id", childInfo.PartitionID, "new_name", "child-renamed")
	childInfo, err = w.alice.Instance(ctx, childInfo.GUID)
	noErr(t, err)
	if childInfo.Title != "child-renamed" {
		t.Errorf("after rename: title %q", childInfo.Title)
	}
	// An error of a shared instance is accepted and stores nothing.
	before := w.m.snapshot()
	slapOK(t, hostC, post, "softwareInstanceError", "computer_id", "COMP-A", "computer_partition_id", hostPid, "error_log", "bad domain", "slave_reference", shGUID)
	if !bytes.Equal(before, w.m.snapshot()) {
		t.Error("a shared instance's error changed the state")
	}
	// An error of the instance, then of the software.
	slapOK(t, w.compA, post, "softwareInstanceError", "computer_id", "COMP-A", "computer_partition_id", pid, "error_log", "buildout failed")
	inst, err = w.alice.Instance(ctx, guid)
	noErr(t, err)
	if inst.ReportedState != model.ReportedError || !strings.Contains(inst.ReportedError, "buildout failed") {
		t.Errorf("after softwareInstanceError: %+v", inst)
	}

	// slapos node report: usage (TioXML), twice (the second is a duplicate).
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	journal, err := account.EncodeJournal(account.BuildJournal("COMP-A", start, start.Add(time.Hour),
		map[string][]account.JournalMovement{pid: {{Resource: "cpu_time", Quantity: 10}}}, "EUR"))
	noErr(t, err)
	slapOK(t, w.compA, post, "useComputer", "computer_id", "COMP-A", "use_string", string(journal))
	slapOK(t, w.compA, post, "useComputer", "computer_id", "COMP-A", "use_string", string(journal))

	// Stop: a new timestamp, state stopped.
	slapOK(t, w.alice, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
		"partition_reference", "main", "partition_parameter_xml", pyJSONParams, "filter_xml", pyEmptyDict, "state", pyStopped, "shared_xml", pyFalse)
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	part = partitionOf(t, comp, pid)
	if getStr(t, part, "_requested_state") != "stopped" || getStr(t, part, "_parameter_dict", "timestamp") == ts2 {
		t.Errorf("after stop: %s, timestamp %s (was %s)", getStr(t, part, "_requested_state"), getStr(t, part, "_parameter_dict", "timestamp"), ts2)
	}
	slapOK(t, w.compA, post, "stoppedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", pid)

	// Destroy the child, then report it destroyed: the partition is free.
	status, _ = request(instC, "child-renamed", pyDestroyed, pyFalse, pyEmptyDict, "computer_id", "COMP-A", "computer_partition_id", pid)
	if status != http.StatusOK {
		t.Fatalf("destroying the child: %d", status)
	}
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	if getStr(t, partitionOf(t, comp, childInfo.PartitionID), "_requested_state") != "destroyed" {
		t.Fatal("the child's partition is not requested destroyed")
	}
	slapOK(t, w.compA, post, "stoppedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", childInfo.PartitionID)
	slapOK(t, w.compA, post, "destroyedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", childInfo.PartitionID)
	comp = pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	if get(t, partitionOf(t, comp, childInfo.PartitionID), "_software_release_document").Kind != xmlm.KindNone {
		t.Error("the destroyed child's partition is not free")
	}

	// Software removal.
	slapOK(t, w.compA, post, "softwareReleaseError", "url", softURL, "computer_id", "COMP-A", "error_log", "compilation failed")
	slapOK(t, w.alice, post, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "destroyed")
	slapOK(t, w.compA, post, "destroyedSoftwareRelease", "url", softURL, "computer_id", "COMP-A")
	det, err = w.alice.ComputerDetails(ctx, "COMP-A")
	noErr(t, err)
	if len(det.Software) != 1 || det.Software[0].Reported != model.SoftwareRemoved {
		t.Errorf("software after removal: %+v", det.Software)
	}
	// getComputerInformation is the same view.
	if a, b := slapOK(t, w.compA, gET, "getComputerInformation", "computer_id", "COMP-A"),
		slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"); !bytes.Equal(a, b) {
		t.Error("getComputerInformation differs from getFullComputerInformation")
	}
}

// TestSLAPNotReadyIs408: a request that cannot be placed yet answers 408
// (the slap library's "not ready"), and is placed once capacity comes.
func TestSLAPNotReadyIs408(t *testing.T) {
	w := newSLAPWorld(t)
	fields := []string{"software_release", softURL, "software_type", "default", "partition_reference", "waiting",
		"partition_parameter_xml", pyEmptyDict, "filter_xml", pyPinToCompA, "state", pyStarted, "shared_xml", pyFalse}
	status, body := slapCall(t, w.alice, http.MethodPost, "requestComputerPartition", fields...)
	if status != http.StatusRequestTimeout {
		t.Fatalf("request on a computer without partitions: %d %s, want 408", status, body)
	}
	// The request is kept: format and supply place it.
	slapOK(t, w.compA, http.MethodPost, "loadComputerConfigurationFromXML", "xml", pyFormat)
	slapOK(t, w.alice, http.MethodPost, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "available")
	pickle(t, slapOK(t, w.alice, http.MethodPost, "requestComputerPartition", fields...), "SoftwareInstance")
}

// TestSLAPComputerBang: slapos node bang (computerBang, which slapos node
// boot repeats until it succeeds) bumps the timestamp of every partition
// of the calling computer whose instance is not requested destroyed, and
// is refused to anyone but that computer, with nothing changed.
func TestSLAPComputerBang(t *testing.T) {
	w := newSLAPWorld(t)
	const gET, post = http.MethodGet, http.MethodPost
	slapOK(t, w.compA, post, "loadComputerConfigurationFromXML", "xml", pyFormat)
	slapOK(t, w.alice, post, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "available")
	req := func(title, state string) string {
		si := pickle(t, slapOK(t, w.alice, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
			"partition_reference", title, "partition_parameter_xml", pyEmptyDict, "filter_xml", pyPinToCompA, "state", state, "shared_xml", pyFalse), "SoftwareInstance")
		return getStr(t, si, "slap_computer_partition_id")
	}
	live, gone := req("live", pyStarted), req("gone", pyStarted)
	req("gone", "<marshal><string>destroyed</string></marshal>")
	stamps := func() map[string]string {
		comp := pickle(t, slapOK(t, w.compA, gET, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
		return map[string]string{live: getStr(t, partitionOf(t, comp, live), "_parameter_dict", "timestamp"),
			gone: getStr(t, partitionOf(t, comp, gone), "_parameter_dict", "timestamp")}
	}
	before := stamps()
	for _, tc := range []struct {
		name   string
		as     *api.Client
		status int
	}{
		{"another computer", w.compB, http.StatusForbidden},
		{"the owner", w.alice, http.StatusForbidden},
		{"anonymous", w.m.anonymous(), http.StatusUnauthorized},
	} {
		if status, body := slapCall(t, tc.as, post, "computerBang", "computer_id", "COMP-A", "message", "Reboot"); status != tc.status {
			t.Errorf("computerBang as %s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}
	if got := stamps(); got[live] != before[live] || got[gone] != before[gone] {
		t.Fatalf("a refused computerBang changed the timestamps: %v, then %v", before, got)
	}
	if body := slapOK(t, w.compA, post, "computerBang", "computer_id", "COMP-A", "message", "Reboot"); string(body) != "OK" {
		t.Errorf("computerBang answered %q, want OK", body)
	}
	after := stamps()
	if after[live] == before[live] {
		t.Errorf("computerBang left the timestamp of %s at %s", live, before[live])
	}
	if after[gone] != before[gone] {
		t.Errorf("computerBang bumped %s, whose instance is requested destroyed: %s, then %s", gone, before[gone], after[gone])
	}
}

// TestSLAPCertificateOfPartitionBeingDestroyed: slapgrid fetches the
// certificate of a partition it takes down; the hosting computer gets the
// one already handed out (no new one), which the master refuses from then
// on, and /api/v1 keeps its 409.
func TestSLAPCertificateOfPartitionBeingDestroyed(t *testing.T) {
	w := newSLAPWorld(t)
	const gET, post = http.MethodGet, http.MethodPost
	slapOK(t, w.compA, post, "loadComputerConfigurationFromXML", "xml", pyFormat)
	slapOK(t, w.alice, post, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "available")
	request := func(state string) string {
		si := pickle(t, slapOK(t, w.alice, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
			"partition_reference", "main", "partition_parameter_xml", pyEmptyDict, "filter_xml", pyPinToCompA, "state", state, "shared_xml", pyFalse), "SoftwareInstance")
		return getStr(t, si, "slap_computer_partition_id")
	}
	pid := request(pyStarted)
	cert := func() (string, string) {
		d := pickle(t, slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", pid), "")
		return getStr(t, d, "certificate"), getStr(t, d, "key")
	}
	crt, key := cert()
	inst := w.m.client(api.Credentials{CertificatePEM: crt, KeyPEM: key, CAPEM: string(w.m.srv.Authority().CertPEM())})
	slapOK(t, inst, gET, "registerComputerPartition", "computer_reference", "COMP-A", "computer_partition_reference", pid)
	request("<marshal><string>destroyed</string></marshal>")
	if c2, k2 := cert(); c2 != crt || k2 != key {
		t.Errorf("the certificate of a partition being destroyed changed: no new one is to be issued")
	}
	if status, body := slapCall(t, inst, gET, "registerComputerPartition", "computer_reference", "COMP-A", "computer_partition_reference", pid); status != http.StatusUnauthorized {
		t.Errorf("the destroyed instance's certificate still works: %d %s", status, body)
	}
	if _, err := w.compA.PartitionCertificate(w.ctx, "COMP-A", pid); !api.IsStatus(err, http.StatusConflict) {
		t.Errorf("/api/v1 certificate of a destroyed instance: %v, want 409", err)
	}
	slapOK(t, w.compA, post, "stoppedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", pid)
	slapOK(t, w.compA, post, "destroyedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", pid)
	if status, _ := slapCall(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", pid); status != http.StatusConflict {
		t.Errorf("certificate of a free partition: %d, want 409", status)
	}
}

// TestSLAPTreeAddresses: getHostingSubscriptionIpList (slapgrid's firewall)
// lists the addresses of every partition of the partition's instance tree,
// to the hosting computer and to the instance itself only.
func TestSLAPTreeAddresses(t *testing.T) {
	w := newSLAPWorld(t)
	const gET, post = http.MethodGet, http.MethodPost
	slapOK(t, w.compA, post, "loadComputerConfigurationFromXML", "xml", pyFormat)
	slapOK(t, w.alice, post, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "available")
	si := pickle(t, slapOK(t, w.alice, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
		"partition_reference", "root", "partition_parameter_xml", pyEmptyDict, "filter_xml", pyPinToCompA, "state", pyStarted, "shared_xml", pyFalse), "SoftwareInstance")
	root := getStr(t, si, "slap_computer_partition_id")
	d := pickle(t, slapOK(t, w.compA, gET, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", root), "")
	inst := w.m.client(api.Credentials{CertificatePEM: getStr(t, d, "certificate"), KeyPEM: getStr(t, d, "key"), CAPEM: string(w.m.srv.Authority().CertPEM())})
	child := pickle(t, slapOK(t, inst, post, "requestComputerPartition", "computer_id", "COMP-A", "computer_partition_id", root,
		"software_release", softURL, "software_type", "default", "partition_reference", "db", "partition_parameter_xml", pyEmptyDict,
		"filter_xml", pyEmptyDict, "state", pyStarted, "shared_xml", pyFalse), "SoftwareInstance")
	childPID := getStr(t, child, "slap_computer_partition_id")
	det, err := w.alice.ComputerDetails(w.ctx, "COMP-A")
	noErr(t, err)
	var want []string
	for _, p := range det.Partitions {
		if p.ID == root || p.ID == childPID {
			for _, a := range p.Addresses {
				want = append(want, a.Iface+" "+a.Addr)
			}
		}
	}
	list := func(c *api.Client, pid string) []string {
		v := pickle(t, slapOK(t, c, gET, "getHostingSubscriptionIpList", "computer_id", "COMP-A", "computer_partition_id", pid), "")
		var out []string
		for _, it := range v.Items {
			if len(it.Items) != 2 {
				t.Fatalf("getHostingSubscriptionIpList item %+v: want (interface, address)", it)
			}
			out = append(out, it.Items[0].Str+" "+it.Items[1].Str)
		}
		return out
	}
	if got := list(w.compA, root); !slices.Equal(got, want) || len(want) != 4 {
		t.Errorf("addresses of the tree, as the computer: %v, want %v", got, want)
	}
	if got := list(inst, root); !slices.Equal(got, want) {
		t.Errorf("addresses of the tree, as the instance: %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name   string
		as     *api.Client
		pid    string
		status int
	}{
		{"another computer", w.compB, root, http.StatusForbidden},
		{"the owner", w.alice, root, http.StatusForbidden},
		{"the instance, for its child's partition", inst, childPID, http.StatusForbidden},
		{"the computer, for a partition it lacks", w.compA, "slappart9", http.StatusNotFound},
	} {
		if status, body := slapCall(t, tc.as, gET, "getHostingSubscriptionIpList", "computer_id", "COMP-A", "computer_partition_id", tc.pid); status != tc.status {
			t.Errorf("getHostingSubscriptionIpList as %s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}
}

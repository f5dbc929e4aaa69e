package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/ca"
)

// authzWorld: two persons, each with a computer and instances; instance
// certificates fetched by the hosting computers.
type authzWorld struct {
	m                     *testMaster
	alice, bob            *api.Client
	aliceID, bobID        string
	compA, compB          *api.Client
	aRoot, aChild, aOther api.Instance
	bRoot                 api.Instance
	instARoot, instBRoot  *api.Client
	journalA, journalAonB []byte
}

func newAuthzWorld(t *testing.T) *authzWorld {
	ctx := context.Background()
	w := &authzWorld{m: startMaster(t, nil)}
	var p model.Person
	w.alice, p = w.m.person("Alice")
	w.aliceID = p.ID
	w.bob, p = w.m.person("Bob")
	w.bobID = p.ID
	w.compA = w.m.computer(w.alice, "COMP-A", 4, "eu")
	w.compB = w.m.computer(w.bob, "COMP-B", 2, "eu")
	req := func(c *api.Client, title, comp string) api.Instance {
		t.Helper()
		i, err := c.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": comp}})
		noErr(t, err)
		if i.Status != api.StatusAllocated {
			t.Fatalf("%s: %+v", title, i)
		}
		return i
	}
	w.aRoot = req(w.alice, "a-root", "COMP-A")
	w.aOther = req(w.alice, "a-other", "COMP-A")
	w.bRoot = req(w.bob, "b-root", "COMP-B")
	cred, err := w.compA.PartitionCertificate(ctx, "COMP-A", w.aRoot.PartitionID)
	noErr(t, err)
	w.instARoot = w.m.client(cred)
	cred, err = w.compB.PartitionCertificate(ctx, "COMP-B", w.bRoot.PartitionID)
	noErr(t, err)
	w.instBRoot = w.m.client(cred)
	w.aChild = req(w.instARoot, "a-child", "COMP-A")
	journal := func(comp, part string) []byte {
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		j := account.BuildJournal(comp, start, start.Add(time.Hour), map[string][]account.JournalMovement{
			part: {{Resource: "cpu_time", Quantity: 10}}}, "EUR")
		data, err := account.EncodeJournal(j)
		noErr(t, err)
		return data
	}
	w.journalA = journal("COMP-A", w.aRoot.PartitionID)
	w.journalAonB = journal("COMP-A", "slappart0")
	return w
}

type forbiddenCase struct {
	name   string
	as     *api.Client
	method string
	path   string
	body   any
	want   int
}

// checkRefused runs each case and checks its status, its JSON error, and
// that the state did not change.
func checkRefused(t *testing.T, m *testMaster, cases []forbiddenCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := m.snapshot()
			status, body, _ := call(t, tc.as, tc.method, api.Prefix+tc.path, tc.body)
			if status != tc.want {
				t.Errorf("%s %s: %d %s, want %d", tc.method, tc.path, status, body, tc.want)
			}
			var eb api.ErrorBody
			if err := json.Unmarshal(body, &eb); err != nil || eb.Code == "" || eb.Message == "" {
				t.Errorf("error body %q is not a JSON {code, message}", body)
			}
			if after := m.snapshot(); !bytes.Equal(before, after) {
				t.Errorf("a refused request changed the state")
			}
		})
	}
}

// TestComputerCannotTouchAnotherComputer: a computer reads and changes
// only its own partitions.
func TestComputerCannotTouchAnotherComputer(t *testing.T) {
	w := newAuthzWorld(t)
	a := "/computers/COMP-A"
	p := a + "/partitions/" + w.aRoot.PartitionID
	checkRefused(t, w.m, []forbiddenCase{
		{"read another computer's view", w.compB, "GET", a, nil, 403},
		{"read another computer's details", w.compB, "GET", a + "/details", nil, 404},
		{"announce another computer's capacity", w.compB, "PUT", a + "/capacity", capacity(1), 403},
		{"report another computer's software", w.compB, "PUT", a + "/software-state", api.SoftwareStateRequest{URL: softURL, State: model.SoftwareReadyAvailable}, 403},
		{"report another computer's partition", w.compB, "PUT", p + "/state", api.PartitionStateRequest{State: model.ReportedError, Error: "x"}, 403},
		{"publish for another computer's partition", w.compB, "PUT", p + "/connection", api.ConnectionRequest{Parameters: map[string]string{"url": "evil"}}, 403},
		{"free another computer's partition", w.compB, "POST", p + "/destroyed", nil, 403},
		{"fetch the certificate of another computer's instance", w.compB, "POST", p + "/certificate", nil, 403},
		{"post usage for another computer", w.compB, "POST", a + "/usage", w.journalA, 403},
		{"post usage naming another computer on its own route", w.compB, "POST", "/computers/COMP-B/usage", w.journalAonB, 403},
		{"read an instance of another computer", w.compB, "GET", "/instances/" + w.aRoot.GUID, nil, 403},
		{"read the events of an instance of another computer", w.compB, "GET", "/instances/" + w.aRoot.GUID + "/events", nil, 403},
		{"bang an instance of another computer", w.compB, "POST", "/instances/" + w.aRoot.GUID + "/bang", api.BangRequest{}, 403},
	})
	// Its instance list holds only what it hosts.
	list, err := w.compB.Instances(context.Background())
	noErr(t, err)
	if len(list) != 1 || list[0].GUID != w.bRoot.GUID {
		t.Errorf("COMP-B sees %d instances, want only %s", len(list), w.bRoot.GUID)
	}
}

// TestInstanceCannotActOutsideItsTree: an instance reads, bangs, renames
// and publishes only within its own tree and partition.
func TestInstanceCannotActOutsideItsTree(t *testing.T) {
	w := newAuthzWorld(t)
	otherPart := "/computers/COMP-A/partitions/" + w.aOther.PartitionID
	checkRefused(t, w.m, []forbiddenCase{
		{"read another person's instance", w.instARoot, "GET", "/instances/" + w.bRoot.GUID, nil, 403},
		{"read another tree of the same person", w.instARoot, "GET", "/instances/" + w.aOther.GUID, nil, 403},
		{"read the events of another tree", w.instARoot, "GET", "/instances/" + w.aOther.GUID + "/events", nil, 403},
		{"bang another tree", w.instARoot, "POST", "/instances/" + w.aOther.GUID + "/bang", api.BangRequest{}, 403},
		{"bang another person's tree", w.instARoot, "POST", "/instances/" + w.bRoot.GUID + "/bang", api.BangRequest{}, 403},
		{"rename another tree's root", w.instARoot, "POST", "/instances/" + w.aOther.GUID + "/rename", api.RenameRequest{Title: "x"}, 403},
		{"stop another tree's root", w.instARoot, "POST", "/instances/" + w.aOther.GUID + "/state", api.StateRequest{State: model.StateStopped}, 403},
		{"list persons", w.instARoot, "GET", "/persons", nil, 403},
		{"publish for another partition", w.instARoot, "PUT", otherPart + "/connection", api.ConnectionRequest{Parameters: map[string]string{"a": "b"}}, 403},
		{"report a partition state", w.instARoot, "PUT", otherPart + "/state", api.PartitionStateRequest{State: model.ReportedStarted}, 403},
		{"read its computer's view", w.instARoot, "GET", "/computers/COMP-A", nil, 403},
		{"fetch an instance certificate", w.instARoot, "POST", otherPart + "/certificate", nil, 403},
		{"free a partition", w.instARoot, "POST", otherPart + "/destroyed", nil, 403},
	})
	ctx := context.Background()
	// Its list is its tree.
	list, err := w.instARoot.Instances(ctx)
	noErr(t, err)
	if len(list) != 2 {
		t.Errorf("a-root sees %d instances, want its tree of 2", len(list))
	}
	for _, i := range list {
		if i.GUID != w.aRoot.GUID && i.GUID != w.aChild.GUID {
			t.Errorf("a-root sees %s (%s) outside its tree", i.GUID, i.Title)
		}
	}
	// Requesting the title of another tree's root creates a child in its
	// own tree and leaves the other root alone.
	before, err := w.alice.Instance(ctx, w.aOther.GUID)
	noErr(t, err)
	child, err := w.instARoot.Request(ctx, api.InstanceRequest{Title: "a-other", SoftwareRelease: otherURL, State: model.StateStopped})
	noErr(t, err)
	if child.GUID == w.aOther.GUID || child.RootTitle != "a-root" {
		t.Errorf("request of title a-other by a-root = %+v, want a new child of a-root", child)
	}
	after, err := w.alice.Instance(ctx, w.aOther.GUID)
	noErr(t, err)
	if after.Version != before.Version || after.SoftwareRelease != softURL || after.RequestedState != model.StateStarted {
		t.Errorf("the other tree's root changed: %+v", after)
	}
	// Publishing for its own partition is allowed (no computer or partition named by the caller).
	status, body, _ := call(t, w.instARoot, "PUT", api.Prefix+"/computers/COMP-A/partitions/"+w.aRoot.PartitionID+"/connection",
		api.ConnectionRequest{Parameters: map[string]string{"url": "ok"}})
	if status != http.StatusOK {
		t.Errorf("publishing for its own partition: %d %s", status, body)
	}
}

// TestPersonCannotSeeAnotherPersonsInstances: persons see and change only
// their own instances and computers; others' instances do not even exist
// for them.
func TestPersonCannotSeeAnotherPersonsInstances(t *testing.T) {
	w := newAuthzWorld(t)
	checkRefused(t, w.m, []forbiddenCase{
		{"read another person's instance", w.bob, "GET", "/instances/" + w.aRoot.GUID, nil, 404},
		{"read another person's child instance", w.bob, "GET", "/instances/" + w.aChild.GUID, nil, 404},
		{"read another person's instance events", w.bob, "GET", "/instances/" + w.aRoot.GUID + "/events", nil, 404},
		{"bang another person's instance", w.bob, "POST", "/instances/" + w.aRoot.GUID + "/bang", api.BangRequest{}, 403},
		{"rename another person's instance", w.bob, "POST", "/instances/" + w.aRoot.GUID + "/rename", api.RenameRequest{Title: "mine"}, 403},
		{"destroy another person's instance", w.bob, "POST", "/instances/" + w.aRoot.GUID + "/state", api.StateRequest{State: model.StateDestroyed}, 404},
		{"list persons", w.bob, "GET", "/persons", nil, 403},
		{"supply on another person's computer", w.bob, "POST", "/computers/COMP-A/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}, 403},
		{"change another person's computer", w.bob, "PATCH", "/computers/COMP-A", map[string]any{"scope": "closed"}, 403},
		{"read another person's computer", w.bob, "GET", "/computers/COMP-A/details", nil, 404},
		{"read another person's computer view", w.bob, "GET", "/computers/COMP-A", nil, 403},
		{"read another person's invoices", w.bob, "GET", "/invoices?person=" + url.QueryEscape(w.aliceID), nil, 403},
		{"list pending requests", w.bob, "GET", "/pending", nil, 403},
		{"add a person", w.bob, "POST", "/persons", api.AddPersonRequest{Name: "Mallory"}, 403},
		{"register a computer for another person", w.bob, "POST", "/computers", api.RegisterComputerRequest{ID: "COMP-X", Owner: w.aliceID}, 403},
	})
	ctx := context.Background()
	list, err := w.bob.Instances(ctx)
	noErr(t, err)
	for _, i := range list {
		if i.Owner != w.bobID {
			t.Errorf("bob sees %s of %s", i.GUID, i.Owner)
		}
	}
	comps, err := w.bob.Computers(ctx)
	noErr(t, err)
	if len(comps) != 1 || comps[0].ID != "COMP-B" {
		t.Errorf("bob sees computers %+v, want only COMP-B", comps)
	}
	// Requesting the same title creates bob's own instance.
	mine, err := w.bob.Request(ctx, api.InstanceRequest{Title: "a-root", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-B"}})
	noErr(t, err)
	if mine.GUID == w.aRoot.GUID || mine.Owner != w.bobID {
		t.Errorf("bob's request of title a-root = %+v, want his own instance", mine)
	}
}

// TestWrongKindOfCertificate: every identity kind is refused on routes
// that belong to another kind.
func TestWrongKindOfCertificate(t *testing.T) {
	w := newAuthzWorld(t)
	pa := "/computers/COMP-A/partitions/" + w.aRoot.PartitionID
	checkRefused(t, w.m, []forbiddenCase{
		{"computer requests an instance", w.compA, "POST", "/instances", api.InstanceRequest{Title: "x", SoftwareRelease: softURL}, 403},
		{"computer adds a person", w.compA, "POST", "/persons", api.AddPersonRequest{Name: "x"}, 403},
		{"computer registers a computer", w.compA, "POST", "/computers", api.RegisterComputerRequest{ID: "COMP-Y"}, 403},
		{"computer supplies itself", w.compA, "POST", "/computers/COMP-A/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}, 403},
		{"computer changes its settings", w.compA, "PATCH", "/computers/COMP-A", map[string]any{"region": "jp"}, 403},
		{"computer reads invoices", w.compA, "GET", "/invoices", nil, 403},
		{"person announces capacity of its computer", w.alice, "PUT", "/computers/COMP-A/capacity", capacity(1), 403},
		{"person reports a partition", w.alice, "PUT", pa + "/state", api.PartitionStateRequest{State: model.ReportedStarted}, 403},
		{"person reports software", w.alice, "PUT", "/computers/COMP-A/software-state", api.SoftwareStateRequest{URL: softURL, State: model.SoftwareBuilding}, 403},
		{"person fetches an instance certificate", w.alice, "POST", pa + "/certificate", nil, 403},
		{"person posts usage", w.alice, "POST", "/computers/COMP-A/usage", w.journalA, 403},
		{"person frees a partition", w.alice, "POST", pa + "/destroyed", nil, 403},
		{"instance registers a computer", w.instARoot, "POST", "/computers", api.RegisterComputerRequest{ID: "COMP-Z"}, 403},
		{"instance supplies software", w.instARoot, "POST", "/computers/COMP-A/supply", api.SupplyRequest{URL: otherURL, State: model.SoftwareAvailable}, 403},
		{"instance reads invoices", w.instARoot, "GET", "/invoices", nil, 403},
		{"instance adds a person", w.instARoot, "POST", "/persons", api.AddPersonRequest{Name: "x"}, 403},
		{"admin fetches an instance certificate", w.m.admin, "POST", pa + "/certificate", nil, 403},
		{"admin requests an instance", w.m.admin, "POST", "/instances", api.InstanceRequest{Title: "x", SoftwareRelease: softURL}, 403},
	})
	// Certificates of the right CA but of no valid or existing identity.
	checkRefused(t, w.m, []forbiddenCase{
		{"unknown identity kind", w.m.clientTLS(w.m.tlsConfig(craftCert(t, w.m, "slapgo://robot/R2"))), "GET", "/whoami", nil, 401},
		{"no identity URI", w.m.clientTLS(w.m.tlsConfig(craftCert(t, w.m, ""))), "GET", "/whoami", nil, 401},
		{"person that does not exist", w.m.clientAs(model.Actor{Kind: model.KindPerson, ID: "PERSON-99"}), "POST", "/instances",
			api.InstanceRequest{Title: "x", SoftwareRelease: softURL}, 401},
		{"computer that does not exist", w.m.clientAs(model.Actor{Kind: model.KindComputer, ID: "COMP-GHOST"}), "GET", "/computers/COMP-GHOST", nil, 401},
		{"instance that does not exist", w.m.clientAs(model.Actor{Kind: model.KindInstance, ID: "SOFTINST-999"}), "GET", "/instances", nil, 401},
		{"admin with another id", w.m.clientAs(model.Actor{Kind: model.KindAdmin, ID: "root"}), "GET", "/pending", nil, 401},
	})
}

// craftCert signs, with the master's CA key, a client certificate the CA
// package would refuse to issue (uri "" = no URI at all).
func craftCert(t *testing.T, m *testMaster, uri string) tls.Certificate {
	t.Helper()
	authority, err := ca.LoadFiles(filepath.Join(m.dir, FileCACert), filepath.Join(m.dir, FileCAKey))
	noErr(t, err)
	caKey := loadCAKey(t, m)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noErr(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "crafted"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if uri != "" {
		u, err := url.Parse(uri)
		noErr(t, err)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, authority.Certificate(), &key.PublicKey, caKey)
	noErr(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func loadCAKey(t *testing.T, m *testMaster) *ecdsa.PrivateKey {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(m.dir, FileCACert), filepath.Join(m.dir, FileCAKey))
	noErr(t, err)
	return pair.PrivateKey.(*ecdsa.PrivateKey)
}

// TestNoCertificate: only token exchange, /healthz and /metrics answer a
// caller without a certificate.
func TestNoCertificate(t *testing.T) {
	w := newAuthzWorld(t)
	anon := w.m.anonymous()
	checkRefused(t, w.m, []forbiddenCase{
		{"whoami", anon, "GET", "/whoami", nil, 401},
		{"request", anon, "POST", "/instances", api.InstanceRequest{Title: "x", SoftwareRelease: softURL}, 401},
		{"computer view", anon, "GET", "/computers/COMP-A", nil, 401},
		{"capacity", anon, "PUT", "/computers/COMP-A/capacity", capacity(1), 401},
		{"instances", anon, "GET", "/instances", nil, 401},
		{"persons", anon, "POST", "/persons", api.AddPersonRequest{Name: "x"}, 401},
		{"token exchange with a bad token", anon, "POST", "/register", api.TokenExchange{Token: "nope"}, 401},
	})
	for _, path := range []string{"/healthz", "/metrics"} {
		if status, _, _ := call(t, anon, "GET", path, nil); status != http.StatusOK {
			t.Errorf("GET %s without a certificate: %d, want 200", path, status)
		}
	}
}

// TestCertificateOfAnotherCA: the TLS handshake refuses a client
// certificate the master's CA did not sign, and its server certificate
// used as a client certificate.
func TestCertificateOfAnotherCA(t *testing.T) {
	m := startMaster(t, nil)
	other, err := ca.New("another CA", time.Now())
	noErr(t, err)
	for _, tc := range []struct {
		name  string
		issue func() (ca.Issued, error)
	}{
		{"admin of another CA", func() (ca.Issued, error) { return other.Issue(model.Admin, time.Now()) }},
		{"person of another CA", func() (ca.Issued, error) {
			return other.Issue(model.Actor{Kind: model.KindPerson, ID: "PERSON-1"}, time.Now())
		}},
		{"the master's own server certificate", func() (ca.Issued, error) {
			return m.srv.Authority().IssueServer(nil, time.Now())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is, err := tc.issue()
			noErr(t, err)
			cert, err := is.TLSCertificate()
			noErr(t, err)
			// Present the certificate whatever CAs the server names (a Go
			// client would otherwise send none and get a 401).
			cfg := m.tlsConfig()
			cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
			c := m.clientTLS(cfg)
			before := m.snapshot()
			req, _ := http.NewRequest("POST", m.url+api.Prefix+"/persons", strings.NewReader(`{"name":"x"}`))
			resp, err := c.HTTP.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request with %s answered %d, want a TLS failure", tc.name, resp.StatusCode)
			}
			// TLS 1.3 lets the client finish its handshake before the
			// server checks the certificate: the refusal shows as a TLS
			// alert or as a connection the HTTP/2 client cannot use.
			t.Logf("refused: %v", err)
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Errorf("error %v is not a transport error", err)
			}
			if !bytes.Equal(before, m.snapshot()) {
				t.Error("state changed")
			}
		})
	}
}

// TestDestroyedInstanceCertificateIsRefused: once its instance is
// destroyed and its partition freed, an instance certificate opens nothing.
func TestDestroyedInstanceCertificateIsRefused(t *testing.T) {
	w := newAuthzWorld(t)
	ctx := context.Background()
	if _, err := w.instBRoot.WhoAmI(ctx); err != nil {
		t.Fatalf("live instance certificate: %v", err)
	}
	_, err := w.bob.Request(ctx, api.InstanceRequest{Title: "b-root", SoftwareRelease: softURL, State: model.StateDestroyed})
	noErr(t, err)
	noErr(t, w.compB.PartitionDestroyed(ctx, "COMP-B", w.bRoot.PartitionID))
	if _, err := w.instBRoot.WhoAmI(ctx); !api.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("destroyed instance's certificate: %v, want 401", err)
	}
	// And no certificate is issued for a free partition.
	if _, err := w.compB.PartitionCertificate(ctx, "COMP-B", w.bRoot.PartitionID); !api.IsStatus(err, http.StatusConflict) {
		t.Errorf("certificate of a free partition: %v, want 409", err)
	}
	if _, err := w.compB.PartitionCertificate(ctx, "COMP-B", "slappart99"); !api.IsStatus(err, http.StatusNotFound) {
		t.Errorf("certificate of an unknown partition: %v, want 404", err)
	}
}

package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// testClock is the wall clock shifted by an offset tests may move.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().UTC().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// testMaster is a real master on a loopback listener, with TLS and
// certificates from its real CA.
type testMaster struct {
	t      testing.TB
	dir    string
	store  string // "" for SQLite
	srv    *Server
	url    string
	clock  *testClock
	admin  *api.Client
	cancel context.CancelFunc
	done   chan error
}

func startMaster(t testing.TB, tune func(*Options)) *testMaster {
	t.Helper()
	return startMasterOn(t, "", tune)
}

// startMasterOn starts a master whose database is storeURL ("": SQLite in
// its data directory).
func startMasterOn(t testing.TB, storeURL string, tune func(*Options)) *testMaster {
	t.Helper()
	dir := t.TempDir()
	if _, err := InitDataDir(dir, storeURL, nil, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	m := &testMaster{t: t, dir: dir, clock: &testClock{}, store: storeURL}
	m.start(tune)
	return m
}

// start opens the data directory and serves it (again).
func (m *testMaster) start(tune func(*Options)) {
	t := m.t
	t.Helper()
	opts := Options{DataDir: m.dir, Store: m.store, Logger: slog.New(slog.DiscardHandler), Now: m.clock.Now}
	if tune != nil {
		tune(&opts)
	}
	srv, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.srv, m.url, m.cancel, m.done = srv, "https://"+ln.Addr().String(), cancel, make(chan error, 1)
	go func() { m.done <- srv.Serve(ctx, ln, nil) }()
	for deadline := time.Now().Add(30 * time.Second); !srv.Leading(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the master did not take the lead within 30s")
		}
	}
	m.admin, err = api.NewClient(m.url, filepath.Join(m.dir, FileAdminCert), filepath.Join(m.dir, FileAdminKey), filepath.Join(m.dir, FileCACert))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
}

// stop drains and closes the master (idempotent).
func (m *testMaster) stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	if err := <-m.done; err != nil {
		m.t.Errorf("Serve: %v", err)
	}
	if err := m.srv.Close(); err != nil {
		m.t.Errorf("Close: %v", err)
	}
	m.cancel = nil
}

func (m *testMaster) tlsConfig(certs ...tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(m.srv.Authority().Certificate())
	return &tls.Config{RootCAs: pool, Certificates: certs}
}

func (m *testMaster) clientTLS(cfg *tls.Config) *api.Client {
	m.t.Helper()
	c, err := api.NewClientTLS(m.url, cfg)
	if err != nil {
		m.t.Fatal(err)
	}
	c.HTTP.Timeout = 20 * time.Second
	m.t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// client uses credentials the master handed out.
func (m *testMaster) client(creds api.Credentials) *api.Client {
	m.t.Helper()
	cert, err := tls.X509KeyPair([]byte(creds.CertificatePEM), []byte(creds.KeyPEM))
	if err != nil {
		m.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(creds.CAPEM)) {
		m.t.Fatal("credentials hold no CA certificate")
	}
	return m.clientTLS(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
}

// clientAs issues a certificate for any identity with the master's CA,
// bypassing the API (for identities the API would not hand out).
func (m *testMaster) clientAs(who model.Actor) *api.Client {
	m.t.Helper()
	is, err := m.srv.Authority().Issue(who, m.clock.Now())
	if err != nil {
		m.t.Fatal(err)
	}
	cert, err := is.TLSCertificate()
	if err != nil {
		m.t.Fatal(err)
	}
	return m.clientTLS(m.tlsConfig(cert))
}

// anonymous presents no client certificate.
func (m *testMaster) anonymous() *api.Client { return m.clientTLS(m.tlsConfig()) }

// snapshot encodes the whole state, to compare before and after.
func (m *testMaster) snapshot() []byte {
	m.srv.mu.Lock()
	defer m.srv.mu.Unlock()
	var b bytes.Buffer
	for _, mut := range m.srv.state.Snapshot() {
		data, err := mut.Encode()
		if err != nil {
			m.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", mut.Kind, mut.Key, data)
	}
	return b.Bytes()
}

// call sends a request and returns the status and body. body may be nil,
// a []byte (sent as is) or a value (sent as JSON); a body is labelled
// application/json (application/xml on the usage route) unless header
// (name, value pairs) says otherwise.
func call(t testing.TB, c *api.Client, method, path string, body any, header ...string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.BaseURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		ct := "application/json"
		if strings.HasSuffix(req.URL.Path, "/usage") {
			ct = "application/xml" // the TioXML journal
		}
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data, resp.Header
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func capacity(n int) api.CapacityRequest {
	var r api.CapacityRequest
	for i := range n {
		r.Partitions = append(r.Partitions, api.PartitionCapacity{ID: fmt.Sprintf("slappart%d", i),
			Addresses: []model.Address{{Iface: "slapgo0", Addr: fmt.Sprintf("fd00::%x", i+2)}, {Iface: "lo", Addr: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}}})
	}
	return r
}

const (
	softURL  = "https://example.org/software/kvm/software.cfg"
	otherURL = "https://example.org/software/lamp/software.cfg"
)

// person adds a person as the admin and returns its client.
func (m *testMaster) person(name string) (*api.Client, model.Person) {
	m.t.Helper()
	res, err := m.admin.AddPerson(context.Background(), api.AddPersonRequest{Name: name})
	noErr(m.t, err)
	return m.client(res.Credentials), res.Person
}

// computer registers a computer for owner, announces n partitions and
// supplies softURL; it returns the computer's client.
func (m *testMaster) computer(owner *api.Client, id string, n int, region string) *api.Client {
	m.t.Helper()
	ctx := context.Background()
	reg, err := owner.RegisterComputer(ctx, api.RegisterComputerRequest{ID: id, Region: region,
		Prices: model.PriceList{"hosting": 0.25}, Currency: "EUR"})
	noErr(m.t, err)
	if reg.Credentials == nil {
		m.t.Fatal("registration without token returned no credentials")
	}
	c := m.client(*reg.Credentials)
	noErr(m.t, c.SetCapacity(ctx, id, capacity(n)))
	_, err = owner.Supply(ctx, id, api.SupplyRequest{URL: softURL, State: model.SoftwareAvailable})
	noErr(m.t, err)
	return c
}

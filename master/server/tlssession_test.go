package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/ca"
)

// A node's TLS session resumes across a master restart (the ticket keys
// are derived from the CA key), still as the identity it began with; a
// revoked certificate's resumed session is refused.
func TestSessionResumesAfterRestart(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	res, err := m.admin.AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)
	cert, err := tls.X509KeyPair([]byte(res.Credentials.CertificatePEM), []byte(res.Credentials.KeyPEM))
	noErr(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.Credentials.CAPEM))
	var handshakes, resumed atomic.Int64
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert},
		ClientSessionCache: tls.NewLRUClientSessionCache(4),
		VerifyConnection: func(cs tls.ConnectionState) error {
			handshakes.Add(1)
			if cs.DidResume {
				resumed.Add(1)
			}
			return nil
		}}
	// whoami asks on a new connection of the same node (same session
	// cache), after a restart the master's new address.
	whoami := func() (api.WhoAmI, error) {
		t.Helper()
		c := m.clientTLS(cfg)
		defer c.HTTP.CloseIdleConnections()
		return c.WhoAmI(ctx)
	}
	w, err := whoami()
	noErr(t, err)
	if w.Identity.ID != "alice" || resumed.Load() != 0 {
		t.Fatalf("first handshake: identity %s, %d resumed; want alice, none", w.Identity, resumed.Load())
	}
	m.stop()
	m.start(nil)
	w, err = whoami()
	noErr(t, err)
	if w.Identity.ID != "alice" {
		t.Errorf("resumed session after a restart acts as %s, want alice", w.Identity)
	}
	if resumed.Load() != 1 || handshakes.Load() != 2 {
		t.Fatalf("after a restart: %d of %d handshakes resumed, want 1 of 2", resumed.Load(), handshakes.Load())
	}

	_, err = m.admin.RevokeCertificate(ctx, serialOf(t, res.Credentials.CertificatePEM), "laptop stolen")
	noErr(t, err)
	m.stop()
	m.start(nil)
	_, err = whoami()
	wantStatus(t, err, http.StatusUnauthorized, "revoked")
	if resumed.Load() != 2 {
		t.Fatalf("the revoked certificate's session did not resume (%d of %d handshakes resumed): the test proves nothing", resumed.Load(), handshakes.Load())
	}

}

// TestTicketKeysDerivedFromTheCA: the keys are the same for every master
// holding the same CA key, differ for another CA, change every
// TicketKeyRotation and keep decrypting for TicketKeyLifetime.
func TestTicketKeysDerivedFromTheCA(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	a, err := ca.New("grid A", t0)
	noErr(t, err)
	dir := t.TempDir()
	noErr(t, a.Save(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")))
	aCopy, err := ca.LoadFiles(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	noErr(t, err)
	b, err := ca.New("grid B", t0)
	noErr(t, err)
	keysOf := func(auth *ca.Authority, now time.Time) [][32]byte {
		tk, err := newTicketKeys(auth)
		noErr(t, err)
		return tk.keysAt(now)
	}
	onA, onCopy, onB := keysOf(a, t0), keysOf(aCopy, t0), keysOf(b, t0)
	if !slices.Equal(onA, onCopy) {
		t.Error("two masters with the same CA key derive different ticket keys")
	}
	for _, k := range onB {
		if slices.Contains(onA, k) {
			t.Fatal("another CA derives a key of this one")
		}
	}
	if n := len(onA); n != 9 {
		t.Errorf("%d keys in use, want 9 (this period's, the next one's, 7 past ones)", n)
	}
	if later := keysOf(a, t0.Add(TicketKeyRotation-time.Minute-12*time.Hour)); later[0] != onA[0] {
		t.Error("the encrypting key changed within its period")
	}
	next := keysOf(a, t0.Add(TicketKeyRotation))
	if next[0] == onA[0] || next[0] != onA[1] {
		t.Error("after a period the encrypting key is not the next period's key announced before")
	}
	if !slices.Contains(next, onA[0]) {
		t.Error("the previous period's key no longer decrypts")
	}
	if week := keysOf(a, t0.Add(TicketKeyLifetime)); slices.Contains(week, onA[0]) {
		t.Error("a key older than a ticket's lifetime still decrypts")
	}
	tk, err := newTicketKeys(a)
	noErr(t, err)
	cfg := &tls.Config{}
	if !tk.set(cfg, t0) || tk.set(cfg, t0.Add(time.Hour)) || !tk.set(cfg, t0.Add(TicketKeyRotation)) {
		t.Error("set does not report exactly the changes of period")
	}
	for _, k := range onA {
		if k == ([32]byte{}) {
			t.Fatal("a zero key")
		}
	}
}

// TestSessionResumesOnAnotherMaster: a node's TLS session begun with the
// leader resumes on the follower that takes over (the masters of a grid
// derive the same ticket keys from their CA key), though the node reaches
// the two by different names.
func TestSessionResumesOnAnotherMaster(t *testing.T) {
	pg := pgtest.Start(t)
	dirs, url := initPostgresGrid(t, pg, 2)
	a := startHA(t, dirs[0], url, "127.0.0.1:0")
	waitFor(t, "a leads", 10*time.Second, a.srv.Leading)
	b := startHA(t, dirs[1], url, "127.0.0.1:0")
	ctx := context.Background()
	res, err := adminClient(t, dirs[0], a.url).AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)
	cert, err := tls.X509KeyPair([]byte(res.Credentials.CertificatePEM), []byte(res.Credentials.KeyPEM))
	noErr(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(res.Credentials.CAPEM))
	var handshakes, resumed atomic.Int64
	cfg := &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert},
		VerifyConnection: func(cs tls.ConnectionState) error {
			handshakes.Add(1)
			if cs.DidResume {
				resumed.Add(1)
			}
			return nil
		}}
	// A by its address, B by name: two server names, one session.
	bByName := strings.Replace(b.url, "127.0.0.1", "localhost", 1)
	c, err := api.NewClientTLS(a.url+","+bByName, cfg)
	noErr(t, err)
	if w, err := c.WhoAmI(ctx); err != nil || w.Identity.ID != "alice" {
		t.Fatalf("whoami on a: %+v, %v", w, err)
	}
	c.HTTP.CloseIdleConnections()
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b takes over", 15*time.Second, b.srv.Leading)
	w, err := c.WhoAmI(ctx)
	noErr(t, err)
	c.HTTP.CloseIdleConnections()
	if w.Identity.ID != "alice" {
		t.Errorf("the resumed session on b acts as %s, want alice", w.Identity)
	}
	if resumed.Load() != 1 || handshakes.Load() != 2 {
		t.Fatalf("after the take-over: %d of %d handshakes resumed, want 1 of 2", resumed.Load(), handshakes.Load())
	}
}

// A TLS handshake gets HandshakeTimeout from its connection's acceptance,
// not the shorter header deadline net/http sets on it; once net/http has
// cleared the deadlines (the handshake over), its own pass through.
func TestHandshakeDeadlineOutlastsHeaderDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	defer ln.Close()
	hl := handshakeListener{Listener: ln, timeout: 300 * time.Millisecond}
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			close(peer)
			return
		}
		peer <- c
	}()
	c, err := hl.Accept()
	noErr(t, err)
	defer c.Close()
	if p, ok := <-peer; ok {
		defer p.Close()
	}
	hc := c.(*handshakeConn)
	// net/http's handshake deadline (its header timeout, here 20ms):
	// the read waits for the handshake's deadline instead.
	start := time.Now()
	noErr(t, hc.SetReadDeadline(start.Add(20*time.Millisecond)))
	noErr(t, hc.SetWriteDeadline(start.Add(20*time.Millisecond)))
	_, err = hc.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("a read during the handshake: %v, want a timeout", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("the handshake was cut after %s, want its own deadline (300ms from acceptance)", waited)
	}
	// The handshake over, net/http clears the deadlines; later ones pass.
	noErr(t, hc.SetReadDeadline(time.Time{}))
	noErr(t, hc.SetWriteDeadline(time.Time{}))
	soon := hc.until.Add(-time.Hour)
	if got := hc.adjust(soon); !got.Equal(soon) {
		t.Errorf("after the handshake a deadline %s became %s, want it unchanged", soon, got)
	}
}

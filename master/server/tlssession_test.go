package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/master/api"
)

// A node's TLS session resumes across a master restart (the ticket keys
// are the data directory's), still as the identity it began with; a
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
	st, err := os.Stat(filepath.Join(m.dir, FileTicketKeys))
	noErr(t, err)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", FileTicketKeys, st.Mode().Perm())
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

	// Keys gone (a new data directory's): no resumption, a full handshake.
	m.stop()
	noErr(t, os.Remove(filepath.Join(m.dir, FileTicketKeys)))
	m.start(nil)
	_, err = whoami()
	wantStatus(t, err, http.StatusUnauthorized, "revoked")
	if resumed.Load() != 2 || handshakes.Load() != 4 {
		t.Errorf("with new ticket keys: %d of %d handshakes resumed, want 2 of 4", resumed.Load(), handshakes.Load())
	}
}

func TestTicketKeysRotateAndRefuseBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileTicketKeys)
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tk, err := loadTicketKeys(path, t0)
	noErr(t, err)
	if len(tk.keys) != 1 {
		t.Fatalf("a new file holds %d keys, want 1", len(tk.keys))
	}
	first := tk.keys[0].key
	if changed, err := tk.rotate(t0.Add(TicketKeyRotation - time.Minute)); err != nil || changed {
		t.Fatalf("rotate before the rotation period: changed %v, %v", changed, err)
	}
	for day := 1; day <= 10; day++ {
		if changed, err := tk.rotate(t0.Add(time.Duration(day) * TicketKeyRotation)); err != nil || !changed {
			t.Fatalf("day %d: changed %v, %v", day, changed, err)
		}
	}
	again, err := loadTicketKeys(path, t0.Add(10*TicketKeyRotation))
	noErr(t, err)
	if len(again.keys) != 8 {
		t.Errorf("after 10 days: %d keys kept, want 8 (the lifetime of a ticket and the new one)", len(again.keys))
	}
	for i, k := range again.keys {
		if k.key == first {
			t.Errorf("key %d is the first one, older than its lifetime", i)
		}
		if i > 0 && !k.made.Before(again.keys[i-1].made) {
			t.Errorf("keys not newest first: %s after %s", k.made, again.keys[i-1].made)
		}
	}
	if again.keys[0] != tk.keys[0] {
		t.Error("the newest key read back differs from the one written")
	}

	noErr(t, os.Chmod(path, 0o644))
	if _, err := loadTicketKeys(path, t0); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Errorf("a key file readable by others: %v, want a refusal naming 0600", err)
	}
	noErr(t, os.Remove(path))
	noErr(t, os.WriteFile(path, []byte("1772366400 00ff\n"), 0o600))
	if _, err := loadTicketKeys(path, t0); err == nil || !strings.Contains(err.Error(), "line 1: key") {
		t.Errorf("a short key: %v, want a refusal naming line 1", err)
	}
	noErr(t, os.WriteFile(path, []byte("\nsoon "+strings.Repeat("ab", 32)+"\n"), 0o600))
	if _, err := loadTicketKeys(path, t0); err == nil || !strings.Contains(err.Error(), "line 2: time") {
		t.Errorf("a bad time: %v, want a refusal naming line 2", err)
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

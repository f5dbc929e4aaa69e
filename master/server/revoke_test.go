package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/ca"
)

func serialOf(t *testing.T, certPEM string) string {
	t.Helper()
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

func wantStatus(t *testing.T, err error, status int, contains string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != status || !strings.Contains(ae.Message, contains) {
		t.Fatalf("got %v, want status %d mentioning %q", err, status, contains)
	}
}

// crlOf fetches /crl, checks it is signed by the master's CA, and returns
// the serials it lists.
func crlOf(t *testing.T, m *testMaster) map[string]bool {
	t.Helper()
	status, body, hdr := call(t, m.anonymous(), http.MethodGet, "/crl", nil)
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET /crl = %d %s: %s", status, hdr.Get("Content-Type"), body)
	}
	crl, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(m.srv.Authority().Certificate()); err != nil {
		t.Fatalf("the CRL is not signed by the master's CA: %v", err)
	}
	out := map[string]bool{}
	for _, e := range crl.RevokedCertificateEntries {
		out[e.SerialNumber.Text(16)] = true
	}
	return out
}

func TestRevokedCertificateIsRefused(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	res, err := m.admin.AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)
	alice := m.client(res.Credentials)
	aliceSerial := serialOf(t, res.Credentials.CertificatePEM)
	bob, _ := m.person("bob")
	if _, err := alice.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = bob.RevokeCertificate(ctx, aliceSerial, "")
	wantStatus(t, err, http.StatusForbidden, "only the admin")
	_, err = m.admin.RevokeCertificate(ctx, "abcdef0123", "")
	wantStatus(t, err, http.StatusNotFound, "not issued by this master")
	_, err = m.admin.RevokeCertificate(ctx, "not-hex", "")
	wantStatus(t, err, http.StatusBadRequest, "hexadecimal")
	if crlOf(t, m)[aliceSerial] {
		t.Fatal("a valid certificate is in the CRL")
	}

	rv, err := m.admin.RevokeCertificate(ctx, aliceSerial, "laptop stolen")
	noErr(t, err)
	if rv.Identity.ID != "alice" {
		t.Errorf("revoked the certificate of %s, want alice", rv.Identity)
	}
	_, err = alice.WhoAmI(ctx)
	wantStatus(t, err, http.StatusUnauthorized, "revoked")
	if _, err := bob.WhoAmI(ctx); err != nil {
		t.Errorf("bob's certificate is refused too: %v", err)
	}
	if !crlOf(t, m)[aliceSerial] {
		t.Error("the revoked certificate is not in the CRL")
	}
	// From then on means after a restart too.
	m.stop()
	m.start(nil)
	alice = m.client(res.Credentials)
	_, err = alice.WhoAmI(ctx)
	wantStatus(t, err, http.StatusUnauthorized, "revoked")
}

func TestDestroyedIdentityIsRefused(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	owner, _ := m.person("owner")
	comp := m.computer(owner, "COMP-1", 1, "eu")
	if _, err := comp.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	if err := owner.DestroyComputer(ctx, "COMP-9"); err == nil {
		t.Error("destroying an unknown computer succeeded")
	}
	noErr(t, owner.DestroyComputer(ctx, "COMP-1"))
	_, err := comp.WhoAmI(ctx)
	wantStatus(t, err, http.StatusUnauthorized, "was destroyed")

	res, err := m.admin.AddPerson(ctx, api.AddPersonRequest{ID: "carol"})
	noErr(t, err)
	carol := m.client(res.Credentials)
	noErr(t, m.admin.DestroyPerson(ctx, "carol"))
	_, err = carol.WhoAmI(ctx)
	wantStatus(t, err, http.StatusUnauthorized, "")
	// A new carol: the old certificate stays refused.
	res2, err := m.admin.AddPerson(ctx, api.AddPersonRequest{ID: "carol"})
	noErr(t, err)
	_, err = carol.WhoAmI(ctx)
	wantStatus(t, err, http.StatusUnauthorized, "destroyed")
	if _, err := m.client(res2.Credentials).WhoAmI(ctx); err != nil {
		t.Errorf("the new carol's certificate is refused: %v", err)
	}
	crl := crlOf(t, m)
	if !crl[serialOf(t, res.Credentials.CertificatePEM)] {
		t.Error("the destroyed person's certificate is not in the CRL")
	}
	if crl[serialOf(t, res2.Credentials.CertificatePEM)] {
		t.Error("the new person's certificate is in the CRL")
	}
}

// TestServerCertificateRotation: a new server certificate is served from
// the next handshake, without a restart; a bad one is refused and the old
// one kept.
func TestServerCertificateRotation(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	serverSerial := func() string {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(m.url, "https://"), m.tlsConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Text(16)
	}
	before := serverSerial()
	if _, err := m.admin.WhoAmI(ctx); err != nil {
		t.Fatal(err)
	}
	is, err := m.srv.Authority().IssueServer([]string{"master.example"}, m.clock.Now())
	noErr(t, err)
	write := func(certPEM, keyPEM []byte) {
		noErr(t, os.WriteFile(filepath.Join(m.dir, FileServerCert), certPEM, 0o644))
		noErr(t, os.WriteFile(filepath.Join(m.dir, FileServerKey), keyPEM, 0o600))
	}
	write(is.CertPEM, is.KeyPEM)
	noErr(t, m.srv.ReloadServerCertificate())
	after := serverSerial()
	if after == before || after != strings.TrimLeft(is.Serial, "0") {
		t.Fatalf("server serial %s after the reload, want the new %s (was %s)", after, is.Serial, before)
	}
	// The admin's client, whose connection was open, keeps working.
	if _, err := m.admin.WhoAmI(ctx); err != nil {
		t.Errorf("after the rotation: %v", err)
	}
	// A certificate of another CA is refused; the new one stays.
	other, err := ca.New("another CA", m.clock.Now())
	noErr(t, err)
	bad, err := other.IssueServer(nil, m.clock.Now())
	noErr(t, err)
	write(bad.CertPEM, bad.KeyPEM)
	if err := m.srv.ReloadServerCertificate(); err == nil {
		t.Error("a server certificate of another CA was accepted")
	}
	write(is.CertPEM, bad.KeyPEM)
	if err := m.srv.ReloadServerCertificate(); err == nil {
		t.Error("a certificate with the wrong key was accepted")
	}
	if got := serverSerial(); got != after {
		t.Errorf("after refused reloads the server serves %s, want %s", got, after)
	}
}

// TestCAKeyStaysInTheDataDirectory: the CA key is in no backup, no answer.
func TestCAKeyStaysInTheDataDirectory(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	m.person("alice")
	keyPEM, err := os.ReadFile(filepath.Join(m.dir, FileCAKey))
	noErr(t, err)
	blk, _ := pem.Decode(keyPEM)
	backup := filepath.Join(t.TempDir(), "backup.db")
	noErr(t, m.srv.store.Backup(ctx, backup))
	data, err := os.ReadFile(backup)
	noErr(t, err)
	if bytes.Contains(data, blk.Bytes) || bytes.Contains(data, keyPEM) {
		t.Error("the backup holds the CA key")
	}
	_, crlBody, _ := call(t, m.anonymous(), http.MethodGet, "/crl", nil)
	if bytes.Contains(crlBody, blk.Bytes) {
		t.Error("the CRL holds the CA key")
	}
	if fi, err := os.Stat(filepath.Join(m.dir, FileCAKey)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}

}

// crlTimes fetches /crl and returns each serial's revocation time.
func crlTimes(t *testing.T, m *testMaster) map[string]time.Time {
	t.Helper()
	status, body, _ := call(t, m.anonymous(), http.MethodGet, "/crl", nil)
	if status != http.StatusOK {
		t.Fatalf("GET /crl = %d: %s", status, body)
	}
	crl, err := x509.ParseRevocationList(body)
	noErr(t, err)
	out := map[string]time.Time{}
	for _, e := range crl.RevokedCertificateEntries {
		out[e.SerialNumber.Text(16)] = e.RevocationTime
	}
	return out
}

// TestCRLTimesAreDestructionTimes: the CRL gives a certificate of a
// destroyed person, computer or instance the time of that destruction, the
// same at every call and after a restart (not the time of the call).
func TestCRLTimesAreDestructionTimes(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	alice, _ := m.person("alice")
	comp := m.computer(alice, "COMP-1", 1, "eu")
	inst, err := alice.Request(ctx, api.InstanceRequest{Title: "db", SoftwareRelease: softURL})
	noErr(t, err)
	instCreds, err := comp.PartitionCertificate(ctx, "COMP-1", inst.PartitionID)
	noErr(t, err)
	carol, err := m.admin.AddPerson(ctx, api.AddPersonRequest{ID: "carol"})
	noErr(t, err)
	other, err := alice.RegisterComputer(ctx, api.RegisterComputerRequest{ID: "COMP-2"})
	noErr(t, err)

	want := map[string]time.Time{}
	m.clock.Advance(time.Hour)
	want[serialOf(t, instCreds.CertificatePEM)] = m.clock.Now()
	_, err = alice.SetState(ctx, inst.GUID, model.StateDestroyed)
	noErr(t, err)
	m.clock.Advance(time.Hour)
	want[serialOf(t, carol.Credentials.CertificatePEM)] = m.clock.Now()
	noErr(t, m.admin.DestroyPerson(ctx, "carol"))
	m.clock.Advance(time.Hour)
	want[serialOf(t, other.Credentials.CertificatePEM)] = m.clock.Now()
	noErr(t, alice.DestroyComputer(ctx, "COMP-2"))

	check := func(when string) {
		t.Helper()
		got := crlTimes(t, m)
		for serial, at := range want {
			g, ok := got[serial]
			// The CRL holds whole seconds; the clock moved an hour between
			// destructions.
			if !ok || g.Sub(at).Abs() > time.Second {
				t.Errorf("%s: CRL time of %s = %v (listed %v), want its destruction at %v", when, serial, g, ok, at)
			}
		}
	}
	check("first call")
	m.clock.Advance(3 * time.Hour)
	check("later call")
	m.stop()
	m.start(nil)
	m.clock.Advance(time.Hour)
	check("after a restart")
}

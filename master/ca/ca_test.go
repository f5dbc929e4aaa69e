package ca

import (
	"crypto/x509"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func newAuthority(t *testing.T) *Authority {
	t.Helper()
	a, err := New("test CA", t0)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func verify(a *Authority, is Issued, usage x509.ExtKeyUsage, dns string) (*x509.Certificate, error) {
	c, err := parseCertPEM(is.CertPEM)
	if err != nil {
		return nil, err
	}
	_, err = c.Verify(x509.VerifyOptions{Roots: a.Pool(), CurrentTime: t0.Add(time.Minute), KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: dns})
	return c, err
}

func TestIssueIdentityRoundTrip(t *testing.T) {
	a := newAuthority(t)
	for _, id := range []model.Actor{
		model.Admin,
		{Kind: model.KindPerson, ID: "PERSON-1"},
		{Kind: model.KindComputer, ID: "COMP-lyon.1"},
		{Kind: model.KindInstance, ID: "SOFTINST-42"},
	} {
		t.Run(id.String(), func(t *testing.T) {
			is, err := a.Issue(id, t0)
			if err != nil {
				t.Fatal(err)
			}
			c, err := verify(a, is, x509.ExtKeyUsageClientAuth, "")
			if err != nil {
				t.Fatalf("client certificate does not verify: %v", err)
			}
			got, err := IdentityOf(c)
			if err != nil || got != id {
				t.Fatalf("IdentityOf = %v, %v; want %v", got, err, id)
			}
			if c.Subject.CommonName != id.ID {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, id.ID)
			}
			if want := "slapgo://" + string(id.Kind) + "/" + id.ID; len(c.URIs) != 1 || c.URIs[0].String() != want {
				t.Errorf("URIs = %v, want [%s]", c.URIs, want)
			}
			if _, err := verify(a, is, x509.ExtKeyUsageServerAuth, ""); err == nil {
				t.Error("an identity certificate verifies for server authentication")
			}
			if _, err := is.TLSCertificate(); err != nil {
				t.Errorf("TLSCertificate: %v", err)
			}
			if is.Serial == "" || is.Identity != id || !is.NotAfter.After(t0) {
				t.Errorf("Issued = serial %q identity %v not after %v", is.Serial, is.Identity, is.NotAfter)
			}
		})
	}
}

func TestIssueRefusesBadIdentity(t *testing.T) {
	a := newAuthority(t)
	for _, id := range []model.Actor{
		{Kind: "robot", ID: "R2"},
		{Kind: model.KindPerson, ID: ""},
		{Kind: model.KindPerson, ID: "a/b"},
		{Kind: model.KindComputer, ID: "COMP 1"},
	} {
		if _, err := a.Issue(id, t0); err == nil {
			t.Errorf("Issue(%v) succeeded", id)
		}
	}
}

func TestServerCertificate(t *testing.T) {
	a := newAuthority(t)
	is, err := a.IssueServer([]string{"master.example.org", "10.0.0.7", "localhost"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "master.example.org", "10.0.0.7"} {
		if _, err := verify(a, is, x509.ExtKeyUsageServerAuth, host); err != nil {
			t.Errorf("server certificate does not verify for %s: %v", host, err)
		}
	}
	if _, err := verify(a, is, x509.ExtKeyUsageServerAuth, "other.example.org"); err == nil {
		t.Error("server certificate verifies for a host it does not name")
	}
	c, err := verify(a, is, x509.ExtKeyUsageServerAuth, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(a, is, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Error("the server certificate verifies for client authentication")
	}
	if _, err := IdentityOf(c); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("IdentityOf(server certificate) = %v, want ErrNoIdentity", err)
	}
	if _, err := a.IssueServer([]string{"http://x"}, t0); err == nil {
		t.Error("IssueServer accepted a URL as a host name")
	}
}

func TestOtherAuthorityDoesNotVerify(t *testing.T) {
	a, b := newAuthority(t), newAuthority(t)
	is, err := b.Issue(model.Actor{Kind: model.KindPerson, ID: "PERSON-1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(a, is, x509.ExtKeyUsageClientAuth, ""); err == nil {
		t.Error("a certificate of another CA verifies")
	}
}

func TestIdentityOfRejects(t *testing.T) {
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name string
		uris []*url.URL
		want string
	}{
		{"none", nil, "no slapgo:// URI"},
		{"other scheme", []*url.URL{u("spiffe://person/PERSON-1")}, "no slapgo:// URI"},
		{"two", []*url.URL{u("slapgo://person/PERSON-1"), u("slapgo://admin/admin")}, "2 slapgo:// URIs"},
		{"unknown kind", []*url.URL{u("slapgo://robot/R2")}, "identity kind"},
		{"empty id", []*url.URL{u("slapgo://person/")}, "is empty"},
		{"query", []*url.URL{u("slapgo://person/PERSON-1?x=1")}, "malformed"},
		{"nested path", []*url.URL{u("slapgo://person/PERSON-1/x")}, "only letters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := IdentityOf(&x509.Certificate{URIs: tc.uris})
			if !errors.Is(err, ErrNoIdentity) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("IdentityOf = %v, want ErrNoIdentity mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSaveLoadFiles(t *testing.T) {
	a := newAuthority(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if err := a.Save(certFile, keyFile); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := a.Save(certFile, keyFile); err == nil {
		t.Error("Save overwrote existing files")
	}
	b, err := LoadFiles(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	is, err := b.Issue(model.Actor{Kind: model.KindPerson, ID: "PERSON-1"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify(a, is, x509.ExtKeyUsageClientAuth, ""); err != nil {
		t.Errorf("certificate issued by the reloaded CA does not verify with the original: %v", err)
	}
	other := newAuthority(t)
	otherKey := filepath.Join(dir, "other.key")
	if err := other.Save(filepath.Join(dir, "other.crt"), otherKey); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFiles(certFile, otherKey); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("LoadFiles with a foreign key = %v, want a mismatch error", err)
	}
	server, err := a.IssueServer(nil, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(server.CertPEM, server.KeyPEM); err == nil || !strings.Contains(err.Error(), "not a CA") {
		t.Errorf("Load(server certificate) = %v, want a not-a-CA error", err)
	}
}

package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Validity periods of what the authority issues.
const (
	CAValidity       = 20 * 365 * 24 * time.Hour
	IdentityValidity = 5 * 365 * 24 * time.Hour
	ServerValidity   = 5 * 365 * 24 * time.Hour
	clockSkew        = time.Hour
)

// URIScheme is the scheme of identity URIs (slapgo://person/PERSON-1).
const URIScheme = "slapgo"

// ErrNoIdentity is wrapped by IdentityOf when a certificate names no valid
// slapgo identity.
var ErrNoIdentity = errors.New("ca: certificate carries no slapgo identity")

// Authority is a certificate authority: its certificate and private key.
// It is safe for concurrent use (it holds no mutable state).
type Authority struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	pool    *x509.CertPool
}

// Issued is a certificate issued by the authority, with its private key.
type Issued struct {
	Identity model.Actor // zero for a server certificate
	Serial   string      // hexadecimal
	NotAfter time.Time
	CertPEM  []byte
	KeyPEM   []byte
}

// TLSCertificate returns the certificate and key ready for crypto/tls.
func (i Issued) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(i.CertPEM, i.KeyPEM)
}

// New creates a new authority (a fresh key and a self-signed certificate
// named commonName) valid from now for CAValidity.
func New(commonName string, now time.Time) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generating the CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"slapgo"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ca: self-signing the CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return Load(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM)
}

// Load rebuilds an authority from its PEM certificate and PEM key (PKCS #8
// or SEC 1). It checks that the key matches the certificate and that the
// certificate is a CA.
func Load(certPEM, keyPEM []byte) (*Authority, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("ca: certificate %q is not a CA certificate", cert.Subject.CommonName)
	}
	key, err := parseKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca: CA key: %w", err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("ca: the CA key does not match the CA certificate")
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &Authority{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), pool: pool}, nil
}

// LoadFiles loads an authority from a certificate file and a key file.
func LoadFiles(certFile, keyFile string) (*Authority, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("ca: reading the CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("ca: reading the CA key: %w", err)
	}
	a, err := Load(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w (files %s, %s)", err, certFile, keyFile)
	}
	return a, nil
}

// Save writes the CA certificate (mode 0644) and key (mode 0600). It refuses
// to overwrite an existing file.
func (a *Authority) Save(certFile, keyFile string) error {
	keyPEM, err := encodeKey(a.key)
	if err != nil {
		return err
	}
	if err := WriteNewFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return WriteNewFile(certFile, a.certPEM, 0o644)
}

// Certificate returns the CA certificate.
func (a *Authority) Certificate() *x509.Certificate { return a.cert }

// CertPEM returns the CA certificate, PEM-encoded.
func (a *Authority) CertPEM() []byte { return slices.Clone(a.certPEM) }

// Pool returns a pool holding only the CA certificate (for
// tls.Config.ClientCAs and RootCAs). The caller must not modify it.
func (a *Authority) Pool() *x509.CertPool { return a.pool }

// Issue issues a client certificate for an identity.
func (a *Authority) Issue(id model.Actor, now time.Time) (Issued, error) {
	if err := validateIdentity(id); err != nil {
		return Issued{}, err
	}
	uri := &url.URL{Scheme: URIScheme, Host: string(id.Kind), Path: "/" + id.ID}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: id.ID, OrganizationalUnit: []string{string(id.Kind)}, Organization: []string{"slapgo"}},
		URIs:        []*url.URL{uri},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    now.Add(IdentityValidity),
	}
	is, err := a.sign(tmpl)
	if err != nil {
		return Issued{}, fmt.Errorf("ca: issuing a certificate for %s: %w", id, err)
	}
	is.Identity = id
	return is, nil
}

// IssueServer issues the master's server certificate for the given host
// names and IP addresses, plus localhost, 127.0.0.1 and ::1.
func (a *Authority) IssueServer(hosts []string, now time.Time) (Issued, error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "slapgo master", Organization: []string{"slapgo"}},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore:   now.Add(-clockSkew),
		NotAfter:    now.Add(ServerValidity),
	}
	seen := map[string]bool{}
	for _, h := range append([]string{"localhost", "127.0.0.1", "::1"}, hosts...) {
		h = strings.TrimSpace(h)
		if h == "" {
			return Issued{}, errors.New("ca: server host name is empty")
		}
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			continue
		}
		if strings.ContainsAny(h, "/:@ ") {
			return Issued{}, fmt.Errorf("ca: server host name %q: expected a DNS name or an IP address", h)
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	is, err := a.sign(tmpl)
	if err != nil {
		return Issued{}, fmt.Errorf("ca: issuing the server certificate: %w", err)
	}
	return is, nil
}

func (a *Authority) sign(tmpl *x509.Certificate) (Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, err
	}
	serial, err := newSerial()
	if err != nil {
		return Issued{}, err
	}
	tmpl.SerialNumber = serial
	if tmpl.NotAfter.After(a.cert.NotAfter) {
		tmpl.NotAfter = a.cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return Issued{}, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{
		Serial:   hex.EncodeToString(serial.Bytes()),
		NotAfter: tmpl.NotAfter,
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:   keyPEM,
	}, nil
}

// IdentityOf reads the identity of a certificate: its one slapgo:// URI
// subject alternative name. The certificate must have been verified.
func IdentityOf(cert *x509.Certificate) (model.Actor, error) {
	var found []*url.URL
	for _, u := range cert.URIs {
		if u.Scheme == URIScheme {
			found = append(found, u)
		}
	}
	switch len(found) {
	case 0:
		return model.Actor{}, fmt.Errorf("%w: no %s:// URI in the subject alternative names of %q", ErrNoIdentity, URIScheme, cert.Subject.CommonName)
	case 1:
	default:
		return model.Actor{}, fmt.Errorf("%w: %d %s:// URIs in one certificate", ErrNoIdentity, len(found), URIScheme)
	}
	u := found[0]
	id := model.Actor{Kind: model.IdentityKind(u.Host), ID: strings.TrimPrefix(u.Path, "/")}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return model.Actor{}, fmt.Errorf("%w: malformed identity URI %q", ErrNoIdentity, u)
	}
	if err := validateIdentity(id); err != nil {
		return model.Actor{}, fmt.Errorf("%w: %v", ErrNoIdentity, err)
	}
	return id, nil
}

func validateIdentity(id model.Actor) error {
	switch id.Kind {
	case model.KindAdmin, model.KindPerson, model.KindComputer, model.KindInstance:
	default:
		return fmt.Errorf("identity kind %q: expected admin, person, computer or instance", id.Kind)
	}
	if err := model.ValidateID(string(id.Kind)+" id", id.ID); err != nil {
		return err
	}
	return nil
}

func newSerial() (*big.Int, error) {
	// 127 random bits: positive, unique for all practical purposes.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("ca: drawing a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("ca: encoding a private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	switch b.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is a %T, expected an ECDSA key", k)
		}
		return ek, nil
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	}
	return nil, fmt.Errorf("PEM block %q: expected PRIVATE KEY", b.Type)
}

// WriteNewFile writes data to a file that must not exist yet (O_EXCL),
// with the given mode, and syncs it.
func WriteNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("ca: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("ca: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("ca: syncing %s: %w", path, err)
	}
	return f.Close()
}

// CRLValidity is how long a certificate revocation list is valid: a
// verifier fetches a new one before then.
const CRLValidity = time.Hour

// Revoked is one entry of a certificate revocation list.
type Revoked struct {
	Serial string // hexadecimal, as Issued.Serial
	At     time.Time
}

// CRL signs a certificate revocation list (DER) of the given entries, valid
// from now for CRLValidity. Its number grows with now.
func (a *Authority) CRL(entries []Revoked, now time.Time) ([]byte, error) {
	list := &x509.RevocationList{
		Number:     big.NewInt(now.UnixNano()),
		ThisUpdate: now,
		NextUpdate: now.Add(CRLValidity),
	}
	for _, e := range entries {
		n, ok := new(big.Int).SetString(e.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("ca: revoked serial %q is not hexadecimal", e.Serial)
		}
		list.RevokedCertificateEntries = append(list.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: n, RevocationTime: e.At})
	}
	der, err := x509.CreateRevocationList(rand.Reader, list, a.cert, a.key)
	if err != nil {
		return nil, fmt.Errorf("ca: signing the revocation list: %w", err)
	}
	return der, nil
}

// IssuedAt is when a certificate this authority signed was issued (its
// NotBefore is set back by the allowed clock skew).
func IssuedAt(cert *x509.Certificate) time.Time { return cert.NotBefore.Add(clockSkew) }

// DeriveKey returns a 32-byte key derived from the CA's private key for
// one purpose, named by label (HKDF-SHA-256 of the key's PKCS #8 form):
// every master holding the same CA key derives the same key, the CA key
// itself is not revealed by it, and another label gives an unrelated key.
// The master derives its TLS session-ticket keys so (see
// master/server.ticketKeys).
func (a *Authority) DeriveKey(label string) ([32]byte, error) {
	var out [32]byte
	der, err := x509.MarshalPKCS8PrivateKey(a.key)
	if err != nil {
		return out, fmt.Errorf("ca: deriving a key: %w", err)
	}
	k, err := hkdf.Key(sha256.New, der, []byte("slapgo CA-derived key"), label, len(out))
	if err != nil {
		return out, fmt.Errorf("ca: deriving a key: %w", err)
	}
	copy(out[:], k)
	return out, nil
}

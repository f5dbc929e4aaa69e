package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/config"
)

// RegisterOptions says where a computer's credentials come from: a
// one-time token exchanged at the master, or files written by `slapgo
// computer add` (FromDir, or CertFile/KeyFile/CAFile).
type RegisterOptions struct {
	MasterURL string // default: [slapos] master_url
	Token     string
	// CAFile is the master's CA certificate: it authenticates the master
	// during the token exchange. Default: [slapos] ca_file if it exists.
	CAFile string
	// FromDir holds <computer_id>.crt, <computer_id>.key and ca.crt.
	FromDir string
	// CertFile and KeyFile name the certificate and key to install.
	CertFile, KeyFile string
	// Force overwrites credentials already installed.
	Force bool
}

// Register obtains the computer's credentials, checks them against the
// master (whoami must name this computer) and writes them to the files
// [slapos] cert_file, key_file and ca_file name. It returns the files
// written.
func Register(ctx context.Context, cfg config.Config, o RegisterOptions) ([]string, error) {
	master := o.MasterURL
	if master == "" {
		master = cfg.MasterURL
	}
	if master == "" {
		return nil, fmt.Errorf("agent: no master URL: give --master or set [slapos] master_url in %s", cfg.File)
	}
	for _, f := range []struct{ key, v string }{{"cert_file", cfg.CertFile}, {"key_file", cfg.KeyFile}, {"ca_file", cfg.CAFile}} {
		if f.v == "" {
			return nil, fmt.Errorf("agent: %s: [slapos] %s is not set: expected where to write the computer's credentials", cfg.File, f.key)
		}
	}
	if !o.Force {
		for _, p := range []string{cfg.CertFile, cfg.KeyFile} {
			if _, err := os.Stat(p); err == nil {
				return nil, fmt.Errorf("agent: %s exists: the computer is registered already (use --force to replace its credentials)", p)
			}
		}
	}
	var creds api.Credentials
	switch {
	case o.Token != "" && (o.FromDir != "" || o.CertFile != ""):
		return nil, errors.New("agent: give either a token or credential files, not both")
	case o.Token != "":
		ca := o.CAFile
		if ca == "" {
			if _, err := os.Stat(cfg.CAFile); err == nil {
				ca = cfg.CAFile
			}
		}
		if ca == "" {
			return nil, errors.New("agent: the master's CA certificate is needed to trust the master during the token exchange: give --ca (the ca.crt of the master)")
		}
		c, err := api.NewClient(master, "", "", ca)
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
		if creds, err = c.ExchangeToken(ctx, o.Token); err != nil {
			return nil, fmt.Errorf("agent: exchanging the registration token at %s: %w", master, err)
		}
	default:
		var err error
		if creds, err = readCredentialFiles(cfg.ComputerID, o); err != nil {
			return nil, err
		}
	}
	if creds.Identity != (model.Actor{}) && (creds.Identity.Kind != model.KindComputer || creds.Identity.ID != cfg.ComputerID) {
		return nil, fmt.Errorf("agent: the credentials are those of %s, not of computer %s ([slapos] computer_id in %s)", creds.Identity, cfg.ComputerID, cfg.File)
	}
	// Check them before writing anything: the master must see this computer.
	cert, err := tls.X509KeyPair([]byte(creds.CertificatePEM), []byte(creds.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("agent: the certificate and key do not match: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(creds.CAPEM)) {
		return nil, errors.New("agent: the CA certificate is not PEM")
	}
	c, err := api.NewClientTLS(master, &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}})
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	who, err := c.WhoAmI(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: checking the credentials at %s: %w", master, err)
	}
	if who.Identity.Kind != model.KindComputer || who.Identity.ID != cfg.ComputerID {
		return nil, fmt.Errorf("agent: the master sees these credentials as %s, not as computer %s", who.Identity, cfg.ComputerID)
	}
	files := []struct {
		path, data string
		mode       os.FileMode
	}{{cfg.KeyFile, creds.KeyPEM, 0o600}, {cfg.CertFile, creds.CertificatePEM, 0o644}, {cfg.CAFile, creds.CAPEM, 0o644}}
	var written []string
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return written, fmt.Errorf("agent: %w", err)
		}
		if err := writeFileAtomic(f.path, []byte(f.data), f.mode); err != nil {
			return written, err
		}
		written = append(written, f.path)
	}
	return written, nil
}

// readCredentialFiles reads credentials written by `slapgo computer add`.
func readCredentialFiles(computerID string, o RegisterOptions) (api.Credentials, error) {
	certFile, keyFile, caFile := o.CertFile, o.KeyFile, o.CAFile
	if o.FromDir != "" {
		certFile = filepath.Join(o.FromDir, computerID+".crt")
		keyFile = filepath.Join(o.FromDir, computerID+".key")
		if caFile == "" {
			caFile = filepath.Join(o.FromDir, "ca.crt")
		}
	}
	if certFile == "" || keyFile == "" || caFile == "" {
		return api.Credentials{}, errors.New("agent: no credentials: give --token (with --ca), --from DIR, or --cert, --key and --ca")
	}
	var out api.Credentials
	for _, f := range []struct {
		path string
		dst  *string
	}{{certFile, &out.CertificatePEM}, {keyFile, &out.KeyPEM}, {caFile, &out.CAPEM}} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			return out, fmt.Errorf("agent: %w", err)
		}
		if b, _ := pem.Decode(data); b == nil {
			return out, fmt.Errorf("agent: %s is not PEM", f.path)
		}
		*f.dst = string(data)
	}
	// The identity is what the master says (whoami), checked by Register.
	if block, _ := pem.Decode([]byte(out.CertificatePEM)); block != nil {
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			for _, u := range c.URIs {
				if u.Scheme == "slapgo" {
					out.Identity = model.Actor{Kind: model.IdentityKind(u.Host), ID: strings.TrimPrefix(u.Path, "/")}
				}
			}
		}
	}
	return out, nil
}

package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Error is an error answer of the master.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("master answered %d %s: %s", e.Status, e.Code, e.Message)
}

// IsStatus reports whether err is an *Error with that status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// Client talks to a master. It is safe for concurrent use.
type Client struct {
	BaseURL string // https://host:port
	HTTP    *http.Client
}

// TLSConfig loads a client certificate, its key and the master's CA.
// certFile and keyFile may be empty (token exchange needs no certificate).
func TLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("api: reading CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("api: %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("api: loading client certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// NewClient builds a client with mutual TLS from files.
func NewClient(baseURL, certFile, keyFile, caFile string) (*Client, error) {
	cfg, err := TLSConfig(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return NewClientTLS(baseURL, cfg)
}

// NewClientTLS builds a client from a TLS configuration.
func NewClientTLS(baseURL string, cfg *tls.Config) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("api: master URL %q: expected https://host:port", baseURL)
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
// It returns the status code.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+Prefix+path, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	return c.send(req, out)
}

func (c *Client) send(req *http.Request, out any) (int, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Code == "" {
			eb = ErrorBody{Code: http.StatusText(resp.StatusCode), Message: strings.TrimSpace(string(data))}
		}
		return resp.StatusCode, &Error{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message}
	}
	if out != nil && len(data) > 0 && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("api: decoding answer of %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return resp.StatusCode, nil
}

func esc(s string) string { return url.PathEscape(s) }

// --- person-facing ---

// WhoAmI returns the caller's identity.
func (c *Client) WhoAmI(ctx context.Context) (WhoAmI, error) {
	var w WhoAmI
	_, err := c.do(ctx, http.MethodGet, "/whoami", nil, &w)
	return w, err
}

// AddPerson creates a person (admin only) and returns its credentials.
func (c *Client) AddPerson(ctx context.Context, r AddPersonRequest) (AddPersonResponse, error) {
	var out AddPersonResponse
	_, err := c.do(ctx, http.MethodPost, "/persons", r, &out)
	return out, err
}

// RegisterComputer registers a computer.
func (c *Client) RegisterComputer(ctx context.Context, r RegisterComputerRequest) (ComputerRegistration, error) {
	var out ComputerRegistration
	_, err := c.do(ctx, http.MethodPost, "/computers", r, &out)
	return out, err
}

// ExchangeToken trades a one-time registration token for credentials.
func (c *Client) ExchangeToken(ctx context.Context, token string) (Credentials, error) {
	var out Credentials
	_, err := c.do(ctx, http.MethodPost, "/register", TokenExchange{Token: token}, &out)
	return out, err
}

// Computers lists the computers the caller may see.
func (c *Client) Computers(ctx context.Context) ([]model.Computer, error) {
	var out []model.Computer
	_, err := c.do(ctx, http.MethodGet, "/computers", nil, &out)
	return out, err
}

// ComputerDetails returns one computer with partitions and software.
func (c *Client) ComputerDetails(ctx context.Context, id string) (ComputerDetails, error) {
	var out ComputerDetails
	_, err := c.do(ctx, http.MethodGet, "/computers/"+esc(id)+"/details", nil, &out)
	return out, err
}

// UpdateComputer changes a computer's settings.
func (c *Client) UpdateComputer(ctx context.Context, id string, r UpdateComputerRequest) (model.Computer, error) {
	var out model.Computer
	_, err := c.do(ctx, http.MethodPatch, "/computers/"+esc(id), r, &out)
	return out, err
}

// Supply supplies or removes a software release on a computer.
func (c *Client) Supply(ctx context.Context, computerID string, r SupplyRequest) (model.SoftwareInstallation, error) {
	var out model.SoftwareInstallation
	_, err := c.do(ctx, http.MethodPost, "/computers/"+esc(computerID)+"/supply", r, &out)
	return out, err
}

// Request requests an instance. A pending request is not an error: the
// instance comes back with Status "pending" and its reason (HTTP 202).
func (c *Client) Request(ctx context.Context, r InstanceRequest) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodPost, "/instances", r, &out)
	return out, err
}

// Instances lists the instances the caller may see.
func (c *Client) Instances(ctx context.Context) ([]Instance, error) {
	var out []Instance
	_, err := c.do(ctx, http.MethodGet, "/instances", nil, &out)
	return out, err
}

// Instance returns one instance.
func (c *Client) Instance(ctx context.Context, guid string) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodGet, "/instances/"+esc(guid), nil, &out)
	return out, err
}

// Bang asks for an instance's tree to be processed again.
func (c *Client) Bang(ctx context.Context, guid, message string) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodPost, "/instances/"+esc(guid)+"/bang", BangRequest{Message: message}, &out)
	return out, err
}

// Rename changes an instance's title.
func (c *Client) Rename(ctx context.Context, guid, title string) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodPost, "/instances/"+esc(guid)+"/rename", RenameRequest{Title: title}, &out)
	return out, err
}

// Pending lists the requests waiting for a home (admin).
func (c *Client) Pending(ctx context.Context) ([]Pending, error) {
	var out []Pending
	_, err := c.do(ctx, http.MethodGet, "/pending", nil, &out)
	return out, err
}

// Invoices returns the invoices of [from, to); person "" means the caller
// (or everyone for the admin).
func (c *Client) Invoices(ctx context.Context, from, to time.Time, person string) ([]Invoice, error) {
	q := url.Values{}
	q.Set("from", from.UTC().Format(time.RFC3339))
	q.Set("to", to.UTC().Format(time.RFC3339))
	if person != "" {
		q.Set("person", person)
	}
	var out []Invoice
	_, err := c.do(ctx, http.MethodGet, "/invoices?"+q.Encode(), nil, &out)
	return out, err
}

// --- node-facing ---

// ComputerView fetches a computer's view. With etag set (from a previous
// answer), an unchanged view answers notModified=true and no view.
func (c *Client) ComputerView(ctx context.Context, id, etag string) (view *model.ComputerView, newETag string, notModified bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+Prefix+"/computers/"+esc(id), nil)
	if err != nil {
		return nil, "", false, err
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified {
		io.Copy(io.Discard, resp.Body)
		return nil, etag, true, nil
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, "", false, err
	}
	if resp.StatusCode >= 400 {
		var eb ErrorBody
		json.Unmarshal(data, &eb)
		return nil, "", false, &Error{Status: resp.StatusCode, Code: eb.Code, Message: eb.Message}
	}
	var v model.ComputerView
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, "", false, fmt.Errorf("api: decoding computer view: %w", err)
	}
	return &v, resp.Header.Get("ETag"), false, nil
}

// SetCapacity announces the computer's partitions.
func (c *Client) SetCapacity(ctx context.Context, id string, r CapacityRequest) error {
	_, err := c.do(ctx, http.MethodPut, "/computers/"+esc(id)+"/capacity", r, nil)
	return err
}

// ReportSoftware reports a software installation's state.
func (c *Client) ReportSoftware(ctx context.Context, id string, r SoftwareStateRequest) error {
	_, err := c.do(ctx, http.MethodPut, "/computers/"+esc(id)+"/software-state", r, nil)
	return err
}

// ReportPartition reports a partition's state.
func (c *Client) ReportPartition(ctx context.Context, id, pid string, r PartitionStateRequest) error {
	_, err := c.do(ctx, http.MethodPut, "/computers/"+esc(id)+"/partitions/"+esc(pid)+"/state", r, nil)
	return err
}

// SetConnection publishes connection parameters for a partition's instance
// or one of its shared instances.
func (c *Client) SetConnection(ctx context.Context, id, pid string, r ConnectionRequest) error {
	_, err := c.do(ctx, http.MethodPut, "/computers/"+esc(id)+"/partitions/"+esc(pid)+"/connection", r, nil)
	return err
}

// PartitionDestroyed tells the master a partition was wiped.
func (c *Client) PartitionDestroyed(ctx context.Context, id, pid string) error {
	_, err := c.do(ctx, http.MethodPost, "/computers/"+esc(id)+"/partitions/"+esc(pid)+"/destroyed", nil, nil)
	return err
}

// PartitionCertificate fetches the credentials of a partition's instance.
func (c *Client) PartitionCertificate(ctx context.Context, id, pid string) (Credentials, error) {
	var out Credentials
	_, err := c.do(ctx, http.MethodPost, "/computers/"+esc(id)+"/partitions/"+esc(pid)+"/certificate", nil, &out)
	return out, err
}

// PostUsage posts a TioXML usage journal.
func (c *Client) PostUsage(ctx context.Context, id string, journalXML []byte) (UsageResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+Prefix+"/computers/"+esc(id)+"/usage", bytes.NewReader(journalXML))
	if err != nil {
		return UsageResult{}, err
	}
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("Accept", "application/json")
	var out UsageResult
	_, err = c.send(req, &out)
	return out, err
}

// SetPassword sets a person's portal password.
func (c *Client) SetPassword(ctx context.Context, person, password string) error {
	_, err := c.do(ctx, http.MethodPut, "/persons/"+esc(person)+"/password", PasswordRequest{Password: password}, nil)
	return err
}

// SignInLink issues a one-time portal sign-in link for a person (or
// "admin") (admin only).
func (c *Client) SignInLink(ctx context.Context, person string) (SignInLink, error) {
	var out SignInLink
	_, err := c.do(ctx, http.MethodPost, "/persons/"+esc(person)+"/sign-in-link", nil, &out)
	return out, err
}

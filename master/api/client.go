package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
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
	if e.Message == "" {
		return fmt.Sprintf("the master answered %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("%s (the master answered %d %s)", e.Message, e.Status, e.Code)
}

// UnreachableError is a request that got no answer from the master: the
// connection was refused, timed out or broke.
type UnreachableError struct {
	URL string // the master's base URL
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the master at %s: %v", e.URL, e.cause())
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// cause is the transport error without the request line url.Error adds.
func (e *UnreachableError) cause() error {
	var ue *url.Error
	if errors.As(e.Err, &ue) {
		return ue.Err
	}
	return e.Err
}

// IsStatus reports whether err is an *Error with that status.
func IsStatus(err error, status int) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == status
}

// Client talks to a master. It is safe for concurrent use.
type Client struct {
	BaseURL string // https://host:port: the master asked first
	HTTP    *http.Client
	// Others are more masters of the same grid (several masters on one
	// PostgreSQL database): a request a master cannot take (no answer, or
	// 503) is sent to the next one, and the one that answers is asked
	// first from then on. A follower redirects writes to the leader.
	Others []string

	mu sync.Mutex
}

// TLSConfig loads a client certificate, its key and the master's CA.
// certFile and keyFile may be empty (token exchange needs no certificate).
func TLSConfig(certFile, keyFile, caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the master's CA certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the master's CA certificate %s holds no PEM certificate", caFile)
		}
		cfg.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// sessionCacheSize is how many TLS sessions a client keeps for
// resumption (one per master address and TLS ticket it holds).
const sessionCacheSize = 8

// NewClient builds a client with mutual TLS from files.
func NewClient(baseURL, certFile, keyFile, caFile string) (*Client, error) {
	cfg, err := TLSConfig(certFile, keyFile, caFile)
	if err != nil {
		return nil, err
	}
	return NewClientTLS(baseURL, cfg)
}

// NewClientTLS builds a client from a TLS configuration. baseURL may list
// several masters of one grid, separated by commas (see Client.Others).
func NewClientTLS(baseURL string, cfg *tls.Config) (*Client, error) {
	var urls []string
	for _, one := range strings.Split(baseURL, ",") {
		one = strings.TrimSpace(one)
		u, err := url.Parse(one)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("master URL %q: expected https://host:port (several: separated by commas)", one)
		}
		urls = append(urls, strings.TrimRight(one, "/"))
	}
	if cfg != nil && cfg.ClientSessionCache == nil {
		// TLS session resumption: a reconnection resumes the session
		// instead of a full handshake (signatures, certificate checks, key
		// exchange), which is most of what a master spends when thousands
		// of nodes reconnect at once. The master still authenticates every
		// request: a resumed session carries the certificate it began with.
		// NB: one cache per client, because a client certificate is not
		// part of the cache's key: a cache shared with a client presenting
		// another certificate would resume the first one's identity.
		cfg = cfg.Clone()
		cfg.ClientSessionCache = gridSessionCache{tls.NewLRUClientSessionCache(sessionCacheSize)}
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{BaseURL: urls[0], Others: urls[1:], HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}, nil
}

// gridSessionCache keeps one TLS session for every master of the client's
// grid: the masters of one grid derive the same session-ticket keys (from
// their shared CA key), so a session begun with one resumes with another
// after a take-over, whatever name the client reaches it by. It is safe:
// crypto/tls resumes a session only if the server certificate it began
// with is valid for the name now asked (a grid's server certificate names
// every master), and the client certificate is the client's own (one
// cache per client).
type gridSessionCache struct{ tls.ClientSessionCache }

// gridSessionKey is the one key under which a client's session is kept.
const gridSessionKey = "slapgo-grid"

func (c gridSessionCache) Get(string) (*tls.ClientSessionState, bool) {
	return c.ClientSessionCache.Get(gridSessionKey)
}

func (c gridSessionCache) Put(_ string, cs *tls.ClientSessionState) {
	c.ClientSessionCache.Put(gridSessionKey, cs)
}

// masters lists the masters in the order to ask them.
func (c *Client) masters() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{c.BaseURL}, c.Others...)
}

// prefer makes u the master asked first.
func (c *Client) prefer(u string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u == c.BaseURL {
		return
	}
	all := append([]string{c.BaseURL}, c.Others...)
	others := make([]string, 0, len(all)-1)
	for _, x := range all {
		if x != u {
			others = append(others, x)
		}
	}
	c.BaseURL, c.Others = u, others
}

// failover sends the request build makes for each master in turn, until
// one answers with something else than 503 or no answer at all. A request
// that no master could take returns the last error.
func (c *Client) failover(ctx context.Context, build func(base string) (*http.Request, error), out any) (int, error) {
	var status int
	var err error
	for i, base := range c.masters() {
		if i > 0 && ctx.Err() != nil {
			break
		}
		var req *http.Request
		if req, err = build(base); err != nil {
			return 0, err
		}
		status, err = c.send(req, out)
		var ae *Error
		switch {
		case err == nil, errors.As(err, &ae) && ae.Status != http.StatusServiceUnavailable:
			if i > 0 {
				c.prefer(base)
			}
			return status, err
		}
	}
	return status, err
}

// do sends a JSON request and decodes a JSON answer into out (if non-nil).
// It returns the status code. Every master tried gets the same request:
// use doOnce for a command that is not idempotent by itself.
func (c *Client) do(ctx context.Context, method, path string, in, out any) (int, error) {
	return c.send1(ctx, method, path, "", in, out)
}

// doOnce is do for a command that must not be applied twice (it creates
// something, or its effect adds up): it draws one idempotency key for this
// call and sends it with every attempt, so that a master that applied the
// command but whose answer was lost answers the re-sent request with the
// first result (see HeaderIdempotencyKey).
func (c *Client) doOnce(ctx context.Context, method, path string, in, out any) (int, error) {
	key, err := newIdempotencyKey()
	if err != nil {
		return 0, err
	}
	return c.send1(ctx, method, path, key, in, out)
}

// newIdempotencyKey draws 128 random bits.
func newIdempotencyKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("drawing an idempotency key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// send1 sends one logical call (see do), with its idempotency key when
// key is not empty.
func (c *Client) send1(ctx context.Context, method, path, key string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	return c.failover(ctx, func(base string) (*http.Request, error) {
		if body != nil {
			body.(*bytes.Reader).Seek(0, io.SeekStart)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+Prefix+path, body)
		if err != nil {
			return nil, err
		}
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if key != "" {
			req.Header.Set(HeaderIdempotencyKey, key)
		}
		return req, nil
	}, out)
}

func (c *Client) send(req *http.Request, out any) (int, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return 0, err
		}
		return 0, &UnreachableError{URL: c.BaseURL, Err: err}
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
			return resp.StatusCode, fmt.Errorf("decoding the master's answer to %s %s: %w", req.Method, req.URL.Path, err)
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
	_, err := c.doOnce(ctx, http.MethodPost, "/persons", r, &out)
	return out, err
}

// Persons lists every person (admin only).
func (c *Client) Persons(ctx context.Context) ([]model.Person, error) {
	var out []model.Person
	_, err := c.do(ctx, http.MethodGet, "/persons", nil, &out)
	return out, err
}

// DestroyPerson removes a person holding nothing (admin only); their
// certificates are refused from then on.
func (c *Client) DestroyPerson(ctx context.Context, id string) error {
	_, err := c.doOnce(ctx, http.MethodDelete, "/persons/"+esc(id), nil, nil)
	return err
}

// DestroyComputer removes a computer hosting nothing; its certificates are
// refused from then on.
func (c *Client) DestroyComputer(ctx context.Context, id string) error {
	_, err := c.doOnce(ctx, http.MethodDelete, "/computers/"+esc(id), nil, nil)
	return err
}

// RevokeCertificate refuses the certificate numbered serial (hexadecimal)
// from now on.
func (c *Client) RevokeCertificate(ctx context.Context, serial, reason string) (RevokeResponse, error) {
	var out RevokeResponse
	_, err := c.doOnce(ctx, http.MethodPost, "/certificates/"+esc(serial)+"/revoke", RevokeRequest{Reason: reason}, &out)
	return out, err
}

// RegisterComputer registers a computer.
func (c *Client) RegisterComputer(ctx context.Context, r RegisterComputerRequest) (ComputerRegistration, error) {
	var out ComputerRegistration
	_, err := c.doOnce(ctx, http.MethodPost, "/computers", r, &out)
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

// AllInstances lists the instances the caller may see, the destroyed ones
// included.
func (c *Client) AllInstances(ctx context.Context) ([]Instance, error) {
	var out []Instance
	_, err := c.do(ctx, http.MethodGet, "/instances?all=true", nil, &out)
	return out, err
}

// Instance returns one instance.
func (c *Client) Instance(ctx context.Context, guid string) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodGet, "/instances/"+esc(guid), nil, &out)
	return out, err
}

// InstanceEvents returns an instance's recent events, oldest first.
func (c *Client) InstanceEvents(ctx context.Context, guid string) ([]Event, error) {
	var out []Event
	_, err := c.do(ctx, http.MethodGet, "/instances/"+esc(guid)+"/events", nil, &out)
	return out, err
}

// Bang asks for an instance's tree to be processed again.
func (c *Client) Bang(ctx context.Context, guid, message string) (Instance, error) {
	var out Instance
	_, err := c.doOnce(ctx, http.MethodPost, "/instances/"+esc(guid)+"/bang", BangRequest{Message: message}, &out)
	return out, err
}

// Rename changes an instance's title.
func (c *Client) Rename(ctx context.Context, guid, title string) (Instance, error) {
	var out Instance
	_, err := c.doOnce(ctx, http.MethodPost, "/instances/"+esc(guid)+"/rename", RenameRequest{Title: title}, &out)
	return out, err
}

// SetState changes only an instance's requested state (started, stopped
// or destroyed); its parameters, SLA and software type stay.
func (c *Client) SetState(ctx context.Context, guid string, state model.RequestedState) (Instance, error) {
	var out Instance
	_, err := c.do(ctx, http.MethodPost, "/instances/"+esc(guid)+"/state", StateRequest{State: state}, &out)
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
	q.Set("from", from.UTC().Format(time.RFC3339Nano))
	q.Set("to", to.UTC().Format(time.RFC3339Nano))
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
	var resp *http.Response
	for i, base := range c.masters() {
		if i > 0 && ctx.Err() != nil {
			break
		}
		var req *http.Request
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, base+Prefix+"/computers/"+esc(id), nil)
		if err != nil {
			return nil, "", false, err
		}
		req.Header.Set("Accept", "application/json")
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err = c.HTTP.Do(req)
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable && i < len(c.masters())-1 {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			continue
		}
		if err == nil {
			if i > 0 {
				c.prefer(base)
			}
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, "", false, err
		}
		return nil, "", false, &UnreachableError{URL: c.BaseURL, Err: err}
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
		return nil, "", false, fmt.Errorf("decoding the computer view the master sent: %w", err)
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
	var out UsageResult
	_, err := c.failover(ctx, func(base string) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+Prefix+"/computers/"+esc(id)+"/usage", bytes.NewReader(journalXML))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/xml")
		req.Header.Set("Accept", "application/json")
		return req, nil
	}, &out)
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

package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/ca"
	"github.com/slapgo/slapgo/master/store"
)

// Files of a data directory (see InitDataDir).
const (
	FileDatabase   = "master.db"
	FileCACert     = "ca.crt"
	FileCAKey      = "ca.key"
	FileServerCert = "server.crt"
	FileServerKey  = "server.key"
	FileAdminCert  = "admin.crt"
	FileAdminKey   = "admin.key"
)

// Defaults of Options.
const (
	DefaultRetryEvery    = time.Minute
	DefaultShutdownGrace = 30 * time.Second
	// TokenValidity is how long a computer registration token may be
	// exchanged.
	TokenValidity = 24 * time.Hour
)

// Options configure a master opened from a data directory.
type Options struct {
	DataDir string
	// Store names the database (see store.Open): "" for the data
	// directory's SQLite file, sqlite:PATH, or postgres://….
	Store string
	// Policy ranks feasible computers (default first-fit).
	Policy alloc.Policy
	// OnlineWithin: computers not seen for longer get no new instance
	// (0: no such condition).
	OnlineWithin time.Duration
	// Pricing is the grid's price policy (master.Config.Pricing): nil
	// invoices hosting at the computers' list prices.
	Pricing *market.Curve
	// RetryEvery: how often pending requests are retried on a timer
	// (default DefaultRetryEvery).
	RetryEvery time.Duration
	// ShutdownGrace bounds the draining of in-flight requests.
	ShutdownGrace time.Duration
	Logger        *slog.Logger
	// Now is the wall clock (default time.Now in UTC); tests may move it.
	Now func() time.Time
	// Limits bound what one request may carry (nil: master.DefaultLimits;
	// a zero field: no limit).
	Limits *master.Limits
	// Quotas bound what each person holds (zero: no quota).
	Quotas master.Quotas
	// AllowLocalSoftwareURLs accepts file:// software release URLs: for a
	// grid on one machine, where the node reads the master's files.
	AllowLocalSoftwareURLs bool
	// Profiling serves Go's profiles (/debug/pprof/) on the metrics
	// handler, never on the API. Off by default: a profile exposes the
	// process's internals to whoever reaches the metrics listener.
	Profiling bool
	// SessionIdle and SessionMax end a portal session unused for that
	// long, and in any case that long after sign-in (defaults
	// DefaultSessionIdle, DefaultSessionMax).
	SessionIdle, SessionMax time.Duration
	// SignInLinkTTL is how long a one-time sign-in link stays valid
	// (default DefaultSignInLinkTTL).
	SignInLinkTTL time.Duration
}

// Server is the production master. It is safe for concurrent use.
type Server struct {
	log        *slog.Logger
	now        func() time.Time
	ca         *ca.Authority
	serverCert atomic.Pointer[tls.Certificate]
	certFiles  [2]string   // server certificate and key, reloaded by ReloadServerCertificate
	tickets    *ticketKeys // TLS session-ticket keys derived from the CA key (nil: the process's own)
	store      store.Store
	metrics    *metrics
	retryEvery time.Duration
	grace      time.Duration
	handler    http.Handler
	metricsH   http.Handler
	profiling  bool
	portal     *portal
	// requestCount counts the HTTP requests answered (portal charts).
	requestCount atomic.Uint64

	// mu serializes every use of state, views and tokens, and the
	// submission of batches to the store (so they are written in apply
	// order).
	mu     sync.Mutex
	state  *master.State
	views  [2]map[string]*cachedView    // by viewFormat.index, then computer id
	tokens map[string]store.Token       // by hash
	certs  map[string]store.Certificate // issued certificates, by serial (master.NormalizeSerial)

	slapCerts slapCertificates
	loopback  *slapLoopback // see EnableSLAPLoopback

	// PostgreSQL: several masters, one leader (see ha.go).
	pg        *store.Postgres // nil on SQLite
	lead      atomic.Bool
	leaderURL atomic.Value // string: where writes go
	advertise string
	fol       *follower // a follower's copy of the database; nil when leading

	// fatal receives the error that must stop Serve when the state could
	// not be rebuilt from the database (see discardUnstorable).
	fatal chan error
}

// InitResult lists what InitDataDir created.
type InitResult struct {
	DataDir, Database, CACert, ServerCert, AdminCert, AdminKey string
}

// InitDataDir creates a master's data directory: the database, a new CA,
// the server certificate (for localhost, 127.0.0.1, ::1 and hostnames) and
// the admin credentials. It refuses a directory that exists and is not
// empty; on failure it removes what it created.
//
// storeSpec names the database (see store.Open): "" for a new SQLite file in
// the directory, or an empty PostgreSQL database (postgres://…).
func InitDataDir(dir, storeSpec string, hostnames []string, now time.Time) (res InitResult, err error) {
	if dir == "" {
		return res, errors.New("--data is empty: expected a directory")
	}
	entries, rerr := os.ReadDir(dir)
	switch {
	case rerr == nil && len(entries) > 0:
		return res, fmt.Errorf("data directory %s is not empty (%d entries, e.g. %s): refusing to overwrite a master; choose a new directory",
			dir, len(entries), entries[0].Name())
	case rerr != nil && !errors.Is(rerr, os.ErrNotExist):
		return res, fmt.Errorf("data directory: %w", rerr)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("creating the data directory: %w", err)
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	var created []string
	defer func() {
		if err != nil {
			for _, f := range created {
				os.Remove(f)
			}
		}
	}()
	write := func(name string, data []byte, mode os.FileMode) error {
		if err := ca.WriteNewFile(p(name), data, mode); err != nil {
			return err
		}
		created = append(created, p(name))
		return nil
	}
	authority, err := ca.New("slapgo master CA", now)
	if err != nil {
		return res, err
	}
	if err := authority.Save(p(FileCACert), p(FileCAKey)); err != nil {
		return res, err
	}
	created = append(created, p(FileCACert), p(FileCAKey))
	srv, err := authority.IssueServer(hostnames, now)
	if err != nil {
		return res, err
	}
	adm, err := authority.Issue(model.Admin, now)
	if err != nil {
		return res, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{FileServerCert, srv.CertPEM, 0o644}, {FileServerKey, srv.KeyPEM, 0o600},
		{FileAdminCert, adm.CertPEM, 0o644}, {FileAdminKey, adm.KeyPEM, 0o600},
	} {
		if err := write(f.name, f.data, f.mode); err != nil {
			return res, err
		}
	}
	database := storeSpec
	if storeSpec == "" {
		database = p(FileDatabase)
		created = append(created, p(FileDatabase), p(FileDatabase)+"-wal", p(FileDatabase)+"-shm")
	}
	st, err := store.Open(context.Background(), database, store.Options{})
	if err != nil {
		return res, err
	}
	if storeSpec == "" {
		// The database holds connection parameters (passwords): owner only.
		if err := os.Chmod(p(FileDatabase), 0o600); err != nil {
			st.Close()
			return res, err
		}
	} else {
		database = st.Path()
		if ents, err := st.Load(context.Background()); err != nil || len(ents) > 0 {
			st.Close()
			return res, errors.Join(err, fmt.Errorf("server: %s already holds a master (%d entities): give an empty database", database, len(ents)))
		}
	}
	err = st.Commit(context.Background(), store.Batch{Certificates: []store.Certificate{
		{Serial: srv.Serial, Identity: model.Actor{Kind: "server", ID: "master"}, IssuedAt: now, NotAfter: srv.NotAfter},
		{Serial: adm.Serial, Identity: model.Admin, IssuedAt: now, NotAfter: adm.NotAfter},
	}})
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	return InitResult{DataDir: dir, Database: database, CACert: p(FileCACert),
		ServerCert: p(FileServerCert), AdminCert: p(FileAdminCert), AdminKey: p(FileAdminKey)}, nil
}

// Open opens the master of an initialized data directory: it loads the CA
// and the server certificate, opens the database and rebuilds the state
// from it. Close it when done.
func Open(opts Options) (*Server, error) {
	dir := opts.DataDir
	p := func(name string) string { return filepath.Join(dir, name) }
	database := opts.Store
	if database == "" {
		database = p(FileDatabase)
		if _, err := os.Stat(database); err != nil {
			return nil, fmt.Errorf("%s has no %s (%v): run `slapgo master init --data %s` first", dir, FileDatabase, err, dir)
		}
	}
	if _, err := os.Stat(p(FileCAKey)); err != nil {
		return nil, fmt.Errorf("%s has no %s (%v): run `slapgo master init --data %s` first", dir, FileCAKey, err, dir)
	}
	authority, err := ca.LoadFiles(p(FileCACert), p(FileCAKey))
	if err != nil {
		return nil, err
	}
	serverCert, err := tls.LoadX509KeyPair(p(FileServerCert), p(FileServerKey))
	if err != nil {
		return nil, fmt.Errorf("loading the server certificate: %w", err)
	}
	policy, err := alloc.ParsePolicy(string(opts.Policy))
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	var st store.Store
	var pg *store.Postgres
	var snap *store.Snapshot
	if store.IsPostgres(database) {
		// Several masters may share the database: this one follows until
		// it takes the lead (Serve).
		if pg, err = store.OpenPostgres(context.Background(), database, store.Options{OnCommit: m.observeCommit}); err != nil {
			return nil, err
		}
		sn, err := pg.Snapshot(context.Background())
		if err != nil {
			pg.Close()
			return nil, err
		}
		st, snap = pg, &sn
	} else if st, err = store.Open(context.Background(), database, store.Options{OnCommit: m.observeCommit}); err != nil {
		return nil, err
	}
	s, err := newServer(opts, policy, authority, serverCert, st, m, snap)
	if err != nil {
		st.Close()
		return nil, err
	}
	if pg != nil {
		s.pg, s.fol = pg, newFollower(*snap)
	} else {
		m.leading.Set(1)
	}
	s.certFiles = [2]string{p(FileServerCert), p(FileServerKey)}
	if s.tickets, err = newTicketKeys(authority); err != nil {
		s.Close()
		return nil, err
	}
	if _, err := os.Stat(p(FileTicketKeys)); err == nil {
		s.log.Info("the TLS session-ticket keys are now derived from the CA key: this file is no longer read and may be removed",
			"file", p(FileTicketKeys))
	}
	return s, nil
}

// newServer builds the server on st, from snap when given (a follower's
// start), else from what st loads.
func newServer(opts Options, policy alloc.Policy, authority *ca.Authority, serverCert tls.Certificate, st store.Store, m *metrics, snap *store.Snapshot) (*Server, error) {
	ctx := context.Background()
	cfg := master.DefaultConfig()
	cfg.Policy, cfg.OnlineWithin, cfg.Pricing = policy, opts.OnlineWithin, opts.Pricing
	if opts.Limits != nil {
		cfg.Limits = *opts.Limits
	}
	cfg.Quotas, cfg.AllowLocalSoftwareURLs = opts.Quotas, opts.AllowLocalSoftwareURLs
	var state *master.State
	var toks []store.Token
	var certs []store.Certificate
	var err error
	if snap != nil {
		if state, err = master.Restore(cfg, snap.Entities); err != nil {
			return nil, fmt.Errorf("server: rebuilding the state from %s: %w", st.Path(), err)
		}
		toks, certs = snap.Tokens, snap.Certificates
	} else {
		if state, err = st.LoadState(ctx, cfg); err != nil {
			return nil, err
		}
		if toks, err = st.Tokens(ctx); err != nil {
			return nil, err
		}
		if certs, err = st.Certificates(ctx); err != nil {
			return nil, err
		}
	}
	s := &Server{
		log: opts.Logger, now: opts.Now, ca: authority, store: st, metrics: m,
		retryEvery: opts.RetryEvery, grace: opts.ShutdownGrace, profiling: opts.Profiling,
		state: state, views: [2]map[string]*cachedView{{}, {}}, tokens: map[string]store.Token{},
		certs: map[string]store.Certificate{}, fatal: make(chan error, 1),
	}
	s.serverCert.Store(&serverCert)
	s.noteCertificates(certs)
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC() }
	}
	if s.retryEvery <= 0 {
		s.retryEvery = DefaultRetryEvery
	}
	if s.grace <= 0 {
		s.grace = DefaultShutdownGrace
	}
	for _, t := range toks {
		s.tokens[t.Hash] = t
	}
	m.reg.MustRegister(newStateCollector(s))
	if s.portal, err = newPortal(s, opts); err != nil {
		return nil, err
	}
	s.handler, s.metricsH = s.routes()
	s.sample()
	free, busy := state.Capacity()
	s.log.Info("master state loaded", "database", st.Path(), "computers", len(state.ComputerIDs()),
		"partitions_free", free, "partitions_busy", busy, "pending", state.PendingCount(), "policy", cfg.Policy)
	return s, nil
}

// Handler is the whole HTTP API, /healthz and /metrics included. Serve it
// over TLS with TLSConfig (the API needs client certificates).
func (s *Server) Handler() http.Handler { return s.handler }

// MetricsHandler serves /metrics and /healthz only (for a plain listener),
// and /debug/pprof/ when Options.Profiling is set.
func (s *Server) MetricsHandler() http.Handler { return s.metricsH }

// TLSConfig is the server side of mutual TLS: TLS 1.3, the server
// certificate, client certificates verified against the CA when given.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// The server certificate is read at each handshake: a new one
		// (ReloadServerCertificate) is served without a restart.
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.serverCert.Load(), nil },
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      s.ca.Pool(),
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// ReloadServerCertificate reads the server certificate and key files of
// the data directory again and serves them from the next handshake on
// (connections open keep theirs): a rotation without downtime. A pair that
// does not load, does not match, is not signed by the master's CA or is
// expired is refused, and the current one kept.
func (s *Server) ReloadServerCertificate() error {
	if s.certFiles[0] == "" {
		return errors.New("server: no server certificate files to reload")
	}
	pair, err := tls.LoadX509KeyPair(s.certFiles[0], s.certFiles[1])
	if err != nil {
		return fmt.Errorf("server: reloading the server certificate: %w (the current one is kept)", err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		return errors.New("server: reloading the server certificate: no certificate in the file (the current one is kept)")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: s.ca.Pool(), CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return fmt.Errorf("server: the new server certificate %s: %w (the current one is kept)", s.certFiles[0], err)
	}
	s.serverCert.Store(&pair)
	s.log.Info("server certificate reloaded", "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter, "dns", leaf.DNSNames)
	return nil
}

// noteCertificates records issued certificates for authentication and the
// revocation list. s.mu must be held (or the server not yet shared).
func (s *Server) noteCertificates(certs []store.Certificate) {
	for _, c := range certs {
		if serial, err := master.NormalizeSerial(c.Serial); err == nil {
			s.certs[serial] = c
		}
	}
}

// Authority is the master's CA.
func (s *Server) Authority() *ca.Authority { return s.ca }

// Serve answers the API over TLS on ln (and /metrics, /healthz in plain
// HTTP on metricsLn when not nil) and retries pending requests every
// RetryEvery, until ctx is done; then it drains in-flight requests (their
// commits included) and returns nil. It returns an error when a listener
// fails or the database refuses a write (memory is then ahead of the disk:
// the process must restart). Close the server afterwards.
func (s *Server) Serve(ctx context.Context, ln net.Listener, metricsLn net.Listener) error {
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelInfo)
	tlsConf := s.TLSConfig()
	if s.tickets != nil {
		// Sessions resume across restarts and take-overs (see
		// FileTicketKeys).
		s.tickets.set(tlsConf, s.now())
	}
	api := &http.Server{
		Handler:   s.handler,
		TLSConfig: tlsConf,
		// The TLS handshake has its own, longer deadline (handshakeListener).
		ReadHeaderTimeout: HeaderTimeout,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
	api.RegisterOnShutdown(s.portal.shutdown)
	errc := make(chan error, 3)
	tlsLn := tls.NewListener(handshakeListener{Listener: ln, timeout: HandshakeTimeout}, tlsConf)
	go func() { errc <- fmt.Errorf("API listener: %w", api.Serve(tlsLn)) }()
	var loop *http.Server
	if s.loopback != nil {
		loop = &http.Server{Handler: s.loopback.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
			IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, ErrorLog: errLog}
		s.log.Warn("insecure SLAP listener: no authentication, every call acts for one person", "address", s.loopback.ln.Addr().String(), "person", s.loopback.person)
		go func() { errc <- fmt.Errorf("insecure SLAP listener: %w", loop.Serve(s.loopback.ln)) }()
	}
	var mon *http.Server
	if metricsLn != nil {
		mon = &http.Server{Handler: s.metricsH, ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog}
		go func() { errc <- fmt.Errorf("metrics listener: %w", mon.Serve(metricsLn)) }()
	}
	if s.pg != nil {
		hactx, stopHA := context.WithCancel(ctx)
		haDone := make(chan struct{})
		go func() { defer close(haDone); s.runHA(hactx) }()
		defer func() { stopHA(); <-haDone }()
	}
	tick := time.NewTicker(s.retryEvery)
	defer tick.Stop()
	sampleTick := time.NewTicker(time.Minute)
	defer sampleTick.Stop()
	var failure error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			failure = err
			break loop
		case <-s.store.Failed():
			failure = s.store.Err()
			break loop
		case err := <-s.fatal:
			failure = err
			break loop
		case <-tick.C:
			if s.Leading() {
				s.retryPending(ctx)
			}
		case <-sampleTick.C:
			s.sample()
			if s.tickets != nil && s.tickets.set(tlsConf, s.now()) {
				s.log.Info("TLS session-ticket keys rotated")
			}
		}
	}
	s.log.Info("master shutting down: draining requests", "grace", s.grace)
	sctx, cancel := context.WithTimeout(context.Background(), s.grace)
	defer cancel()
	err := api.Shutdown(sctx)
	if mon != nil {
		err = errors.Join(err, mon.Shutdown(sctx))
	}
	if loop != nil {
		err = errors.Join(err, loop.Shutdown(sctx))
	}
	if failure != nil {
		return failure
	}
	if err != nil {
		return fmt.Errorf("draining requests: %w", err)
	}
	return nil
}

// retryPending applies RetryPending once (the timer's job).
func (s *Server) retryPending(ctx context.Context) {
	res, err := s.exec(ctx, master.RetryPending{By: model.Admin}, nil)
	switch {
	case err != nil:
		s.log.Error("retrying pending requests", "error", err)
	case res.Placed > 0:
		s.log.Info("pending requests placed", "placed", res.Placed, "still_pending", s.pendingCount())
	}
}

func (s *Server) pendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.PendingCount()
}

// Close flushes the commits still queued and closes the database.
func (s *Server) Close() error { return s.store.Close() }

// exec applies a command and returns once its changes are durable. attach,
// when set, runs under the lock after a successful Apply and returns extra
// records to write in the same transaction (certificates, tokens); its
// error is returned after the command's mutations are written anyway (they
// are applied in memory and must reach the disk).
//
// An error of Apply waits for the batches already queued too: the answer
// may reflect what they changed.
//
// A request carrying an idempotency key (api.HeaderIdempotencyKey) is
// applied with core/master.ApplyOnce: sent again after a lost answer, to
// this master or another one of the grid, it gets the first result back
// and changes nothing. attach runs for the replay too: credentials are
// drawn anew (a private key is never stored to be replayed), for the same
// identity.
func (s *Server) exec(ctx context.Context, cmd master.Command, attach func(master.Result) (store.Batch, error)) (master.Result, error) {
	if !s.Leading() {
		return master.Result{}, newError(http.StatusServiceUnavailable, api.CodeUnavailable, "this master follows: send writes to the leader")
	}
	s.mu.Lock()
	now := s.now() // under the lock: commands see time in apply order
	var res master.Result
	var muts []master.Mutation
	var err error
	if key, ok := ctx.Value(idempotencyKeyCtx{}).(string); ok {
		res, muts, err = s.state.ApplyOnce(now, key, cmd)
	} else {
		res, muts, err = s.state.Apply(now, cmd)
	}
	if err == nil {
		if verr := s.discardUnstorable(ctx, cmd.CommandName(), muts); verr != nil {
			s.mu.Unlock()
			return master.Result{}, verr
		}
	}
	batch := store.Batch{Mutations: muts}
	var attachErr error
	if err == nil && attach != nil {
		var extra store.Batch
		extra, attachErr = attach(res)
		batch.Tokens, batch.Certificates = extra.Tokens, extra.Certificates
		s.noteCertificates(batch.Certificates)
	}
	seq, serr := s.store.Submit(batch)
	s.mu.Unlock()
	if serr != nil {
		return master.Result{}, serr
	}
	if werr := s.store.Wait(ctx, seq); werr != nil {
		return master.Result{}, werr
	}
	if err != nil {
		return master.Result{}, err
	}
	if attachErr != nil {
		return master.Result{}, attachErr
	}
	s.metrics.observeResult(cmd, res)
	if res.Changed {
		s.portal.events.record(now, cmd, res)
		s.portal.notify()
	}
	return res, nil
}

// discardUnstorable guards the store against a value it could not keep
// (core/master.CheckValues: a non-finite number, invalid UTF-8, a time out
// of range). core/master.Apply validates every input, so this never fires
// unless the core has a defect; when it does, the command is refused for its
// caller alone (the error wraps master.ErrInvalid and names the field) and
// the master keeps serving: Apply already changed the state in memory, so
// the state is rebuilt from the database, where every command before this
// one is (or is queued to be) written. A value problem is thus never taken
// for an I/O failure, which still stops the master. Only when the state
// cannot be rebuilt does Serve stop.
//
// s.mu must be held.
func (s *Server) discardUnstorable(ctx context.Context, what string, muts []master.Mutation) error {
	verr := master.CheckValues(muts)
	if verr == nil {
		return nil
	}
	s.log.Error("the core accepted a value the database cannot keep: command refused, state rebuilt from the database",
		"command", what, "error", verr)
	if err := s.reloadState(ctx); err != nil {
		err = fmt.Errorf("rebuilding the state after refusing %s: %w", what, err)
		select {
		case s.fatal <- err:
		default:
		}
		return err
	}
	return fmt.Errorf("%s refused, nothing applied: %w", what, verr)
}

// reloadState replaces the in-memory state by the one the database holds
// once every batch queued so far is written. Contact times recorded by
// polls since the computers' last write are lost (they are refreshed by the
// next poll). s.mu must be held.
func (s *Server) reloadState(ctx context.Context) error {
	seq, err := s.store.Submit(store.Batch{})
	if err == nil {
		err = s.store.Wait(context.WithoutCancel(ctx), seq)
	}
	if err != nil {
		return err
	}
	state, err := s.store.LoadState(context.WithoutCancel(ctx), s.state.Config())
	if err != nil {
		return err
	}
	s.state = state
	for _, m := range s.views {
		clear(m)
	}
	return nil
}

// read runs a query under the lock and waits until what it may have seen
// is durable.
func (s *Server) read(ctx context.Context, query func(st *master.State) error) error {
	s.mu.Lock()
	err := query(s.state)
	seq, serr := s.store.Submit(store.Batch{})
	s.mu.Unlock()
	if serr != nil {
		return serr
	}
	if werr := s.store.Wait(ctx, seq); werr != nil {
		return werr
	}
	return err
}

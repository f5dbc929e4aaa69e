package server

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/ca"
)

// handlerFunc is a route's handler, given the authenticated caller (the
// zero Actor on public routes).
type handlerFunc func(w http.ResponseWriter, r *http.Request, who model.Actor)

// routes builds the API mux and the metrics-only mux.
func (s *Server) routes() (apiMux, metricsMux http.Handler) {
	mux := http.NewServeMux()
	const p = api.Prefix
	authed := func(pattern string, h handlerFunc) { mux.Handle(pattern, s.instrument(pattern, false, h)) }
	public := func(pattern string, h handlerFunc) { mux.Handle(pattern, s.instrument(pattern, true, h)) }

	// person-facing
	authed("POST "+p+"/persons", s.addPerson)
	authed("GET "+p+"/persons", s.listPersons)
	authed("PUT "+p+"/persons/{id}/password", s.setPasswordAPI)
	authed("POST "+p+"/persons/{id}/sign-in-link", s.signInLinkAPI)
	authed("GET "+p+"/whoami", s.whoAmI)
	authed("POST "+p+"/computers", s.registerComputer)
	authed("GET "+p+"/computers", s.listComputers)
	authed("GET "+p+"/computers/{id}/details", s.computerDetails)
	authed("PATCH "+p+"/computers/{id}", s.updateComputer)
	authed("POST "+p+"/computers/{id}/supply", s.supply)
	authed("POST "+p+"/instances", s.request)
	authed("GET "+p+"/instances", s.listInstances)
	authed("GET "+p+"/instances/{guid}", s.getInstance)
	authed("GET "+p+"/instances/{guid}/events", s.instanceEvents)
	authed("POST "+p+"/instances/{guid}/bang", s.bang)
	authed("POST "+p+"/instances/{guid}/rename", s.rename)
	authed("POST "+p+"/instances/{guid}/state", s.setState)
	authed("GET "+p+"/pending", s.pending)
	authed("GET "+p+"/invoices", s.invoices)
	// node-facing
	public("POST "+p+"/register", s.exchangeToken)
	authed("GET "+p+"/computers/{id}", s.computerView)
	authed("PUT "+p+"/computers/{id}/capacity", s.setCapacity)
	authed("PUT "+p+"/computers/{id}/software-state", s.reportSoftware)
	authed("PUT "+p+"/computers/{id}/partitions/{pid}/state", s.reportPartition)
	authed("PUT "+p+"/computers/{id}/partitions/{pid}/connection", s.setConnection)
	authed("POST "+p+"/computers/{id}/partitions/{pid}/destroyed", s.partitionDestroyed)
	authed("POST "+p+"/computers/{id}/partitions/{pid}/certificate", s.partitionCertificate)
	authed("POST "+p+"/computers/{id}/usage", s.postUsage)
	// SLAP, for SlapOS's own nodes and clients
	s.slapRoutes(mux, "")
	// identities and certificates
	authed("DELETE "+p+"/persons/{id}", s.destroyPerson)
	authed("DELETE "+p+"/computers/{id}", s.destroyComputer)
	authed("POST "+p+"/certificates/{serial}/revoke", s.revokeCertificate)
	public("GET /crl", s.crl)

	s.portal.routes(mux, public)

	mon := http.NewServeMux()
	for _, m := range []*http.ServeMux{mux, mon} {
		m.Handle("GET /healthz", s.instrument("GET /healthz", true, s.healthz))
		m.Handle("GET /metrics", s.instrument("GET /metrics", true, s.serveMetrics()))
	}
	if s.profiling {
		mon.HandleFunc("GET /debug/pprof/", pprof.Index)
		mon.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mon.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mon.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mon.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", s.instrument("unmatched", true, func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
		writeJSON(w, http.StatusNotFound, api.ErrorBody{Code: api.CodeNotFound,
			Message: "no route " + r.Method + " " + r.URL.Path + ": see " + api.Prefix + " in the API documentation"})
	}))
	return mux, mon
}

func (s *Server) serveMetrics() handlerFunc {
	h := promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)})
	return func(w http.ResponseWriter, r *http.Request, _ model.Actor) { h.ServeHTTP(w, r) }
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	if err := s.store.Err(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, api.ErrorBody{Code: api.CodeUnavailable, Message: err.Error()})
		return
	}
	role := "leader"
	if !s.Leading() {
		role = "follower"
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": role})
}

// statusWriter remembers the status and size of an answer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idempotencyKeyCtx carries the request's idempotency key (the header
// api.HeaderIdempotencyKey) to exec, which applies the command under it.
type idempotencyKeyCtx struct{}

// instrument wraps a route: authentication (unless public), metrics by
// route pattern and status, and a debug-level access log.
func (s *Server) instrument(pattern string, public bool, h handlerFunc) http.Handler {
	latency := s.metrics.latency.WithLabelValues(pattern)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.requestCount.Add(1)
		sw := &statusWriter{ResponseWriter: w}
		var who model.Actor
		var authErr error
		if s.followerRedirect(sw, r, pattern) {
			// answered: redirected to the leader, or 503
		} else if !public {
			who, authErr = s.authenticate(r)
		}
		switch {
		case sw.status != 0:
		case authErr != nil:
			writeError(sw, s.log, authErr)
		default:
			if key := r.Header.Get(api.HeaderIdempotencyKey); key != "" {
				r = r.WithContext(context.WithValue(r.Context(), idempotencyKeyCtx{}, key))
			}
			h(sw, r, who)
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		took := time.Since(start)
		latency.Observe(took.Seconds())
		s.metrics.requests.WithLabelValues(pattern, strconv.Itoa(sw.status)).Inc()
		if s.log.Enabled(r.Context(), slog.LevelDebug) {
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "http request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", pattern),
				slog.Int("status", sw.status), slog.Int("bytes", sw.bytes), slog.Duration("took", took),
				slog.String("caller", who.String()), slog.String("remote", r.RemoteAddr))
		}
	})
}

// certificateRefused asks core/master whether the certificate leaf of who
// is refused (revoked, or of an identity destroyed or gone).
func (s *Server) certificateRefused(leaf *x509.Certificate, who model.Actor) error {
	serial := leaf.SerialNumber.Text(16)
	s.mu.Lock()
	defer s.mu.Unlock()
	issued := ca.IssuedAt(leaf)
	if rec, ok := s.certs[serial]; ok {
		issued = rec.IssuedAt
	}
	return s.state.CertificateRefused(serial, who, issued)
}

// authenticate maps the verified client certificate to an Actor, and
// refuses a certificate core/master refuses: revoked, or of an identity
// destroyed or gone.
func (s *Server) authenticate(r *http.Request) (model.Actor, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || len(r.TLS.VerifiedChains) == 0 {
		return model.Actor{}, newError(http.StatusUnauthorized, api.CodeUnauthenticated,
			"a client certificate issued by this master's CA is required (--cert, --key)")
	}
	leaf := r.TLS.PeerCertificates[0]
	who, err := ca.IdentityOf(leaf)
	if err != nil {
		return model.Actor{}, newError(http.StatusUnauthorized, api.CodeUnauthenticated, "%s", err)
	}
	if refused := s.certificateRefused(leaf, who); refused != nil {
		return model.Actor{}, newError(http.StatusUnauthorized, api.CodeUnauthenticated, "%s", refused)
	}
	return who, nil
}

package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

// ErrOptions is wrapped by every error about Options.
var ErrOptions = errors.New("bridge: invalid options")

// Defaults of Options.
const (
	DefaultMaxConnections = 1024
	DefaultIdleTimeout    = 15 * time.Minute
	DefaultDialTimeout    = 10 * time.Second
	DefaultDrainTimeout   = 5 * time.Second
)

// Options configure a Proxy.
type Options struct {
	// Listen is where clients connect: "[2001:db8::5]:8080" (the
	// partition's IPv6 address, usually).
	Listen string
	// Target is where connections are forwarded: "10.0.0.5:8080" (the
	// legacy program, listening on the partition's IPv4 address).
	Target string
	// MaxConnections bounds the connections forwarded at once; more wait
	// in the listen queue until one ends (0: DefaultMaxConnections).
	MaxConnections int
	// IdleTimeout closes a connection when no byte moved either way for
	// that long (0: DefaultIdleTimeout; negative: never).
	IdleTimeout time.Duration
	// DialTimeout bounds connecting to Target (0: DefaultDialTimeout).
	DialTimeout time.Duration
	// DrainTimeout is how long open connections may go on once the proxy
	// is asked to stop, before they are cut (0: DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Logger receives the proxy's events (nil: slog.Default()).
	Logger *slog.Logger
}

// BindFlags declares the command-line flags of slapgo bridge on fs, with
// o's values as defaults; parsing fs fills o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "address:port to accept connections on, e.g. [2001:db8::5]:8080")
	fs.StringVar(&o.Target, "target", o.Target, "address:port to forward them to, e.g. 10.0.0.5:8080")
	fs.IntVar(&o.MaxConnections, "max-connections", cmpOr(o.MaxConnections, DefaultMaxConnections), "connections forwarded at once; more wait in the listen queue")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", cmpOr(o.IdleTimeout, DefaultIdleTimeout), "close a connection idle that long both ways (negative: never)")
	fs.DurationVar(&o.DialTimeout, "dial-timeout", cmpOr(o.DialTimeout, DefaultDialTimeout), "time allowed to connect to the target")
	fs.DurationVar(&o.DrainTimeout, "drain-timeout", cmpOr(o.DrainTimeout, DefaultDrainTimeout), "on SIGTERM, time open connections may go on before they are cut")
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// check validates o and fills its defaults.
func (o *Options) check() error {
	for _, a := range []struct{ flag, v string }{{"listen", o.Listen}, {"target", o.Target}} {
		host, port, err := net.SplitHostPort(a.v)
		if err != nil {
			return fmt.Errorf("%w: --%s %q: expected ADDRESS:PORT, with an IPv6 address in brackets ([2001:db8::5]:8080)", ErrOptions, a.flag, a.v)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: --%s %q: port %q is not a TCP port (1-65535)", ErrOptions, a.flag, a.v, port)
		}
		if a.flag == "target" && host == "" {
			return fmt.Errorf("%w: --target %q: the address is missing", ErrOptions, a.v)
		}
	}
	switch {
	case o.MaxConnections < 0:
		return fmt.Errorf("%w: --max-connections %d: expected a positive number", ErrOptions, o.MaxConnections)
	case o.DialTimeout < 0 || o.DrainTimeout < 0:
		return fmt.Errorf("%w: --dial-timeout and --drain-timeout must not be negative", ErrOptions)
	}
	o.MaxConnections = cmpOr(o.MaxConnections, DefaultMaxConnections)
	o.IdleTimeout = cmpOr(o.IdleTimeout, DefaultIdleTimeout)
	o.DialTimeout = cmpOr(o.DialTimeout, DefaultDialTimeout)
	o.DrainTimeout = cmpOr(o.DrainTimeout, DefaultDrainTimeout)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// Stats are a proxy's figures (cumulative, but Active).
type Stats struct {
	Accepted   uint64 // connections accepted
	Forwarded  uint64 // of which connected to the target
	DialErrors uint64 // of which the target refused or did not answer
	Active     int64  // connections open now
	BytesUp    uint64 // client → target
	BytesDown  uint64 // target → client
}

// Proxy forwards TCP connections from a listener to a target address.
type Proxy struct {
	o      Options
	slots  chan struct{}
	dialer net.Dialer

	mu    sync.Mutex
	conns map[*session]struct{}
	wg    sync.WaitGroup

	accepted, forwarded, dialErrors, up, down atomic.Uint64
	active                                    atomic.Int64
}

// New checks o and returns a Proxy.
func New(o Options) (*Proxy, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return &Proxy{
		o:      o,
		slots:  make(chan struct{}, o.MaxConnections),
		dialer: net.Dialer{Timeout: o.DialTimeout},
		conns:  map[*session]struct{}{},
	}, nil
}

// Stats returns the proxy's figures so far.
func (p *Proxy) Stats() Stats {
	return Stats{
		Accepted: p.accepted.Load(), Forwarded: p.forwarded.Load(), DialErrors: p.dialErrors.Load(),
		Active: p.active.Load(), BytesUp: p.up.Load(), BytesDown: p.down.Load(),
	}
}

// ListenAndServe listens on o.Listen and serves until ctx is done (see
// Serve).
func ListenAndServe(ctx context.Context, o Options) error {
	p, err := New(o)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.o.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("bridge: listening on %s: %w (is the partition's address configured? slapgo node format adds it)", p.o.Listen, err)
		}
		return fmt.Errorf("bridge: listening on %s: %w", p.o.Listen, err)
	}
	return p.Serve(ctx, ln)
}

// Serve accepts connections on ln and forwards each to the target, until
// ctx is done: it then stops accepting, lets open connections go on for
// DrainTimeout, cuts those still open, and returns nil. It closes ln. An
// error is returned only if accepting fails for good.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	log := p.o.Logger
	log.Info("bridge: forwarding", "listen", ln.Addr().String(), "target", p.o.Target,
		"max_connections", p.o.MaxConnections, "idle_timeout", p.o.IdleTimeout.String())
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
		}
		ln.Close()
	}()
	var err error
	full := false
	for delay := time.Duration(0); ; {
		// At the limit, stop accepting: clients wait in the listen queue.
		select {
		case p.slots <- struct{}{}:
		default:
			if !full {
				log.Warn("bridge: connection limit reached: new connections wait", "max_connections", p.o.MaxConnections)
				full = true
			}
			select {
			case p.slots <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		full = false
		conn, aerr := ln.Accept()
		if aerr != nil {
			<-p.slots
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(aerr, &ne) && ne.Timeout() || errors.Is(aerr, syscall.EMFILE) || errors.Is(aerr, syscall.ENFILE) ||
				errors.Is(aerr, syscall.ECONNABORTED) || errors.Is(aerr, syscall.ENOBUFS) || errors.Is(aerr, syscall.ENOMEM) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				log.Warn("bridge: accept failed: retrying", "err", aerr, "in", delay.String())
				select {
				case <-time.After(delay):
				case <-ctx.Done():
				}
				continue
			}
			err = fmt.Errorf("bridge: accepting on %s: %w", ln.Addr(), aerr)
			break
		}
		delay = 0
		p.accepted.Add(1)
		s := &session{p: p, client: conn, started: time.Now()}
		p.track(s, true)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer func() { <-p.slots }()
			defer p.track(s, false)
			s.run(ctx)
		}()
	}
	p.drain()
	st := p.Stats()
	log.Info("bridge: stopped", "accepted", st.Accepted, "forwarded", st.Forwarded, "dial_errors", st.DialErrors,
		"bytes_up", st.BytesUp, "bytes_down", st.BytesDown)
	return err
}

func (p *Proxy) track(s *session, open bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if open {
		p.conns[s] = struct{}{}
		p.active.Add(1)
	} else {
		delete(p.conns, s)
		p.active.Add(-1)
	}
}

// drain waits DrainTimeout for open connections, then cuts them.
func (p *Proxy) drain() {
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	if n := p.active.Load(); n > 0 {
		p.o.Logger.Info("bridge: stopping: waiting for open connections", "open", n, "for", p.o.DrainTimeout.String())
	}
	select {
	case <-done:
		return
	case <-time.After(p.o.DrainTimeout):
	}
	p.mu.Lock()
	n := len(p.conns)
	for s := range p.conns {
		s.abort("stopping")
	}
	p.mu.Unlock()
	p.o.Logger.Warn("bridge: stopping: connections cut", "cut", n)
	<-done
}

// session is one forwarded connection.
type session struct {
	p       *Proxy
	client  net.Conn
	started time.Time

	mu     sync.Mutex
	target net.Conn
	reason string // why it ended early, if it did
	last   atomic.Int64
}

// abort closes both ends; the first reason given is kept.
func (s *session) abort(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reason == "" {
		s.reason = reason
	}
	s.client.Close()
	if s.target != nil {
		s.target.Close()
	}
}

func (s *session) run(ctx context.Context) {
	p, log := s.p, s.p.o.Logger
	client := s.client.RemoteAddr().String()
	target, err := p.dialer.DialContext(ctx, "tcp", p.o.Target)
	if err != nil {
		s.client.Close()
		if ctx.Err() != nil {
			log.Info("bridge: connection closed: stopping", "client", client, "target", p.o.Target)
			return
		}
		p.dialErrors.Add(1)
		log.Warn("bridge: target unreachable: connection closed", "client", client, "target", p.o.Target, "err", err)
		return
	}
	p.forwarded.Add(1)
	s.mu.Lock()
	s.target = target
	aborted := s.reason != ""
	s.mu.Unlock()
	if aborted {
		target.Close()
		return
	}
	log.Debug("bridge: connection open", "client", client, "target", target.RemoteAddr().String())
	s.last.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	var up, down int64
	var upErr, downErr error
	wg.Go(func() { up, upErr = s.pipe(target, s.client, &p.up) })
	wg.Go(func() { down, downErr = s.pipe(s.client, target, &p.down) })
	wg.Wait()
	s.client.Close()
	target.Close()
	s.mu.Lock()
	reason := s.reason
	s.mu.Unlock()
	attrs := []any{"client", client, "target", p.o.Target, "bytes_up", up, "bytes_down", down,
		"duration", time.Since(s.started).Round(time.Millisecond).String()}
	switch err := errors.Join(upErr, downErr); {
	case reason != "":
		log.Info("bridge: connection closed: "+reason, attrs...)
	case err != nil:
		log.Info("bridge: connection closed on error", append(attrs, "err", err)...)
	default:
		log.Info("bridge: connection closed", attrs...)
	}
}

// pipe copies src to dst until src ends, then half-closes dst so that its
// reader sees the end too (the other direction may go on). An error, or an
// idle connection, closes both ends; an error caused by that closing is
// not reported.
func (s *session) pipe(dst, src net.Conn, total *atomic.Uint64) (int64, error) {
	n, err := io.Copy(dst, &activityReader{s: s, c: src, total: total})
	if err == nil {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			err = cw.CloseWrite()
		}
	}
	if err != nil {
		s.abort("")
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
			err = nil
		}
	}
	return n, err
}

// activityReader reads from a connection with the idle deadline: a read
// that times out while the other direction moved recently waits again.
type activityReader struct {
	s     *session
	c     net.Conn
	total *atomic.Uint64
}

func (r *activityReader) Read(b []byte) (int, error) {
	idle := r.s.p.o.IdleTimeout
	for {
		if idle > 0 {
			r.c.SetReadDeadline(time.Unix(0, r.s.last.Load()).Add(idle))
		}
		n, err := r.c.Read(b)
		if n > 0 {
			r.s.last.Store(time.Now().UnixNano())
			r.total.Add(uint64(n))
		}
		if err != nil && errors.Is(err, os.ErrDeadlineExceeded) && idle > 0 {
			if time.Since(time.Unix(0, r.s.last.Load())) < idle {
				continue // the other direction is busy
			}
			r.s.abort("idle")
		}
		return n, err
	}
}

package bridge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// logBuffer collects a proxy's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// listenLoopback listens on the IPv6 loopback, as the bridge listens on a
// partition's IPv6 address (on IPv4 where the host has no IPv6).
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Logf("no IPv6 loopback (%v): the bridge listens on 127.0.0.1", err)
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// legacy is a program listening on IPv4 only, serving each connection
// with serve.
func legacy(t *testing.T, serve func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				serve(c.(*net.TCPConn))
			})
		}
	})
	return ln.Addr().String()
}

type running struct {
	addr  string
	proxy *Proxy
	logs  *logBuffer
	stop  func() error // cancels Serve and returns what it returned
}

func startProxy(t *testing.T, o Options) *running {
	t.Helper()
	logs := &logBuffer{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ln := listenLoopback(t)
	o.Listen = ln.Addr().String()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() { cancel(); serveErr = <-done })
		return serveErr
	}
	t.Cleanup(func() { stop() })
	return &running{addr: ln.Addr().String(), proxy: p, logs: logs, stop: stop}
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" = valid
	}{
		{[]string{"--listen", "[::1]:8080", "--target", "127.0.0.1:8080"}, ""},
		{[]string{"--listen", ":8080", "--target", "legacy.internal:80", "--idle-timeout", "-1s"}, ""},
		{[]string{"--listen", "::1:8080", "--target", "127.0.0.1:8080"}, `--listen "::1:8080": expected ADDRESS:PORT, with an IPv6 address in brackets`},
		{[]string{"--listen", "[::1]:80", "--target", "127.0.0.1:http"}, `--target "127.0.0.1:http": port "http" is not a TCP port`},
		{[]string{"--listen", "[::1]:80", "--target", "127.0.0.1:70000"}, `port "70000" is not a TCP port`},
		{[]string{"--listen", "[::1]:80", "--target", ":80"}, `--target ":80": the address is missing`},
		{[]string{"--listen", "[::1]:80"}, `--target "": expected ADDRESS:PORT`},
		{[]string{"--listen", "[::1]:80", "--target", "127.0.0.1:80", "--max-connections", "-3"}, "--max-connections -3"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var o Options
			fs := pflag.NewFlagSet("bridge", pflag.ContinueOnError)
			o.BindFlags(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			_, err := New(o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New = %v, want no error", err)
			case tt.want != "" && (!errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New = %v, want ErrOptions with %q", err, tt.want)
			}
		})
	}
	var o Options
	o.BindFlags(pflag.NewFlagSet("bridge", pflag.ContinueOnError))
	if o.MaxConnections != DefaultMaxConnections || o.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("flag defaults: %+v", o)
	}
}

// TestForwardHalfClose: a request/response protocol where the legacy
// program answers only once it has read the whole request (EOF), then
// closes: the client's half-close reaches it through the bridge, and its
// close reaches the client.
func TestForwardHalfClose(t *testing.T) {
	target := legacy(t, func(c *net.TCPConn) {
		req, err := io.ReadAll(c)
		if err != nil {
			return
		}
		sum := sha256.Sum256(req)
		c.Write(sum[:])
		c.Write(bytes.Repeat([]byte("r"), 3<<20))
	})
	r := startProxy(t, Options{Target: target})
	req := make([]byte, 5<<20)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range req {
		req[i] = byte(rng.Uint32())
	}
	c := dial(t, r.addr)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(req)
	if len(resp) != 32+3<<20 || !bytes.Equal(resp[:32], sum[:]) {
		t.Fatalf("response: %d bytes, digest ok %v; want %d bytes and the request's digest", len(resp), len(resp) >= 32 && bytes.Equal(resp[:32], sum[:]), 32+3<<20)
	}
	waitFor(t, "closed", func() bool { return r.proxy.Stats().Active == 0 })
	st := r.proxy.Stats()
	if st.BytesUp != 5<<20 || st.BytesDown != 32+3<<20 || st.Forwarded != 1 {
		t.Errorf("stats %+v: want 5 MiB up, 3 MiB + 32 down, 1 forwarded", st)
	}
	waitFor(t, "logged", func() bool { return strings.Contains(r.logs.String(), "bridge: connection closed") })
	if logs := r.logs.String(); !strings.Contains(logs, "bytes_up=5242880") || !strings.Contains(logs, "bytes_down=3145760") {
		t.Errorf("the connection's line does not give its bytes:\n%s", logs)
	}
}

// TestServerSpeaksFirst: the legacy program greets, then half-closes; the
// client still sends afterwards and the program reads it.
func TestServerSpeaksFirst(t *testing.T) {
	got := make(chan string, 1)
	target := legacy(t, func(c *net.TCPConn) {
		c.Write([]byte("220 legacy ready\r\n"))
		c.CloseWrite()
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	r := startProxy(t, Options{Target: target})
	c := dial(t, r.addr)
	greeting, err := io.ReadAll(c)
	if err != nil || string(greeting) != "220 legacy ready\r\n" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	if _, err := c.Write([]byte("QUIT after EOF\r\n")); err != nil {
		t.Fatalf("writing after the server's half-close: %v", err)
	}
	c.CloseWrite()
	select {
	case s := <-got:
		if s != "QUIT after EOF\r\n" {
			t.Errorf("the program read %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the program never saw the client's data and end")
	}
}

func TestBothWaysAtOnce(t *testing.T) {
	const size = 8 << 20
	target := legacy(t, func(c *net.TCPConn) {
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, c) })
		c.Write(bytes.Repeat([]byte{7}, size))
		c.CloseWrite()
		wg.Wait()
	})
	r := startProxy(t, Options{Target: target})
	c := dial(t, r.addr)
	var wg sync.WaitGroup
	wg.Go(func() { c.Write(bytes.Repeat([]byte{9}, size)); c.CloseWrite() })
	n, err := io.Copy(io.Discard, c)
	wg.Wait()
	if err != nil || n != size {
		t.Fatalf("received %d bytes (%v), want %d", n, err, size)
	}
	waitFor(t, "closed", func() bool { return r.proxy.Stats().Active == 0 })
	if st := r.proxy.Stats(); st.BytesUp != size || st.BytesDown != size {
		t.Errorf("stats %+v, want %d each way", st, size)
	}
}

func TestTargetUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := startProxy(t, Options{Target: target})
	c := dial(t, r.addr)
	if b, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && len(b) != 0 {
		t.Fatalf("read %q, %v: want the connection closed", b, err)
	}
	waitFor(t, "logged", func() bool { return strings.Contains(r.logs.String(), "target unreachable") })
	if logs := r.logs.String(); !strings.Contains(logs, "target="+target) {
		t.Errorf("the warning does not name the target:\n%s", logs)
	}
	if st := r.proxy.Stats(); st.DialErrors != 1 || st.Forwarded != 0 {
		t.Errorf("stats %+v, want 1 dial error", st)
	}
}

func TestIdleTimeout(t *testing.T) {
	// The traffic lasts twice the idle timeout, with gaps of a twentieth of
	// it: closing it as idle needs a bug, not a slow machine.
	const (
		writes = 40
		gap    = 50 * time.Millisecond
		idle   = time.Second
	)
	target := legacy(t, func(c *net.TCPConn) {
		// Trickle one byte every gap for writes×gap, then stay silent.
		for range writes {
			if _, err := c.Write([]byte{'.'}); err != nil {
				return
			}
			time.Sleep(gap)
		}
		io.Copy(io.Discard, c)
	})
	r := startProxy(t, Options{Target: target, IdleTimeout: idle})
	c := dial(t, r.addr)
	start := time.Now()
	b, _ := io.ReadAll(c)
	took := time.Since(start)
	if len(b) != writes {
		t.Errorf("read %d bytes, want %d: a connection busy one way was closed as idle", len(b), writes)
	}
	if took < writes*gap || took > 15*time.Second {
		t.Errorf("closed after %s, want about %s (%s of traffic + %s idle)", took, writes*gap+idle, writes*gap, idle)
	}
	waitFor(t, "logged", func() bool { return strings.Contains(r.logs.String(), "connection closed: idle") })
}

// TestConnectionLimit: beyond MaxConnections, a client waits until a
// connection ends, then is served.
func TestConnectionLimit(t *testing.T) {
	target := legacy(t, func(c *net.TCPConn) { io.Copy(c, c) })
	r := startProxy(t, Options{Target: target, MaxConnections: 1})
	first := dial(t, r.addr)
	first.Write([]byte("a"))
	if _, err := io.ReadFull(first, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	second := dial(t, r.addr) // completes in the listen queue
	second.Write([]byte("b"))
	second.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := second.Read(make([]byte, 1)); n != 0 || !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		t.Fatalf("the second client was served while the first was open: %d bytes, %v", n, err)
	}
	waitFor(t, "logged", func() bool { return strings.Contains(r.logs.String(), "connection limit reached") })
	first.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(second, buf); err != nil || buf[0] != 'b' {
		t.Fatalf("the second client after the first ended: %q, %v", buf, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestStop: on stop, a connection that ends within DrainTimeout ends
// normally, one that does not is cut; Serve returns nil.
func TestStop(t *testing.T) {
	release := make(chan struct{})
	target := legacy(t, func(c *net.TCPConn) {
		buf := make([]byte, 1)
		c.Read(buf)
		if buf[0] == 'q' { // quick: answers once the stop began
			<-release
			c.Write([]byte("bye"))
			return
		}
		io.Copy(io.Discard, c) // slow: never ends by itself
	})
	// The quick connection must end within the drain even on a loaded
	// machine: the drain is long, and only the slow connection waits it out.
	const drain = 3 * time.Second
	r := startProxy(t, Options{Target: target, DrainTimeout: drain})
	quick, slow := dial(t, r.addr), dial(t, r.addr)
	quick.Write([]byte("q"))
	slow.Write([]byte("s"))
	waitFor(t, "forwarded", func() bool { return r.proxy.Stats().Forwarded == 2 })
	stopped := make(chan error, 1)
	go func() { stopped <- r.stop() }()
	waitFor(t, "draining", func() bool { return strings.Contains(r.logs.String(), "waiting for open connections") })
	if _, err := net.DialTimeout("tcp", r.addr, time.Second); err == nil {
		t.Error("a new connection was accepted while stopping")
	}
	close(release)
	if b, err := io.ReadAll(quick); string(b) != "bye" {
		t.Errorf("the quick connection got %q, %v during the drain", b, err)
	}
	quick.Close() // its half of the connection ends too
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(drain + 30*time.Second):
		t.Fatalf("Serve did not return 30s after the drain timeout (%s)", drain)
	}
	if b, _ := io.ReadAll(slow); len(b) != 0 {
		t.Errorf("the slow connection read %q", b)
	}
	logs := r.logs.String()
	if strings.Count(logs, "connection closed: stopping") != 1 {
		t.Errorf("want one connection cut:\n%s", logs)
	}
	for _, want := range []string{`connections cut" cut=1`, "connection closed: stopping", `msg="bridge: stopped" accepted=2 forwarded=2`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestListenAndServeAddressNotConfigured(t *testing.T) {
	// 192.0.2.1 (TEST-NET-1) is on no interface of a test machine.
	err := ListenAndServe(context.Background(), Options{Listen: "192.0.2.1:8080", Target: "127.0.0.1:8080"})
	if err == nil || !strings.Contains(err.Error(), "192.0.2.1:8080") || !strings.Contains(err.Error(), "slapgo node format") {
		t.Fatalf("ListenAndServe = %v, want an error naming the address and format", err)
	}
}

// Package pgtest runs a real PostgreSQL server for a test: Debian's
// postgresql package's initdb and postgres (under
// /usr/lib/postgresql/VERSION/bin), a cluster initialized into a new
// temporary folder, the server listening on a unix socket in that folder
// only, run as an unprivileged user (as root: the postgres system user the
// package creates), stopped and removed when the test ends, even when it
// fails. StartWith also listens on TCP on a given address, for tests that
// put the network between a client and the database. Without PostgreSQL
// the test stops through internal/testenv (a failure under CI=true).
//
// pgtest is for tests only; it imports "testing".
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slapgo/slapgo/internal/testenv"
)

// Superuser is the name of the cluster's superuser.
const Superuser = "slapgo"

// Server is one PostgreSQL cluster started for a test.
type Server struct {
	dir  string // the cluster's folder: data/ and the socket
	bin  string
	cred *syscall.Credential
	tcp  Options
	port int // 0: PostgreSQL's default (socket only)

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
	log  *os.File
	dbs  atomic.Int64
}

// Bin finds the folder of PostgreSQL's server programs, the newest version
// first, or "".
func Bin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) {
			return d
		}
	}
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Options are what StartWith adds to a cluster listening on its socket.
type Options struct {
	// ListenTCP, when set, is an IP address of this machine on which the
	// server also listens on TCP (on a free port), trusting the clients
	// of TrustNet.
	ListenTCP string
	// TrustNet is the network (CIDR) whose clients may connect over TCP
	// without a password; it must hold ListenTCP.
	TrustNet string
}

// Missing says what this machine lacks to run PostgreSQL for a test, or ""
// when nothing is missing.
func Missing() string {
	if Bin() == "" {
		return "PostgreSQL not found (no initdb and postgres under /usr/lib/postgresql/*/bin): install Debian's postgresql (make test-deps)"
	}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			return "running as root and no postgres system user to run PostgreSQL as: install Debian's postgresql (make test-deps)"
		}
	}
	return ""
}

// Start initializes and starts a cluster for t, listening on its unix
// socket only; it is stopped and removed when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartWith(t, Options{})
}

// StartWith is Start with opts.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.ListenTCP != "" {
		ip := net.ParseIP(opts.ListenTCP)
		_, trusted, err := net.ParseCIDR(opts.TrustNet)
		switch {
		case ip == nil:
			t.Fatalf("pgtest: ListenTCP %q: expected an IP address", opts.ListenTCP)
		case err != nil:
			t.Fatalf("pgtest: TrustNet %q: %v", opts.TrustNet, err)
		case !trusted.Contains(ip):
			t.Fatalf("pgtest: TrustNet %s does not hold ListenTCP %s", opts.TrustNet, opts.ListenTCP)
		}
	}
	if why := Missing(); why != "" {
		testenv.Missing(t, why)
		return nil
	}
	bin := Bin()
	s := &Server{bin: bin, tcp: opts}
	dir, err := os.MkdirTemp("", "slapgo-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s.dir = dir
	if os.Geteuid() == 0 {
		// initdb and postgres refuse to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	init := s.command(filepath.Join(bin, "initdb"), "-D", s.dataDir(), "-U", Superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v\n%s", err, out)
	}
	if opts.ListenTCP != "" {
		if err := s.listenTCP(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	t.Cleanup(s.stop)
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

// listenTCP picks a free port on s.tcp.ListenTCP and lets the clients of
// s.tcp.TrustNet in without a password (pg_hba.conf).
func (s *Server) listenTCP() error {
	ln, err := net.Listen("tcp", net.JoinHostPort(s.tcp.ListenTCP, "0"))
	if err != nil {
		return fmt.Errorf("no free TCP port on %s: %w", s.tcp.ListenTCP, err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	hba, err := os.OpenFile(filepath.Join(s.dataDir(), "pg_hba.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(hba, "host all all %s trust\n", s.tcp.TrustNet)
	if cerr := hba.Close(); err == nil {
		err = cerr
	}
	return err
}

// args are postgres's arguments: the data folder, the socket, and the TCP
// address when there is one.
func (s *Server) args() []string {
	args := []string{"-D", s.dataDir(), "-k", s.dir, "-c", "listen_addresses=" + s.tcp.ListenTCP}
	if s.port != 0 {
		args = append(args, "-p", strconv.Itoa(s.port))
	}
	return append(args, "-c", "max_connections=200", "-c", "shared_buffers=16MB",
		"-c", "fsync=on", "-c", "synchronous_commit=on")
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// Restart starts the server again after Kill or Stop (Start starts it).
// A postgres that exits before it accepts connections (the shared memory of
// a killed one not yet released) is started again, up to ten times.
func (s *Server) Restart() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: the server is running")
	}
	var err error
	for range 10 {
		var exited bool
		if exited, err = s.startOnce(); err == nil || !exited {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

// startOnce starts postgres and waits until it accepts connections; exited
// says it exited before.
func (s *Server) startOnce() (exited bool, err error) {
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return false, err
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), s.args()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return false, fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.cmd, s.log, s.done = cmd, logf, done
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			c.Close(ctx)
			return false, nil
		}
		select {
		case <-done:
			s.cmd = nil
			logf.Close()
			return true, fmt.Errorf("pgtest: postgres exited before accepting connections: %w\n%s", err, s.Log())
		case <-ctx.Done():
			return false, fmt.Errorf("pgtest: postgres did not accept connections within 60s: %w\n%s", err, s.Log())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Kill stops the server at once (SIGKILL to all its processes): a crash.
// It returns once none of them is left (they hold the shared memory a new
// server needs).
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	// NB: each backend calls setsid(): the postmaster's process group
	// does not hold them. They are found by parenthood, the postmaster
	// stopped first so that it starts no other meanwhile.
	pm := s.cmd.Process.Pid
	syscall.Kill(pm, syscall.SIGSTOP)
	pids := append(descendants(pm), pm)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	<-s.done
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if !slices.ContainsFunc(pids, running) {
			break
		}
	}
	s.cmd = nil
	s.log.Close()
	// The killed postmaster leaves its pid file: postgres starts anyway
	// once no process of the cluster is left.
}

// stat reads a process's state and parent from /proc/PID/stat.
func stat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// pid (comm) state ppid …; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	return f[0][0], ppid, true
}

// running: the process exists and is not a zombie.
func running(pid int) bool {
	st, _, ok := stat(pid)
	return ok && st != 'Z' && st != 'X'
}

// descendants lists the processes below pid.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, pp, ok := stat(n); ok {
			parent[n] = pp
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for c, pp := range parent {
			if pp == p {
				out = append(out, c)
				walk(c)
			}
		}
	}
	walk(pid)
	return out
}

// Stop stops the server cleanly (fast shutdown).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
	s.log.Close()
}

func (s *Server) stop() {
	s.Stop()
}

// Log is what the server printed so far.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	return string(b)
}

func (s *Server) url(db string) string {
	u := fmt.Sprintf("postgres://%s@/%s?host=%s&sslmode=disable", Superuser, db, s.dir)
	if s.port != 0 {
		u += "&port=" + strconv.Itoa(s.port)
	}
	return u
}

// TCPURL is the URL of the database dbURL (from NewDatabase) over TCP, on
// the address StartWith was given.
func (s *Server) TCPURL(t testing.TB, dbURL string) string {
	t.Helper()
	if s.port == 0 {
		t.Fatal("pgtest: TCPURL of a server listening on its socket only (start it with StartWith and ListenTCP)")
	}
	u, err := url.Parse(dbURL)
	if err != nil || u.Path == "" {
		t.Fatalf("pgtest: TCPURL(%q): expected a database URL from NewDatabase (%v)", dbURL, err)
	}
	return fmt.Sprintf("postgres://%s@%s%s?sslmode=disable", Superuser, net.JoinHostPort(s.tcp.ListenTCP, strconv.Itoa(s.port)), u.Path)
}

// NewDatabase creates an empty database and returns its URL.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	url, err := s.CreateDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// CreateDatabase is NewDatabase for a caller that cannot stop its test
// (another goroutine than the test's).
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.url("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	return s.url(name), nil
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/master/api"
)

// initPostgresGrid makes a master's data directory on a new PostgreSQL
// database, and n-1 copies of it (the CA and certificates every master of
// the grid shares). It returns the directories and the database URL. The
// server certificate holds hosts besides the loopback names.
func initPostgresGrid(t testing.TB, srv *pgtest.Server, n int, hosts ...string) ([]string, string) {
	t.Helper()
	url := srv.NewDatabase(t)
	dirs := []string{t.TempDir()}
	if _, err := InitDataDir(dirs[0], url, hosts, time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	for range n - 1 {
		d := t.TempDir()
		for _, f := range []string{FileCACert, FileCAKey, FileServerCert, FileServerKey, FileAdminCert, FileAdminKey} {
			data, err := os.ReadFile(filepath.Join(dirs[0], f))
			noErr(t, err)
			noErr(t, os.WriteFile(filepath.Join(d, f), data, 0o600))
		}
		dirs = append(dirs, d)
	}
	return dirs, url
}

// haMaster is one in-process master of a PostgreSQL grid.
type haMaster struct {
	srv    *Server
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startHA(t *testing.T, dir, storeURL, listen string) *haMaster {
	t.Helper()
	srv, err := Open(Options{DataDir: dir, Store: storeURL, Logger: slog.New(slog.DiscardHandler)})
	noErr(t, err)
	ln, err := net.Listen("tcp", listen)
	noErr(t, err)
	m := &haMaster{srv: srv, url: "https://" + ln.Addr().String(), done: make(chan error, 1)}
	srv.SetAdvertiseURL(m.url)
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.done <- srv.Serve(ctx, ln, nil) }()
	t.Cleanup(func() { m.stop() })
	return m
}

// stop drains and closes the master; it returns Serve's error.
func (m *haMaster) stop() error {
	if m.cancel == nil {
		return nil
	}
	m.cancel()
	err := <-m.done
	m.srv.Close()
	m.cancel = nil
	return err
}

func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func adminClient(t testing.TB, dir string, urls ...string) *api.Client {
	t.Helper()
	c, err := api.NewClient(strings.Join(urls, ","), filepath.Join(dir, FileAdminCert), filepath.Join(dir, FileAdminKey), filepath.Join(dir, FileCACert))
	noErr(t, err)
	c.HTTP.Timeout = 20 * time.Second
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

func role(t testing.TB, c *api.Client) string {
	t.Helper()
	resp, err := c.HTTP.Get(c.BaseURL + "/healthz")
	if err != nil {
		return "down"
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	return body["role"]
}

// TestTwoMastersOnPostgres: one leads, the other follows (warm state,
// reads, writes redirected), takes over when the leader stops, and the old
// leader comes back as a follower; a leader whose database session ends
// stops and commits nothing more.
func TestTwoMastersOnPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	dirs, url := initPostgresGrid(t, pg, 2)
	ctx := context.Background()
	a := startHA(t, dirs[0], url, "127.0.0.1:0")
	waitFor(t, "a leads", 10*time.Second, a.srv.Leading)
	b := startHA(t, dirs[1], url, "127.0.0.1:0")
	if b.srv.Leading() {
		t.Fatal("two masters lead")
	}
	onA, onB := adminClient(t, dirs[0], a.url), adminClient(t, dirs[1], b.url)
	if r := role(t, onB); r != "follower" {
		t.Fatalf("b's role = %q, want follower", r)
	}
	// A write sent to the follower is redirected to the leader.
	waitFor(t, "b knows the leader", 5*time.Second, func() bool { u, _ := b.srv.leaderURL.Load().(string); return u == a.url })
	res, err := onB.AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)
	waitFor(t, "b's warm state has alice", 5*time.Second, func() bool {
		b.srv.mu.Lock()
		defer b.srv.mu.Unlock()
		_, ok := b.srv.state.Person("alice")
		return ok
	})
	// The follower answers reads with its warm state.
	aliceOnB := clientFor(t, res.Credentials, b.url)
	if who, err := aliceOnB.WhoAmI(ctx); err != nil || who.Identity.ID != "alice" {
		t.Fatalf("whoami of alice on the follower = %+v, %v", who, err)
	}
	// The leader stops: b takes over, and the client fails over.
	both := adminClient(t, dirs[0], a.url, b.url)
	noErr(t, a.stop())
	waitFor(t, "b leads", 10*time.Second, b.srv.Leading)
	if _, err := both.AddPerson(ctx, api.AddPersonRequest{ID: "bob"}); err != nil {
		t.Fatalf("writing after the take-over: %v", err)
	}
	if both.BaseURL != b.url {
		t.Errorf("the client asks %s first, want the new leader %s", both.BaseURL, b.url)
	}
	// The old leader returns: it follows.
	a2 := startHA(t, dirs[0], url, strings.TrimPrefix(a.url, "https://"))
	time.Sleep(300 * time.Millisecond)
	if a2.srv.Leading() {
		t.Fatal("the returning master leads while b holds the lock")
	}
	if _, err := onA.AddPerson(ctx, api.AddPersonRequest{ID: "carol"}); err != nil {
		t.Fatalf("a write sent to the returning master: %v", err)
	}
	waitFor(t, "a2's warm state has carol", 5*time.Second, func() bool {
		a2.srv.mu.Lock()
		defer a2.srv.mu.Unlock()
		_, ok := a2.srv.state.Person("carol")
		return ok
	})
	// b's database session ends (a network cut): b stops, a2 takes over,
	// and b's commits are refused.
	admin, err := pgx.Connect(ctx, url)
	noErr(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
		AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = 1397506384)`)
	noErr(t, err)
	select {
	case err := <-b.done:
		b.done <- err
		if err == nil {
			t.Error("the deposed leader's Serve returned nil")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the deposed leader kept serving")
	}
	waitFor(t, "a2 leads", 10*time.Second, a2.srv.Leading)
	if _, err := b.srv.exec(ctx, nil, nil); err == nil {
		t.Error("the deposed leader applied a command")
	}
	if _, err := onA.AddPerson(ctx, api.AddPersonRequest{ID: "dave"}); err != nil {
		t.Fatalf("writing to the new leader: %v", err)
	}
	a2.srv.mu.Lock()
	n := len(a2.srv.state.Persons())
	a2.srv.mu.Unlock()
	if n != 4 {
		t.Errorf("the leader holds %d persons, want 4 (alice, bob, carol, dave)", n)
	}
	var ae *api.Error
	if _, err := onB.AddPerson(ctx, api.AddPersonRequest{ID: "erin"}); err == nil || errors.As(err, &ae) {
		// b is down: no answer at all.
		t.Errorf("the stopped master answered: %v", err)
	}
}

func clientFor(t testing.TB, creds api.Credentials, urls ...string) *api.Client {
	t.Helper()
	dir := t.TempDir()
	noErr(t, os.WriteFile(filepath.Join(dir, "c.crt"), []byte(creds.CertificatePEM), 0o600))
	noErr(t, os.WriteFile(filepath.Join(dir, "c.key"), []byte(creds.KeyPEM), 0o600))
	noErr(t, os.WriteFile(filepath.Join(dir, "ca.crt"), []byte(creds.CAPEM), 0o600))
	c, err := api.NewClient(strings.Join(urls, ","), filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key"), filepath.Join(dir, "ca.crt"))
	noErr(t, err)
	t.Cleanup(c.HTTP.CloseIdleConnections)
	return c
}

// TestDatabaseRestart: PostgreSQL crashes and comes back. The leader's
// lock session is gone, so it stops; a follower takes the lead once the
// database answers; every write acknowledged before the crash is there.
func TestDatabaseRestart(t *testing.T) {
	pg := pgtest.Start(t)
	dirs, url := initPostgresGrid(t, pg, 2)
	ctx := context.Background()
	a := startHA(t, dirs[0], url, "127.0.0.1:0")
	waitFor(t, "a leads", 10*time.Second, a.srv.Leading)
	b := startHA(t, dirs[1], url, "127.0.0.1:0")
	both := adminClient(t, dirs[0], a.url, b.url)
	for i := range 10 {
		_, err := both.AddPerson(ctx, api.AddPersonRequest{ID: "p" + strconv.Itoa(i)})
		noErr(t, err)
	}
	pg.Kill()
	noErr(t, pg.Restart())
	select {
	case err := <-a.done:
		a.done <- err
		if err == nil {
			t.Error("the leader whose lock session ended returned nil")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the leader kept serving after its lock session ended")
	}
	waitFor(t, "b leads", 30*time.Second, b.srv.Leading)
	_, err := both.AddPerson(ctx, api.AddPersonRequest{ID: "after"})
	noErr(t, err)
	b.srv.mu.Lock()
	defer b.srv.mu.Unlock()
	for i := range 10 {
		if _, ok := b.srv.state.Person("p" + strconv.Itoa(i)); !ok {
			t.Errorf("person p%d, acknowledged before the crash, is missing", i)
		}
	}
	if _, ok := b.srv.state.Person("after"); !ok {
		t.Error("the write after the restart is missing")
	}
}

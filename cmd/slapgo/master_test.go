package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func masterRoot() *cobra.Command {
	root := newRootCmd()
	root.AddCommand(newMasterCmd())
	return root
}

func TestMasterInit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	code := execute(context.Background(), masterRoot(), []string{"master", "init", "--data", dir, "--hostname", "master.example.org"}, &out, &errb)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errb.String())
	}
	for _, f := range []string{"master.db", "ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("init did not create %s: %v", f, err)
		}
	}
	if !strings.Contains(out.String(), "--cert "+filepath.Join(dir, "admin.crt")) {
		t.Errorf("init output does not show the admin credentials:\n%s", out.String())
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"refuses to overwrite", []string{"master", "init", "--data", dir}, "not empty"},
		{"needs --data", []string{"master", "init"}, `required flag(s) "data" not set`},
		{"serve needs an initialized directory", []string{"master", "serve", "--data", t.TempDir()}, "master init"},
		{"serve refuses an unknown policy", []string{"master", "serve", "--data", dir, "--policy", "best"}, "--policy"},
		{"serve refuses a bad address", []string{"master", "serve", "--data", dir, "--listen", "256.0.0.1:x"}, "--listen"},
		{"serve refuses a negative limit", []string{"master", "serve", "--data", dir, "--max-partitions", "-1"}, "--max-partitions -1: expected a number >= 0"},
		{"serve refuses a negative quota", []string{"master", "serve", "--data", dir, "--quota-parameter-bytes", "-5"}, "--quota-parameter-bytes -5"},
		{"insecure SLAP refuses every address", []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--insecure-slap-loopback-as", "PERSON-1", "--insecure-slap-loopback-listen", "0.0.0.0:0"}, `host "0.0.0.0" is not a loopback address`},
		{"insecure SLAP refuses an empty host", []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--insecure-slap-loopback-as", "PERSON-1", "--insecure-slap-loopback-listen", ":0"}, `host "" is not a loopback address`},
		{"insecure SLAP refuses a public address", []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--insecure-slap-loopback-as", "PERSON-1", "--insecure-slap-loopback-listen", "192.0.2.1:0"}, `host "192.0.2.1" is not a loopback address`},
		{"insecure SLAP needs an existing person", []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--insecure-slap-loopback-as", "PERSON-404", "--insecure-slap-loopback-listen", "127.0.0.1:0"}, `person "PERSON-404", who does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := execute(context.Background(), masterRoot(), tc.args, &out, &errb); code != 1 || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

func TestMasterServePprofNeedsMetricsListener(t *testing.T) {
	var out, errb bytes.Buffer
	code := execute(context.Background(), masterRoot(), []string{"master", "serve", "--data", t.TempDir(), "--pprof"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "--metrics-listen") {
		t.Errorf("--pprof without --metrics-listen: exit %d, stderr %q; want an error naming --metrics-listen", code, errb.String())
	}
}

func TestMasterServeStopsCleanly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var initOut, initErr bytes.Buffer
	if code := execute(context.Background(), masterRoot(), []string{"master", "init", "--data", dir}, &initOut, &initErr); code != 0 {
		t.Fatalf("init: %s", initErr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, masterRoot(), []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--metrics-listen", "127.0.0.1:0", "--pprof"}, &out, &errb)
	}()
	re := regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+)\n(?:.*\n)*?metrics on (http://127\.0\.0\.1:\d+)/metrics`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; {
		if m = re.FindStringSubmatch(out.String()); m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no listening line; stdout %q stderr %q", out.String(), errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	for _, u := range []string{m[1] + "/healthz", m[2] + "/healthz", m[2] + "/metrics", m[2] + "/debug/pprof/"} {
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", u, resp.StatusCode)
		}
	}
	cancel() // what SIGTERM does in main
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after cancellation, want 0; stderr:\n%s", code, errb.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
}

// TestMasterBackupRestore: `master backup` while the master serves, then
// `master restore` into a new data directory, which a master serves again.
func TestMasterBackupRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := execute(context.Background(), masterRoot(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, e := run("master", "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, masterRoot(), []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0"}, &out, &errb)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start: %s", errb.String())
		}
	}
	backup := filepath.Join(t.TempDir(), "master-backup.db")
	if code, o, e := run("master", "backup", "--data", dir, "--to", backup); code != 0 || !strings.Contains(o, "written to "+backup) {
		t.Fatalf("backup while serving: exit %d, %q, %q", code, o, e)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup file: %v, %v; want mode 0600", fi, err)
	}
	if code, _, e := run("master", "backup", "--data", dir, "--to", backup); code != 1 || !strings.Contains(e, "exists") {
		t.Errorf("a backup over an existing file: exit %d, %q", code, e)
	}
	cancel()
	<-done

	restored := filepath.Join(t.TempDir(), "restored")
	if code, o, e := run("master", "restore", "--from", backup, "--data", restored); code != 0 || !strings.Contains(o, "restored into") {
		t.Fatalf("restore: exit %d, %q, %q", code, o, e)
	}
	if code, _, e := run("master", "restore", "--from", backup, "--data", restored); code != 1 || !strings.Contains(e, "exists") {
		t.Errorf("a restore over a database: exit %d, %q", code, e)
	}
	notDB := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notDB, []byte("not a database"), 0o600)
	if code, _, e := run("master", "restore", "--from", notDB, "--data", filepath.Join(t.TempDir(), "x")); code != 1 || e == "" {
		t.Errorf("restoring a file that is no backup: exit %d, %q", code, e)
	}
	// The restored database serves, with the CA of the original directory.
	for _, f := range []string{"ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(restored, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2, errb2 syncBuffer
	done2 := make(chan int, 1)
	go func() {
		done2 <- execute(ctx2, masterRoot(), []string{"master", "serve", "--data", restored, "--listen", "127.0.0.1:0"}, &out2, &errb2)
	}()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(out2.String(), "listening on"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("serve on the restored database did not start: %s", errb2.String())
		}
	}
	cancel2()
	if code := <-done2; code != 0 {
		t.Errorf("serve on the restored database exited %d: %s", code, errb2.String())
	}
}

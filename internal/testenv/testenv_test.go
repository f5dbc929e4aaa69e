package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recorder stands for a test: it records how the helper ended it instead
// of ending the calling test.
type recorder struct {
	testing.TB
	name    string
	failed  string
	skipped string
}

func (r *recorder) Helper()      {}
func (r *recorder) Name() string { return r.name }
func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}
func (r *recorder) Skip(args ...any) { r.skipped = fmt.Sprint(args...) }

func TestMissing(t *testing.T) {
	tests := []struct {
		name        string
		ci          string
		wantFail    string // substring of the failure, "" when it must skip
		wantSkip    string // substring of the skip line
		wantLogLine string // the line appended to the skip log, "" for none
	}{
		{"outside CI it skips and records", "", "", "skipped: busybox not found in PATH: install it",
			"./internal/testenv TestX: busybox not found in PATH: install it\n"},
		{"CI=false is not CI", "false", "", "skipped: busybox", "./internal/testenv TestX: busybox not found in PATH: install it\n"},
		{"under CI=true it fails and records nothing", "true",
			"missing prerequisite (CI=true, so this is a failure, not a skip): busybox not found in PATH: install it", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(EnvCI, tt.ci)
			log := filepath.Join(t.TempDir(), "skips.txt")
			t.Setenv(EnvSkipLog, log)
			r := &recorder{TB: t, name: "TestX"}
			Missing(r, "busybox not found in PATH:\n\tinstall it")
			if tt.wantFail != "" {
				if !strings.Contains(r.failed, tt.wantFail) || r.skipped != "" {
					t.Fatalf("failed %q, skipped %q; want a failure with %q", r.failed, r.skipped, tt.wantFail)
				}
			} else if r.failed != "" || !strings.Contains(r.skipped, tt.wantSkip) {
				t.Fatalf("failed %q, skipped %q; want a skip with %q", r.failed, r.skipped, tt.wantSkip)
			}
			got, err := os.ReadFile(log)
			if tt.wantLogLine == "" {
				if !os.IsNotExist(err) {
					t.Fatalf("skip log %q (%v), want none", got, err)
				}
				return
			}
			if string(got) != tt.wantLogLine {
				t.Fatalf("skip log %q (%v), want %q", got, err, tt.wantLogLine)
			}
		})
	}
}

func TestShortNeverFails(t *testing.T) {
	t.Setenv(EnvCI, "true")
	log := filepath.Join(t.TempDir(), "skips.txt")
	t.Setenv(EnvSkipLog, log)
	r := &recorder{TB: t, name: "TestLong"}
	Short(r, "builds the binary")
	data, _ := os.ReadFile(log)
	if testing.Short() {
		if r.failed != "" || r.skipped != "skipped in -short: builds the binary" || !strings.HasSuffix(string(data), "TestLong: -short: builds the binary\n") {
			t.Fatalf("with -short: failed %q, skipped %q, log %q", r.failed, r.skipped, data)
		}
		return
	}
	if r.failed != "" || r.skipped != "" || len(data) != 0 {
		t.Fatalf("without -short: failed %q, skipped %q, log %q; want the test to go on", r.failed, r.skipped, data)
	}
}

func TestRequireCommands(t *testing.T) {
	t.Setenv(EnvCI, "")
	t.Setenv(EnvSkipLog, "")
	tests := []struct {
		names    []string
		wantSkip string
	}{
		{[]string{"go"}, ""},
		{[]string{"go", "slapgo-no-such-command", "slapgo-nor-this"}, "skipped: slapgo-no-such-command, slapgo-nor-this not found in PATH: to test"},
	}
	for _, tt := range tests {
		r := &recorder{TB: t, name: "TestX"}
		RequireCommands(r, "to test", tt.names...)
		if r.skipped != tt.wantSkip || r.failed != "" {
			t.Errorf("RequireCommands(%v): skipped %q, failed %q; want skipped %q", tt.names, r.skipped, r.failed, tt.wantSkip)
		}
	}
}

func TestAppendSkipReportsUnwritableLog(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := AppendSkip(filepath.Join(file, "skips.txt"), "TestX", "why")
	if err == nil || !strings.Contains(err.Error(), "testenv: skip log SLAPGO_SKIP_LOG=") {
		t.Fatalf("AppendSkip into a missing folder = %v, want an error naming the variable", err)
	}
}

func TestAppendSkipMakesTheFolder(t *testing.T) {
	log := filepath.Join(t.TempDir(), "reports", "skips.txt")
	for _, reason := range []string{"first", "second"} {
		if err := AppendSkip(log, "TestMain", reason); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(log)
	if want := "./internal/testenv TestMain: first\n./internal/testenv TestMain: second\n"; string(got) != want {
		t.Fatalf("skip log %q (%v), want %q", got, err, want)
	}
}

// TestLockHostNetwork: a second holder, from another process, waits until
// the first releases the lock.
func TestLockHostNetwork(t *testing.T) {
	if os.Getenv("SLAPGO_TESTENV_LOCK_CHILD") == "1" {
		release, err := LockHostNetwork()
		if err != nil {
			t.Fatal(err)
		}
		release()
		return
	}
	release, err := LockHostNetwork()
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run", "^TestLockHostNetwork$")
	child.Env = append(os.Environ(), "SLAPGO_TESTENV_LOCK_CHILD=1")
	done := make(chan error, 1)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- child.Wait() }()
	select {
	case err := <-done:
		release()
		t.Fatalf("the second holder did not wait for the first: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("the second holder, once the lock was free: %v", err)
	}
}

package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// EnvCI, set to "true", turns every missing prerequisite into a failure.
const EnvCI = "CI"

// EnvSkipLog names a file to which each skip is appended as one line:
// "<test>: <reason>". `make test` sets it and prints the file at its end.
const EnvSkipLog = "SLAPGO_SKIP_LOG"

// InCI reports whether the tests run under continuous integration
// (CI=true), where nothing may be skipped for a missing prerequisite.
func InCI() bool { return os.Getenv(EnvCI) == "true" }

// Missing stops t for want of a prerequisite: it fails t under CI=true,
// and skips it with one line otherwise. what says what is missing and how
// to provide it ("busybox not found in PATH: install Debian's
// busybox-static").
func Missing(t testing.TB, what string) {
	t.Helper()
	what = strings.Join(strings.Fields(what), " ")
	if InCI() {
		t.Fatalf("missing prerequisite (CI=true, so this is a failure, not a skip): %s", what)
		return
	}
	record(t, what)
	t.Skip("skipped: " + what)
}

// Short skips t when -short was given, saying why the test is long.
// Unlike Missing it never fails: -short is a choice, not a defect of the
// machine. The skip is recorded all the same.
func Short(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		why = "-short: " + why
		record(t, why)
		t.Skip("skipped in " + why)
	}
}

// RequireRoot stops t (see Missing) unless it runs as root; why says what
// needs root.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "not running as root: "+why+" (run the tests as root to cover it)")
	}
}

// RequireCommands stops t (see Missing) unless every named command is in
// PATH; why says what they are for.
func RequireCommands(t testing.TB, why string, names ...string) {
	t.Helper()
	var missing []string
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		Missing(t, fmt.Sprintf("%s not found in PATH: %s", strings.Join(missing, ", "), why))
	}
}

// RequireIPv6Loopback stops t (see Missing) unless a TCP socket can listen
// on [::1].
func RequireIPv6Loopback(t testing.TB, why string) {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		Missing(t, fmt.Sprintf("no IPv6 on loopback (%v): %s", err, why))
		return
	}
	ln.Close()
}

// record appends the skip of t to $SLAPGO_SKIP_LOG, if set. A log that
// cannot be written fails t: a skip that would go unseen is what this
// package is for.
func record(t testing.TB, reason string) {
	t.Helper()
	name := os.Getenv(EnvSkipLog)
	if name == "" {
		return
	}
	if err := AppendSkip(name, t.Name(), reason); err != nil {
		t.Fatal(err)
	}
}

// AppendSkip appends "<test>: <reason>" as one line to the skip log at
// path (making its folder if need be), with the package of the running
// test binary. It is for TestMain
// functions that skip a whole package; tests use Missing or Short.
func AppendSkip(path, test, reason string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("testenv: skip log %s=%s: %w", EnvSkipLog, path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("testenv: skip log %s=%s: %w", EnvSkipLog, path, err)
	}
	// One write per line: concurrent test binaries append whole lines.
	line := fmt.Sprintf("%s %s: %s\n", packageName(), test, strings.Join(strings.Fields(reason), " "))
	_, werr := f.WriteString(line)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("testenv: skip log %s=%s: %w", EnvSkipLog, path, werr)
	}
	return nil
}

// packageName is the directory the test binary runs in, relative to the
// module root when it can be found: go test runs a package's tests in the
// package's directory.
func packageName() string {
	wd, err := os.Getwd()
	if err != nil {
		return "?"
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil {
				return wd
			}
			return "./" + filepath.ToSlash(rel)
		}
		if filepath.Dir(dir) == dir {
			return wd
		}
	}
}

// LockHostNetwork serialises, across the test processes of this machine,
// the tests that change the host's network interfaces (Docker's bridges
// and veth pairs for containers) and the tests such a change disturbs:
// Chromium aborts a page load under way with ERR_NETWORK_CHANGED whenever
// an interface of its network namespace comes or goes. It blocks until the
// lock is free and returns its release. (go test runs packages in parallel
// processes, so a lock within one process would not do.)
func LockHostNetwork() (release func(), err error) {
	path := filepath.Join(os.TempDir(), "slapgo-test-host-network.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("host network lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("host network lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}

// HoldHostNetwork is LockHostNetwork for the duration of t.
func HoldHostNetwork(t testing.TB) {
	t.Helper()
	release, err := LockHostNetwork()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
}

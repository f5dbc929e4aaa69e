package profile

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/slapgo/slapgo/nodeagent/bridge"
	"github.com/spf13/pflag"

	"github.com/slapgo/slapgo/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

// TestMain lets the test binary stand for the slapgo binary in promise
// and bridge scripts: "<test binary> promise port HOST PORT …" runs
// RunPromise, as "slapgo promise …" does, and "<test binary> bridge
// --listen … --target …" the bridge, as "slapgo bridge …" does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "promise" {
		if err := RunPromise(context.Background(), os.Args[2:], os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "promise:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) > 1 && os.Args[1] == "bridge" {
		os.Exit(runBridge(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// runBridge is "slapgo bridge" for the scripts of the bridge recipe.
func runBridge(args []string) int {
	var o bridge.Options
	fs := pflag.NewFlagSet("bridge", pflag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bridge.ListenAndServe(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fixture is the absolute path of a file of fixtures/software.
func fixture(t testing.TB, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "fixtures", "software", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// requireCompiler skips tests that build the C fixtures on a machine
// without a C toolchain.
func requireCompiler(t *testing.T) {
	t.Helper()
	testenv.RequireCommands(t, "the hello fixture is built from C sources with cc and make (Debian: gcc, make)", "cc", "make")
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// testBinary is the path of the running test binary (see TestMain).
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from the golden file (go test -run %s -update rewrites it)\n--- want\n%s\n--- got\n%s", path, t.Name(), want, got)
	}
}

// execOutput runs a program and returns its standard output.
func execOutput(path string, args ...string) (string, error) {
	out, err := exec.Command(path, args...).Output()
	return string(out), err
}

package localgrid

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/internal/testenv"
)

// TestCheckBuildEnv runs tools/check-build-env.sh, which `make build`,
// `make run` and the test targets run before compiling: it passes here,
// and names what is missing with the way to install it otherwise.
func TestCheckBuildEnv(t *testing.T) {
	testenv.RequireCommands(t, "tools/check-build-env.sh is a shell script that compiles a probe with the C compiler", "sh", "go", "cc", "make")
	root, err := FindCheckout(".")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "tools", "check-build-env.sh")
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(script, args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run([]string{"CC="}); err != nil {
		t.Fatalf("on this machine, which builds slapgo: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no C compiler", []string{"CC=no-such-cc"}, nil, "build: no C compiler: no-such-cc (go env CC) is not in PATH"},
		{"no C library", []string{"CC=cc -nostdinc"}, nil, "build: the C compiler cc -nostdinc cannot build a program with the C library"},
		{"no Go", nil, []string{"/no/such/go"}, "build: /no/such/go not found in PATH: install Go 1.26 or later"},
	} {
		out, err := run(tt.env, tt.args...)
		if err == nil || !strings.Contains(out, tt.want) {
			t.Errorf("%s: %v, output %q; want a failure saying %q", tt.name, err, out, tt.want)
		}
		if tt.name != "no Go" && !strings.Contains(out, "sudo apt-get install build-essential") {
			t.Errorf("%s: %q does not say how to install a C compiler", tt.name, out)
		}
	}
}

package localgrid

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Show returns path relative to the working directory when it is inside
// it, else path: what a person reads best.
func Show(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	rel, err := filepath.Rel(wd, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return path
	}
	return rel
}

// CheckBuildTools checks that the sample software can be built here: it
// is a C program built with its configure script and make.
func CheckBuildTools() error {
	var missing []string
	cc := cmp.Or(os.Getenv("CC"), "cc")
	for _, tool := range []string{cc, "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s not found in PATH. The sample software is a C program built from source: "+
		"install a C compiler and make (Debian/Ubuntu: sudo apt-get install build-essential; "+
		"Fedora/RHEL: sudo dnf install gcc make; Alpine: apk add build-base)",
		ErrBuildTools, strings.Join(missing, " and "))
}

// FindCheckout returns the root of the slapgo checkout holding dir: the
// nearest directory upwards whose go.mod declares the slapgo module.
func FindCheckout(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("localgrid: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePath(data) == "github.com/slapgo/slapgo" {
			return d, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("localgrid: %w", err)
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("localgrid: %s is not inside a slapgo checkout (no go.mod of github.com/slapgo/slapgo above it)", abs)
		}
	}
}

// modulePath returns the module path a go.mod declares.
func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module"); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

package cluster

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// Paths inside the image.
const (
	ImageBinary   = "/bin/slapgo"
	ImageFixtures = "/srv/fixtures" // a copy of the repository's fixtures/software
)

// ImageConfig is what goes into the image every container of a run uses.
type ImageConfig struct {
	// Binary is a statically linked slapgo (`make static`).
	Binary string
	// Busybox is a statically linked busybox (Debian's busybox-static);
	// its applets are installed in /bin. The fixture software releases
	// run busybox httpd and busybox shell scripts.
	Busybox string
	// Software is a directory copied to ImageFixtures/software (the
	// repository's fixtures/software); "" copies nothing.
	Software string
}

// dockerfile builds a FROM scratch image: busybox with its applets, the
// slapgo binary, the fixture software, a root user and a /tmp.
const dockerfile = `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN ["/bin/busybox", "mkdir", "-p", "/tmp", "/etc/slapgo", "/srv/slapgrid", "/opt/slapgrid", "/var/lib/slapgo", "/root"]
RUN ["/bin/busybox", "chmod", "1777", "/tmp"]
COPY etc/ /etc/
COPY sbin/ /usr/sbin/
COPY fixtures/ ` + ImageFixtures + `/
COPY slapgo ` + ImageBinary + `
ENV PATH=/usr/sbin:/bin HOME=/root
`

const (
	etcPasswd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	etcGroup  = "root:x:0:\nnogroup:x:65534:\n"
	etcShadow = "root:!:1::::::\nnobody:!:1::::::\n"
)

// groupaddShim and useraddShim are the two commands of the shadow suite
// the node agent's format calls (groupadd NAME; useradd -d DIR -g GROUP
// -M -p '!' -s SHELL NAME): the image has neither the shadow suite nor
// busybox's adduser (Debian's busybox-static leaves it out), and its node
// agents format as root. They append to /etc/group, /etc/passwd and
// /etc/shadow, with ids from 1000 up.
const groupaddShim = `#!/bin/sh
# groupadd NAME (written by the cluster harness: the image has no shadow suite).
set -e
if [ $# -ne 1 ]; then echo "groupadd: only 'groupadd NAME' is supported here" >&2; exit 2; fi
if grep -q "^$1:" /etc/group; then echo "groupadd: group '$1' already exists" >&2; exit 9; fi
gid=$(awk -F: 'BEGIN{m=999} $3>m && $3<60000 {m=$3} END{print m+1}' /etc/group)
echo "$1:x:$gid:" >> /etc/group
`

const useraddShim = `#!/bin/sh
# useradd -d DIR -g GROUP -M -p PASSWORD -s SHELL NAME (written by the
# cluster harness: the image has no shadow suite). The password is locked.
set -e
home=/nonexistent group= shell=/bin/sh
while [ $# -gt 1 ]; do
	case "$1" in
	-d) home=$2; shift 2 ;;
	-g) group=$2; shift 2 ;;
	-s) shell=$2; shift 2 ;;
	-p) shift 2 ;;
	-M) shift ;;
	*) echo "useradd: option $1 is not supported here" >&2; exit 2 ;;
	esac
done
if [ $# -ne 1 ]; then echo "useradd: expected one user name" >&2; exit 2; fi
if grep -q "^$1:" /etc/passwd; then echo "useradd: user '$1' already exists" >&2; exit 9; fi
gid=$(awk -F: -v g="${group:-$1}" '$1==g {print $3}' /etc/group)
if [ -z "$gid" ]; then echo "useradd: group '${group:-$1}' does not exist" >&2; exit 6; fi
uid=$(awk -F: 'BEGIN{m=999} $3>m && $3<60000 {m=$3} END{print m+1}' /etc/passwd)
echo "$1:x:$uid:$gid::$home:$shell" >> /etc/passwd
echo "$1:!:1::::::" >> /etc/shadow
`

// BuildImage builds the run's image from a context directory made in a
// temporary directory, and returns its reference. Close removes it.
func (e *Engine) BuildImage(ctx context.Context, cfg ImageConfig) (string, error) {
	for what, path := range map[string]string{"slapgo binary": cfg.Binary, "busybox": cfg.Busybox} {
		if err := checkStatic(path); err != nil {
			return "", fmt.Errorf("cluster: %s: %w", what, err)
		}
	}
	dir, err := os.MkdirTemp("", "slapgo-image-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := writeContext(dir, cfg); err != nil {
		return "", fmt.Errorf("cluster: writing the image context: %w", err)
	}
	repo, tag := "slapgo-cluster", e.run
	ref := repo + ":" + tag
	var buildLog bytes.Buffer
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context:        dir,
		Dockerfile:     "Dockerfile",
		Repo:           repo,
		Tag:            tag,
		KeepImage:      true,
		BuildLogWriter: &buildLog,
		BuildOptionsModifier: func(o *client.ImageBuildOptions) {
			o.Labels = e.labels()
		},
	}}
	e.track("image "+ref, func(ctx context.Context) error {
		_, err := e.docker.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
		return err
	})
	if _, err := e.provider.BuildImage(ctx, &req); err != nil {
		return "", fmt.Errorf("cluster: building image %s: %w\n%s", ref, err, tail(buildLog.String(), 20))
	}
	e.logf("image %s built", ref)
	return ref, nil
}

func writeContext(dir string, cfg ImageConfig) error {
	files := []struct {
		name, content string
		mode          fs.FileMode
	}{
		{"Dockerfile", dockerfile, 0o644},
		{"etc/passwd", etcPasswd, 0o644},
		{"etc/group", etcGroup, 0o644},
		{"etc/shadow", etcShadow, 0o600},
		{"sbin/groupadd", groupaddShim, 0o755},
		{"sbin/useradd", useraddShim, 0o755},
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			return err
		}
	}
	if err := copyFile(cfg.Binary, filepath.Join(dir, "slapgo"), 0o755); err != nil {
		return err
	}
	if err := copyFile(cfg.Busybox, filepath.Join(dir, "busybox"), 0o755); err != nil {
		return err
	}
	fixtures := filepath.Join(dir, "fixtures")
	if err := os.MkdirAll(fixtures, 0o755); err != nil {
		return err
	}
	if cfg.Software == "" {
		return nil
	}
	return copyTree(cfg.Software, filepath.Join(fixtures, "software"))
}

func copyFile(from, to string, mode fs.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			return copyFile(path, dst, info.Mode().Perm()|0o444)
		}
		return nil // symlinks and devices are not part of fixtures
	})
}

// checkStatic fails unless path is an ELF executable without an
// interpreter (statically linked): FROM scratch has no dynamic loader.
func checkStatic(path string) error {
	if path == "" {
		return errors.New("no file given")
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: a FROM scratch image needs a static executable", path)
		}
	}
	return nil
}

// Places where a static busybox is looked for, after $SLAPGO_BUSYBOX.
var busyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"}

// ErrNoBusybox is wrapped by FindBusybox's error when no statically
// linked busybox is found.
var ErrNoBusybox = errors.New("cluster: no statically linked busybox")

// FindBusybox returns a statically linked busybox: $SLAPGO_BUSYBOX, or
// the first static one of the usual places. It installs nothing: `make
// test-deps` installs Debian's busybox-static when it is missing.
func FindBusybox() (string, error) {
	if p := os.Getenv("SLAPGO_BUSYBOX"); p != "" {
		if err := checkStatic(p); err != nil {
			return "", fmt.Errorf("cluster: SLAPGO_BUSYBOX: %w", err)
		}
		return p, nil
	}
	var seen []string
	for _, p := range busyboxPaths {
		err := checkStatic(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			seen = append(seen, err.Error())
		}
	}
	also := ""
	if len(seen) > 0 {
		also = " (" + strings.Join(seen, "; ") + ")"
	}
	return "", fmt.Errorf("%w in %s%s: install Debian's busybox-static (make test-deps) or set SLAPGO_BUSYBOX",
		ErrNoBusybox, strings.Join(busyboxPaths, ", "), also)
}

// BuildStaticBinary builds a statically linked slapgo from the module
// at moduleDir into dir, as `make static` does, and returns its path.
func BuildStaticBinary(ctx context.Context, moduleDir, dir string) (string, error) {
	out := filepath.Join(dir, "slapgo-static")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath",
		"-tags", "osusergo,netgo,sqlite_omit_load_extension",
		"-ldflags", "-linkmode external -extldflags -static",
		"-o", out, "./cmd/slapgo")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("cluster: building a static slapgo in %s: %w\n%s", moduleDir, err, tail(string(b), 20))
	}
	return out, nil
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package profile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
)

// TestBuildAndDeployAsUser builds and deploys hello for an unprivileged
// user, as the node agent does when it runs as root.
func TestBuildAndDeployAsUser(t *testing.T) {
	testenv.RequireRoot(t, "building as another user needs root")
	requireCompiler(t)
	const nobody = 65534
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	base := t.TempDir()
	// The user must be able to reach the software directory.
	for d := base; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The profile too: a checkout under a private folder (root's home,
	// mode 0700) is not, so the fixture is built from a copy.
	profileDir := filepath.Join(base, "hello")
	if err := os.CopyFS(profileDir, os.DirFS(filepath.Dir(fixture(t, "hello/software.cfg")))); err != nil {
		t.Fatal(err)
	}
	sw := filepath.Join(base, "software")
	var log bytes.Buffer
	if err := Build(t.Context(), BuildOptions{URL: filepath.Join(profileDir, "software.cfg"), Dir: sw, Log: &log, Cred: cred}); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	owned := func(p string) {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, nobody, nobody)
		}
	}
	for _, p := range []string{"", "parts/hello/bin/hello", InstanceProfileFile, CompletedFile, InstalledFile} {
		owned(filepath.Join(sw, p))
	}

	// Commands run as the user.
	src := writeProfile(t, map[string]string{"software.cfg": "[buildout]\nparts = who\n[who]\nrecipe = shell\ncommand = id -u > uid\n" + minimalInstance})
	os.Chmod(src, 0o755)
	who := filepath.Join(base, "who")
	if err := Build(t.Context(), BuildOptions{URL: filepath.Join(src, "software.cfg"), Dir: who, Cred: cred}); err != nil {
		t.Fatal(err)
	}
	if uid, _ := os.ReadFile(filepath.Join(who, "parts/who/uid")); string(uid) != "65534\n" {
		t.Errorf("the build step ran as uid %q, want 65534", uid)
	}

	// Files the user could not read are not read for it.
	os.WriteFile(filepath.Join(src, "secret"), []byte("secret"), 0o600)
	os.WriteFile(filepath.Join(src, "leak.cfg"), []byte("[buildout]\nparts = t\n[t]\nrecipe = template\nurl = secret\noutput = t\n"), 0o644)
	err := Build(t.Context(), BuildOptions{URL: filepath.Join(src, "leak.cfg"), Dir: filepath.Join(base, "leak"), Cred: cred})
	if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "not a file readable by every user") {
		t.Errorf("reading a private file for the user: err = %v", err)
	}

	part := filepath.Join(base, "slappart0")
	if err := os.Mkdir(part, 0o750); err != nil {
		t.Fatal(err)
	}
	dep, err := Deploy(t.Context(), InstanceContext{
		SoftwareDir: sw, PartitionDir: part, PartitionID: "slappart0", Cred: cred,
		Addresses: []model.Address{{Iface: "lo", Addr: "127.0.0.1"}}, SlapgoBinary: "/usr/bin/slapgo",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(dep.Files, filepath.Join(part, "etc/service"), filepath.Join(part, "var/log")) {
		owned(p)
	}
}

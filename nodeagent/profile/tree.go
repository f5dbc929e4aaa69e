package profile

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// tree is the directory a run writes into (the software directory, or the
// partition directory). Every write goes through an os.Root, so a symbolic
// link planted inside (the directory belongs to an unprivileged user) can
// never make the agent write outside. When the agent is root and a
// credential is given, what it creates is handed to that user.
type tree struct {
	dir      string
	root     *os.Root
	uid, gid int // -1: leave ownership alone
	written  []string
}

func openTree(dir string, cred *syscall.Credential) (*tree, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	t := &tree{dir: filepath.Clean(dir), root: root, uid: -1, gid: -1}
	if cred != nil && os.Geteuid() == 0 {
		t.uid, t.gid = int(cred.Uid), int(cred.Gid)
	}
	return t, nil
}

func (t *tree) close() { t.root.Close() }

// rel turns an absolute path inside the tree (or a path relative to it) into
// the relative name the os.Root takes.
func (t *tree) rel(p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(t.dir, p)
	}
	r, err := filepath.Rel(t.dir, filepath.Clean(p))
	if err != nil || r == ".." || strings.HasPrefix(r, "../") {
		return "", errorf(ErrOutsideDirectory, "%s is outside %s", p, t.dir)
	}
	return r, nil
}

func (t *tree) abs(rel string) string { return filepath.Join(t.dir, rel) }

func (t *tree) chown(rel string) error {
	if t.uid < 0 {
		return nil
	}
	return t.root.Lchown(rel, t.uid, t.gid)
}

// mkdirAll creates rel and its missing parents with perm, owned by the
// tree's user.
func (t *tree) mkdirAll(rel string, perm os.FileMode) error {
	if rel == "." || rel == "" {
		return nil
	}
	cur := ""
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		cur = filepath.Join(cur, part)
		fi, err := t.root.Lstat(cur)
		if err == nil {
			if fi.Mode()&fs.ModeSymlink != 0 {
				fi, err = t.root.Stat(cur)
				if err != nil {
					return err
				}
			}
			if !fi.IsDir() {
				return fmt.Errorf("%s exists and is not a directory", t.abs(cur))
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := t.root.Mkdir(cur, perm); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := t.root.Chmod(cur, perm); err != nil {
			return err
		}
		if err := t.chown(cur); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data at rel with perm, creating parent directories
// (0755). A file that already has this content and mode is left untouched,
// so writing the same deployment twice changes nothing on disk. Otherwise
// the file is replaced atomically.
func (t *tree) writeFile(rel string, data []byte, perm os.FileMode) error {
	t.written = append(t.written, rel)
	if fi, err := t.root.Lstat(rel); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm() == perm {
		if old, err := t.root.ReadFile(rel); err == nil && bytes.Equal(old, data) {
			return t.chown(rel)
		}
	}
	if err := t.mkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(rel), ".slapgo-"+randomSuffix())
	f, err := t.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		t.root.Remove(tmp)
		return err
	}
	if err := t.root.Chmod(tmp, perm); err != nil {
		t.root.Remove(tmp)
		return err
	}
	if err := t.chown(tmp); err != nil {
		t.root.Remove(tmp)
		return err
	}
	if err := t.root.Rename(tmp, rel); err != nil {
		t.root.Remove(tmp)
		return err
	}
	return nil
}

// createTemp creates an empty private file in rel (created if needed).
func (t *tree) createTemp(dirRel string) (*os.File, string, error) {
	if err := t.mkdirAll(dirRel, 0o700); err != nil {
		return nil, "", err
	}
	name := filepath.Join(dirRel, "tmp-"+randomSuffix())
	f, err := t.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	return f, name, err
}

// chownTree hands rel and everything below it to the tree's user.
func (t *tree) chownTree(rel string) error {
	if t.uid < 0 {
		return nil
	}
	return fs.WalkDir(t.root.FS(), filepath.ToSlash(rel), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return t.root.Lchown(filepath.FromSlash(p), t.uid, t.gid)
	})
}

func randomSuffix() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

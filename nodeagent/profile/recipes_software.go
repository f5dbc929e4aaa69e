package profile

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxTextSize bounds templates and patches.
const maxTextSize = 16 << 20

var downloadRecipe = &recipe{
	name:   "download",
	phases: softwareTime,
	options: []string{"url", "md5sum", "sha256sum", "location", "destination", "filename",
		"extract", "strip-top-level-dir", "mode"},
	defaults: defaultLocation,
	install:  installDownload,
}

var cmmiRecipe = &recipe{
	name:   "cmmi",
	phases: softwareTime,
	options: []string{"url", "md5sum", "sha256sum", "path", "location", "patches", "patch-options",
		"configure-command", "configure-options", "make-options", "make-targets", "environment",
		"pre-configure", "post-install"},
	defaults: defaultLocation,
	install:  installCMMI,
}

var shellRecipe = &recipe{
	name:     "shell",
	phases:   softwareTime,
	options:  []string{"command", "location", "environment"},
	defaults: defaultLocation,
	install:  installShell,
}

// defaultLocation sets location to <software dir>/parts/<section>.
func defaultLocation(r *runner, pt *part) {
	if _, ok := pt.sec.opts["location"]; !ok {
		r.set(pt, "location", filepath.Join(r.sw.dir, "parts", pt.name))
	}
}

// prepareLocation makes the part's location an empty directory. Only
// locations under <dir>/parts are emptied: a location elsewhere is the
// profile's business.
func (r *runner) prepareLocation(pt *part, option, loc string) (string, error) {
	rel, err := r.sw.tree.rel(loc)
	if err != nil || rel == "." {
		return "", pt.errf(option, ErrOutsideDirectory, "%s must be inside the software directory %s", loc, r.sw.dir)
	}
	if strings.HasPrefix(rel, "parts"+string(filepath.Separator)) {
		if err := r.sw.tree.root.RemoveAll(rel); err != nil {
			return "", pt.wrap(option, err)
		}
	}
	if err := r.sw.tree.mkdirAll(rel, 0o755); err != nil {
		return "", pt.wrap(option, err)
	}
	return rel, nil
}

// checksums verifies the md5sum / sha256sum options of pt against the sums
// of what (a location); with required, one of them must be given.
func checksums(pt *part, what, md5hex, sha256hex string, required bool) error {
	wantMD5 := strings.ToLower(strings.TrimSpace(pt.opts["md5sum"]))
	wantSHA := strings.ToLower(strings.TrimSpace(pt.opts["sha256sum"]))
	if wantMD5 == "" && wantSHA == "" {
		if required {
			return pt.errf("md5sum", ErrMissingChecksum, "recipe downloads %s without a checksum: add md5sum = %s (or sha256sum = %s) after checking the file is the one you want",
				what, md5hex, sha256hex)
		}
		return nil
	}
	if wantMD5 != "" && wantMD5 != md5hex {
		return pt.errf("md5sum", ErrChecksum, "%s has md5sum %s, the profile expects %s", what, md5hex, wantMD5)
	}
	if wantSHA != "" && wantSHA != sha256hex {
		return pt.errf("sha256sum", ErrChecksum, "%s has sha256sum %s, the profile expects %s", what, sha256hex, wantSHA)
	}
	return nil
}

// requireChecksum fails before downloading when no checksum is given.
func requireChecksum(pt *part) error {
	if strings.TrimSpace(pt.opts["md5sum"]) == "" && strings.TrimSpace(pt.opts["sha256sum"]) == "" {
		return pt.errf("md5sum", ErrMissingChecksum, "recipe downloads %q without a checksum: add md5sum = <hex> or sha256sum = <hex>", pt.opts["url"])
	}
	return nil
}

// download fetches loc into a private temporary file of the software
// directory and verifies its checksums. The caller removes tmpRel.
func (r *runner) download(ctx context.Context, pt *part, loc string) (f *os.File, tmpRel string, err error) {
	f, tmpRel, err = r.sw.tree.createTemp(tmpDir)
	if err != nil {
		return nil, "", pt.wrap("url", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			r.sw.tree.root.Remove(tmpRel)
		}
	}()
	start := time.Now()
	rc, err := r.sw.o.Fetch(ctx, loc)
	if err != nil {
		return nil, "", pt.errf("url", ErrFetch, "%s: %v", loc, err)
	}
	hm, hs := md5.New(), sha256.New()
	n, err := io.Copy(io.MultiWriter(f, hm, hs), rc)
	rc.Close()
	if err != nil {
		return nil, "", pt.errf("url", ErrFetch, "%s: %v", loc, err)
	}
	md5hex, shahex := hex.EncodeToString(hm.Sum(nil)), hex.EncodeToString(hs.Sum(nil))
	r.logf("[%s] downloaded %s: %d bytes in %s, md5 %s", pt.name, loc, n, time.Since(start).Round(time.Millisecond), md5hex)
	if err := checksums(pt, loc, md5hex, shahex, true); err != nil {
		return nil, "", err
	}
	return f, tmpRel, nil
}

func parseBool(pt *part, option string, def bool) (bool, error) {
	v := strings.ToLower(strings.TrimSpace(pt.opts[option]))
	switch v {
	case "":
		return def, nil
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, pt.errf(option, ErrBadValue, "%q: expected true or false", pt.opts[option])
}

func parseMode(pt *part, def os.FileMode) (os.FileMode, error) {
	v := strings.TrimSpace(pt.opts["mode"])
	if v == "" {
		return def, nil
	}
	m, err := strconv.ParseUint(strings.TrimPrefix(v, "0o"), 8, 32)
	if err != nil || m > 0o7777 {
		return 0, pt.errf("mode", ErrBadValue, "%q: expected an octal mode such as 0755", v)
	}
	return os.FileMode(m).Perm(), nil
}

func urlBase(loc string) string {
	if u, err := url.Parse(loc); err == nil && u.Path != "" {
		return path.Base(u.Path)
	}
	return filepath.Base(loc)
}

func installDownload(ctx context.Context, r *runner, pt *part) error {
	t := r.sw.tree
	if pt.opts["url"] == "" {
		return pt.errf("url", ErrMissingOption, "recipe download needs url = <location of the file>")
	}
	if err := requireChecksum(pt); err != nil {
		return err
	}
	extract, err := parseBool(pt, "extract", false)
	if err != nil {
		return err
	}
	strip, err := parseBool(pt, "strip-top-level-dir", false)
	if err != nil {
		return err
	}
	mode, err := parseMode(pt, 0o644)
	if err != nil {
		return err
	}
	f, tmpRel, err := r.download(ctx, pt, strings.TrimSpace(pt.opts["url"]))
	if err != nil {
		return err
	}
	defer func() { f.Close(); t.root.Remove(tmpRel) }()
	if extract {
		dest := pt.opts["destination"]
		option := "destination"
		if dest == "" {
			dest, option = pt.opts["location"], "location"
		}
		rel, err := r.prepareLocation(pt, option, dest)
		if err != nil {
			return err
		}
		if err := extractArchive(t, f, rel); err != nil {
			return pt.wrap("url", err)
		}
		if strip {
			if err := stripTopDir(t.root, rel); err != nil {
				return pt.wrap("strip-top-level-dir", err)
			}
		}
		r.set(pt, "target", t.abs(rel))
		return t.chownTree(rel)
	}
	dest := pt.opts["destination"]
	option := "destination"
	if dest == "" {
		locRel, err := r.prepareLocation(pt, "location", pt.opts["location"])
		if err != nil {
			return err
		}
		name := pt.opts["filename"]
		if name == "" {
			name = urlBase(pt.opts["url"])
		}
		dest, option = filepath.Join(t.abs(locRel), name), "filename"
	}
	rel, err := t.rel(dest)
	if err != nil {
		return pt.errf(option, ErrOutsideDirectory, "%v", err)
	}
	if err := t.mkdirAll(filepath.Dir(rel), 0o755); err != nil {
		return pt.wrap(option, err)
	}
	f.Close()
	if err := t.root.Rename(tmpRel, rel); err != nil {
		return pt.wrap(option, err)
	}
	if err := t.root.Chmod(rel, mode); err != nil {
		return pt.wrap("mode", err)
	}
	r.set(pt, "target", t.abs(rel))
	return t.chown(rel)
}

// stripTopDir moves the content of the only directory of rel up into rel.
func stripTopDir(root *os.Root, rel string) error {
	top, err := singleDir(root, rel)
	if err != nil {
		return err
	}
	if top == "" {
		return errors.New("the archive has no single top-level directory to strip")
	}
	entries, err := fs.ReadDir(root.FS(), filepath.ToSlash(filepath.Join(rel, top)))
	if err != nil {
		return err
	}
	tmp := filepath.Join(rel, ".slapgo-strip-"+randomSuffix())
	if err := root.Rename(filepath.Join(rel, top), tmp); err != nil {
		return err
	}
	for _, e := range entries {
		if err := root.Rename(filepath.Join(tmp, e.Name()), filepath.Join(rel, e.Name())); err != nil {
			return err
		}
	}
	return root.Remove(tmp)
}

// singleDir returns the name of the only entry of rel when it is a
// directory, "" otherwise.
func singleDir(root *os.Root, rel string) (string, error) {
	entries, err := fs.ReadDir(root.FS(), filepath.ToSlash(rel))
	if err != nil {
		return "", err
	}
	if len(entries) == 1 && entries[0].IsDir() {
		return entries[0].Name(), nil
	}
	return "", nil
}

func installCMMI(ctx context.Context, r *runner, pt *part) (err error) {
	t := r.sw.tree
	loc := pt.opts["location"]
	locRel, err := r.prepareLocation(pt, "location", loc)
	if err != nil {
		return err
	}
	loc = t.abs(locRel)
	r.set(pt, "location", loc)
	strip, err := patchStrip(pt)
	if err != nil {
		return err
	}
	env, err := environment(pt)
	if err != nil {
		return err
	}
	work := filepath.Join(buildDir, pt.name)
	if err := t.root.RemoveAll(work); err != nil {
		return pt.wrap("", err)
	}
	if err := t.mkdirAll(work, 0o755); err != nil {
		return pt.wrap("", err)
	}
	defer func() {
		if err != nil {
			r.logf("[%s] build directory kept for inspection: %s", pt.name, t.abs(work))
		}
	}()
	switch src := strings.TrimSpace(pt.opts["path"]); {
	case pt.opts["url"] != "" && src != "":
		return pt.errf("path", ErrBadValue, "give url (a source archive) or path (a source directory), not both")
	case pt.opts["url"] != "":
		if err := requireChecksum(pt); err != nil {
			return err
		}
		f, tmpRel, err := r.download(ctx, pt, strings.TrimSpace(pt.opts["url"]))
		if err != nil {
			return err
		}
		err = extractArchive(t, f, work)
		f.Close()
		t.root.Remove(tmpRel)
		if err != nil {
			return pt.wrap("url", err)
		}
	case src != "":
		if err := copyTree(t, src, work); err != nil {
			return pt.wrap("path", err)
		}
	default:
		return pt.errf("url", ErrMissingOption, "recipe cmmi needs url = <source archive> (with md5sum or sha256sum) or path = <source directory>")
	}
	srcRel := work
	if top, err := singleDir(t.root, work); err != nil {
		return pt.wrap("", err)
	} else if top != "" {
		srcRel = filepath.Join(work, top)
	}
	if err := r.applyPatches(ctx, pt, srcRel, strip); err != nil {
		return err
	}
	srcDir := t.abs(srcRel)
	oneLine := func(option string) string { return strings.Join(strings.Fields(pt.opts[option]), " ") }
	if s := strings.TrimSpace(pt.opts["pre-configure"]); s != "" {
		if err := r.run(ctx, pt, "pre-configure", srcDir, s, env); err != nil {
			return err
		}
	}
	configure := oneLine("configure-command")
	if configure == "" {
		configure = "./configure"
	}
	if !strings.Contains(pt.opts["configure-options"], "--prefix") {
		configure += " --prefix=" + shellQuote(loc)
	}
	if o := oneLine("configure-options"); o != "" {
		configure += " " + o
	}
	if err := r.run(ctx, pt, "configure-options", srcDir, configure, env); err != nil {
		return err
	}
	makeCmd := strings.TrimSpace("make " + oneLine("make-options"))
	if err := r.run(ctx, pt, "make-options", srcDir, makeCmd, env); err != nil {
		return err
	}
	targets := oneLine("make-targets")
	if targets == "" {
		targets = "install"
	}
	if err := r.run(ctx, pt, "make-targets", srcDir, makeCmd+" "+targets, env); err != nil {
		return err
	}
	if s := strings.TrimSpace(pt.opts["post-install"]); s != "" {
		if err := r.run(ctx, pt, "post-install", loc, s, env); err != nil {
			return err
		}
	}
	return t.root.RemoveAll(work)
}

// patchStrip reads patch-options: only -pN (--strip=N) is meaningful to
// the built-in patcher.
func patchStrip(pt *part) (int, error) {
	fields := strings.Fields(pt.opts["patch-options"])
	if len(fields) == 0 {
		return 1, nil
	}
	bad := pt.errf("patch-options", ErrBadValue, "%q: only -pN (or --strip=N) is supported: patches are applied by slapgo itself", pt.opts["patch-options"])
	var v string
	switch {
	case len(fields) == 1 && strings.HasPrefix(fields[0], "-p") && len(fields[0]) > 2:
		v = fields[0][2:]
	case len(fields) == 1 && strings.HasPrefix(fields[0], "--strip="):
		v = strings.TrimPrefix(fields[0], "--strip=")
	case len(fields) == 2 && (fields[0] == "-p" || fields[0] == "--strip"):
		v = fields[1]
	default:
		return 0, bad
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, bad
	}
	return n, nil
}

// applyPatches applies the "patches" of pt, in order, to srcRel. Each item
// is an absolute path or a URL, optionally followed by "#<md5sum>"; the
// checksum is required for http(s) URLs.
func (r *runner) applyPatches(ctx context.Context, pt *part, srcRel string, strip int) error {
	items := list(pt.opts["patches"])
	if len(items) == 0 {
		return nil
	}
	src, err := r.sw.tree.root.OpenRoot(srcRel)
	if err != nil {
		return pt.wrap("patches", err)
	}
	defer src.Close()
	for _, item := range items {
		loc, want, _ := strings.Cut(item, "#")
		if !hasScheme(loc) && !filepath.IsAbs(loc) {
			return pt.errf("patches", ErrBadValue, "patch %q is relative: write ${:_profile_base_location_}/%s or an absolute URL", loc, loc)
		}
		if isHTTP(loc) && want == "" {
			return pt.errf("patches", ErrMissingChecksum, "patch %s is downloaded: append #<md5sum> to it", loc)
		}
		data, err := fetchText(ctx, r.sw.o.Fetch, loc)
		if err != nil {
			return pt.errf("patches", ErrFetch, "%s: %v", loc, err)
		}
		sum := md5.Sum(data)
		got := hex.EncodeToString(sum[:])
		if want != "" && !strings.EqualFold(want, got) {
			return pt.errf("patches", ErrChecksum, "patch %s has md5sum %s, the profile expects %s", loc, got, want)
		}
		files, err := applyPatch(src, data, strip)
		if err != nil {
			return pt.errf("patches", ErrPatch, "%s: %v", loc, err)
		}
		r.logf("[%s] applied patch %s (md5 %s, -p%d): %s", pt.name, loc, got, strip, strings.Join(files, " "))
	}
	return nil
}

// fetchText reads a small text file (template, patch).
func fetchText(ctx context.Context, fetch Fetcher, loc string) ([]byte, error) {
	rc, err := fetch(ctx, loc)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxTextSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxTextSize {
		return nil, fmt.Errorf("larger than %d bytes", maxTextSize)
	}
	return data, nil
}

// copyTree copies the local directory src into dstRel of t, keeping modes
// and modification times.
func copyTree(t *tree, src, dstRel string) error {
	if !filepath.IsAbs(src) {
		return fmt.Errorf("path %q is not absolute", src)
	}
	from, err := os.OpenRoot(src)
	if err != nil {
		return err
	}
	defer from.Close()
	dst, err := t.root.OpenRoot(dstRel)
	if err != nil {
		return err
	}
	defer dst.Close()
	return fs.WalkDir(from.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		name := filepath.FromSlash(p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return dst.MkdirAll(name, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := from.Readlink(name)
			if err != nil {
				return err
			}
			return dst.Symlink(target, name)
		case info.Mode().IsRegular():
			in, err := from.Open(name)
			if err != nil {
				return err
			}
			defer in.Close()
			return writeEntry(dst, name, in, info.Mode().Perm(), info.ModTime())
		}
		return fmt.Errorf("%s: only files, directories and links are copied", p)
	})
}

func installShell(ctx context.Context, r *runner, pt *part) error {
	cmd := strings.TrimSpace(pt.opts["command"])
	if cmd == "" {
		return pt.errf("command", ErrMissingOption, "recipe shell needs command = <shell commands>")
	}
	env, err := environment(pt)
	if err != nil {
		return err
	}
	rel, err := r.prepareLocation(pt, "location", pt.opts["location"])
	if err != nil {
		return err
	}
	return r.run(ctx, pt, "command", r.sw.tree.abs(rel), cmd, env)
}

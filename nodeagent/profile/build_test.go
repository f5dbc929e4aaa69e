package profile

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadProfiles(t *testing.T) {
	tests := []struct {
		profile string
		kind    error
		prefix  string // file:line: [section] option:
		want    string
	}{
		{"syntax.cfg", ErrSyntax, "syntax.cfg:4: profile: syntax error: ", "section header \"[hello\" has no closing ']'"},
		{"cycle-a.cfg", ErrExtendsCycle, "cycle-b.cfg:2: [buildout] extends: ", "cycle-a.cfg → " + fixture(t, "bad/cycle-b.cfg") + " → " + fixture(t, "bad/cycle-a.cfg")},
		{"missing-checksum.cfg", ErrMissingChecksum, "missing-checksum.cfg:4: [hello-source] md5sum: ", "add md5sum = <hex> or sha256sum = <hex>"},
		{"unknown-recipe.cfg", ErrUnknownRecipe, "unknown-recipe.cfg:5: [hello] recipe: ", `"cmmmi": expected one of cmmi, download, mkdirectory, shell, template`},
		{"unknown-option.cfg", ErrRecipeOption, "unknown-option.cfg:8: [hello] configure-option: ", `recipe "cmmi" does not understand option "configure-option"`},
		{"unknown-reference.cfg", ErrUnknownOption, "unknown-reference.cfg:12: [instance-profile] inline: ", `${hello:locaton}: section [hello] has no option "locaton"`},
		{"instance-reference.cfg", ErrUnknownSection, "instance-reference.cfg:9: [instance-profile] inline: ", "no section [slap-connection] (it exists when an instance is deployed: write $${slap-connection:partition-id} in the software profile)"},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "software")
			var log bytes.Buffer
			err := Build(t.Context(), BuildOptions{URL: fixture(t, "bad/"+tt.profile), Dir: dir, Log: &log})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err %v is not a *profile.Error", err)
			}
			if !strings.HasPrefix(err.Error(), fixture(t, "bad/")) || !strings.Contains(err.Error(), tt.prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q\nwant the file %s, %q and %q", err, fixture(t, "bad/"), tt.prefix, tt.want)
			}
			if !strings.Contains(log.String(), err.Error()) {
				t.Errorf("the build log does not end with the error:\n%s", log.String())
			}
			if Completed(dir) {
				t.Errorf("a failed build is marked completed")
			}
		})
	}
}

// writeProfile writes files into a fresh directory and returns it.
func writeProfile(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func md5hex(data []byte) string {
	s := md5.Sum(data)
	return hex.EncodeToString(s[:])
}

// tarGz builds a .tar.gz holding files under a top directory.
func tarGz(t *testing.T, top string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: top + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(content))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

const minimalInstance = `
[instance-profile]
recipe = template
inline =
    [buildout]
    parts =
output = ${buildout:directory}/instance.cfg
`

func TestBuildRecipes(t *testing.T) {
	archive := tarGz(t, "tool-2.0", map[string]string{"bin/tool": "#!/bin/sh\necho tool\n", "README": "tool\n"})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/tool-2.0.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(archive)
	}))
	defer srv.Close()
	src := writeProfile(t, map[string]string{
		"software.cfg": `[buildout]
parts =
    tool
    raw
    unpacked
    dirs
    step
    config
instance-profile = instance-profile

[tool]
recipe = download
url = ` + srv.URL + `/tool-2.0.tar.gz
md5sum = ` + md5hex(archive) + `
extract = true
strip-top-level-dir = true

[raw]
recipe = download
url = ${:_profile_base_location_}/data.txt
sha256sum = 5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03
filename = renamed.txt
mode = 0600

[unpacked]
recipe = download
url = ` + srv.URL + `/tool-2.0.tar.gz
md5sum = ` + md5hex(archive) + `
extract = true

[dirs]
recipe = mkdirectory
etc = ${buildout:directory}/etc
cache = ${buildout:directory}/var/cache

[step]
recipe = shell
environment =
    GREETING=hi there
command =
    echo "$GREETING from ${tool:target}" > out.txt
    ${tool:target}/bin/tool >> out.txt

[config]
recipe = template
url = config.in
output = ${buildout:directory}/etc/tool.conf
mode = 0640
_private = used by the template only
` + minimalInstance,
		"data.txt":  "hello\n",
		"config.in": "tool = ${tool:target}/bin/tool\nstep = ${step:location}\nprivate = ${:_private}\nshell = $${HOME}\n",
	})
	dir := filepath.Join(t.TempDir(), "software")
	var log bytes.Buffer
	if err := Build(t.Context(), BuildOptions{URL: filepath.Join(src, "software.cfg"), Dir: dir, Log: &log}); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	check := func(rel, want string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, rel)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return
		}
		if string(data) != want {
			t.Errorf("%s = %q, want %q", rel, data, want)
		}
		if fi, _ := os.Stat(p); mode != 0 && fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", rel, fi.Mode().Perm(), mode)
		}
	}
	tool := filepath.Join(dir, "parts/tool")
	check("parts/tool/bin/tool", "#!/bin/sh\necho tool\n", 0o755)
	check("parts/unpacked/tool-2.0/README", "tool\n", 0)
	check("parts/raw/renamed.txt", "hello\n", 0o600)
	check("parts/step/out.txt", "hi there from "+tool+"\ntool\n", 0)
	check("etc/tool.conf", "tool = "+tool+"/bin/tool\nstep = "+filepath.Join(dir, "parts/step")+"\nprivate = used by the template only\nshell = ${HOME}\n", 0o640)
	check(InstanceProfileFile, "[buildout]\nparts =\n", 0)
	for _, d := range []string{"etc", "var/cache"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s is not a directory: %v", d, err)
		}
	}

	// Forced rebuild: same result, locations emptied first.
	os.WriteFile(filepath.Join(tool, "stale"), []byte("x"), 0o644)
	if err := Build(t.Context(), BuildOptions{URL: filepath.Join(src, "software.cfg"), Dir: dir, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tool, "stale")); !os.IsNotExist(err) {
		t.Errorf("a forced rebuild kept a stale file in parts/tool")
	}
}

func TestBuildErrors(t *testing.T) {
	archive := tarGz(t, "x", map[string]string{"f": "f\n"})
	evil := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: "../../escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
		tw.Write([]byte("x"))
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}()
	tests := []struct {
		name    string
		profile string
		files   map[string]string
		kind    error
		want    string
	}{
		{
			name:    "checksum mismatch",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = download\nurl = ${:_profile_base_location_}/x.tgz\nmd5sum = 00000000000000000000000000000000\n",
			kind:    ErrChecksum, want: "software.cfg:6: [a] md5sum: profile: checksum mismatch: ",
		},
		{
			name:    "archive leaving its directory",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = download\nurl = ${:_profile_base_location_}/evil.tgz\nmd5sum = " + md5hex(evil) + "\nextract = true\n",
			kind:    ErrArchive, want: `[a] url: profile: bad archive: entry "../../escape" leaves the destination directory`,
		},
		{
			name:    "missing source",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = download\nurl = ${:_profile_base_location_}/nothere.tgz\nmd5sum = " + md5hex(archive) + "\n",
			kind:    ErrFetch, want: "[a] url: profile: cannot fetch: ",
		},
		{
			name:    "failing build step",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = shell\ncommand = echo failing >&2; exit 3\n",
			kind:    ErrCommand, want: "software.cfg:5: [a] command: profile: build command failed: echo failing >&2; exit 3: exit status 3",
		},
		{
			name:    "instance-time recipe",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = publish\nurl = x\n",
			kind:    ErrUnknownRecipe, want: `software.cfg:4: [a] recipe: profile: unknown recipe: "publish" runs at instance time, not in a software profile`,
		},
		{
			name:    "part without section",
			profile: "[buildout]\nparts =\n  a\n  nothere\n[a]\nrecipe = mkdirectory\n",
			kind:    ErrUnknownSection, want: "software.cfg:3: [buildout] parts: profile: unknown section: part [nothere] is listed but no section [nothere] exists",
		},
		{
			name:    "part without recipe",
			profile: "[buildout]\nparts = a\n[a]\nx = 1\n",
			kind:    ErrMissingOption, want: "software.cfg:3: [a] recipe: profile: missing option: part [a] has no recipe",
		},
		{
			name:    "no parts",
			profile: "[buildout]\n",
			kind:    ErrMissingOption, want: "[buildout] parts: ",
		},
		{
			name:    "no instance profile",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = mkdirectory\n",
			kind:    ErrNoInstanceProfile, want: "no section [instance-profile]",
		},
		{
			name:    "output outside the software directory",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = template\ninline = x\noutput = /etc/evil\n",
			kind:    ErrOutsideDirectory, want: "software.cfg:6: [a] output: ",
		},
		{
			name:    "patch that does not apply",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = cmmi\nurl = ${:_profile_base_location_}/x.tgz\nmd5sum = " + md5hex(archive) + "\npatches = ${:_profile_base_location_}/p.patch\n",
			files:   map[string]string{"p.patch": "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-g\n+h\n"},
			kind:    ErrPatch, want: "software.cfg:7: [a] patches: profile: patch does not apply: ",
		},
		{
			name:    "relative patch",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = cmmi\nurl = ${:_profile_base_location_}/x.tgz\nmd5sum = " + md5hex(archive) + "\npatches = p.patch\n",
			kind:    ErrBadValue, want: "write ${:_profile_base_location_}/p.patch",
		},
		{
			name:    "unsupported patch options",
			profile: "[buildout]\nparts = a\n[a]\nrecipe = cmmi\npath = /tmp\npatch-options = -p1 --binary\n",
			kind:    ErrBadValue, want: "[a] patch-options: ",
		},
		{
			name:    "option no recipe sets",
			profile: "[buildout]\nparts = b\n[a]\nrecipe = mkdirectory\n[b]\nrecipe = template\ninline = ${a:target}\noutput = b\n",
			kind:    ErrUnknownOption, want: `software.cfg:7: [b] inline: profile: unknown option: ${a:target}: section [a] has no option "target"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"software.cfg": tt.profile, "x.tgz": string(archive), "evil.tgz": string(evil)}
			for k, v := range tt.files {
				files[k] = v
			}
			src := writeProfile(t, files)
			dir := filepath.Join(t.TempDir(), "sw")
			err := Build(t.Context(), BuildOptions{URL: "file://" + filepath.Join(src, "software.cfg"), Dir: dir, Log: io.Discard})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestHelloTarballMatchesSource keeps the committed tarball and the
// readable source tree in step (make-tarball.sh regenerates the former).
func TestHelloTarballMatchesSource(t *testing.T) {
	f, err := os.Open(fixture(t, "hello/hello-1.0.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	seen := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		rel := strings.TrimPrefix(h.Name, "hello-1.0/")
		want, err := os.ReadFile(fixture(t, "hello/src/"+rel))
		if err != nil {
			t.Errorf("%s is in the tarball but not in src/: %v", h.Name, err)
			continue
		}
		got, _ := io.ReadAll(tr)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from src/%s: run fixtures/software/hello/make-tarball.sh and update the md5sum", h.Name, rel)
		}
		seen++
	}
	entries, _ := os.ReadDir(fixture(t, "hello/src"))
	if seen != len(entries) {
		t.Errorf("the tarball holds %d files, src/ %d: run make-tarball.sh", seen, len(entries))
	}
}

package profile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyPatch(t *testing.T) {
	const file = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n"
	tests := []struct {
		name   string
		files  map[string]string // before
		patch  string
		strip  int
		want   map[string]string // after; "" = removed
		errHas string
	}{
		{
			name:  "two hunks",
			files: map[string]string{"f.txt": file},
			patch: "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n@@ -8,3 +8,4 @@\n eight\n nine\n+nine and a half\n ten\n",
			strip: 1,
			want:  map[string]string{"f.txt": strings.Replace(strings.Replace(file, "two", "TWO", 1), "nine\n", "nine\nnine and a half\n", 1)},
		},
		{
			name:  "hunk found at an offset",
			files: map[string]string{"f.txt": "new first line\n" + file},
			patch: "--- f.txt\n+++ f.txt\n@@ -4,2 +4,2 @@\n four\n-five\n+FIVE\n",
			strip: 0,
			want:  map[string]string{"f.txt": "new first line\n" + strings.Replace(file, "five", "FIVE", 1)},
		},
		{
			name:  "create and delete files, git headers",
			files: map[string]string{"old.txt": "bye\n"},
			patch: "diff --git a/new.txt b/new.txt\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ b/dir/new.txt\n@@ -0,0 +1,2 @@\n+hello\n+world\n" +
				"diff --git a/old.txt b/old.txt\ndeleted file mode 100644\n--- a/old.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n",
			strip: 1,
			want:  map[string]string{"dir/new.txt": "hello\nworld\n", "old.txt": ""},
		},
		{
			name:  "no newline at end of file",
			files: map[string]string{"f.txt": "a\nb"},
			patch: "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n",
			strip: 1,
			want:  map[string]string{"f.txt": "a\nb\n"},
		},
		{
			name:  "adds a missing final newline the other way",
			files: map[string]string{"f.txt": "a\nb\n"},
			patch: "--- a/f.txt\n+++ b/f.txt\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n",
			strip: 1,
			want:  map[string]string{"f.txt": "a\nc"},
		},
		{
			name:   "context does not match",
			files:  map[string]string{"f.txt": file},
			patch:  "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n one\n-deux\n+TWO\n three\n",
			strip:  1,
			errHas: `f.txt: hunk #1 (patch line 3) does not match near line 1: line 2 is "two", expected "deux"`,
		},
		{
			name:   "atomic: a failing file leaves the others untouched",
			files:  map[string]string{"f.txt": file, "g.txt": "g\n"},
			patch:  "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-one\n+ONE\n--- a/g.txt\n+++ b/g.txt\n@@ -1 +1 @@\n-nope\n+G\n",
			strip:  1,
			want:   map[string]string{"f.txt": file, "g.txt": "g\n"},
			errHas: "g.txt: hunk #1",
		},
		{
			name:   "missing file",
			files:  map[string]string{},
			patch:  "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-one\n+ONE\n",
			strip:  1,
			errHas: "f.txt",
		},
		{
			name:   "escaping the tree",
			files:  map[string]string{},
			patch:  "--- a/../../etc/passwd\n+++ b/../../etc/passwd\n@@ -1 +1 @@\n-root\n+evil\n",
			strip:  1,
			errHas: "outside the source tree",
		},
		{
			name:   "strip too deep",
			files:  map[string]string{"f.txt": file},
			patch:  "--- f.txt\n+++ f.txt\n@@ -1 +1 @@\n-one\n+ONE\n",
			strip:  1,
			errHas: "cannot strip 1 components",
		},
		{
			name:   "not a diff",
			files:  map[string]string{},
			patch:  "just a description\n",
			errHas: "no unified diff found",
		},
		{
			name:   "truncated hunk",
			files:  map[string]string{"f.txt": file},
			patch:  "--- a/f.txt\n+++ b/f.txt\n@@ -1,3 +1,3 @@\n one\n-two\n",
			strip:  1,
			errHas: "truncated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			root, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			_, err = applyPatch(root, []byte(tt.patch), tt.strip)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, tt.errHas)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if want == "" {
					if !os.IsNotExist(err) {
						t.Errorf("%s still exists", name)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if string(data) != want {
					t.Errorf("%s = %q, want %q", name, data, want)
				}
			}
		})
	}
}

// TestFixturePatchesMatchPatch1 checks the fixture patches with the Go
// patcher the way patch(1) would apply them: in order, on the source.
func TestFixturePatchesApplyInOrder(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(fixture(t, "hello/src/hello.c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "hello.c"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, p := range []string{"hello/hello-greeting.patch", "hello-variant/hello-variant.patch"} {
		data, err := os.ReadFile(fixture(t, p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := applyPatch(root, data, 1); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dir, "hello.c"))
	for _, want := range []string{`#define GREETING "Hello"`, `"X-Hello-Variant: yes\r\n"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("patched hello.c lacks %s", want)
		}
	}
}

func FuzzParsePatch(f *testing.F) {
	f.Add([]byte("--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"))
	f.Add([]byte("--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		files, err := parsePatch(data)
		if err != nil {
			return
		}
		for _, fp := range files {
			for _, h := range fp.hunks {
				if len(h.old) != h.oldLines || len(h.new) != h.newLines {
					t.Fatalf("hunk at line %d: %d/%d lines, header says %d/%d", h.line, len(h.old), len(h.new), h.oldLines, h.newLines)
				}
			}
		}
	})
}

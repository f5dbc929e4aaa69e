package profile

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type entry struct {
	name, body, link string
	typ              byte
	mode             int64
}

func makeTar(t *testing.T, entries []entry, compress bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	var tw *tar.Writer
	var zw *gzip.Writer
	if compress {
		zw = gzip.NewWriter(&buf)
		tw = tar.NewWriter(zw)
	} else {
		tw = tar.NewWriter(&buf)
	}
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: mtime, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	if zw != nil {
		zw.Close()
	}
	return buf.Bytes()
}

func makeZip(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(body))
	}
	zw.Close()
	return buf.Bytes()
}

func extractBytes(t *testing.T, data []byte) (string, error) {
	t.Helper()
	dir := t.TempDir()
	tr, err := openTree(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	f, err := os.CreateTemp(t.TempDir(), "archive")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(data)
	return filepath.Join(dir, "out"), extractArchive(tr, f, "out")
}

func TestExtractArchive(t *testing.T) {
	good := []entry{
		{name: "pkg/", typ: tar.TypeDir, mode: 0o755},
		{name: "pkg/run", typ: tar.TypeReg, mode: 0o4755, body: "#!/bin/sh\n"},
		{name: "pkg/lib/data", typ: tar.TypeReg, mode: 0o644, body: "data"},
		{name: "pkg/link", typ: tar.TypeSymlink, link: "lib/data"},
		{name: "pkg/hard", typ: tar.TypeLink, link: "pkg/lib/data"},
	}
	for _, compress := range []bool{false, true} {
		out, err := extractBytes(t, makeTar(t, good, compress))
		if err != nil {
			t.Fatalf("compress=%v: %v", compress, err)
		}
		fi, err := os.Stat(filepath.Join(out, "pkg/run"))
		if err != nil || fi.Mode().Perm() != 0o755 || fi.Mode()&os.ModeSetuid != 0 {
			t.Errorf("pkg/run: %v %v, want 0755 without setuid", fi.Mode(), err)
		}
		if !fi.ModTime().Equal(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("pkg/run mtime %v not kept", fi.ModTime())
		}
		for _, p := range []string{"pkg/link", "pkg/hard"} {
			if b, err := os.ReadFile(filepath.Join(out, p)); err != nil || string(b) != "data" {
				t.Errorf("%s: %q %v", p, b, err)
			}
		}
	}
	out, err := extractBytes(t, makeZip(t, map[string]string{"z/a.txt": "a", "z/sub/b.txt": "b"}))
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "z/sub/b.txt")); string(b) != "b" {
		t.Errorf("zip: z/sub/b.txt = %q", b)
	}
}

func TestExtractArchiveRejects(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name string
		data []byte
	}{
		{"dot-dot entry", makeTar(t, []entry{{name: "../x", typ: tar.TypeReg, mode: 0o644, body: "x"}}, true)},
		{"absolute entry", makeTar(t, []entry{{name: "/tmp/x", typ: tar.TypeReg, mode: 0o644, body: "x"}}, true)},
		{"write through a link", makeTar(t, []entry{
			{name: "evil", typ: tar.TypeSymlink, link: outside},
			{name: "evil/x", typ: tar.TypeReg, mode: 0o644, body: "x"},
		}, true)},
		{"device", makeTar(t, []entry{{name: "dev", typ: tar.TypeChar, mode: 0o644}}, false)},
		{"zip leaving", makeZip(t, map[string]string{"../../x": "x"})},
		{"not an archive", []byte("hello, this is text and not an archive at all")},
		{"xz", append([]byte{0xfd, '7', 'z', 'X', 'Z', 0}, make([]byte, 300)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := extractBytes(t, tt.data); err == nil {
				t.Errorf("extracted without error")
			} else if tt.name != "write through a link" && !errors.Is(err, ErrArchive) {
				t.Errorf("err = %v, want ErrArchive", err)
			}
			if entries, _ := os.ReadDir(outside); len(entries) != 0 {
				t.Errorf("wrote outside the destination: %v", entries)
			}
		})
	}
}

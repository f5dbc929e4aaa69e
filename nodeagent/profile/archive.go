package profile

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// extractArchive unpacks the archive in file f into the directory destRel of
// t (created if needed). The format is recognised from the content: tar,
// tar.gz, tar.bz2 or zip. Entries may not leave the destination; file
// modes (without setuid/setgid bits) and modification times are kept, the
// latter because autotools-generated trees rely on them.
func extractArchive(t *tree, f *os.File, destRel string) error {
	if err := t.mkdirAll(destRel, 0o755); err != nil {
		return err
	}
	dest, err := t.root.OpenRoot(destRel)
	if err != nil {
		return err
	}
	defer dest.Close()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(262)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return errorf(ErrArchive, "gzip: %v", err)
		}
		return extractTar(dest, zr)
	case bytes.HasPrefix(magic, []byte("BZh")):
		return extractTar(dest, bzip2.NewReader(br))
	case bytes.HasPrefix(magic, []byte("PK\x03\x04")):
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		return extractZip(dest, f, fi.Size())
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return errorf(ErrArchive, "xz archives are not supported: use a .tar.gz, .tar.bz2, .tar or .zip")
	case len(magic) >= 262 && string(magic[257:262]) == "ustar":
		return extractTar(dest, br)
	}
	return errorf(ErrArchive, "not a tar, tar.gz, tar.bz2 or zip archive")
}

// entryName cleans an archive entry name; it rejects names leaving the
// destination.
func entryName(name string) (string, error) {
	clean := path.Clean(strings.TrimPrefix(name, "./"))
	if clean == "." {
		return ".", nil
	}
	if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return "", errorf(ErrArchive, "entry %q leaves the destination directory", name)
	}
	return filepath.FromSlash(clean), nil
}

func extractTar(dest *os.Root, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return errorf(ErrArchive, "tar: %v", err)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		mode := os.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := dest.MkdirAll(name, 0o755); err != nil {
				return err
			}
			if err := dest.Chmod(name, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := writeEntry(dest, name, tr, mode, h.ModTime); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := prepareEntry(dest, name); err != nil {
				return err
			}
			if err := dest.Symlink(h.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			target, err := entryName(h.Linkname)
			if err != nil {
				return err
			}
			if err := prepareEntry(dest, name); err != nil {
				return err
			}
			if err := dest.Link(target, name); err != nil {
				return err
			}
		case tar.TypeXGlobalHeader:
		default:
			return errorf(ErrArchive, "entry %q has type %q: only files, directories and links are extracted", h.Name, string(h.Typeflag))
		}
	}
}

func extractZip(dest *os.Root, r io.ReaderAt, size int64) error {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return errorf(ErrArchive, "zip: %v", err)
	}
	for _, zf := range zr.File {
		name, err := entryName(zf.Name)
		if err != nil {
			return err
		}
		if name == "." {
			continue
		}
		if zf.FileInfo().IsDir() {
			if err := dest.MkdirAll(name, 0o755); err != nil {
				return err
			}
			continue
		}
		if zf.Mode()&fs.ModeSymlink != 0 {
			return errorf(ErrArchive, "entry %q is a symbolic link: not supported in zip archives", zf.Name)
		}
		rc, err := zf.Open()
		if err != nil {
			return errorf(ErrArchive, "zip %s: %v", zf.Name, err)
		}
		mode := zf.Mode().Perm()
		if mode == 0 {
			mode = 0o644
		}
		err = writeEntry(dest, name, rc, mode, zf.Modified)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// prepareEntry creates the parent of name and removes what name was.
func prepareEntry(dest *os.Root, name string) error {
	if dir := filepath.Dir(name); dir != "." {
		if err := dest.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := dest.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func writeEntry(dest *os.Root, name string, r io.Reader, mode os.FileMode, mtime time.Time) error {
	if err := prepareEntry(dest, name); err != nil {
		return err
	}
	f, err := dest.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("extract %s: %w", name, err)
	}
	if err := dest.Chmod(name, mode); err != nil {
		return err
	}
	if !mtime.IsZero() {
		return dest.Chtimes(name, mtime, mtime)
	}
	return nil
}

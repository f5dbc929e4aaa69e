package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// A unified diff (diff -u, git diff) applied in Go, so building a software
// needs no patch binary. Hunks must match exactly (no fuzz); a hunk may be
// found a few lines away from where it says it is, as with patch(1).

type filePatch struct {
	oldName, newName string
	line             int // line of the "---" header in the patch
	hunks            []hunk
}

type hunk struct {
	oldStart, oldLines int
	newStart, newLines int
	line               int // line of the "@@" header
	old, new           []string
	oldNoEOL, newNoEOL bool // "\ No newline at end of file"
}

// parsePatch reads the files and hunks of a unified diff. Text outside
// hunks (descriptions, "diff --git", "index" lines) is ignored.
func parsePatch(data []byte) ([]filePatch, error) {
	lines := strings.Split(string(data), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	var files []filePatch
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(lines[i], "--- ") || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "+++ ") {
			continue
		}
		fp := filePatch{oldName: diffName(lines[i][4:]), newName: diffName(lines[i+1][4:]), line: i + 1}
		i += 2
		for i < len(lines) && strings.HasPrefix(lines[i], "@@ ") {
			h, next, err := parseHunk(lines, i)
			if err != nil {
				return nil, err
			}
			fp.hunks = append(fp.hunks, h)
			i = next
		}
		if len(fp.hunks) == 0 {
			return nil, fmt.Errorf("line %d: file header without any hunk", fp.line)
		}
		files = append(files, fp)
		i--
	}
	if len(files) == 0 {
		return nil, errors.New("no unified diff found (expected ---/+++ headers and @@ hunks)")
	}
	return files, nil
}

// diffName takes the file name from a ---/+++ header (dropping a tab- or
// double-space-separated timestamp).
func diffName(s string) string {
	if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, "\r")
	if i := strings.Index(s, "  "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func parseHunk(lines []string, i int) (hunk, int, error) {
	h := hunk{line: i + 1}
	header := lines[i]
	end := strings.Index(header[3:], " @@")
	if end < 0 {
		return h, 0, fmt.Errorf("line %d: bad hunk header %q", i+1, header)
	}
	ranges := strings.Fields(header[3 : 3+end])
	if len(ranges) != 2 || !strings.HasPrefix(ranges[0], "-") || !strings.HasPrefix(ranges[1], "+") {
		return h, 0, fmt.Errorf("line %d: bad hunk header %q", i+1, header)
	}
	var err1, err2 error
	h.oldStart, h.oldLines, err1 = hunkRange(ranges[0][1:])
	h.newStart, h.newLines, err2 = hunkRange(ranges[1][1:])
	if err1 != nil || err2 != nil {
		return h, 0, fmt.Errorf("line %d: bad hunk header %q", i+1, header)
	}
	i++
	oldLeft, newLeft := h.oldLines, h.newLines
	last := byte(0)
	for i < len(lines) && (oldLeft > 0 || newLeft > 0 || strings.HasPrefix(lines[i], `\`)) {
		l := strings.TrimSuffix(lines[i], "\r")
		if l == "" {
			l = " " // some tools strip the space of empty context lines
		}
		switch l[0] {
		case ' ':
			h.old = append(h.old, l[1:])
			h.new = append(h.new, l[1:])
			oldLeft--
			newLeft--
		case '-':
			h.old = append(h.old, l[1:])
			oldLeft--
		case '+':
			h.new = append(h.new, l[1:])
			newLeft--
		case '\\':
			switch last {
			case '-':
				h.oldNoEOL = true
			case '+':
				h.newNoEOL = true
			default:
				h.oldNoEOL, h.newNoEOL = true, true
			}
		default:
			return h, 0, fmt.Errorf("line %d: unexpected %q inside a hunk", i+1, l)
		}
		if oldLeft < 0 || newLeft < 0 {
			return h, 0, fmt.Errorf("line %d: hunk at line %d has more lines than its header says", i+1, h.line)
		}
		last = l[0]
		i++
	}
	if oldLeft != 0 || newLeft != 0 {
		return h, 0, fmt.Errorf("hunk at line %d is truncated", h.line)
	}
	return h, i, nil
}

func hunkRange(s string) (start, n int, err error) {
	a, b, ok := strings.Cut(s, ",")
	if start, err = strconv.Atoi(a); err != nil {
		return 0, 0, err
	}
	n = 1
	if ok {
		if n, err = strconv.Atoi(b); err != nil {
			return 0, 0, err
		}
	}
	return start, n, nil
}

// stripPath removes n leading components of a patch file name (-pN).
func stripPath(name string, n int) (string, error) {
	parts := strings.Split(name, "/")
	if n >= len(parts) {
		return "", fmt.Errorf("cannot strip %d components from %q", n, name)
	}
	rel := path.Clean(strings.Join(parts[n:], "/"))
	if path.IsAbs(rel) || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("file %q is outside the source tree", name)
	}
	return filepath.FromSlash(rel), nil
}

type patchedFile struct {
	rel    string
	lines  []string
	eol    bool // ends with a newline
	mode   os.FileMode
	remove bool
}

// applyPatch applies a unified diff to the tree under dir, stripping strip
// leading components of its file names. Either every file of the patch is
// changed, or none. It returns the files changed, relative to dir.
func applyPatch(dir *os.Root, data []byte, strip int) ([]string, error) {
	files, err := parsePatch(data)
	if err != nil {
		return nil, err
	}
	var out []*patchedFile
	byName := map[string]*patchedFile{}
	for _, fp := range files {
		creating := fp.oldName == "/dev/null"
		deleting := fp.newName == "/dev/null"
		name := fp.newName
		if deleting {
			name = fp.oldName
		}
		rel, err := stripPath(name, strip)
		if err != nil {
			return nil, fmt.Errorf("patch line %d: %v", fp.line, err)
		}
		if !creating && !deleting {
			if _, err := dir.Lstat(rel); errors.Is(err, fs.ErrNotExist) {
				if alt, aerr := stripPath(fp.oldName, strip); aerr == nil {
					if _, err := dir.Lstat(alt); err == nil {
						rel = alt
					}
				}
			}
		}
		pf := byName[rel]
		if pf == nil {
			pf = &patchedFile{rel: rel, eol: true, mode: 0o644}
			if data, err := dir.ReadFile(rel); err == nil {
				if creating && len(data) > 0 {
					return nil, fmt.Errorf("patch line %d: %s already exists, the patch creates it", fp.line, rel)
				}
				pf.lines, pf.eol = splitFileLines(string(data))
				if fi, err := dir.Stat(rel); err == nil {
					pf.mode = fi.Mode().Perm()
				}
			} else if !creating {
				return nil, fmt.Errorf("patch line %d: %s: %v", fp.line, rel, err)
			}
			byName[rel] = pf
			out = append(out, pf)
		}
		offset := 0
		from := 0
		for k, h := range fp.hunks {
			at, ok := findHunk(pf.lines, h.old, h.oldStart-1+offset, from)
			if !ok {
				return nil, fmt.Errorf("%s: hunk #%d (patch line %d) does not match near line %d: %s",
					rel, k+1, h.line, max(h.oldStart+offset, 1), hunkMismatch(pf.lines, h.old, h.oldStart-1+offset))
			}
			repl := append([]string{}, h.new...)
			pf.lines = append(pf.lines[:at], append(repl, pf.lines[at+len(h.old):]...)...)
			if at+len(h.new) == len(pf.lines) {
				switch {
				case h.newNoEOL:
					pf.eol = false
				case h.oldNoEOL:
					pf.eol = true
				}
			}
			offset += len(h.new) - len(h.old) + (at - (h.oldStart - 1 + offset))
			from = at + len(h.new)
		}
		if deleting {
			if len(pf.lines) != 0 {
				return nil, fmt.Errorf("%s: the patch deletes it but it has other content", rel)
			}
			pf.remove = true
		}
	}
	changed := make([]string, 0, len(out))
	for _, pf := range out {
		changed = append(changed, pf.rel)
		if pf.remove {
			if err := dir.Remove(pf.rel); err != nil {
				return nil, err
			}
			continue
		}
		if d := filepath.Dir(pf.rel); d != "." {
			if err := dir.MkdirAll(d, 0o755); err != nil {
				return nil, err
			}
		}
		text := strings.Join(pf.lines, "\n")
		if pf.eol && len(pf.lines) > 0 {
			text += "\n"
		}
		if err := dir.WriteFile(pf.rel, []byte(text), pf.mode); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

func splitFileLines(s string) ([]string, bool) {
	if s == "" {
		return nil, true
	}
	eol := strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n"), eol
}

// findHunk looks for old in lines, first at want, then ever farther from it,
// never before from (the end of the previous hunk).
func findHunk(lines, old []string, want, from int) (int, bool) {
	matches := func(at int) bool {
		if at < from || at+len(old) > len(lines) {
			return false
		}
		for i, l := range old {
			if lines[at+i] != l {
				return false
			}
		}
		return true
	}
	if len(old) == 0 {
		at := min(max(want+1, from), len(lines))
		if want < 0 {
			at = max(0, from)
		}
		return at, true
	}
	for d := 0; d <= len(lines); d++ {
		if matches(want - d) {
			return want - d, true
		}
		if d > 0 && matches(want+d) {
			return want + d, true
		}
	}
	return 0, false
}

// hunkMismatch describes the first line where old differs from lines at at.
func hunkMismatch(lines, old []string, at int) string {
	for i, l := range old {
		j := at + i
		if j < 0 || j >= len(lines) {
			return fmt.Sprintf("expected %q at line %d, past the end of the file", l, j+1)
		}
		if lines[j] != l {
			return fmt.Sprintf("line %d is %q, expected %q", j+1, lines[j], l)
		}
	}
	return "the hunk overlaps the previous one"
}

package hugepages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	enabledFile    = "/sys/kernel/mm/transparent_hugepage/enabled"
	sizeFile       = "/sys/kernel/mm/transparent_hugepage/hpage_pmd_size"
	overcommitFile = "/proc/sys/vm/overcommit_memory"
	meminfoFile    = "/proc/meminfo"
)

// Reserve grows the heap by at most n bytes, advised for huge pages (see
// the package's documentation). It reserves no more than the memory the
// system reports available, so that the range is never refused: beyond
// that the heap grows in ordinary pages. An error means the system refused
// the advice; the heap is then as it would have been without Reserve.
func Reserve(n int64) (Result, error) {
	mode := Mode()
	res := Result{Mode: mode}
	switch {
	case mode == "":
		res.Why = "the system has no transparent huge pages"
		return res, nil
	case mode != "madvise":
		res.Why = fmt.Sprintf("the system's setting (%s) applies to every program", mode)
		return res, nil
	}
	if oc, err := readTrim(overcommitFile); err == nil && oc == "2" {
		res.Why = "strict overcommit accounting (vm.overcommit_memory=2)"
		return res, nil
	}
	size := int64(2 << 20)
	if s, err := readTrim(sizeFile); err == nil {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil && v > 0 {
			size = v
		}
	}
	if avail, ok := memAvailable(); ok {
		n = min(n, avail)
	}
	if n < 2*size {
		res.Why = fmt.Sprintf("less than two huge pages to reserve (%d bytes)", max(n, 0))
		return res, nil
	}
	b := make([]byte, n)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (start + uintptr(size) - 1) &^ (uintptr(size) - 1)
	hi := (start + uintptr(n)) &^ (uintptr(size) - 1)
	err := unix.Madvise(b[lo-start:hi-start], unix.MADV_HUGEPAGE)
	runtime.KeepAlive(b)
	b = nil
	debug.FreeOSMemory()
	if err != nil {
		return res, fmt.Errorf("hugepages: madvise(MADV_HUGEPAGE) of %d MiB of the heap: %w", (hi-lo)>>20, err)
	}
	res.Advised = int64(hi - lo)
	return res, nil
}

// Mode is the system's transparent huge page setting (always, madvise or
// never), or "" when the system has none.
func Mode() string {
	s, err := readTrim(enabledFile)
	if err != nil {
		return ""
	}
	return parseMode(s)
}

// parseMode reads the setting of the enabled file: the bracketed word of
// "always [madvise] never".
func parseMode(s string) string {
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return ""
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(bytes.TrimSpace(b)), err
}

// memAvailable is MemAvailable of /proc/meminfo, in bytes.
func memAvailable() (int64, bool) {
	f, err := os.Open(meminfoFile)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, false
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}

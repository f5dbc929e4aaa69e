package hugepages

import (
	"bufio"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

func TestParseMode(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never":                     "madvise",
		"[always] madvise never":                     "always",
		"always madvise [never]":                     "never",
		"always inherit [madvise] never":             "madvise",
		"always defer defer+madvise [madvise] never": "madvise",
		"":                  "",
		"always madvise":    "",
		"always [madvise":   "",
		"always [] madvise": "",
	} {
		if got := parseMode(in); got != want {
			t.Errorf("parseMode(%q) = %q, want %q", in, got, want)
		}
	}
}

// After Reserve, memory the program allocates and touches is backed by huge
// pages where the system gives them to programs that ask (madvise) or to
// all (always), and the reserved range counts as released, not in use.
func TestReserveBacksLaterAllocations(t *testing.T) {
	mode := Mode()
	res, err := Reserve(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mode %q: %d MiB advised (%s)", res.Mode, res.Advised>>20, res.Why)
	if res.Mode != mode {
		t.Errorf("Reserve reports mode %q, the system says %q", res.Mode, mode)
	}
	strict := false
	if oc, err := readTrim(overcommitFile); err == nil && oc == "2" {
		strict = true
	}
	switch {
	case mode == "madvise" && !strict:
		if res.Advised < 60<<20 || res.Why != "" {
			t.Fatalf("madvise mode: %d bytes advised (%q), expected about 64 MiB", res.Advised, res.Why)
		}
	default:
		if res.Advised != 0 || res.Why == "" {
			t.Fatalf("mode %q: %d bytes advised, expected none and a reason (got %q)", mode, res.Advised, res.Why)
		}
	}
	if free := heapFree(t); res.Advised > 0 && free >= uint64(res.Advised)/2 {
		t.Errorf("%d MiB of the heap free but not released after Reserve: the reserved range counts against the memory limit", free>>20)
	}

	b := make([]byte, 32<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	addr := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	huge := anonHugeBytes(t, addr, addr+uintptr(len(b)))
	t.Logf("the mapping of a 32 MiB allocation holds %d KiB of huge pages", huge>>10)
	if mode == "madvise" && !strict || mode == "always" {
		if huge == 0 {
			t.Errorf("mode %q: no huge page backs a 32 MiB allocation made after Reserve", mode)
		}
	}
}

// heapFree is the runtime's count of heap memory free and not released.
func heapFree(t *testing.T) uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/free:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		t.Fatalf("runtime metric %s unavailable", s[0].Name)
	}
	return s[0].Value.Uint64()
}

// anonHugeBytes sums AnonHugePages of the mappings of /proc/self/smaps
// that overlap [lo, hi).
func anonHugeBytes(t *testing.T, lo, hi uintptr) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var sum int64
	in, seen := false, false
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) > 0 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			start, end, _ := strings.Cut(fields[0], "-")
			s, err1 := strconv.ParseUint(start, 16, 64)
			e, err2 := strconv.ParseUint(end, 16, 64)
			in = err1 == nil && err2 == nil && s < uint64(hi) && e > uint64(lo)
			if in {
				seen = true
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "AnonHugePages:"); ok && in {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				t.Fatalf("smaps: %q: %v", line, err)
			}
			sum += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if !seen {
		t.Fatalf("no mapping of /proc/self/smaps holds %#x-%#x", lo, hi)
	}
	return sum
}

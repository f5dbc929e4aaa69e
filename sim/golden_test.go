package sim

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden trace hashes (fixtures/golden/sim-trace-hashes.txt)")

const goldenFile = "../fixtures/golden/sim-trace-hashes.txt"

// TestGoldenTraces pins the trace hash of each fixture scenario (shortened
// as in fixtureRuns, seed 1), run with GOMAXPROCS 1 and 2: the two runs
// must agree, and agree with the pinned hash. A change of behaviour changes
// them: regenerate with go test ./sim/ -run TestGoldenTraces -update and
// say why in the commit.
func TestGoldenTraces(t *testing.T) {
	want := readGolden(t)
	got := map[string]string{}
	var names []string
	for _, tt := range fixtureRuns {
		name := strings.TrimSuffix(tt.file, ".yaml")
		names = append(names, name)
		var hashes [2]string
		for i, procs := range []int{1, 2} {
			old := runtime.GOMAXPROCS(procs)
			res := runFixture(t, tt.file, 1, tt.sets)
			runtime.GOMAXPROCS(old)
			hashes[i] = res.Summary.TraceHash
		}
		if hashes[0] != hashes[1] {
			t.Errorf("%s: trace %s with GOMAXPROCS=1, %s with GOMAXPROCS=2", name, hashes[0], hashes[1])
		}
		got[name] = hashes[0]
	}
	if *update {
		var b bytes.Buffer
		b.WriteString("# Trace hashes of the fixture scenarios, shortened as in sim's fixtureRuns, seed 1.\n")
		b.WriteString("# Regenerate: go test ./sim/ -run TestGoldenTraces -update (and say why in the commit).\n")
		for _, n := range names {
			fmt.Fprintf(&b, "%s %s\n", n, got[n])
		}
		if err := os.WriteFile(goldenFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for _, n := range names {
		if want[n] != got[n] {
			t.Errorf("%s: trace %s, pinned %q in %s (a deliberate change: -update)", n, got[n], want[n], goldenFile)
		}
	}
	if len(want) != len(names) {
		t.Errorf("%s pins %d scenarios, the fixtures are %d", goldenFile, len(want), len(names))
	}
}

func readGolden(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	f, err := os.Open(goldenFile)
	if os.IsNotExist(err) && *update {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, hash, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("%s:%d: %q: expected \"<scenario> <hash>\"", goldenFile, line, l)
		}
		out[name] = hash
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

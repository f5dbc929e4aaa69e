package bench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var updateReadme = flag.Bool("update-readme", false, "rewrite README's Performance table from bench/results/latest.md")

// readmeLatestRun is the line that opens README's Performance table.
var readmeLatestRun = regexp.MustCompile("(?m)^Latest run \\(`make bench`[^\\n]*:\\n\\n(\\|[^\\n]*\\n)+")

// latestSummary is the README block for the run of latest.md: the line
// naming the machine and the start, then the summary table.
func latestSummary(md string) (string, error) {
	m := regexp.MustCompile(`(?m)^Machine: (.*)\. Run started (\S+)\.$`).FindStringSubmatch(md)
	if m == nil {
		return "", fmt.Errorf("latest.md has no line \"Machine: … Run started ….\"")
	}
	start := strings.Index(md, "| bench | figure |")
	if start < 0 {
		return "", fmt.Errorf("latest.md has no summary table")
	}
	table := md[start:]
	if end := strings.Index(table, "\n\n"); end >= 0 {
		table = table[:end+1]
	}
	return fmt.Sprintf("Latest run (`make bench`, every figure with its conditions in `bench/results/latest.md`, plots next to it), on %s, started %s:\n\n%s", m[1], m[2], table), nil
}

// TestReadmePerformanceTableIsLatest: README's Performance table is the
// summary of bench/results/latest.md, row for row (`make bench` rewrites
// it: go test ./bench -run TestReadmePerformanceTableIsLatest -update-readme).
func TestReadmePerformanceTableIsLatest(t *testing.T) {
	md, err := os.ReadFile(filepath.Join("results", "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := latestSummary(string(md))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "README.md")
	readme, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	loc := readmeLatestRun.FindIndex(readme)
	if loc == nil {
		t.Fatalf("README has no Performance table opening with \"Latest run (`make bench`…\"")
	}
	got := string(readme[loc[0]:loc[1]])
	if got == want {
		return
	}
	if *updateReadme {
		out := string(readme[:loc[0]]) + want + string(readme[loc[1]:])
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("README's Performance table differs from bench/results/latest.md at line %d:\nREADME:    %s\nlatest.md: %s\n(rewrite it: go test ./bench -run TestReadmePerformanceTableIsLatest -update-readme)", i+1, g, w)
		}
	}
}

package localgrid

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadme checks what a newcomer reads first: the two commands at the
// top, the prerequisites right after them, a layout naming every folder of
// the checkout, the license, and shell completion.
func TestReadme(t *testing.T) {
	root, err := FindCheckout(".")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	if !regexp.MustCompile("^# slapgo\n\n```sh\nmake run +# .*\nmake test +# .*\n```\n").MatchString(readme) {
		t.Errorf("README does not start with the title and the block of make run and make test:\n%.300s", readme)
	}
	top := readme[:strings.Index(readme, "\n## ")]
	for _, w := range []string{"Go](https://go.dev/dl/) 1.26 or later", "C compiler", "make", "apt-get install build-essential", "Docker is\noptional", "Apache License 2.0"} {
		if !strings.Contains(top, w) {
			t.Errorf("README's opening lacks %q", w)
		}
	}

	// The layout names every folder of the checkout but the generated ones.
	start := strings.Index(readme, "## Layout\n\n```\n")
	if start < 0 {
		t.Fatal("README has no Layout block")
	}
	layout := readme[start:]
	layout = layout[:strings.Index(layout[len("## Layout\n\n```\n"):], "```")+len("## Layout\n\n```\n")]
	generated := map[string]bool{".git": true, "bin": true, "out": true, "reports": true, ".local-grid": true, "tmp": true}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	folders := 0
	for _, e := range entries {
		if !e.IsDir() || generated[e.Name()] {
			continue
		}
		folders++
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(e.Name()) + `/`).MatchString(layout) {
			t.Errorf("README's layout does not list the folder %s/", e.Name())
		}
	}
	subs, err := os.ReadDir(filepath.Join(root, "internal"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range subs {
		if e.IsDir() && !regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(e.Name())+` `).MatchString(layout) {
			t.Errorf("README's layout does not list internal/%s", e.Name())
		}
	}
	if folders < 10 {
		t.Errorf("found %d folders in %s; the checkout has more", folders, root)
	}

	license, err := os.ReadFile(filepath.Join(root, "LICENSE"))
	if err != nil || !strings.Contains(string(license), "Apache License") || !strings.Contains(string(license), "Version 2.0, January 2004") {
		t.Errorf("LICENSE: %v, want the Apache License 2.0", err)
	}
	for _, w := range []string{"slapgo completion bash", "slapgo completion zsh", "slapgo completion fish"} {
		if !strings.Contains(readme, w) {
			t.Errorf("README does not show %q", w)
		}
	}
}

package agent_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/internal/testenv"
)

// TestImportRules enforces DESIGN.md's rule for the node agent: it talks to
// the master through its wire packages only (master/api, and master/slap
// for SLAP), never through the server's code.
func TestImportRules(t *testing.T) {
	wirePackages := map[string]bool{"github.com/slapgo/slapgo/master/api": true,
		"github.com/slapgo/slapgo/master/slap": true, "github.com/slapgo/slapgo/master/slap/xmlm": true}
	testenv.RequireCommands(t, "the go command lists the dependencies", "go")
	deps, err := exec.Command("go", "list", "-e", "-deps", "-f", "{{.ImportPath}}", "github.com/slapgo/slapgo/nodeagent/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(deps)) {
		if strings.HasPrefix(p, "github.com/slapgo/slapgo/master/") && !wirePackages[p] {
			t.Errorf("nodeagent depends on %s: only master/api and master/slap may be used", p)
		}
		if strings.HasPrefix(p, "github.com/slapgo/slapgo/sim") || strings.HasPrefix(p, "github.com/slapgo/slapgo/features") {
			t.Errorf("nodeagent depends on %s", p)
		}
	}
}

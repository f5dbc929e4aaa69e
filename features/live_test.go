package features_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/features"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/livebackend"
	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/internal/testenv"
)

// Environment of the live backend.
const (
	// envBinary is a slapgo binary to use; without it one is built once
	// per test run from ./cmd/slapgo.
	envBinary = "SLAPGO_BIN"
	// envKeep keeps each scenario's directory (logs, data) for a look.
	envKeep = "SLAPGO_LIVE_KEEP"
	// envPrivileged formats partitions with system users (needs root).
	envPrivileged = "SLAPGO_LIVE_PRIVILEGED"
)

// liveFactory builds (or takes) the slapgo binary once and returns a
// factory starting a fresh master and nodes per scenario, with the tags of
// the scenarios this machine lacks a prerequisite for (see
// features.Options.Lacks): without PostgreSQL, @postgres (under CI=true
// that fails t instead).
//
// A scenario tagged @postgres runs two masters on a new database of one
// PostgreSQL server started for the suite.
func liveFactory(t *testing.T) (features.Factory, map[string]string) {
	t.Helper()
	bin, root, keep, privileged := liveSetup(t)
	lacks := map[string]string{}
	var pg *pgtest.Server
	if why := pgtest.Missing(); why != "" {
		if testenv.InCI() {
			testenv.Missing(t, "the @postgres scenarios: "+why)
		}
		lacks["@postgres"] = why
	} else {
		pg = pgtest.Start(t)
	}
	var seq atomic.Int64
	return func(ctx context.Context, info features.ScenarioInfo) (backend.Backend, error) {
		dir := filepath.Join(root, "scenario-"+strconv.FormatInt(seq.Add(1), 10))
		if keep {
			t.Logf("live backend: %q runs in %s", info.Name, dir)
		}
		cfg := livebackend.Config{Binary: bin, Dir: dir, Keep: keep, Privileged: privileged,
			Net: 64 + os.Getpid()%128, Log: func(format string, args ...any) {
				if keep {
					t.Logf("live: "+format, args...)
				}
			}}
		if slices.Contains(info.Tags, "@postgres") {
			if pg == nil {
				return nil, fmt.Errorf("live backend: %q needs PostgreSQL: %s", info.Name, lacks["@postgres"])
			}
			db, err := pg.CreateDatabase(ctx)
			if err != nil {
				return nil, err
			}
			cfg.Postgres, cfg.Masters = db, 2
		}
		return livebackend.New(ctx, cfg)
	}, lacks
}

// liveSetup checks the live backend's prerequisites and builds (or takes)
// the slapgo binary; it returns it with the folder the scenarios run in.
func liveSetup(t *testing.T) (bin, root string, keep, privileged bool) {
	t.Helper()
	// Without busybox every scenario would fail on a software build error
	// that names no cause: say what is missing, once.
	testenv.RequireCommands(t, "the live backend's fixture software runs busybox httpd (Debian: busybox-static; make test-deps)", "busybox")
	keep = os.Getenv(envKeep) != ""
	root = t.TempDir()
	if keep {
		var err error
		if root, err = os.MkdirTemp("", "slapgo-live-"); err != nil {
			t.Fatal(err)
		}
		t.Logf("live backend: %s=1: everything is kept under %s", envKeep, root)
	}
	bin = os.Getenv(envBinary)
	if bin == "" {
		bin = filepath.Join(root, "slapgo")
		began := time.Now()
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/slapgo")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building slapgo for the live backend: %v\n%s", err, out)
		}
		t.Logf("live backend: built %s in %s", bin, time.Since(began).Round(time.Millisecond))
	} else if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s=%s: %v", envBinary, bin, err)
	}
	privileged = os.Getenv(envPrivileged) != ""
	if privileged && os.Geteuid() != 0 {
		t.Fatalf("%s is set but the tests do not run as root", envPrivileged)
	}
	return bin, root, keep, privileged
}

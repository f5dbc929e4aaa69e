package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/testenv"
)

// The package's tests share one Runtime (root Engine and image), made
// on first use (a run that selects no cluster test builds nothing) and
// removed by TestMain after the last test.
var (
	rootOnce      sync.Once
	sharedRuntime *Runtime
	rootErr       error
)

// envKeep, set to 1, keeps what a failed scenario made (and the image),
// for inspection with the docker command.
const envKeep = "SLAPGO_CLUSTER_KEEP"

// envLogLevel sets the --log-level of the containers' slapgo (debug to
// investigate a failure).
const envLogLevel = "SLAPGO_CLUSTER_LOG_LEVEL"

func keepOnFailure() bool { return os.Getenv(envKeep) == "1" }

func TestMain(m *testing.M) {
	flag.Parse()
	reason := ""
	if testing.Short() {
		reason = "-short was given"
	} else {
		reason = dockerUnreachable()
	}
	if reason != "" {
		// Only the tests that need no engine run. Under CI=true a missing
		// engine is a failure (after those tests ran); otherwise the run
		// says so on its first line and in the skip log `make test` prints,
		// since go test shows nothing but "ok" of a package that passed.
		line := SkipLine(reason)
		fmt.Println(line)
		if !testing.Short() && testenv.InCI() {
			fmt.Println("cluster: CI=true: a Docker engine that does not answer is a failure, not a skip")
		} else if log := os.Getenv(testenv.EnvSkipLog); log != "" {
			if err := testenv.AppendSkip(log, "TestMain", line); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		flag.Set("test.run", "^TestOffline")
	}
	release := func() {}
	if reason == "" {
		// The containers' interfaces come and go on the host: tests that
		// such a change disturbs wait (see testenv.LockHostNetwork).
		var err error
		if release, err = testenv.LockHostNetwork(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	if reason != "" && !testing.Short() && testenv.InCI() {
		code = 1
	}
	if sharedRuntime != nil && !(code != 0 && keepOnFailure()) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		if err := sharedRuntime.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
		cancel()
	}
	release()
	os.Exit(code)
}

// dockerUnreachable is why the cluster tests cannot run, or "".
func dockerUnreachable() string {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	e, err := Connect(ctx, nil)
	if err != nil {
		return err.Error()
	}
	e.Close(ctx)
	return ""
}

// testEnv is what every cluster test needs: the root engine and the
// run's image reference.
type testEnv struct {
	root *Engine
	ref  string
}

// requireEnv prepares the Runtime on first use (SLAPGO_BIN, or a static
// binary built here). A missing Docker engine was handled by TestMain;
// anything else missing fails the test.
func requireEnv(t *testing.T) testEnv {
	t.Helper()
	rootOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		logf := func(format string, args ...any) { fmt.Printf("cluster: "+format+"\n", args...) }
		sharedRuntime, rootErr = Prepare(ctx, PrepareConfig{Binary: os.Getenv("SLAPGO_BIN"), Logf: logf})
	})
	if errors.Is(rootErr, ErrNoBusybox) {
		testenv.Missing(t, rootErr.Error())
	}
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return testEnv{root: sharedRuntime.Engine, ref: sharedRuntime.Image}
}

package features_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/features"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/clusterbackend"
	"github.com/slapgo/slapgo/features/backend/simbackend"
	"github.com/slapgo/slapgo/internal/testenv"
)

// Environment of the suite.
const (
	// envBackend chooses the backend: sim (default), live or cluster.
	envBackend = "SLAPGO_FEATURES_BACKEND"
	// envReports, when set, is a directory where JUnit XML and cucumber
	// JSON reports are written (features-<backend>.xml and .json).
	envReports = "SLAPGO_FEATURES_REPORTS"
	// envTags filters scenarios with a godog tag expression, e.g.
	// "@outage && ~@sim-only".
	envTags = "SLAPGO_FEATURES_TAGS"
	// envFormat overrides the console format (progress by default;
	// pretty prints every step).
	envFormat = "SLAPGO_FEATURES_FORMAT"
)

func backendKind() string {
	if v := os.Getenv(envBackend); v != "" {
		return v
	}
	return "sim"
}

func simFactory(_ context.Context, info features.ScenarioInfo) (backend.Backend, error) {
	return simbackend.New(simbackend.Config{Seed: info.Seed})
}

// clusterFactory runs scenarios on containers (testcontainers): master and
// node agents built FROM scratch on a private Docker network. Without a
// Docker engine or a static busybox the suite is skipped with one line
// saying so (a failure under CI=true).
func clusterFactory(t *testing.T) features.Factory {
	t.Helper()
	pool, err := clusterbackend.NewPool(context.Background(), clusterbackend.PoolConfig{Binary: os.Getenv("SLAPGO_BIN")})
	if errors.Is(err, cluster.ErrNoDocker) || errors.Is(err, cluster.ErrNoBusybox) {
		testenv.Missing(t, "cluster backend: "+err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return func(ctx context.Context, info features.ScenarioInfo) (backend.Backend, error) {
		return pool.New(ctx, info.Name)
	}
}

func featurePaths(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("*.feature")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no *.feature file in the features directory (%v)", err)
	}
	return paths
}

// TestFeatures runs every scenario on the backend SLAPGO_FEATURES_BACKEND
// names. Each scenario is a subtest: go test ./features/ -run
// 'TestFeatures/<scenario name with _ for spaces>' runs one.
func TestFeatures(t *testing.T) {
	kind := backendKind()
	var factory features.Factory
	var lacks map[string]string
	switch kind {
	case "sim":
		factory = simFactory
	case "live":
		factory, lacks = liveFactory(t)
	case "cluster":
		factory = clusterFactory(t)
	default:
		t.Fatalf("%s=%q: expected sim, live or cluster", envBackend, kind)
	}
	format := "progress"
	if f := os.Getenv(envFormat); f != "" {
		format = f
	}
	junit := ""
	if dir := os.Getenv(envReports); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("%s=%s: %v", envReports, dir, err)
		}
		base := filepath.Join(dir, "features-"+kind)
		junit = base + ".xml"
		format += ",junit:" + junit + ",cucumber:" + base + ".json"
	}
	skipped := map[string]string{}
	suite := godog.TestSuite{
		Name: "slapgo-" + kind,
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			features.Register(sc, features.Options{Backend: kind, Factory: factory, Lacks: lacks,
				Skipped: func(name, why string) { skipped[name] = why }})
		},
		Options: &godog.Options{
			Format:      format,
			Paths:       featurePaths(t),
			Tags:        os.Getenv(envTags),
			Strict:      true,
			Randomize:   0,
			Concurrency: 1,
			TestingT:    t,
		},
	}
	code := suite.Run()
	if junit != "" {
		// godog's report counts no scenario as skipped: mark them.
		if err := markSkipped(junit, skipped); err != nil {
			t.Error(err)
		}
	}
	if code != 0 {
		t.Fatalf("the %s suite failed (status %d)", kind, code)
	}
	t.Logf("%d scenarios skipped on the %s backend", len(skipped), kind)
}

// markSkipped rewrites the JUnit report at path with features.MarkSkipped.
func markSkipped(path string, reasons map[string]string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := features.MarkSkipped(data, reasons)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

// TestSimIsDeterministic runs the scenarios tagged @determinism twice on
// the simulator and compares the trace hash of each.
func TestSimIsDeterministic(t *testing.T) {
	run := func() map[string]string {
		out := map[string]string{}
		suite := godog.TestSuite{
			Name: "slapgo-determinism",
			ScenarioInitializer: func(sc *godog.ScenarioContext) {
				features.Register(sc, features.Options{Backend: "sim", Factory: simFactory,
					Outcome: func(name, hash string, err error) {
						if err != nil {
							hash = fmt.Sprintf("%s failed: %v", hash, err)
						}
						out[name] = hash
					}})
			},
			Options: &godog.Options{Format: "progress", Output: io.Discard, Paths: featurePaths(t),
				Tags: "@determinism", Strict: true, Concurrency: 1, TestingT: t},
		}
		if code := suite.Run(); code != 0 {
			t.Fatalf("the @determinism scenarios failed (status %d)", code)
		}
		return out
	}
	first, second := run(), run()
	if len(first) < 2 {
		t.Fatalf("%d scenarios are tagged @determinism: tag at least two", len(first))
	}
	for _, name := range slices.Sorted(maps.Keys(first)) {
		if first[name] == "" || strings.Contains(first[name], "failed") {
			t.Errorf("%q: %q", name, first[name])
		}
		if first[name] != second[name] {
			t.Errorf("%q is not deterministic: trace %s, then %s", name, first[name], second[name])
		}
	}
}

// TestJUnitCountsSkippedScenarios runs a feature on the simulator with a
// JUnit report: the scenario the simulator cannot run (it has no TLS
// layer) is counted as skipped, with its reason, and not as an error.
func TestJUnitCountsSkippedScenarios(t *testing.T) {
	report := filepath.Join(t.TempDir(), "features-sim.xml")
	skipped := map[string]string{}
	suite := godog.TestSuite{
		Name: "slapgo-sim",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			features.Register(sc, features.Options{Backend: "sim", Factory: simFactory,
				Skipped: func(name, why string) { skipped[name] = why }})
		},
		Options: &godog.Options{Format: "junit:" + report, Output: io.Discard, Paths: []string{"identities.feature"},
			Strict: true, Concurrency: 1, TestingT: t},
	}
	if code := suite.Run(); code != 0 {
		t.Fatalf("identities.feature failed on the simulator (status %d)", code)
	}
	const name = "A certificate the master did not issue is refused"
	if len(skipped) != 1 || !strings.Contains(skipped[name], "TLS") {
		t.Fatalf("skipped %v; want %q alone, for want of TLS", skipped, name)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `<testsuites name="slapgo-sim" tests="`) || !strings.Contains(string(raw), `skipped="0"`) {
		t.Fatalf("godog's report changed shape; MarkSkipped reads:\n%s", raw)
	}
	if err := markSkipped(report, skipped); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	out := string(data)
	for _, want := range []string{
		`<testsuites name="slapgo-sim" tests="`, `" skipped="1" failures="0" errors="0"`,
		`<testsuite name="Identities and authorization" tests="`,
		`<testcase name="` + name + `" status="skipped" time="`,
		`<skipped message="checks the master&#39;s TLS handshake`, `the simulator models no TLS layer"></skipped>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `type="skipped"`) {
		t.Errorf("report still has skipped steps as errors:\n%s", out)
	}
	if strings.Count(out, `status="passed"`) < 5 {
		t.Errorf("the scenarios that ran are not passed any more:\n%s", out)
	}
}

func TestSkipReason(t *testing.T) {
	tests := []struct {
		kind string
		tags []string
		want string // a part of the reason, "" = runs
	}{
		{"sim", []string{"@sim-only", "@scale"}, ""},
		{"live", []string{"@outage"}, ""},
		{"live", []string{"@sim-only", "@scale"}, "hundreds of partitions"},
		{"live", []string{"@sim-only", "@virtual-time"}, "virtual clock"},
		{"cluster", []string{"@sim-only", "@modelled-time"}, "modelled durations"},
		{"live", []string{"@sim-only"}, "without a reason tag"},
		{"live", []string{"@not-yet-live"}, "without a reason tag"},
		{"sim", []string{"@not-yet-live"}, ""},
		{"sim", []string{"@real-stack-only", "@tls"}, "no TLS layer"},
		{"live", []string{"@real-stack-only", "@tls"}, ""},
		{"cluster", []string{"@real-stack-only", "@tls"}, ""},
		{"sim", []string{"@real-stack-only"}, "without a reason tag"},
		{"sim", []string{"@real-stack-only", "@scale"}, "without a reason tag"},
		{"live", []string{"@sim-only", "@tls"}, "without a reason tag"},
		{"live", []string{"@sim-only", "@scale", "@real-stack-only", "@tls"}, "no backend runs it"},
		{"sim", []string{"@sim-only", "@scale", "@real-stack-only", "@tls"}, "no backend runs it"},
		{"live", []string{"@live-only", "@postgres"}, ""},
		{"sim", []string{"@live-only", "@postgres"}, "two masters on a PostgreSQL database"},
		{"cluster", []string{"@live-only", "@postgres"}, "only the live backend"},
		{"cluster", []string{"@live-only"}, "without a reason tag"},
		{"live", []string{"@sim-only", "@virtual-time", "@live-only", "@postgres"}, "no backend runs it"},
	}
	for _, tt := range tests {
		got := features.SkipReason(tt.kind, tt.tags)
		if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
			t.Errorf("SkipReason(%s, %v) = %q, want a reason containing %q", tt.kind, tt.tags, got, tt.want)
		}
	}
}

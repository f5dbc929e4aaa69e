package bench

import (
	"bytes"
	"context"
	"math"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/sim/scenario"
)

const baselineScenario = "../fixtures/scenarios/baseline.yaml"

func TestFitLognormal(t *testing.T) {
	if FitLognormal(Latency{}) != nil || FitLognormal(Latency{Count: 3, Mean: time.Second}) != nil {
		t.Fatal("FitLognormal fitted an empty measure")
	}
	// p99/p50 = e^2.326…: sigma 1.
	p50 := 100 * time.Millisecond
	p99 := time.Duration(float64(p50) * math.Exp(z99))
	d := FitLognormal(Latency{Count: 300, Mean: 150 * time.Millisecond, P50: p50, P99: p99, Max: 2 * time.Second})
	if d.Dist != "lognormal" || d.Sigma != 1 || d.Mean != "150ms" || d.Max != "2s" || d.Count != 300 || d.P50 != "100ms" {
		t.Fatalf("fit = %+v, want lognormal mean 150ms sigma 1 max 2s", d)
	}
	if d := FitLognormal(Latency{Count: 1, Mean: time.Second, P50: time.Second, P99: time.Second, Max: time.Second}); d.Sigma != 0 {
		t.Fatalf("one measure: sigma %g, want 0", d.Sigma)
	}
}

// TestCalibrationIsAScenarioOverride proves the storm's calibration is
// directly usable: its --set lines load on the baseline scenario, and the
// loaded agent model is the fitted one.
func TestCalibrationIsAScenarioOverride(t *testing.T) {
	res := StormResult{
		Deploy: StormPhase{PerPartition: Latency{Count: 300, Mean: 48 * time.Millisecond, P50: 41 * time.Millisecond, P99: 133 * time.Millisecond, Max: 202 * time.Millisecond}},
		Modes: []StormMode{{Mode: "incremental", Incremental: true, Storm: StormPhase{
			PerPartition: Latency{Count: 300, Mean: 35250 * time.Microsecond, P50: 27 * time.Millisecond, P99: 64 * time.Millisecond, Max: 90 * time.Millisecond}}}},
	}
	cal := Calibrate(res)
	if len(cal.Set) != 2 || !strings.HasPrefix(cal.Set[0], "agent.deploy={dist: lognormal") || !strings.HasPrefix(cal.Set[1], "agent.configure=") {
		t.Fatalf("calibration overrides %q", cal.Set)
	}
	if !strings.HasPrefix(cal.YAML, "agent:\n  deploy: {dist: lognormal") {
		t.Fatalf("calibration YAML %q", cal.YAML)
	}
	sc, err := scenario.Load(baselineScenario, cal.Set)
	if err != nil {
		t.Fatalf("the simulator refuses the calibration: %v", err)
	}
	wantSigma := math.Round(math.Log(64.0/27)/z99*1000) / 1000
	if c := sc.Agent.Configure; c.Kind != scenario.DistLognormal || c.Mean.D() != 35250*time.Microsecond || c.Max.D() != 90*time.Millisecond || c.Sigma != wantSigma {
		t.Fatalf("loaded configure model %+v, want the fitted lognormal (sigma %g)", c, wantSigma)
	}
	if sc.Agent.Deploy.Mean.D() != 48*time.Millisecond {
		t.Fatalf("loaded deploy model %+v", sc.Agent.Deploy)
	}
	// The same from the JSON `slapgo bench storm --json` prints.
	var b bytes.Buffer
	rep := Report{Sections: []Section{res.Section("slapgo bench storm")}}
	rep.Sections[0].Result = StormResult{Calibration: cal}
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	sets, err := ReadCalibration(b.Bytes())
	if err != nil || len(sets) != 2 || sets[1] != cal.Set[1] {
		t.Fatalf("ReadCalibration = %q, %v; want %q", sets, err, cal.Set)
	}
	if _, err := ReadCalibration([]byte(`{"sections":[]}`)); err == nil {
		t.Fatal("ReadCalibration accepted JSON without a calibration")
	}
}

func TestScaleScenario(t *testing.T) {
	base, err := scenario.Load(baselineScenario, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{100, 1000, 5000, 7} {
		sets, err := ScaleScenario(base, n, true)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scenario.Load(baselineScenario, sets)
		if err != nil {
			t.Fatalf("%d nodes: the simulator refuses %q: %v", n, sets, err)
		}
		total := 0
		for _, g := range sc.Nodes {
			total += g.Count
		}
		if total != n {
			t.Errorf("%d nodes: scaled scenario has %d (%q)", n, total, sets)
		}
		f := float64(n) / 1000
		if n != 1000 && math.Abs(sc.Workload.RatePerHour-base.Workload.RatePerHour*f) > 1e-6*base.Workload.RatePerHour {
			t.Errorf("%d nodes: rate %g, want %g", n, sc.Workload.RatePerHour, base.Workload.RatePerHour*f)
		}
	}
	if _, err := ScaleScenario(base, 2, true); err == nil {
		t.Error("scaled three node groups to two nodes")
	}
}

// TestStormLive runs a real storm on a few partitions: a master process,
// a node agent building the busybox-httpd fixture and serving a page per
// partition.
func TestStormLive(t *testing.T) {
	testenv.Short(t, "starts a real master and node agent")
	testenv.RequireCommands(t, "the busybox-httpd fixture is built from it (Debian: busybox-static)", "busybox")
	bin := slapgoBinary(t)
	cfg := DefaultStormConfig()
	cfg.Partitions, cfg.Bin, cfg.Dir = 4, bin, t.TempDir()
	cfg.Software = "../fixtures/software/busybox-httpd/software.cfg"
	cfg.PhaseTimeout = 2 * time.Minute
	cfg.PollInterval, cfg.LiveRuns = time.Second, 2 // the live storm: the daemon polls every second
	var progress bytes.Buffer
	cfg.Progress = &progress
	defer func() {
		// What the agent warned of (a service that died and banged its
		// instance, say) tells why a pass configured more than asked.
		if t.Failed() {
			t.Logf("agent log: %s\nprogress:\n%s", tail(filepath.Join(cfg.Dir, "agent.log"), 4000), progress.String())
		}
	}()
	res, err := RunStorm(context.Background(), cfg)
	if err != nil {
		t.Fatalf("RunStorm: %v\n%s", err, progress.String())
	}
	if left := processesIn(cfg.Dir); len(left) > 0 {
		t.Errorf("processes left running in %s after the run: %v", cfg.Dir, left)
	}
	if res.Deploy.Configured != 4 || len(res.Modes) != 2 {
		t.Fatalf("deploy configured %d, %d modes; want 4 and 2", res.Deploy.Configured, len(res.Modes))
	}
	inc, full := res.Modes[0], res.Modes[1]
	if inc.Storm.Configured != 4 || inc.Storm.PerPartition.Count != 4 || inc.Storm.Converge <= 0 {
		t.Errorf("incremental storm %+v: want 4 partitions configured", inc.Storm)
	}
	if inc.Quiet.Configured != 0 || inc.Quiet.Passes < 2 {
		t.Errorf("incremental quiet passes configured %d partitions in %d passes: want none", inc.Quiet.Configured, inc.Quiet.Passes)
	}
	if inc.OneChange.Configured != 1 {
		t.Errorf("incremental one change configured %d partitions, want 1", inc.OneChange.Configured)
	}
	if full.Quiet.Configured != 4 || full.OneChange.Configured != 4 {
		t.Errorf("full mode configured %d (quiet) and %d (one change) partitions: want every partition each pass", full.Quiet.Configured, full.OneChange.Configured)
	}
	// The live storms: in each, the master saw every instance converge,
	// after a poll that came within a few poll intervals of the change.
	if l := res.Live; l == nil || len(l.Runs) != 2 || l.Changed != 4 || l.PerPartition.Count != 8 || l.AgentPeakRSS <= 0 || !l.PeakSincePhase {
		t.Errorf("live storm %+v: want 2 runs of 4 instances converged", l)
	} else {
		for i, r := range l.Runs {
			if r.Converge <= 0 || r.Converge > time.Minute || r.SincePoll < 0 || r.PollWait < 0 || r.PollWait > 5*time.Second ||
				r.Work() <= 0 || r.AgentCPU <= 0 || r.PerPartition.Count != 4 || r.Phase < float64(i)/2 || r.Phase >= float64(i+1)/2 {
				t.Errorf("live storm run %d %+v: want 4 instances converged after a poll seen, phase in its half", i+1, r)
			}
		}
	}
	if res.Calibration.Configure == nil || len(res.Calibration.Set) != 2 {
		t.Errorf("no calibration: %+v", res.Calibration)
	}
	sec := res.Section("slapgo bench storm --partitions 4")
	for _, f := range sec.Figures {
		if strings.HasPrefix(f.Name, "live storm: change to last") && (f.Status != StatusNA || !strings.Contains(f.Why, "partitions 4") || !strings.Contains(f.Why, "runs 2")) {
			t.Errorf("%+v: want n/a for 4 partitions and 2 runs", f)
		}
	}
	if len(sec.Figures) == 0 || len(sec.Tables) < 3 || len(sec.Tables[0].Rows) != 7 || len(sec.Tables[1].Rows) != 2 {
		t.Errorf("section: %d figures, %d tables: want figures, the side-by-side table (7 rows), the live runs (2) and the calibration", len(sec.Figures), len(sec.Tables))
	}
}

// TestStormPrivileged runs a small storm as root with a user per
// partition, incremental only and then live (the daemon last): the
// partitions' programs run as those users, and after the run no program
// is left and the users and addresses are gone.
func TestStormPrivileged(t *testing.T) {
	testenv.Short(t, "starts a real master and node agent")
	testenv.RequireRoot(t, "partition users need root")
	testenv.RequireCommands(t, "partition users are made and removed with them (Debian: passwd); the fixture needs busybox (busybox-static)",
		"useradd", "userdel", "groupadd", "groupdel", "busybox")
	bin := slapgoBinary(t)
	dir, err := os.MkdirTemp("", "slapgo-storm-priv-") // t.TempDir's parent is not searchable by others
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := DefaultStormConfig()
	cfg.Partitions, cfg.Bin, cfg.Dir, cfg.Full, cfg.PollInterval, cfg.Privileged = 3, bin, dir, false, time.Second, true
	cfg.LiveRuns = 1
	cfg.Software = "../fixtures/software/busybox-httpd/software.cfg"
	cfg.PhaseTimeout = 2 * time.Minute
	var progress bytes.Buffer
	cfg.Progress = &progress
	res, err := RunStorm(context.Background(), cfg)
	if err != nil {
		t.Fatalf("RunStorm --privileged: %v\n%s", err, progress.String())
	}
	if left := processesIn(dir); len(left) > 0 {
		t.Errorf("processes left running in %s after the run: %v", dir, left)
	}
	if !res.Privileged || len(res.Modes) != 1 || res.Modes[0].Storm.Configured != 3 || res.Live == nil || res.Live.PerPartition.Count != 3 {
		t.Fatalf("privileged %v, modes %+v, live %+v: want 3 partitions configured as their users, and the live storm", res.Privileged, res.Modes, res.Live)
	}
	m := regexp.MustCompile(`removed 3 partition users (bs[0-9a-f]{4}u)0`).FindStringSubmatch(progress.String())
	if m == nil {
		t.Fatalf("no removal of 3 partition users in the progress:\n%s", progress.String())
	}
	for i := range 3 {
		if _, err := user.Lookup(m[1] + strconv.Itoa(i)); err == nil {
			t.Errorf("user %s%d still exists after the run", m[1], i)
		}
	}
	if !regexp.MustCompile(`removed 3 partition addresses of 127\.\d+\.\d+\.0/24 from lo`).MatchString(progress.String()) {
		t.Errorf("the partitions' addresses were not removed from lo:\n%s", progress.String())
	}
}

// processesIn lists the processes whose working directory is under dir
// (the partitions' programs a run left behind).
func processesIn(dir string) []string {
	var out []string
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", p.Name(), "cwd"))
		if err == nil && strings.HasPrefix(cwd, dir+"/") {
			out = append(out, p.Name()+" in "+cwd)
		}
	}
	return out
}

func TestProcessesOf(t *testing.T) {
	if pids := processesOf(os.Getuid()); !slices.Contains(pids, os.Getpid()) {
		t.Errorf("processesOf(%d) = %v, lacks this process %d", os.Getuid(), pids, os.Getpid())
	}
	if pids := processesOf(1 << 30); len(pids) != 0 {
		t.Errorf("processesOf(an unused uid) = %v", pids)
	}
}

// TestStormFailedBuild: a software release whose build fails stops the
// storm at once, naming the build's error, instead of waiting for
// instances that cannot deploy until the phase times out.
func TestStormFailedBuild(t *testing.T) {
	testenv.Short(t, "starts a real master and node agent")
	bin := slapgoBinary(t)
	sw := filepath.Join(t.TempDir(), "software.cfg")
	profile := "[buildout]\nparts = broken\n\n[broken]\nrecipe = shell\ncommand = echo \"no such tool\" >&2; exit 3\n"
	if err := os.WriteFile(sw, []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultStormConfig()
	cfg.Partitions, cfg.Bin, cfg.Dir, cfg.Software = 2, bin, t.TempDir(), sw
	cfg.PhaseTimeout, cfg.PollInterval = 5*time.Minute, 0
	start := time.Now()
	_, err := RunStorm(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), `reported "error"`) {
		t.Fatalf("RunStorm = %v: want the failed build reported", err)
	}
	if took := time.Since(start); took > 2*time.Minute {
		t.Errorf("the failed build was reported after %s: want at once", took)
	}
}

// TestStormNetwork: a storm's partitions get a 127.x network of their own
// (a /24, or a /16 above 250 partitions) whose first address has the
// services' ports free; an address where one is taken is refused.
func TestStormNetwork(t *testing.T) {
	for _, tc := range []struct{ partitions, bits int }{{4, 24}, {250, 24}, {251, 16}} {
		network, err := stormNetwork(tc.partitions)
		if err != nil {
			t.Fatal(err)
		}
		if b := network.Addr().As4(); b[0] != 127 || b[1] < 100 || b[1] > 199 || network.Bits() != tc.bits {
			t.Errorf("%d partitions: network %s, want a /%d in 127.100-199", tc.partitions, network, tc.bits)
		}
	}
	network, err := stormNetwork(4)
	if err != nil {
		t.Fatal(err)
	}
	first := network.Addr().Next()
	if !portsFree(first) {
		t.Fatalf("the ports of %s, drawn free, are taken", first)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(first.String(), stormPorts[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if portsFree(first) {
		t.Errorf("portsFree(%s) with port %s listened on: want false", first, stormPorts[1])
	}
}

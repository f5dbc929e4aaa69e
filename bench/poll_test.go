package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/testenv"
)

var (
	buildOnce sync.Once
	builtDir  string
	builtBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// slapgoBinary returns the slapgo binary the live tests start: $SLAPGO_BIN,
// or one built once from this checkout into a temporary directory.
func slapgoBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SLAPGO_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		if builtDir, buildErr = os.MkdirTemp("", "slapgo-bench-test-"); buildErr != nil {
			return
		}
		// Partition users of the privileged storm run the binary (promises).
		if buildErr = os.Chmod(builtDir, 0o755); buildErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "slapgo")
		build := exec.Command("go", "build", "-o", builtBin, "./cmd/slapgo")
		build.Dir = ".."
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building slapgo: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// TestPollLive drives a real master (`slapgo master serve`) with 20
// virtual nodes for 3 s.
func TestPollLive(t *testing.T) {
	testenv.Short(t, "starts a real master")
	bin := slapgoBinary(t)
	if out, err := exec.Command(bin, "master", "serve", "--help").CombinedOutput(); err != nil {
		t.Fatalf("%s master serve --help: %v: %s", bin, err, bytes.TrimSpace(out))
	}
	cfg := DefaultPollConfig()
	cfg.Nodes, cfg.Partitions, cfg.Fill = 20, 5, 0.4
	cfg.Compress, cfg.Changes = 600, 0.05 // 200 polls/s, 10 changes/s
	cfg.Warmup, cfg.Duration = 500*time.Millisecond, 3*time.Second
	cfg.Bin, cfg.Dir = bin, t.TempDir()
	var progress bytes.Buffer
	cfg.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := RunPoll(ctx, cfg)
	if err != nil {
		t.Fatalf("RunPoll: %v\nprogress:\n%s\nmaster log: %s", err, progress.String(), tail(filepath.Join(cfg.Dir, "master.log"), 4000))
	}
	if res.Setup.Computers != 20 || res.Setup.Partitions != 100 || res.Setup.Instances != 40 || res.Setup.FullViewBytes == 0 {
		t.Errorf("set-up %+v: want 20 computers, 100 partitions, 40 instances and a view", res.Setup)
	}
	if len(res.Steps) != 1 {
		t.Fatalf("%d steps, want 1", len(res.Steps))
	}
	st := res.Steps[0]
	if st.Errors != 0 {
		t.Errorf("%d errors, first: %s", st.Errors, st.FirstError)
	}
	// 200 polls/s for 3 s: allow for a loaded machine, but most must be there.
	if st.NotModified+st.Full < 300 || st.NotModified == 0 {
		t.Errorf("answered %d (304: %d, 200: %d) in 3 s at 200/s offered", st.NotModified+st.Full, st.NotModified, st.Full)
	}
	if st.Changes == 0 || st.Full == 0 {
		t.Errorf("%d changes and %d full views: changes must make some polls get the full view", st.Changes, st.Full)
	}
	if st.Latency.Count == 0 || st.Latency.P50 <= 0 || st.Latency.P99 < st.Latency.P50 || st.Latency.P999 < st.Latency.P99 {
		t.Errorf("latency %+v: expected ordered positive quantiles", st.Latency)
	}
	if st.MasterCPU <= 0 || st.MasterRSS <= 0 || res.MasterPeakRSS < st.MasterRSS {
		t.Errorf("master CPU %g cores, RSS %d, peak %d: expected measures from /proc", st.MasterCPU, st.MasterRSS, res.MasterPeakRSS)
	}
	sec := res.Section("slapgo bench poll --nodes 20")
	var b bytes.Buffer
	rep := Report{Machine: ReadMachine(), Sections: []Section{sec}}
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"poll latency p99", "304 ratio", "master CPU", "equiv. nodes"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestPollConfigValidate(t *testing.T) {
	ok := DefaultPollConfig()
	ok.Bin = "slapgo"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default configuration refused: %v", err)
	}
	tests := []struct {
		name   string
		change func(c *PollConfig)
	}{
		{"no nodes", func(c *PollConfig) { c.Nodes = 0 }},
		{"fill above one", func(c *PollConfig) { c.Fill = 1.5 }},
		{"zero compress", func(c *PollConfig) { c.Compress = 0 }},
		{"unknown identity", func(c *PollConfig) { c.Identity = "person" }},
		{"no master nor binary", func(c *PollConfig) { c.Bin = "" }},
		{"master without certificate", func(c *PollConfig) { c.MasterURL = "https://127.0.0.1:1" }},
		{"find-max without steps", func(c *PollConfig) { c.FindMax, c.MaxSteps = true, 0 }},
		{"storm of admin polls", func(c *PollConfig) { c.Storm = true }},
		{"storm longer than its timeout", func(c *PollConfig) {
			c.Storm, c.Identity, c.StormWithin, c.StormTimeout = true, IdentityComputer, time.Minute, time.Second
		}},
	}
	for _, tc := range tests {
		c := ok
		tc.change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// TestReconnectStormLive: 20 nodes, each with its own certificate, poll a
// restarted master within half a second: every one is served, on a new
// process (the master was restarted), and the report judges nothing
// (20 nodes, the target is for 10,000).
func TestReconnectStormLive(t *testing.T) {
	testenv.Short(t, "starts a real master twice")
	bin := slapgoBinary(t)
	for _, tc := range []struct {
		cold, cut, noResume bool
	}{{cold: false}, {cold: true}, {noResume: true}, {cut: true}, {cut: true, noResume: true}} {
		cold := tc.cold
		cfg := DefaultPollConfig()
		cfg.Nodes, cfg.Partitions, cfg.Fill, cfg.Identity = 20, 40, 0.5, IdentityComputer
		cfg.Storm, cfg.StormWithin, cfg.StormTimeout, cfg.StormCold = true, 500*time.Millisecond, time.Minute, cold
		cfg.StormCut, cfg.StormNoResume = tc.cut, tc.noResume
		cfg.Bin, cfg.Dir = bin, t.TempDir()
		var progress bytes.Buffer
		cfg.Progress = &progress
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := RunPoll(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("RunPoll: %v\nprogress:\n%s\nmaster log: %s", err, progress.String(), tail(filepath.Join(cfg.Dir, "master.log"), 4000))
		}
		st := res.Storm
		if st == nil || st.Restarted == tc.cut || (st.Restart <= 0) != tc.cut || st.Served != 20 || st.Failed != 0 || st.AllServed <= 0 || st.Latency.Count != 20 {
			t.Fatalf("%+v: storm %+v: want 20 nodes served after a restart (or a cut)", tc, st)
		}
		// The master keeps its session-ticket keys in its data directory:
		// after a restart as after a cut every node resumes its own
		// session, unless told not to.
		wantResumed := map[bool]int64{true: 20, false: 0}[!tc.noResume]
		if st.Handshakes < 20 || st.Resumed != wantResumed {
			t.Errorf("%+v: %d handshakes, %d resumed; want 20 or more, %d resumed", tc, st.Handshakes, st.Resumed, wantResumed)
		}
		// With ETags the views did not change: 304s; without, full views.
		if wantFull := map[bool]int64{false: 0, true: 20}[cold]; st.Full != wantFull {
			t.Errorf("cold %v: %d full views, want %d", cold, st.Full, wantFull)
		}
		if !st.MasterMeasured || st.MasterCPU <= 0 || st.MasterPeakRSS <= 0 || len(st.Timeline) == 0 || st.Timeline[len(st.Timeline)-1] != 20 {
			t.Errorf("storm %+v: want the master's CPU and RSS and a timeline ending at 20", st)
		}
		sec := res.Section("slapgo bench poll --reconnect-storm")
		if f := sec.Figures[0]; f.Name != "reconnect storm: every node has its view" || f.Status != StatusNA || !strings.Contains(f.Why, "nodes 20") ||
			strings.Contains(f.Why, "not restarted") != tc.cut {
			t.Errorf("first figure %+v: want n/a for 20 nodes", f)
		}
	}
}

// A failed poll of the storm is retried after a delay that doubles up to
// reconnectRetryMax and is spread over ±50%, so that nodes failing at the
// same moment do not retry at the same moment.
func TestReconnectDelay(t *testing.T) {
	for _, tc := range []struct {
		failures int
		u        float64
		want     time.Duration
	}{
		{1, 0, 500 * time.Millisecond}, {1, 0.5, time.Second}, {1, 0.999, 1499 * time.Millisecond},
		{2, 0.5, 2 * time.Second}, {3, 0.5, 4 * time.Second}, {4, 0.5, 8 * time.Second},
		{9, 0.5, 8 * time.Second}, {9, 0, 4 * time.Second},
	} {
		if got := reconnectDelay(tc.failures, tc.u); got.Round(time.Millisecond) != tc.want {
			t.Errorf("reconnectDelay(%d, %v) = %s, want %s", tc.failures, tc.u, got, tc.want)
		}
	}
}

// TestPollAgainstLive measures a master this run did not start (another
// process, as `--against`): the process listening on its port is found and
// measured, and a reconnect storm against it (no restart) is not judged.
func TestPollAgainstLive(t *testing.T) {
	testenv.Short(t, "starts a real master")
	bin := slapgoBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	mp, err := StartMaster(ctx, bin, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Stop()
	base := DefaultPollConfig()
	base.MasterURL, base.Cert, base.Key, base.CA = mp.URL, mp.CertFile, mp.KeyFile, mp.CAFile
	base.Nodes, base.Partitions, base.Fill = 10, 5, 0.2
	var progress bytes.Buffer
	base.Progress = &progress

	steady := base
	steady.Compress, steady.Warmup, steady.Duration = 600, 200*time.Millisecond, 2*time.Second
	res, err := RunPoll(ctx, steady)
	if err != nil {
		t.Fatalf("RunPoll --against: %v\n%s\nmaster log: %s", err, progress.String(), tail(mp.LogFile, 4000))
	}
	if !res.External || res.MasterPID != mp.PID || len(res.Steps) != 1 || !res.Steps[0].MasterMeasured || res.Steps[0].MasterCPU <= 0 {
		t.Errorf("against %s (pid %d): external %v, pid %d, steps %+v: want the master found and measured", mp.URL, mp.PID, res.External, res.MasterPID, res.Steps)
	}
	storm := base
	storm.Identity, storm.Storm, storm.StormWithin, storm.StormTimeout = IdentityComputer, true, 300*time.Millisecond, time.Minute
	res, err = RunPoll(ctx, storm)
	if err != nil {
		t.Fatalf("RunPoll --against --reconnect-storm: %v\n%s", err, progress.String())
	}
	if st := res.Storm; st == nil || st.Restarted || st.Served != 10 || !st.MasterMeasured {
		t.Fatalf("storm %+v: want 10 nodes served by the running master, not restarted, measured", st)
	}
	if f := res.Section("").Figures[0]; f.Status != StatusNA || !strings.Contains(f.Why, "master not restarted") {
		t.Errorf("storm without a restart: %+v, want n/a", f)
	}
	if err := mp.Exited(); err != nil {
		t.Errorf("the running master: %v", err)
	}
}

// TestSourceAddrCount: connections to one address and port beyond three
// quarters of the ephemeral range need another local address.
func TestSourceAddrCount(t *testing.T) {
	for _, tc := range []struct{ n, ports, want int }{
		{10_000, 28_232, 1},
		{21_174, 28_232, 1},
		{21_175, 28_232, 2},
		{100_000, 28_232, 5},
		{100_000, 0, 1},
		{1, 4, 1},
		{7, 4, 3},
	} {
		if got := sourceAddrCount(tc.n, tc.ports); got != tc.want {
			t.Errorf("sourceAddrCount(%d, %d) = %d, want %d", tc.n, tc.ports, got, tc.want)
		}
	}
}

// TestPollRunsLive: --runs 2 measures two windows, the second on a
// restarted master with new connections; the nodes connect from the
// source addresses given (one not on this machine makes every poll fail).
func TestPollRunsLive(t *testing.T) {
	testenv.Short(t, "starts a real master three times")
	bin := slapgoBinary(t)
	for _, tc := range []struct {
		name    string
		sources []string
		runs    int
		fails   bool
	}{
		{"two runs from two loopback addresses", []string{"127.0.1.1", "127.0.1.2"}, 2, false},
		{"from an address not on this machine", []string{"192.0.2.1"}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultPollConfig()
			cfg.Nodes, cfg.Partitions, cfg.Fill, cfg.Identity = 10, 4, 0.5, IdentityComputer
			cfg.Compress, cfg.Changes, cfg.Runs, cfg.SourceAddrs, cfg.Settle = 600, 0, tc.runs, tc.sources, 0 // each node every 100 ms
			cfg.Warmup, cfg.Duration = 300*time.Millisecond, 1500*time.Millisecond
			cfg.Bin, cfg.Dir = bin, t.TempDir()
			var progress bytes.Buffer
			cfg.Progress = &progress
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := RunPoll(ctx, cfg)
			if err != nil {
				t.Fatalf("RunPoll: %v\nprogress:\n%s", err, progress.String())
			}
			if len(res.Steps) != tc.runs || res.Runs != tc.runs || !slices.Equal(res.SourceAddrs, tc.sources) {
				t.Fatalf("%d steps, runs %d, sources %v: want %d runs from %v", len(res.Steps), res.Runs, res.SourceAddrs, tc.runs, tc.sources)
			}
			for i, st := range res.Steps {
				answered := st.NotModified + st.Full
				switch {
				case tc.fails && (answered != 0 || st.Errors == 0 || !strings.Contains(st.FirstError, "assign requested address")):
					t.Errorf("run %d: %d answered, %d errors (%s): want every poll refused its source address", i+1, answered, st.Errors, st.FirstError)
				case !tc.fails && (st.Errors != 0 || answered < 50 || st.NotModified == 0):
					t.Errorf("run %d: %d answered (304: %d), %d errors (%s): want about 150 polls, none failed", i+1, answered, st.NotModified, st.Errors, st.FirstError)
				}
				if tc.runs > 1 && (st.Run != i+1 || st.Load <= 0) {
					t.Errorf("step %d: run %d, load %g: want numbered runs with the load at their start", i, st.Run, st.Load)
				}
			}
			if tc.runs > 1 && !strings.Contains(progress.String(), "run 2: master restarted") {
				t.Errorf("progress does not show the master restarted before run 2:\n%s", progress.String())
			}
		})
	}
}

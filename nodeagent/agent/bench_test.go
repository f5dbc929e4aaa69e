package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
	"github.com/slapgo/slapgo/nodeagent/config"
)

// stormGrid is a master with n partitions of the hello software deployed
// and running, driven by an agent inside the benchmark's process.
type stormGrid struct {
	g     *grid
	agent *agent.Agent
	clock *testClock // the agent's
	reqs  []api.InstanceRequest
	round int
}

var (
	stormMu    sync.Mutex
	stormGrids = map[int]*stormGrid{}
	cleanups   []func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

// cleanupTB runs cleanups registered by the shared fixtures at the end of
// the test binary rather than of one benchmark.
type cleanupTB struct{ testing.TB }

func (c cleanupTB) Cleanup(f func()) {
	stormMu.Lock()
	cleanups = append(cleanups, f)
	stormMu.Unlock()
}

// stormFixture sets up (once per size) n running partitions of hello.
func stormFixture(b *testing.B, n int) *stormGrid {
	b.Helper()
	stormMu.Lock()
	sg := stormGrids[n]
	stormMu.Unlock()
	if sg != nil {
		return sg
	}
	// The fixture outlives the benchmark that made it: its directory and
	// processes go at the end of the test binary.
	dir, err := os.MkdirTemp("", "slapgo-storm-")
	if err != nil {
		b.Fatal(err)
	}
	tb := cleanupTB{b}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	g := startMaster(tb, dir, gridOptions{partitions: n})
	tb.Cleanup(g.killLeftovers)
	cfg, err := config.Load(g.cfgFile)
	if err != nil {
		b.Fatal(err)
	}
	clock := &testClock{}
	a, err := agent.New(cfg, agent.Options{Unprivileged: true, SlapgoBinary: g.bin, Now: clock.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	tb.Cleanup(a.StopServices)
	ctx := context.Background()
	hello, _ := filepath.Abs("../../fixtures/software/hello/software.cfg")
	sr := "file://" + hello
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: sr, State: model.SoftwareAvailable}); err != nil {
		b.Fatal(err)
	}
	if _, err := a.SoftwarePass(ctx, true); err != nil {
		b.Fatal(err)
	}
	sg = &stormGrid{g: g, agent: a, clock: clock}
	for i := range n {
		r := api.InstanceRequest{Title: fmt.Sprintf("storm-%d", i), SoftwareRelease: sr,
			Parameters: map[string]string{"name": "r0"}, SLA: map[string]string{"computer_guid": g.comp}}
		if _, err := g.person.Request(ctx, r); err != nil {
			b.Fatal(err)
		}
		sg.reqs = append(sg.reqs, r)
	}
	began := time.Now()
	res, err := a.InstancePass(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if res.Failed() > 0 || len(res.Results) != 2*n {
		b.Fatalf("first deployment: %d actions, %d failed (want %d, none failed)", len(res.Results), res.Failed(), 2*n)
	}
	b.Logf("first deployment of %d partitions: %s", n, time.Since(began).Round(time.Millisecond))
	stormMu.Lock()
	stormGrids[n] = sg
	stormMu.Unlock()
	return sg
}

// BenchmarkStorm reconfigures every partition of a node at once: each
// iteration changes a parameter of all instances, then one instance pass
// configures them one at a time and restarts their services.
func BenchmarkStorm(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode")
	}
	for _, n := range []int{30, 300} {
		b.Run("partitions="+strconv.Itoa(n), func(b *testing.B) {
			sg := stormFixture(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			var last agent.StormResult
			for range b.N {
				sg.round++
				res, err := agent.RunStorm(ctx, sg.agent, sg.g.person, sg.reqs, func(i int, r *api.InstanceRequest) {
					r.Parameters = map[string]string{"name": fmt.Sprintf("r%d", sg.round)}
				})
				if err != nil {
					b.Fatal(err)
				}
				if res.Partitions != n || res.Failed != 0 {
					b.Fatalf("storm: %s", res)
				}
				last = res
			}
			b.StopTimer()
			b.ReportMetric(last.Total.Seconds(), "storm-s")
			b.ReportMetric(float64(last.P50.Microseconds())/1000, "p50-ms/partition")
			b.ReportMetric(float64(last.P99.Microseconds())/1000, "p99-ms/partition")
			b.Logf("last storm: %s", last)
		})
	}
}

// BenchmarkIdlePass is a pass where nothing changed: the master answers
// 304 and the plan is empty. It reports the CPU time of the pass and the
// agent's resident memory with every partition running. The anomaly
// checks of the started partitions are either not due (checks=none: the
// agent's clock stands still) or all due in every pass with partitions
// that have no promise (checks=no-promises: the clock moves a poll
// interval per pass, the partitions' etc/promise are set aside). The cost
// of checking hello's real promise (a port probe) is measured once before,
// as check-ms/partition.
func BenchmarkIdlePass(b *testing.B) {
	if testing.Short() {
		b.Skip("skipped in -short mode")
	}
	for _, n := range []int{300} {
		for _, checks := range []string{"none", "no-promises"} {
			b.Run(fmt.Sprintf("partitions=%d/checks=%s", n, checks), func(b *testing.B) {
				sg := stormFixture(b, n)
				ctx := context.Background()
				poll := sg.agent.Config().Grid.PollInterval
				// The first pass may still see the last storm's changes.
				if _, err := sg.agent.InstancePass(ctx); err != nil {
					b.Fatal(err)
				}
				sg.clock.freeze()
				defer sg.clock.thaw()
				// One pass where every check is due: hello's promise runs.
				sg.clock.advance(poll)
				began := time.Now()
				res, err := sg.agent.InstancePass(ctx)
				took := time.Since(began)
				if err != nil || res.ViewChanged || len(res.Plan.Actions) != 0 || len(res.Checked) == 0 {
					b.Fatalf("idle pass with checks due: changed=%v actions=%d checked=%d err=%v", res.ViewChanged, len(res.Plan.Actions), len(res.Checked), err)
				}
				checkMS := float64(took.Microseconds()) / 1000 / float64(len(res.Checked))
				var want int
				switch checks {
				case "none":
					// Everything was checked within this poll interval.
					for len(res.Checked) > 0 {
						if res, err = sg.agent.InstancePass(ctx); err != nil {
							b.Fatal(err)
						}
					}
				case "no-promises":
					for i := range n {
						dir := filepath.Join(sg.g.dir, "inst", "slappart"+strconv.Itoa(i), "etc")
						if err := os.Rename(filepath.Join(dir, "promise"), filepath.Join(dir, "promise.off")); err != nil {
							b.Fatal(err)
						}
						defer os.Rename(filepath.Join(dir, "promise.off"), filepath.Join(dir, "promise"))
					}
					want = n
				}
				if checks == "no-promises" {
					sg.clock.advance(poll)
				}
				res, err = sg.agent.InstancePass(ctx)
				if err != nil || res.ViewChanged || len(res.Plan.Actions) != 0 || len(res.Checked) != want {
					b.Fatalf("idle pass: changed=%v actions=%d checked=%d (want %d) err=%v", res.ViewChanged, len(res.Plan.Actions), len(res.Checked), want, err)
				}
				b.ReportAllocs()
				cpu0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					if checks == "no-promises" {
						sg.clock.advance(poll)
					}
					if _, err := sg.agent.InstancePass(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/pass")
				b.ReportMetric(rssMiB(), "agent-rss-MiB")
				b.ReportMetric(checkMS, "check-ms/partition")
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssMiB() float64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb / 1024
		}
	}
	return 0
}

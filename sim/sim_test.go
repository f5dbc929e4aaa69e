package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/sim/scenario"
)

const fixtures = "../fixtures/scenarios/"

// smallBaseline shrinks the baseline to 10 nodes of 50 partitions for 6
// hours, with crashes frequent enough to happen.
var smallBaseline = []string{
	"nodes[0].count=4", "nodes[1].count=4", "nodes[2].count=2",
	"nodes[0].partitions=50", "nodes[1].partitions=50", "nodes[2].partitions=50",
	"workload.requesters=50", "workload.initial=300", "workload.rate_per_hour=60",
	"workload.parameter_changes_per_hour=60", "duration=6h",
	"failures.node_crashes.per_node_per_day=1",
}

func load(t testing.TB, file string, sets []string) *scenario.Scenario {
	t.Helper()
	sc, err := scenario.Load(fixtures+file, sets)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func runFixture(t testing.TB, file string, seed uint64, sets []string) *Result {
	t.Helper()
	res, err := Run(load(t, file, sets), Options{Seed: seed, File: "fixtures/scenarios/" + file, Overrides: sets})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestSameSeedSameTrace(t *testing.T) {
	a := runFixture(t, "baseline.yaml", 42, smallBaseline)
	b := runFixture(t, "baseline.yaml", 42, smallBaseline)
	c := runFixture(t, "baseline.yaml", 43, smallBaseline)
	if a.Summary.TraceHash != b.Summary.TraceHash {
		t.Errorf("same seed, different traces: %s and %s", a.Summary.TraceHash, b.Summary.TraceHash)
	}
	if a.Summary.TraceHash == c.Summary.TraceHash {
		t.Errorf("seeds 42 and 43 give the same trace %s", a.Summary.TraceHash)
	}
	if a.Summary.TraceLines < 1000 || a.Summary.Agents.Crashes == 0 || a.Summary.Placements.Demands == 0 {
		t.Errorf("the run did too little to prove anything: %+v", a.Summary)
	}
	// Everything but the wall-clock figures is equal.
	sa, sb := a.Summary, b.Summary
	sa.Performance, sb.Performance = Performance{}, Performance{}
	var ja, jb bytes.Buffer
	for _, x := range []struct {
		w *bytes.Buffer
		s Summary
	}{{&ja, sa}, {&jb, sb}} {
		if err := jsonEncode(x.w, x.s); err != nil {
			t.Fatal(err)
		}
	}
	if ja.String() != jb.String() {
		t.Errorf("same seed, different summaries:\n%s\n%s", ja.String(), jb.String())
	}
	if len(a.Series) != len(b.Series) || len(a.Series) != 6*12+1 {
		t.Errorf("series lengths %d and %d, want %d", len(a.Series), len(b.Series), 6*12+1)
	}
}

// Adding a fault kind leaves the workload unchanged: the requests drawn
// (when, by whom, for what, for how long) are the same.
func TestFaultsDoNotChangeTheWorkload(t *testing.T) {
	type drawn struct {
		at, life int64
		user, sw int32
		stype    string
	}
	capture := func(sets []string) []drawn {
		var s *engine
		opts := Options{Seed: 5, afterEvent: func(x *engine) { s = x }}
		if _, err := Run(load(t, "baseline.yaml", sets), opts); err != nil {
			t.Fatal(err)
		}
		var out []drawn
		for _, d := range s.demands {
			out = append(out, drawn{at: d.arrivedAt, life: d.lifetime, user: d.user, sw: d.sw, stype: d.stype})
		}
		return out
	}
	plain := capture(smallBaseline)
	faulty := capture(append(append([]string(nil), smallBaseline...),
		"failures.master_outages=[{at: 1h, duration: 20m}]",
		"failures.network_partitions=[{at: 3h, duration: 30m, fraction: 0.5}]"))
	if len(plain) == 0 || len(plain) != len(faulty) {
		t.Fatalf("%d and %d requests", len(plain), len(faulty))
	}
	for i := range plain {
		if plain[i] != faulty[i] {
			t.Fatalf("request %d differs: %+v, with faults %+v", i, plain[i], faulty[i])
		}
	}
}

// A violation injected through the test hook stops the run and gives the
// command that reproduces it; running that command again breaks the same
// invariant at the same event.
func TestViolationPrintsReproduceCommand(t *testing.T) {
	sets := append(append([]string(nil), smallBaseline...), "duration=2h")
	inject := func(s *engine) {
		if s.now < int64(30*time.Minute) {
			return
		}
		for _, n := range s.nodes {
			if n.inFlight == 1 {
				s.beginAction(n, converge.Action{Kind: converge.ConfigurePartition, PartitionID: "slappart49", Reason: converge.ReasonChanged})
				return
			}
		}
	}
	runOnce := func() (*Violation, string) {
		var log bytes.Buffer
		_, err := Run(load(t, "baseline.yaml", sets), Options{Seed: 7, File: "fixtures/scenarios/baseline.yaml",
			Overrides: sets, Log: &log, afterEvent: inject})
		var v *Violation
		if !errors.As(err, &v) {
			t.Fatalf("err = %v, want a *Violation", err)
		}
		return v, log.String()
	}
	v, log := runOnce()
	if v.Invariant != InvOneAtATime {
		t.Errorf("invariant %q, want %q", v.Invariant, InvOneAtATime)
	}
	want := "slapgo sim run fixtures/scenarios/baseline.yaml --seed 7 --set 'nodes[0].count=4'"
	if !strings.HasPrefix(v.Reproduce, want) || !strings.HasSuffix(v.Reproduce, "--set duration=2h") {
		t.Errorf("reproduce = %q, want it to start with %q and end with --set duration=2h", v.Reproduce, want)
	}
	if !strings.HasPrefix(log, "slapgo sim: seed=7 scenario=baseline config={") {
		t.Errorf("first line does not state seed and configuration: %.80q", log)
	}
	if !strings.Contains(log, "reproduce: "+v.Reproduce+"\n") || !strings.Contains(log, v.Error()) {
		t.Errorf("log does not report the violation and the reproduce command:\n%s", log)
	}
	again, _ := runOnce()
	if again.Event != v.Event || again.Detail != v.Detail || again.At != v.At {
		t.Errorf("the reproduce run broke %v, the first %v", again, v)
	}
}

// The checks on the master's mutations catch what would break the
// invariants, were core/master to do it.
func TestObserveCatchesBrokenInvariants(t *testing.T) {
	tests := []struct {
		name string
		muts func(a, b *model.Instance) []master.Mutation
		want string
	}{
		{"partition given twice", func(a, b *model.Instance) []master.Mutation {
			b.ComputerID, b.PartitionID = a.ComputerID, a.PartitionID
			return []master.Mutation{{Kind: master.KindInstance, Key: b.GUID, Value: b}}
		}, InvPartitionOnce},
		{"version decreases", func(a, b *model.Instance) []master.Mutation {
			a.Version--
			return []master.Mutation{{Kind: master.KindInstance, Key: a.GUID, Value: a}}
		}, InvVersionsGrow},
		{"instance freed unasked", func(a, b *model.Instance) []master.Mutation {
			a.Freed = true
			return []master.Mutation{{Kind: master.KindInstance, Key: a.GUID, Value: a}}
		}, InvNoneLost},
		{"pending count differs", func(a, b *model.Instance) []master.Mutation {
			a.PartitionID, a.ComputerID = "", ""
			return []master.Mutation{{Kind: master.KindInstance, Key: a.GUID, Value: a}}
		}, InvNoneLost},
		{"partition and instance disagree", func(a, b *model.Instance) []master.Mutation {
			return []master.Mutation{{Kind: master.KindPartition, Key: a.ComputerID + "/" + a.PartitionID,
				Value: &model.Partition{ComputerID: a.ComputerID, ID: a.PartitionID, Status: model.PartitionBusy, InstanceGUID: b.GUID}}}
		}, InvPartitionOnce},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setUpSmallBaseline(t)
			var got []*model.Instance
			for _, r := range s.insts[:2] {
				info, err := s.m.Instance(model.Admin, r.guid)
				if err != nil || info.PartitionID == "" {
					t.Fatalf("warm-start instance %s not placed: %v", r.guid, err)
				}
				got = append(got, &model.Instance{GUID: info.GUID, Title: info.Title, Owner: info.Owner,
					ComputerID: info.ComputerID, PartitionID: info.PartitionID, Version: info.Version,
					RequestedState: info.RequestedState, SoftwareRelease: info.SoftwareRelease})
			}
			s.observe(tt.muts(got[0], got[1]))
			if s.violation == nil || s.violation.Invariant != tt.want {
				t.Fatalf("violation = %v, want %q", s.violation, tt.want)
			}
		})
	}
}

// After healing, nodes must converge within the scenario's bound: a bound
// shorter than the reboot spread is a liveness violation.
func TestLivenessBound(t *testing.T) {
	sets := []string{"nodes[0].count=4", "nodes[1].count=4", "workload.initial=1200", "workload.rate_per_hour=20",
		"workload.parameter_changes_per_hour=10", "duration=6h", "liveness.converge_within=2m"}
	_, err := Run(load(t, "region-outage.yaml", sets), Options{Seed: 3, File: "fixtures/scenarios/region-outage.yaml", Overrides: sets})
	var v *Violation
	if !errors.As(err, &v) || v.Invariant != InvConverge {
		t.Fatalf("err = %v, want a %q violation", err, InvConverge)
	}
	if !strings.Contains(v.Detail, "region outage eu") || !strings.Contains(v.Reproduce, "liveness.converge_within=2m") {
		t.Errorf("violation %v, reproduce %q", v, v.Reproduce)
	}
}

// fixtureRuns are the six fixture scenarios, shortened, and what each must
// show: TestFixturesRun checks their point, TestGoldenTraces pins their
// trace hashes.
var fixtureRuns = []struct {
	file  string
	sets  []string
	check func(t *testing.T, s *Summary)
}{
	{"baseline.yaml", append(append([]string(nil), smallBaseline...), "software[3].supply_at=2h"), func(t *testing.T, s *Summary) {
		if s.Placements.Placed == 0 || s.Agents.Builds+s.Agents.CacheHits != 10 || s.Economics.InvoicedTotal <= 0 {
			t.Errorf("placed %d, builds %d+%d (want one per node), invoiced %v",
				s.Placements.Placed, s.Agents.Builds, s.Agents.CacheHits, s.Economics.InvoicedTotal)
		}
		if h := s.Economics.InvoicedByRes["hosting"]; abs(h-s.Economics.HostingAccrued) > 1e-3*h {
			t.Errorf("hosting invoiced by core/account %v, accrued by the simulator %v", h, s.Economics.HostingAccrued)
		}
		if s.Agents.Publications == 0 {
			t.Errorf("no connection parameters published: %+v", s.Agents)
		}
	}},
	{"storm.yaml", []string{"nodes[0].count=5", "nodes[1].count=5", "workload.initial=3000", "duration=1h"}, func(t *testing.T, s *Summary) {
		if s.Placements.StormChanges < 2900 || len(s.Convergence) != 1 || !s.Convergence[0].Converged {
			t.Errorf("storm changes %d, convergence %+v", s.Placements.StormChanges, s.Convergence)
		}
		if s.Agents.PeakNodeQueue < 500 {
			t.Errorf("peak node queue %d: every node should have queued its 300 partitions' actions", s.Agents.PeakNodeQueue)
		}
		if s.Agents.Publications < s.Placements.StormChanges {
			t.Errorf("%d publications for %d changes: every configuration publishes", s.Agents.Publications, s.Placements.StormChanges)
		}
	}},
	{"region-outage.yaml", []string{"nodes[0].count=4", "nodes[1].count=4", "workload.initial=1200",
		"workload.rate_per_hour=20", "workload.parameter_changes_per_hour=10", "duration=6h"}, func(t *testing.T, s *Summary) {
		if len(s.Convergence) != 1 || !s.Convergence[0].Converged || !s.Convergence[0].WithinBound || s.Agents.Crashes != 4 {
			t.Errorf("convergence %+v, crashes %d", s.Convergence, s.Agents.Crashes)
		}
	}},
	{"master-outage.yaml", []string{"nodes[0].count=4", "nodes[1].count=4", "workload.initial=1400", "workload.requesters=20", "workload.budget=5",
		"workload.rate_per_hour=60", "workload.parameter_changes_per_hour=60", "duration=6h"}, func(t *testing.T, s *Summary) {
		if len(s.Convergence) != 2 || !s.Convergence[0].Converged || !s.Convergence[1].Converged {
			t.Errorf("convergence %+v", s.Convergence)
		}
		if s.Placements.RejectedBudget == 0 || s.Master.LostInOutages+s.Placements.RejectedOutage == 0 {
			t.Errorf("no budget refusal or outage loss: %+v, %+v", s.Placements, s.Master)
		}
		if s.Master.Restarts != 1 {
			t.Errorf("%d restarts from the store, want one per outage (1)", s.Master.Restarts)
		}
	}},
	{"speculation.yaml", specSets("15m"), func(t *testing.T, s *Summary) {
		if s.Speculation == nil || s.Speculation.Orders == 0 {
			t.Errorf("speculation %+v", s.Speculation)
		}
	}},
	{"preallocation.yaml", []string{"nodes[0].count=20", "workload.initial=1200", "workload.rate_per_hour=100", "duration=8h"}, func(t *testing.T, s *Summary) {
		p := s.Preallocation
		pool, own := s.Placements.ServiceByRoute["pool"], s.Placements.ServiceByRoute["own"]
		if p == nil || p.Handovers == 0 || pool.P50 >= own.P50 {
			t.Errorf("pool %+v, service via pool %+v, via own request %+v", p, pool, own)
		}
	}},
}

// Each fixture runs, shortened, with every invariant held and its point made.
func TestFixturesRun(t *testing.T) {
	for _, tt := range fixtureRuns {
		t.Run(strings.TrimSuffix(tt.file, ".yaml"), func(t *testing.T) {
			res := runFixture(t, tt.file, 1, tt.sets)
			s := &res.Summary
			if s.Invariants.Violation != "" || s.Invariants.FullChecks == 0 || s.Invariants.Checks == 0 {
				t.Errorf("invariants %+v", s.Invariants)
			}
			tt.check(t, s)
		})
	}
}

// specSets shrinks the speculation scenario to 20 computers of 100
// partitions (a fifth of it) and its first two flash crowds.
func specSets(delay string) []string {
	return []string{"nodes[0].count=20", "workload.requesters=200", "workload.initial=1700", "workload.rate_per_hour=212",
		"workload.bursts[0].count=300", "workload.bursts[1].count=300", "duration=8h", "master.provisioning_delay=" + delay}
}

// The seed's claim, on numbers: slowing provisioning reduces speculation.
func TestProvisioningDelayReducesHoarding(t *testing.T) {
	fast := runFixture(t, "speculation.yaml", 1, specSets("0s")).Summary
	slow := runFixture(t, "speculation.yaml", 1, specSets("30m")).Summary
	f, s := fast.Speculation, slow.Speculation
	t.Logf("delay 0s:  %d orders, %d sold, %.1f hoarded unit-hours, profit %.2f, aggressiveness %.2f; service p50 %.0fs",
		f.Orders, f.Sales, f.HoardedUnitHours, f.Profit, f.AggressivenessEnd, fast.Placements.ServiceTime.P50)
	t.Logf("delay 30m: %d orders, %d sold, %.1f hoarded unit-hours, profit %.2f, aggressiveness %.2f; service p50 %.0fs",
		s.Orders, s.Sales, s.HoardedUnitHours, s.Profit, s.AggressivenessEnd, slow.Placements.ServiceTime.P50)
	if f.HoardedUnitHours <= 0 || f.Sales == 0 {
		t.Fatalf("without delay the speculators should hoard and sell: %+v", f)
	}
	if s.HoardedUnitHours >= f.HoardedUnitHours/2 || s.Orders >= f.Orders || s.Sales >= f.Sales {
		t.Errorf("a 30m provisioning delay should at least halve the hoard: %+v vs %+v", s, f)
	}
	if s.AggressivenessEnd >= f.AggressivenessEnd || s.Profit >= f.Profit {
		t.Errorf("speculators should learn that speculation does not pay with the delay: %+v vs %+v", s, f)
	}
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Started runs once, when the grid is built and before the first event.
func TestStartedRunsOnceBeforeTheFirstEvent(t *testing.T) {
	events, calls, eventsAtStart := 0, 0, -1
	opts := Options{Seed: 1, Started: func() { calls++; eventsAtStart = events }}
	opts.afterEvent = func(*engine) { events++ }
	if _, err := Run(load(t, "baseline.yaml", smallBaseline), opts); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || eventsAtStart != 0 || events == 0 {
		t.Fatalf("Started ran %d times, after %d events of %d", calls, eventsAtStart, events)
	}
}

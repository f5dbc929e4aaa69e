package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `name: tiny
duration: 2h
software:
  - url: https://lab.slapgo.example/software/a.cfg
nodes:
  - name: eu
    count: 2
    partitions: 10
    region: eu
workload:
  initial: 5
  rate_per_hour: 10
`

func TestFixturesLoad(t *testing.T) {
	files, err := filepath.Glob("../../fixtures/scenarios/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"baseline", "master-outage", "preallocation", "provisioning-question", "region-outage", "speculation", "storm"}
	var got []string
	for _, f := range files {
		sc, err := Load(f, nil)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		got = append(got, sc.Name)
		if sc.Name != strings.TrimSuffix(filepath.Base(f), ".yaml") {
			t.Errorf("%s: name %q differs from the file name", f, sc.Name)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fixtures = %v, want %v", got, want)
	}
}

func TestDefaults(t *testing.T) {
	sc, err := Parse("tiny.yaml", []byte(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"duration", sc.Duration.D(), 2 * time.Hour},
		{"poll interval", sc.Agent.PollInterval.D(), time.Minute},
		{"maximum periodicity", sc.Agent.MaximumPeriodicity.D(), 24 * time.Hour},
		{"policy", sc.Master.Policy, "first-fit"},
		{"network defaults to region", sc.Nodes[0].Network, "eu"},
		{"node software defaults to all", len(sc.Nodes[0].Software), 1},
		{"software type", sc.Software[0].Types[0], "default"},
		{"software deploy defaults to agent.deploy", sc.Software[0].Deploy, sc.Agent.Deploy},
		{"cache hit ratio", *sc.Agent.CacheHitRatio, 0.9},
		{"lifetime", sc.Workload.Lifetime.Kind, DistExponential},
		{"liveness bound", sc.Liveness.ConvergeWithin.D(), time.Hour},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if a, b := sc.Canonical(), sc.Canonical(); a != b || !strings.Contains(a, `"duration":"2h0m0s"`) {
		t.Errorf("canonical JSON not stable or durations not strings: %s", a)
	}
}

func TestOverrides(t *testing.T) {
	tests := []struct {
		name  string
		sets  []string
		check func(*Scenario) bool
	}{
		{"top level", []string{"duration=30m"}, func(s *Scenario) bool { return s.Duration.D() == 30*time.Minute }},
		{"list entry, bracket form", []string{"nodes[0].count=7"}, func(s *Scenario) bool { return s.Nodes[0].Count == 7 }},
		{"list entry, dot form", []string{"nodes.0.partitions=300"}, func(s *Scenario) bool { return s.Nodes[0].Partitions == 300 }},
		{"missing mapping created", []string{"master.provisioning_delay=15m"}, func(s *Scenario) bool {
			return s.Master.ProvisioningDelay.D() == 15*time.Minute
		}},
		{"map key", []string{"nodes[0].prices.hosting=0.5"}, func(s *Scenario) bool { return s.Nodes[0].Prices["hosting"] == 0.5 }},
		{"flow value", []string{"workload.lifetime={dist: lognormal, mean: 2h, sigma: 0.3}"}, func(s *Scenario) bool {
			return s.Workload.Lifetime.Kind == DistLognormal && s.Workload.Lifetime.Mean.D() == 2*time.Hour
		}},
		{"later wins", []string{"duration=1h", "duration=3h"}, func(s *Scenario) bool { return s.Duration.D() == 3*time.Hour }},
		{"days", []string{"duration=2d"}, func(s *Scenario) bool { return s.Duration.D() == 48*time.Hour }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := Parse("tiny.yaml", []byte(minimal), tt.sets)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(sc) {
				t.Errorf("override %v not applied: %s", tt.sets, sc.Canonical())
			}
		})
	}
}

// Every error names the file, the line (or the override) and the field.
func TestErrorsNameFieldAndLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		sets []string
		want string
	}{
		{"unknown top-level field", minimal + "colour: blue\n", nil,
			`tiny.yaml:13: colour: field "colour" is unknown in the top level: expected one of name,`},
		{"unknown nested field", strings.Replace(minimal, "    region: eu\n", "    regoin: eu\n", 1), nil,
			`tiny.yaml:9: nodes[0].regoin: field "regoin" is unknown in nodes[0]: expected one of name, count, partitions, region`},
		{"wrong type", strings.Replace(minimal, "count: 2", "count: two", 1), nil,
			`tiny.yaml:7: nodes[0].count: "two" is not an integer`},
		{"bad duration", strings.Replace(minimal, "duration: 2h", "duration: 2 hours", 1), nil,
			`tiny.yaml:2: duration: "2 hours" is not a duration`},
		{"bad distribution", minimal + "agent:\n  configure: {dist: lognormale, mean: 1s}\n", nil,
			`tiny.yaml:14: agent.configure.dist: "lognormale" is unknown: expected constant, uniform, exponential or lognormal`},
		{"unknown field in a distribution", minimal + "agent:\n  configure: {dist: lognormal, mean: 1s, sigmaa: 1}\n", nil,
			`tiny.yaml:14: agent.configure.sigmaa: field "sigmaa" is unknown`},
		{"range", strings.Replace(minimal, "count: 2", "count: 0", 1), nil,
			`tiny.yaml:7: nodes[0].count: 0: expected 1 to 1000000 computers`},
		{"unknown region", minimal + "failures:\n  region_outages:\n    - {at: 1h, duration: 1h, region: jp}\n", nil,
			`tiny.yaml:15: failures.region_outages[0].region: "jp" is not the region of any node group (regions: eu)`},
		{"unknown policy", minimal + "master:\n  policy: cheapest-first\n", nil,
			`tiny.yaml:14: master.policy: "cheapest-first" is unknown`},
		{"unknown SLA key", minimal + "  sla:\n    - conditions: {regoin: eu}\n", nil,
			`tiny.yaml:14: workload.sla[0].conditions: sla key "regoin" is unknown`},
		{"retired field", minimal + "agent:\n  poll_interval: 30s\n  poll_jitter: 10s\n", nil,
			`tiny.yaml:15: agent.poll_jitter: field "poll_jitter" is retired: the instance passes follow the node's Schedule`},
		{"override of a retired field", minimal, []string{"agent.poll_jitter=5s"},
			`--set agent.poll_jitter=5s: agent.poll_jitter: field "poll_jitter" is retired: ` +
				`the instance passes follow the node's Schedule (core/agent, as in the production agent), which waits up to ` +
				`a tenth of each delay longer; remove it (agent.poll_interval sets the period, and with it the jitter)`},
		{"override of an unknown field", minimal, []string{"nodes[0].cuont=3"},
			`tiny.yaml: --set nodes[0].cuont=3: nodes[0].cuont: field "cuont" is unknown in nodes[0]`},
		{"override of a missing list entry", minimal, []string{"nodes[3].count=3"},
			`tiny.yaml: --set nodes[3].count=3: nodes: index "3": the list has 1 entries (0 to 0)`},
		{"override with a bad value", minimal, []string{"workload.initial=-4"},
			`tiny.yaml: --set workload.initial=-4: workload.initial: -4: expected 0 to 20 (the grid's partitions)`},
		{"not key=value", minimal, []string{"duration"},
			`tiny.yaml: --set duration: expected key=value`},
		{"syntax", "name: [oops\n", nil, `tiny.yaml: `},
		{"NaN rate", strings.Replace(minimal, "rate_per_hour: 10", "rate_per_hour: .nan", 1), nil,
			`tiny.yaml:12: workload.rate_per_hour: ".nan" is not a finite number`},
		{"infinite budget", minimal + "  budget: .inf\n", nil,
			`tiny.yaml:13: workload.budget: ".inf" is not a finite number`},
		{"NaN price by override", minimal, []string{"nodes[0].prices.hosting=.NaN"},
			`tiny.yaml: --set nodes[0].prices.hosting=.NaN: nodes[0].prices.hosting: ".NaN" is not a finite number`},
		{"infinite pointer field", minimal, []string{"agent.cache_hit_ratio=-.inf"},
			`agent.cache_hit_ratio: "-.inf" is not a finite number`},
		{"NaN shape of a distribution", minimal + "agent:\n  configure: {dist: lognormal, mean: 1s, sigma: .nan}\n", nil,
			`tiny.yaml:14: agent.configure.sigma: ".nan" is not a finite number`},
		{"NaN max_price in an SLA", minimal + "  sla:\n    - conditions: {max_price: NaN}\n", nil,
			`tiny.yaml:14: workload.sla[0].conditions: sla max_price="NaN": expected a finite number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("tiny.yaml", []byte(tt.yaml), tt.sets)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if !errors.Is(err, ErrScenario) {
				t.Errorf("error does not wrap ErrScenario: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, ErrScenario) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrScenario wrapping ErrNotExist", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal), "duration=1h")
	f.Add([]byte("nodes: [{count: 1}]\n"), "nodes[0].count=2")
	f.Add([]byte("agent: {configure: 1s}\n"), "agent.configure.mean=2s")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		sc, err := Parse("fuzz.yaml", data, []string{set})
		if err != nil {
			if !errors.Is(err, ErrScenario) {
				t.Fatalf("error does not wrap ErrScenario: %v", err)
			}
			return
		}
		if len(sc.Nodes) == 0 || sc.Duration <= 0 {
			t.Fatalf("accepted a scenario without nodes or duration: %s", sc.Canonical())
		}
	})
}

func TestVariantsAndMarket(t *testing.T) {
	const withVariants = minimal + `variants:
  slow:
    master.delay_policy: {kind: step, steps: [{fill: 0.5, delay: 10m}]}
  bad:
    master.delay_policy: {kind: step}
  broken: 3
`
	sc, err := Parse("v.yaml", []byte(withVariants), []string{"variant=slow"})
	if err != nil {
		t.Fatal(err)
	}
	if dp := sc.Master.DelayPolicy; dp == nil || dp.Kind != "step" || dp.Steps[0].Delay.D() != 10*time.Minute {
		t.Fatalf("variant slow not applied: %+v", sc.Master.DelayPolicy)
	}
	if sc, err := Parse("v.yaml", []byte(withVariants), nil); err != nil || sc.Master.DelayPolicy != nil {
		t.Fatalf("no variant: %v %+v", err, sc)
	}
	for _, tc := range []struct {
		doc  string
		sets []string
		want string
	}{
		{withVariants, []string{"variant=fast"}, `variant "fast" is unknown: expected one of slow, bad, broken`},
		{withVariants, []string{"variant=bad"}, "master.delay_policy: a step curve needs at least one step"},
		{withVariants, []string{"variant=broken"}, "variants.broken: expected a mapping"},
		{minimal, []string{"variant=x"}, "the scenario has no variants"},
		{minimal, []string{"economics.market.pricing={kind: auction, base: 1}"}, "economics.market.pricing: gain 0"},
		{minimal, []string{"economics.market.capex_per_node=-3"}, "economics.market.capex_per_node: -3: expected a finite amount >= 0"},
		{minimal, []string{"nodes[0].join_at=2h", "nodes[0].retire_at=1h"}, "nodes[0].retire_at: 1h0m0s: expected after join_at"},
		{minimal, []string{"master.delay_policy={kind: proportional, base: 1h, max: 1m}"}, "master.delay_policy: max 60: expected >= base 3600"},
	} {
		_, err := Parse("v.yaml", []byte(tc.doc), tc.sets)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.sets, err, tc.want)
		}
	}
}

// TestBaselineGridVariants: the fixture's large-grid variants are the
// baseline scaled five and ten times (as `slapgo bench sim --nodes 5000`
// and `--nodes 10000` scale it) with requests spread, and a later --set
// overrides their policy.
func TestBaselineGridVariants(t *testing.T) {
	base, err := Load("../../fixtures/scenarios/baseline.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sets   []string
		factor int
		policy string
	}{
		{[]string{"variant=grid-5000"}, 5, "spread"},
		{[]string{"variant=grid-5000", "master.policy=first-fit"}, 5, "first-fit"},
		{[]string{"variant=grid-10000"}, 10, "spread"},
	} {
		sc, err := Load("../../fixtures/scenarios/baseline.yaml", c.sets)
		if err != nil {
			t.Fatal(err)
		}
		f := c.factor
		nodes := 0
		for i, g := range sc.Nodes {
			nodes += g.Count
			if g.Count != f*base.Nodes[i].Count || g.Partitions != base.Nodes[i].Partitions {
				t.Errorf("%v: nodes[%d] %d × %d, want %d × %d", c.sets, i, g.Count, g.Partitions, f*base.Nodes[i].Count, base.Nodes[i].Partitions)
			}
		}
		w, bw := sc.Workload, base.Workload
		if nodes != f*1000 || w.Initial != f*bw.Initial || w.RatePerHour != float64(f)*bw.RatePerHour ||
			w.ParameterChangesPerHour != float64(f)*bw.ParameterChangesPerHour || w.Requesters != f*bw.Requesters {
			t.Errorf("%v: %d nodes, workload %+v: want %d times the baseline's", c.sets, nodes, w, f)
		}
		if string(sc.Master.Policy) != c.policy || sc.Liveness.ConvergeWithin != base.Liveness.ConvergeWithin {
			t.Errorf("%v: policy %q, liveness %v: want %q and the baseline's bound", c.sets, sc.Master.Policy, sc.Liveness.ConvergeWithin, c.policy)
		}
	}
}

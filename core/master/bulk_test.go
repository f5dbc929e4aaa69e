package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestSeedEqualsApply: a state given a random workload by Seed holds what
// the same commands applied one by one give: the same entities, views,
// pending queue, usage, capacity and indexes (stateAnswers), and each
// command the same result, error, and instances and partitions changed.
// One batch at one time, or a batch per command at its own time; with the
// production's event history and a price policy, or the simulator's
// configuration.
func TestSeedEqualsApply(t *testing.T) {
	pricing := market.Curve{Kind: market.Auction, Base: 1, Gain: 2, Max: 4, Horizon: time.Hour}
	configs := map[string]master.Config{
		"production": {Policy: "random", KeepMovements: true, EventHistory: 4, Limits: master.DefaultLimits(),
			Pricing: &pricing, DemandWindow: 10 * time.Minute},
		"simulator": {Policy: "first-fit", OnlineWithin: 10 * time.Minute, KeepMovements: true, ViewReplacesPrevious: true},
	}
	for name, cfg := range configs {
		for seed := range uint64(10) {
			oneBatch := seed%2 == 0
			t.Run(fmt.Sprintf("%s/seed=%d/one-batch=%v", name, seed, oneBatch), func(t *testing.T) {
				one, batch := master.New(cfg), master.New(cfg)
				g := newCommandGen(t, one, seed)
				if _, _, err := batch.Apply(t0, master.AddPerson{By: model.Admin, ID: "p0"}); err != nil {
					t.Fatal(err)
				}
				if _, _, err := batch.Apply(t0, master.AddPerson{By: model.Admin, ID: "p1"}); err != nil {
					t.Fatal(err)
				}
				type step struct {
					now  time.Time
					cmd  master.Command
					want string // result, error and changed entities, in JSON
				}
				var steps []step
				for k := range 400 {
					now, cmd := g.next(k)
					if cmd == nil {
						continue
					}
					if oneBatch {
						now = t0
					}
					res, muts, err := one.Apply(now, cmd)
					g.applied(res)
					steps = append(steps, step{now, cmd, seedStep(t, res, entityMutations(muts), err)})
				}
				check := func(k int, res master.Result, changed []master.Mutation, err error) {
					if got := seedStep(t, res, changed, err); got != steps[k].want {
						t.Fatalf("command %d (%s): Seed gives\n%.1500s\nApply gives\n%.1500s", k, steps[k].cmd.CommandName(), got, steps[k].want)
					}
				}
				if oneBatch {
					cmds := make([]master.Command, len(steps))
					for k, st := range steps {
						cmds[k] = st.cmd
					}
					batch.Seed(t0, cmds, check)
				} else {
					for k, st := range steps {
						batch.Seed(st.now, []master.Command{st.cmd}, func(_ int, res master.Result, changed []master.Mutation, err error) {
							check(k, res, changed, err)
						})
					}
				}
				now := steps[len(steps)-1].now
				if got, want := stateAnswers(t, now, batch), stateAnswers(t, now, one); got != want {
					t.Fatalf("after %d commands, Seed's state differs from Apply's:\nSeed:  %.2000s\nApply: %.2000s", len(steps), got, want)
				}
				// Both go on deciding alike.
				for k := range 50 {
					now, cmd := g.next(400 + k)
					if cmd == nil {
						continue
					}
					r1, m1, e1 := one.Apply(now, cmd)
					r2, m2, e2 := batch.Apply(now, cmd)
					g.applied(r1)
					if a, b := mustJSON(t, []any{r1, m1, fmt.Sprint(e1)}), mustJSON(t, []any{r2, m2, fmt.Sprint(e2)}); a != b {
						t.Fatalf("after the batch, %s: Apply on the seeded state gives\n%.1500s\nnot\n%.1500s", cmd.CommandName(), b, a)
					}
				}
			})
		}
	}
}

// TestSeedGrid: a grid loaded in one batch, as the simulator's warm start
// loads it (computers, capacity, software, requests of which some wait,
// publications and reports), equals the grid loaded command by command.
func TestSeedGrid(t *testing.T) {
	cfg := master.Config{Policy: "first-fit", KeepMovements: true}
	var cmds []master.Command
	for p := range 3 {
		cmds = append(cmds, master.AddPerson{By: model.Admin, ID: fmt.Sprintf("P%d", p)})
	}
	for c := range 20 {
		id := fmt.Sprintf("COMP-%02d", c)
		comp := model.Actor{Kind: model.KindComputer, ID: id}
		var parts []master.PartitionSpec
		for n := range 10 {
			parts = append(parts, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", n),
				Addresses: []model.Address{{Iface: "slapgo0", Addr: fmt.Sprintf("10.0.%d.%d", c, n+2)}}})
		}
		cmds = append(cmds,
			master.RegisterComputer{By: model.Admin, ID: id, Owner: "P0", Region: []string{"eu", "us"}[c%2], Network: "n"},
			master.SetCapacity{By: comp, ComputerID: id, Partitions: parts},
			master.Supply{By: model.Actor{Kind: model.KindPerson, ID: "P0"}, ComputerID: id, URL: sr, State: model.SoftwareAvailable},
			master.ReportSoftware{By: comp, ComputerID: id, URL: sr, State: model.SoftwareReadyAvailable})
	}
	for i := range 250 { // more than the 200 partitions: the last wait
		sla := map[string]string{}
		switch i % 5 {
		case 1:
			sla["region"] = "us"
		case 2:
			sla["region"] = "jp" // no such computer: waits
		}
		cmds = append(cmds, master.Request{By: model.Actor{Kind: model.KindPerson, ID: fmt.Sprintf("P%d", i%3)},
			Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: sr, Parameters: map[string]string{"rev": "1"}, SLA: sla,
			State: model.StateStarted})
	}
	for c := range 20 {
		id := fmt.Sprintf("COMP-%02d", c)
		comp := model.Actor{Kind: model.KindComputer, ID: id}
		for n := range 10 {
			p := fmt.Sprintf("slappart%d", n)
			cmds = append(cmds,
				master.SetConnection{By: comp, ComputerID: id, PartitionID: p, Parameters: map[string]string{"url": id + "/" + p}},
				master.ReportPartition{By: comp, ComputerID: id, PartitionID: p, State: model.ReportedStarted})
		}
	}
	one, batch := master.New(cfg), master.New(cfg)
	var want []string
	for _, cmd := range cmds {
		res, muts, err := one.Apply(t0, cmd)
		want = append(want, seedStep(t, res, entityMutations(muts), err))
	}
	batch.Seed(t0, cmds, func(k int, res master.Result, changed []master.Mutation, err error) {
		if got := seedStep(t, res, changed, err); got != want[k] {
			t.Fatalf("command %d (%s): Seed gives\n%.1500s\nApply gives\n%.1500s", k, cmds[k].CommandName(), got, want[k])
		}
	})
	// The jp requests and those beyond capacity wait.
	if free, busy := batch.Capacity(); free+busy != 200 || busy+batch.PendingCount() != 250 || batch.PendingCount() < 50 {
		t.Fatalf("%d free and %d busy partitions, %d pending requests: want 200 partitions, 250 requests, 50 pending at least",
			free, busy, batch.PendingCount())
	}
	if got, want := stateAnswers(t, t0, batch), stateAnswers(t, t0, one); got != want {
		t.Fatalf("Seed's state differs from Apply's:\nSeed:  %.2000s\nApply: %.2000s", got, want)
	}
}

// entityMutations keeps the instance and partition mutations, as Seed
// reports them.
func entityMutations(muts []master.Mutation) []master.Mutation {
	var out []master.Mutation
	for _, m := range muts {
		if m.Kind == master.KindInstance || m.Kind == master.KindPartition {
			out = append(out, m)
		}
	}
	return out
}

// seedStep is one command's outcome in JSON.
func seedStep(t *testing.T, res master.Result, changed []master.Mutation, err error) string {
	t.Helper()
	if len(changed) == 0 {
		changed = nil
	}
	return mustJSON(t, []any{res, changed, fmt.Sprint(err)})
}

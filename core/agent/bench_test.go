package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkQuietPass is the pass the simulator runs most: a converged node
// whose view did not change, with and without anomaly checks.
func BenchmarkQuietPass(b *testing.B) {
	for _, parts := range []int{10, 300} {
		for _, checks := range []bool{false, true} {
			b.Run(fmt.Sprintf("parts=%d/checks=%v", parts, checks), func(b *testing.B) {
				var ps []model.PartitionView
				for i := range parts {
					ps = append(ps, started(fmt.Sprintf("slappart%d", i), fmt.Sprintf("S-%d", i), 1))
				}
				cfg := Config{PollInterval: time.Minute, PromiseBudget: time.Hour}
				if !checks {
					cfg.PromiseInterval = -1
				}
				a := New(cfg, installed(swA))
				v := view(1, ps...)
				now := t0
				drive := func() int {
					n, _ := benchPass(b, a, v, &now, nil)
					return n
				}
				drive()
				if n := drive(); n < 1 || !a.Converged() {
					b.Fatalf("a quiet pass ran %d effects, converged %v", n, a.Converged())
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					drive()
				}
			})
		}
	}
}

// BenchmarkPeriodicPass is the simulator's most common pass that plans: a
// converged node of 300 partitions whose partitions come due for periodic
// reprocessing one at a time (their last successes spread over the
// period). One iteration is one pass: fetch (not modified), plan, the
// partition's configuration and start, their reports, sleep.
func BenchmarkPeriodicPass(b *testing.B) {
	const parts = 300
	const period = 24 * time.Hour
	step := period / parts
	var ps []model.PartitionView
	actual := installed(swA)
	for i := range parts {
		p := started(fmt.Sprintf("slappart%d", i), fmt.Sprintf("S-%d", i), 1)
		ps = append(ps, p)
		actual.Partitions[p.ID] = converge.PartitionActual{AppliedVersion: 1, InstanceGUID: p.InstanceGUID,
			LastSuccess: t0.Add(-period + time.Duration(i+1)*step), Running: true}
	}
	cfg := Config{PollInterval: time.Hour, PromiseInterval: -1, Converge: converge.Config{MaximumPeriodicity: period}}
	a := New(cfg, actual)
	v := view(1, ps...)
	now := t0
	conn := map[string]string{"url": "http://x/"}
	drive := func() int {
		_, n := benchPass(b, a, v, &now, conn)
		return n
	}
	if n := drive(); n != 0 {
		b.Fatalf("the first pass ran %d actions, want none", n)
	}
	if n := drive(); n != 2 || now.Sub(t0) != 2*step {
		b.Fatalf("a periodic pass ran %d actions (want 2), next pass in %v (want %v)", n, now.Sub(t0), 2*step)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		drive()
	}
}

// benchPass runs a's pass at *now until it sleeps, and moves *now to the
// end of the sleep: the view fetched is v (not modified once the agent has
// it), every other effect succeeds, and a configuration publishes conn
// (nil: nothing). It returns the effects and the actions run.
func benchPass(b *testing.B, a *Agent, v *model.ComputerView, now *time.Time, conn map[string]string) (effects, actions int) {
	for {
		e := a.Next(*now)
		if e.Kind == Sleep {
			*now = e.Until
			return effects, actions
		}
		effects++
		if e.Kind == RunAction {
			actions++
		}
		o := OK()
		switch {
		case e.Kind == FetchView && a.View() == nil:
			o = ViewFetched(v)
		case e.Kind == FetchView:
			o = NotModified()
		case e.Kind == RunAction && e.Action.Kind == converge.ConfigurePartition && conn != nil:
			o = Configured(conn, nil)
		}
		if err := a.Done(*now, o); err != nil {
			b.Fatal(err)
		}
	}
}

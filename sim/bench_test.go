package sim

import (
	"fmt"
	"testing"
)

// baselineAt scales the baseline to n computers of 300 partitions, keeping
// its shape: 40% eu, 40% us, 20% asia, 60% busy, 300 requests and 300
// parameter changes an hour per 1,000 computers.
func baselineAt(n int) []string {
	eu, us := n*2/5, n*2/5
	return []string{
		fmt.Sprintf("nodes[0].count=%d", eu), fmt.Sprintf("nodes[1].count=%d", us), fmt.Sprintf("nodes[2].count=%d", n-eu-us),
		fmt.Sprintf("workload.initial=%d", n*300*6/10), fmt.Sprintf("workload.requesters=%d", 2*n),
		fmt.Sprintf("workload.rate_per_hour=%g", 0.3*float64(n)), fmt.Sprintf("workload.parameter_changes_per_hour=%g", 0.3*float64(n)),
	}
}

// BenchmarkSim runs the baseline day (24 h virtual, 60 s polling) at 100
// and 1,000 computers of 300 partitions.
func BenchmarkSim(b *testing.B) {
	for _, nodes := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d/parts=300", nodes), func(b *testing.B) {
			sets := baselineAt(nodes)
			// Check the results before the timed loop, on the first hour.
			res, err := Run(load(b, "baseline.yaml", append(sets, "duration=1h")), Options{Seed: 1})
			if err != nil || res.Summary.Placements.Placed == 0 || res.Summary.Nodes != nodes {
				b.Fatalf("check run: %v %+v", err, res.Summary.Placements)
			}
			sc := load(b, "baseline.yaml", sets)
			b.ReportAllocs()
			b.ResetTimer()
			var events uint64
			for b.Loop() {
				res, err := Run(sc, Options{Seed: 1})
				if err != nil {
					b.Fatal(err)
				}
				events += res.Summary.Events
			}
			el := b.Elapsed().Seconds()
			b.ReportMetric(float64(events)/el, "events/s")
			b.ReportMetric(float64(b.N)*sc.Duration.D().Seconds()/el, "virtual/real")
		})
	}
}

// BenchmarkStorm changes every partition of a full grid at once (storm.yaml):
// 30,000 and 300,000 partition changes. ns/change stays flat when the
// storm grows tenfold: no quadratic blow-up.
func BenchmarkStorm(b *testing.B) {
	for _, nodes := range []int{100, 1000} {
		changes := nodes * 300
		b.Run(fmt.Sprintf("changes=%d", changes), func(b *testing.B) {
			sets := []string{fmt.Sprintf("nodes[0].count=%d", nodes/2), fmt.Sprintf("nodes[1].count=%d", nodes-nodes/2),
				fmt.Sprintf("workload.initial=%d", changes), "duration=1h"}
			sc := load(b, "storm.yaml", sets)
			res, err := Run(sc, Options{Seed: 1})
			if err != nil || res.Summary.Placements.StormChanges < uint64(changes)*99/100 || !res.Summary.Convergence[0].Converged {
				b.Fatalf("check run: %v, %d changes, %+v", err, res.Summary.Placements.StormChanges, res.Summary.Convergence)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Run(sc, Options{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(changes), "ns/change")
			b.ReportMetric(float64(res.Summary.Convergence[0].AfterS), "converge-s")
		})
	}
}

// BenchmarkWarmStart builds the baseline's simulation at its start
// (NewEngine: persons, computers, partitions, software and the warm-start
// instances placed, configured and started) at 100 and 1,000 computers of
// 300 partitions, 60% busy.
func BenchmarkWarmStart(b *testing.B) {
	for _, nodes := range []int{100, 1000} {
		b.Run(fmt.Sprintf("nodes=%d/parts=300", nodes), func(b *testing.B) {
			sc := load(b, "baseline.yaml", baselineAt(nodes))
			e, err := NewEngine(sc, Options{Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			if free, busy := e.Master().Capacity(); busy != sc.Workload.Initial || free+busy != nodes*300 {
				b.Fatalf("check: %d busy, %d free partitions, want %d busy of %d", busy, free, sc.Workload.Initial, nodes*300)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := NewEngine(sc, Options{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(sc.Workload.Initial), "ns/instance")
		})
	}
}

package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// drain runs every scheduled event.
func drain(s *engine) {
	for s.queue.len() > 0 {
		ev := s.queue.pop()
		s.now = ev.at
		s.dispatch(ev)
	}
}

// The master serves commands in the order they arrive: one sent later
// over a faster link is applied first.
func TestMasterServesInArrivalOrder(t *testing.T) {
	tests := []struct {
		name    string
		latency []time.Duration // per command, sent in this order
		want    []string        // persons, in the order the master adds them
	}{
		{"slow link first", []time.Duration{50 * time.Millisecond, 10 * time.Millisecond}, []string{"P-2", "P-1"}},
		{"fast link first", []time.Duration{10 * time.Millisecond, 50 * time.Millisecond}, []string{"P-1", "P-2"}},
		{"same latency: send order", []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}, []string{"P-1", "P-2", "P-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newEngine(load(t, "baseline.yaml", smallBaseline), Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			var order []string
			for i, l := range tt.latency {
				id := "P-" + string(rune('1'+i))
				s.submit(l, master.AddPerson{By: model.Admin, ID: id, Name: id}, func(_ master.Result, err error) {
					if err != nil {
						t.Errorf("%s: %v", id, err)
					}
					order = append(order, id)
				})
			}
			drain(s)
			if !slices.Equal(order, tt.want) {
				t.Errorf("applied %v, want %v", order, tt.want)
			}
		})
	}
}

// Every configuration publishes the instance's connection parameters: the
// master knows the URL of every instance a node configured.
func TestNodesPublishConnectionParameters(t *testing.T) {
	var s *engine
	sets := []string{"nodes[0].count=2", "nodes[1].count=2", "workload.initial=600", "duration=30m"}
	if _, err := Run(load(t, "storm.yaml", sets), Options{Seed: 1, afterEvent: func(x *engine) { s = x }}); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, n := range s.nodes {
		for id, p := range n.ag.Actual().Partitions {
			if p.InstanceGUID == "" || p.AppliedVersion == 0 {
				continue
			}
			info, err := s.m.Instance(model.Admin, p.InstanceGUID)
			if err != nil {
				t.Fatal(err)
			}
			if u := info.Connection["url"]; u == "" {
				t.Fatalf("%s/%s runs %s, configured at version %d, and published nothing: %+v", n.id, id, p.InstanceGUID, p.AppliedVersion, info.Connection)
			}
			checked++
		}
	}
	if checked < 500 {
		t.Fatalf("only %d configured partitions checked", checked)
	}
}

// A stepped engine is the simulation Run runs: stepping it to the end in
// several steps gives Run's trace and summary.
func TestSteppedEngineIsRun(t *testing.T) {
	sets := []string{"nodes[0].count=2", "nodes[1].count=2", "workload.initial=600", "duration=2h"}
	sc := load(t, "storm.yaml", sets)
	want, err := Run(sc, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(sc, Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Duration{time.Minute, 40 * time.Minute, 41 * time.Minute, 2 * time.Hour} {
		if _, err := e.RunUntil(e.s.t0.Add(at), nil); err != nil {
			t.Fatal(err)
		}
		if got := e.Now().Sub(e.s.t0); got != at {
			t.Fatalf("the clock is at %s after RunUntil(%s)", got, at)
		}
	}
	got := e.Finish(0)
	if got.Summary.TraceHash != want.Summary.TraceHash || got.Summary.Events != want.Summary.Events {
		t.Errorf("stepped: trace %s after %d events; Run: %s after %d", got.Summary.TraceHash, got.Summary.Events,
			want.Summary.TraceHash, want.Summary.Events)
	}
	if _, err := e.RunUntil(e.s.t0, nil); err == nil {
		t.Error("running until a time already past is accepted")
	}
}

package master_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// fullGrid is a master whose computers are full, with requests pending.
type fullGrid struct {
	s      *master.State
	now    time.Time
	alice  model.Actor
	next   int                  // next request title
	victim int                  // last request destroyed by destroyOldest
	homes  map[string][2]string // allocated title -> computer, partition
}

func (g *fullGrid) apply(tb testing.TB, c master.Command) master.Result {
	g.now = g.now.Add(time.Millisecond)
	res, _, err := g.s.Apply(g.now, c)
	if err != nil {
		tb.Fatalf("%s: %v", c.CommandName(), err)
	}
	return res
}

// request asks for a new instance and returns its title and answer.
func (g *fullGrid) request(tb testing.TB) (string, *master.InstanceInfo) {
	g.next++
	title := fmt.Sprintf("inst-%d", g.next)
	res := g.apply(tb, master.Request{By: g.alice, Title: title, SoftwareRelease: sr,
		Parameters: map[string]string{"n": title}})
	if res.Instance.Status == master.StatusAllocated {
		g.homes[title] = [2]string{res.Instance.ComputerID, res.Instance.PartitionID}
	}
	return title, res.Instance
}

// newFullGrid builds computers × parts partitions, fills busy of them (in
// computer order, first-fit) and leaves pending requests waiting.
func newFullGrid(tb testing.TB, computers, parts, busy, pending int) *fullGrid {
	tb.Helper()
	g := &fullGrid{s: master.New(master.DefaultConfig()), now: t0,
		alice: model.Actor{Kind: model.KindPerson, ID: "alice"}, homes: map[string][2]string{}}
	g.apply(tb, master.AddPerson{By: model.Admin, ID: "alice"})
	for c := range computers {
		id := fmt.Sprintf("COMP-%04d", c)
		g.apply(tb, master.RegisterComputer{By: g.alice, ID: id, Region: "eu"})
		specs := make([]master.PartitionSpec, parts)
		for p := range parts {
			specs[p] = master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p)}
		}
		g.apply(tb, master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs})
		g.apply(tb, master.Supply{By: g.alice, ComputerID: id, URL: sr, State: model.SoftwareAvailable})
	}
	for range busy {
		if _, inst := g.request(tb); inst.Status != master.StatusAllocated {
			tb.Fatalf("filling the grid: %s is %s", inst.Title, inst.Status)
		}
	}
	for range pending {
		if _, inst := g.request(tb); inst.Status != master.StatusPending {
			tb.Fatalf("queueing: %s is %s", inst.Title, inst.Status)
		}
	}
	if g.s.PendingCount() != pending {
		tb.Fatalf("%d pending, want %d", g.s.PendingCount(), pending)
	}
	return g
}

// cpuClock is the process's CPU time (user and system, every thread): on a
// shared machine, CPU time per operation is steadier than ns/op.
func cpuClock() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFullGrid measures, on 1,500 computers, the latency of a request
// that is placed (the grid half full), and the periodic safety net,
// RetryPending, which tries every one of 10,000 waiting requests on every
// computer. BenchmarkRequestWithPending measures the full grid's other
// paths while requests wait.
func BenchmarkFullGrid(b *testing.B) {
	const computers, parts, pending = 1500, 20, 10000
	b.Run(fmt.Sprintf("computers=%d/pending=0/place", computers), func(b *testing.B) {
		g := newFullGrid(b, computers, parts, computers*parts/2, 0)
		var cpu time.Duration
		b.ReportAllocs()
		for b.Loop() {
			c0 := cpuClock()
			_, inst := g.request(b)
			cpu += cpuClock() - c0
			if inst.Status != master.StatusAllocated {
				b.StopTimer() // the grid is full: start again from half full
				g = newFullGrid(b, computers, parts, computers*parts/2, 0)
				b.StartTimer()
			}
		}
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
	b.Run(fmt.Sprintf("computers=%d/pending=%d/retry-all", computers, pending), func(b *testing.B) {
		g := newFullGrid(b, computers, parts, computers*parts, pending)
		b.ReportAllocs()
		c0 := cpuClock()
		for b.Loop() {
			if res := g.apply(b, master.RetryPending{By: model.Admin}); res.Placed != 0 {
				b.Fatalf("a retry on a full grid placed %d", res.Placed)
			}
		}
		b.ReportMetric(float64((cpuClock()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	})
}

package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkRequestWithPending reports what a production master pays on
// its three hot paths while requests wait in its queue (a flash crowd on
// a full grid of 1,500 computers × 20 partitions):
//
//   - request: a new request, answered pending with its reason;
//   - free: a partition freed (PartitionDestroyed), which retries the
//     queue on its computer and places the oldest waiting request there;
//   - poll: a computer's poll whose contact is due (Contact applied, as
//     master/server does) followed by the read of its view, which changed
//     since its last poll (an instance placed on it).
//
// Each reports CPU time per operation next to ns/op: on a shared machine
// it is the steadier figure.
func BenchmarkRequestWithPending(b *testing.B) {
	const computers, parts = 1500, 20
	for _, pending := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d/request", pending), func(b *testing.B) {
			g := newFullGrid(b, computers, parts, computers*parts, pending)
			b.ReportAllocs()
			c0 := cpuClock()
			for b.Loop() {
				if _, inst := g.request(b); inst.Status != master.StatusPending || inst.PendingReason == "" {
					b.Fatalf("%s is %s (%q): want pending with its reason", inst.Title, inst.Status, inst.PendingReason)
				}
			}
			b.ReportMetric(float64((cpuClock()-c0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
		b.Run(fmt.Sprintf("pending=%d/free", pending), func(b *testing.B) {
			g := newFullGrid(b, computers, parts, computers*parts, pending)
			var cpu time.Duration
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				comp, part := g.destroyOldest(b)
				b.StartTimer()
				c0 := cpuClock()
				res := g.apply(b, master.PartitionDestroyed{By: computerActor(comp), ComputerID: comp, PartitionID: part})
				cpu += cpuClock() - c0
				if res.Placed != 1 {
					b.Fatalf("freeing %s/%s placed %d requests, want 1", comp, part, res.Placed)
				}
				if n := g.s.PendingCount(); n != pending {
					b.Fatalf("%d pending after a free, want %d", n, pending)
				}
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
		b.Run(fmt.Sprintf("pending=%d/poll", pending), func(b *testing.B) {
			g := newFullGrid(b, computers, parts, computers*parts, pending)
			var cpu time.Duration
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				// Free one partition and let the queue refill it, so
				// that the computer's view changed since its last poll,
				// and let its contact come due.
				comp, part := g.destroyOldest(b)
				before, _ := g.s.ViewVersion(comp) // what its last poll saw
				g.apply(b, master.PartitionDestroyed{By: computerActor(comp), ComputerID: comp, PartitionID: part})
				g.now = g.now.Add(master.DefaultContactEvery)
				b.StartTimer()
				c0 := cpuClock()
				if !g.s.ContactDue(comp, g.now) {
					b.Fatalf("%s: contact not due", comp)
				}
				g.apply(b, master.Contact{By: computerActor(comp), ComputerID: comp})
				version, _ := g.s.ViewVersion(comp)
				view, err := g.s.ComputerView(comp)
				cpu += cpuClock() - c0
				if err != nil || version == before || len(view.Partitions) != parts {
					b.Fatalf("view of %s: %v, version %d (was %d), %d partitions", comp, err, version, before, len(view.Partitions))
				}
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// destroyOldest asks for the destruction of the oldest allocated instance
// and queues one more request, so that the queue keeps its size once the
// freed partition takes a waiting request. It returns the partition the
// computer will report destroyed.
func (g *fullGrid) destroyOldest(tb testing.TB) (computer, partition string) {
	tb.Helper()
	for {
		g.victim++
		title := fmt.Sprintf("inst-%d", g.victim)
		home, ok := g.homes[title]
		if !ok { // placed from the queue, or destroyed already
			info, err := g.s.InstanceByTitle(g.alice, title)
			if err != nil || info.Status != master.StatusAllocated {
				continue
			}
			home = [2]string{info.ComputerID, info.PartitionID}
		}
		delete(g.homes, title)
		g.apply(tb, master.Request{By: g.alice, Title: title, SoftwareRelease: sr, State: model.StateDestroyed})
		g.request(tb)
		return home[0], home[1]
	}
}

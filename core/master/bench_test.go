package master_test

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// fill builds a master with computers×parts partitions, a fraction of them
// busy, without the per-command overhead of the test grid.
func fill(tb testing.TB, computers, parts int, busy float64) *master.State {
	tb.Helper()
	return fillConfig(tb, master.DefaultConfig(), computers, parts, busy)
}

func fillConfig(tb testing.TB, cfg master.Config, computers, parts int, busy float64) *master.State {
	tb.Helper()
	s := master.New(cfg)
	now := t0
	apply := func(c master.Command) master.Result {
		now = now.Add(time.Millisecond)
		res, _, err := s.Apply(now, c)
		if err != nil {
			tb.Fatalf("%s: %v", c.CommandName(), err)
		}
		return res
	}
	apply(master.AddPerson{By: model.Admin, ID: "alice"})
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	for c := range computers {
		id := fmt.Sprintf("COMP-%04d", c)
		apply(master.RegisterComputer{By: alice, ID: id, Region: "eu"})
		specs := make([]master.PartitionSpec, parts)
		for p := range parts {
			specs[p] = master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p), Addresses: []model.Address{
				{Iface: "eth0", Addr: fmt.Sprintf("10.%d.%d.%d", c/256, c%256, p)},
				{Iface: "eth0", Addr: fmt.Sprintf("2001:db8:%x::%x", c, p+2)}}}
		}
		apply(master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs})
		apply(master.Supply{By: alice, ComputerID: id, URL: sr, State: model.SoftwareAvailable})
	}
	n := int(float64(computers*parts) * busy)
	for i := range n {
		apply(master.Request{By: alice, Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: sr,
			Parameters: map[string]string{"port": "8080", "name": fmt.Sprintf("n%d", i)}})
	}
	return s
}

func BenchmarkComputerView(b *testing.B) {
	for _, parts := range []int{300} {
		s := fill(b, 1, parts, 1)
		if v, err := s.ComputerView("COMP-0000"); err != nil || len(v.Partitions) != parts {
			b.Fatalf("view: %v", err)
		}
		b.Run(fmt.Sprintf("partitions=%d/unchanged", parts), func(b *testing.B) {
			b.ReportAllocs()
			want, _ := s.ViewVersion("COMP-0000")
			for b.Loop() {
				if v, ok := s.ViewVersion("COMP-0000"); !ok || v != want {
					b.Fatal("version moved")
				}
			}
		})
		b.Run(fmt.Sprintf("partitions=%d/full", parts), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ComputerView("COMP-0000"); err != nil {
					b.Fatal(err)
				}
			}
		})
		// One instance's parameters change between two views: the usual
		// reason a node fetches its whole view.
		b.Run(fmt.Sprintf("partitions=%d/after-one-change", parts), func(b *testing.B) {
			b.ReportAllocs()
			alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
			now := t0.Add(time.Hour)
			rev := 0
			for b.Loop() {
				rev++
				now = now.Add(time.Millisecond)
				if _, _, err := s.Apply(now, master.Request{By: alice, Title: "inst-7", SoftwareRelease: sr,
					Parameters: map[string]string{"port": "8080", "name": "n7", "rev": strconv.Itoa(rev)}}); err != nil {
					b.Fatal(err)
				}
				v, err := s.ComputerView("COMP-0000")
				if err != nil {
					b.Fatal(err)
				}
				if got := v.Partitions[7].Parameters["rev"]; got != strconv.Itoa(rev) {
					b.Fatalf("partition 7 shows rev %q, want %d", got, rev)
				}
			}
		})
	}
}

func BenchmarkRequest(b *testing.B) {
	for _, computers := range []int{100, 1000} {
		b.Run(fmt.Sprintf("computers=%d/partitions=300", computers), func(b *testing.B) {
			s := fill(b, computers, 300, 0.5)
			alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
			now := t0.Add(time.Hour)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				res, _, err := s.Apply(now, master.Request{By: alice, Title: fmt.Sprintf("bench-%d", i), SoftwareRelease: sr})
				if err != nil {
					b.Fatal(err)
				}
				if res.Instance.Status == master.StatusPending {
					b.StopTimer()
					s = fill(b, computers, 300, 0.5)
					b.StartTimer()
				}
			}
		})
	}
}

// BenchmarkMemory reports the heap held by a master of 1,000 computers ×
// 300 partitions, every partition busy (300,000 instances), without event
// histories (see BenchmarkMemoryEventHistory).
func BenchmarkMemory(b *testing.B) {
	cfg := master.DefaultConfig()
	cfg.EventHistory = 0
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		s := fillConfig(b, cfg, 1000, 300, 1)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if free, busy := s.Capacity(); free != 0 || busy != 300000 {
			b.Fatalf("free=%d busy=%d", free, busy)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
		runtime.KeepAlive(s)
	}
}

// BenchmarkMemoryEventHistory reports what the event histories add to a
// master of 100 computers × 300 partitions whose 30,000 instances each
// lived a usual start: requested, placed, reported started, published
// (four events each), in bytes per instance.
func BenchmarkMemoryEventHistory(b *testing.B) {
	for _, keep := range []int{0, master.DefaultEventHistory} {
		b.Run(fmt.Sprintf("history=%d", keep), func(b *testing.B) {
			cfg := master.DefaultConfig()
			cfg.EventHistory = keep
			for b.Loop() {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				s := fillConfig(b, cfg, 100, 300, 1)
				now := t0.Add(time.Hour)
				for c := range 100 {
					id := fmt.Sprintf("COMP-%04d", c)
					by := computerActor(id)
					for p := range 300 {
						part := fmt.Sprintf("slappart%d", p)
						for _, cmd := range []master.Command{
							master.ReportPartition{By: by, ComputerID: id, PartitionID: part, State: model.ReportedStarted},
							master.SetConnection{By: by, ComputerID: id, PartitionID: part, Parameters: map[string]string{"url": "http://" + part}},
						} {
							if _, _, err := s.Apply(now, cmd); err != nil {
								b.Fatal(err)
							}
						}
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				if ev, err := s.InstanceEvents(model.Admin, "SOFTINST-1"); err != nil || len(ev) != min(keep, 4) {
					b.Fatalf("SOFTINST-1 has %d events, %v; want %d", len(ev), err, min(keep, 4))
				}
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/30000, "B/instance")
				runtime.KeepAlive(s)
			}
		})
	}
}

// BenchmarkRestorePending restores a master whose instances all wait for a
// home, from entities in the order a database gives them (by key, so
// SOFTINST-10 before SOFTINST-2).
func BenchmarkRestorePending(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			s := master.New(master.DefaultConfig())
			alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
			if _, _, err := s.Apply(t0, master.AddPerson{By: model.Admin, ID: "alice"}); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				if _, _, err := s.Apply(t0, master.Request{By: alice, Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: sr}); err != nil {
					b.Fatal(err)
				}
			}
			ents := s.Snapshot()
			slices.SortFunc(ents, func(x, y master.Mutation) int {
				return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Key, y.Key))
			})
			b.ReportAllocs()
			for b.Loop() {
				st, err := master.Restore(master.DefaultConfig(), ents)
				if err != nil || st.PendingCount() != n {
					b.Fatalf("restore: %d pending, %v; want %d", st.PendingCount(), err, n)
				}
			}
		})
	}
}

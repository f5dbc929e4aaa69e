package master_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkNodeCommands measures the commands a node sends all day, on a
// full computer of a grid of 10: what the simulator and a production master
// apply most. config=default is a production master's; config=sim the
// simulator's (mutations share the entities, no event history, no limits).
func BenchmarkNodeCommands(b *testing.B) {
	sim := master.Config{Policy: alloc.PolicyFirstFit, KeepMovements: true, // as sim.New
		ViewReplacesPrevious: true, MutationsShareEntities: true}
	for _, cfg := range []struct {
		name string
		cfg  master.Config
	}{{"default", master.DefaultConfig()}, {"sim", sim}} {
		b.Run("config="+cfg.name, func(b *testing.B) { benchNodeCommands(b, cfg.cfg) })
	}
}

func benchNodeCommands(b *testing.B, cfg master.Config) {
	const parts = 300
	comp := "COMP-0003"
	by := computerActor(comp)
	s := fillConfig(b, cfg, 10, parts, 1)
	now := t0.Add(time.Hour)
	apply := func(b *testing.B, c master.Command) {
		now = now.Add(time.Second)
		if _, _, err := s.Apply(now, c); err != nil {
			b.Fatal(err)
		}
	}
	pid := func(i int) string { return "slappart" + strconv.Itoa(i%parts) }
	b.Run("SetConnection", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			apply(b, master.SetConnection{By: by, ComputerID: comp, PartitionID: pid(i),
				Parameters: map[string]string{"url": "https://10.0.0.1:8080/", "rev": strconv.Itoa(i / parts)}})
		}
	})
	b.Run("ReportPartition", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			st := model.ReportedStarted
			if i/parts%2 == 1 {
				st = model.ReportedStopped
			}
			apply(b, master.ReportPartition{By: by, ComputerID: comp, PartitionID: pid(i), State: st})
		}
	})
	b.Run("PostUsage", func(b *testing.B) {
		b.ReportAllocs()
		start := now
		for b.Loop() {
			per := map[string][]account.JournalMovement{}
			for p := range parts {
				per[pid(p)] = []account.JournalMovement{
					{Resource: account.ResourceCPUTime, Title: "CPU time", Quantity: 1.5, VAT: "0"},
					{Resource: account.ResourceMemoryUsed, Title: "Memory", Quantity: 64, VAT: "0"}}
			}
			stop := start.Add(time.Hour)
			apply(b, master.PostUsage{By: by, ComputerID: comp, Journal: account.BuildJournal(comp, start, stop, per, "EUR")})
			start = stop
		}
	})
	b.Run("SetCapacity", func(b *testing.B) {
		specs := make([]master.PartitionSpec, parts)
		for p := range parts {
			specs[p] = master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p), Addresses: []model.Address{
				{Iface: "eth0", Addr: fmt.Sprintf("10.%d.%d.%d", 0, 3, p)},
				{Iface: "eth0", Addr: fmt.Sprintf("2001:db8:%x::%x", 3, p+2)}}}
		}
		b.ReportAllocs()
		for b.Loop() {
			apply(b, master.SetCapacity{By: by, ComputerID: comp, Partitions: specs})
		}
	})
	b.Run("Contact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(master.DefaultContactEvery)
			if !s.ContactDue(comp, now) {
				b.Fatal("contact not due")
			}
			apply(b, master.Contact{By: by, ComputerID: comp})
		}
	})
}

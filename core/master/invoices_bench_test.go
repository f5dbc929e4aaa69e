package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkInvoices invoices a grid whose every partition runs an
// instance: one hosting movement per instance, priced and summed.
func BenchmarkInvoices(b *testing.B) {
	const computers, parts = 100, 100
	s := fill(b, computers, parts, 1)
	now := t0.Add(time.Hour)
	for c := range computers {
		id := fmt.Sprintf("COMP-%04d", c)
		for p := range parts {
			now = now.Add(time.Millisecond)
			if _, _, err := s.Apply(now, master.ReportPartition{By: computerActor(id), ComputerID: id,
				PartitionID: fmt.Sprintf("slappart%d", p), State: model.ReportedStarted}); err != nil {
				b.Fatal(err)
			}
		}
	}
	end := now.Add(24 * time.Hour)
	inv, err := s.Invoices(model.Admin, "", t0, end, end)
	if err != nil || len(inv) != 1 || inv[0].Movements != computers*parts {
		b.Fatalf("Invoices = %+v, %v; want one invoice of %d movements", inv, err, computers*parts)
	}
	b.Run(fmt.Sprintf("instances=%d", computers*parts), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Invoices(model.Admin, "", t0, end, end); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package master

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkRenderPartitions: a computer's view rendered from scratch (its
// first poll, or the first after a master restart), every partition
// holding an instance, with an SLA or none.
func BenchmarkRenderPartitions(b *testing.B) {
	const parts = 300
	for _, sla := range []map[string]string{nil, {"region": "eu"}} {
		b.Run(fmt.Sprintf("partitions=%d/sla=%d", parts, len(sla)), func(b *testing.B) {
			s := New(Config{Policy: "first-fit", ViewReplacesPrevious: true, MutationsShareEntities: true})
			alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
			comp := model.Actor{Kind: model.KindComputer, ID: "COMP-0"}
			const url = "https://example.org/software.cfg"
			specs := make([]PartitionSpec, parts)
			for p := range parts {
				specs[p] = PartitionSpec{ID: fmt.Sprintf("slappart%d", p),
					Addresses: []model.Address{{Iface: "eth0", Addr: fmt.Sprintf("10.0.%d.%d", p/256, p%256)}}}
			}
			cmds := []Command{AddPerson{By: model.Admin, ID: "alice"},
				RegisterComputer{By: alice, ID: "COMP-0", Region: "eu"},
				SetCapacity{By: comp, ComputerID: "COMP-0", Partitions: specs},
				Supply{By: alice, ComputerID: "COMP-0", URL: url, State: model.SoftwareAvailable}}
			for i := range parts {
				cmds = append(cmds, Request{By: alice, Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: url,
					Parameters: map[string]string{"name": fmt.Sprintf("n%d", i)}, SLA: sla})
			}
			for n, c := range cmds {
				if _, _, err := s.Apply(time.Date(2026, 1, 1, 0, 0, 0, n*1e6, time.UTC), c); err != nil {
					b.Fatalf("%s: %v", c.CommandName(), err)
				}
			}
			cs := s.computers["COMP-0"]
			b.ReportAllocs()
			for b.Loop() {
				resetView(cs)
				v, err := s.ComputerView("COMP-0")
				if err != nil || len(v.Partitions) != parts || v.Partitions[parts-1].Free() || len(v.Partitions[0].SLA) != len(sla) {
					b.Fatalf("view of %d partitions (error %v), want %d busy with SLA %v", len(v.Partitions), err, parts, sla)
				}
			}
		})
	}
}

// TestPartitionAt: partitionAt answers as a binary search of the
// partitions in natural order, partitions numbered with gaps or not, named
// otherwise or not.
func TestPartitionAt(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	names := []string{"a", "db", "slappart01", "slappart", "slappart99999", "slappartx"}
	fast := 0
	for round := range 200 {
		var parts []*model.Partition
		for n := range r.IntN(12) {
			if round%2 == 0 || r.IntN(4) > 0 { // half the rounds number them without a gap
				parts = append(parts, &model.Partition{ID: fmt.Sprintf("slappart%d", n)})
			}
		}
		for _, id := range names {
			if r.IntN(3) == 0 {
				parts = append(parts, &model.Partition{ID: id})
			}
		}
		sortPartitions(parts)
		for n := range 14 {
			for _, id := range append([]string{fmt.Sprintf("slappart%d", n)}, names...) {
				got, ok := partitionAt(parts, id)
				want, wantOK := slices.BinarySearchFunc(parts, id, func(p *model.Partition, id string) int {
					return model.ComparePartitionIDs(p.ID, id)
				})
				if got != want || ok != wantOK {
					t.Fatalf("round %d: partitionAt(%s) = %d, %v; a binary search %d, %v", round, id, got, ok, want, wantOK)
				}
				if ok && got < len(parts) && parts[got].ID == id && id == fmt.Sprintf("slappart%d", got) {
					fast++
				}
			}
		}
	}
	if fast == 0 {
		t.Error("no partition was found at its number")
	}
}

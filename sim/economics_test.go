package sim

import (
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
)

// TestHandOversBillTheBuyer: pool hand-overs and speculator sales are
// core/master transfers. After the run, every unit that served a demand
// belongs, at the master, to the demand's requester, and its hosting is
// invoiced to the seller (the pool or the speculator) before the hand-over
// and to the buyer after it.
func TestHandOversBillTheBuyer(t *testing.T) {
	cases := []struct {
		name, file string
		sets       []string
		via        uint8
	}{
		{"pool", "preallocation.yaml", []string{"nodes[0].count=20", "workload.initial=1200", "workload.rate_per_hour=100", "duration=8h"}, viaPool},
		{"resale", "speculation.yaml", specSets("0s"), viaResale},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := NewEngine(load(t, tc.file, tc.sets), Options{Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			s := e.s
			s.runUntil(s.end, nil)
			if s.violation != nil {
				t.Fatal(s.violation)
			}
			type handover struct {
				seller, buyer string
				at            time.Time
			}
			hand := map[string]handover{}
			for _, d := range s.demands {
				if d.via != tc.via || d.inst < 0 {
					continue
				}
				r := s.insts[d.inst]
				seller := "POOL"
				if r.kind == kindSpec {
					seller = s.persons[s.specs[r.spec].person].id
				}
				hand[r.guid] = handover{seller: seller, buyer: s.persons[d.user].id, at: s.t0.Add(time.Duration(d.placedAt))}
			}
			if len(hand) == 0 {
				t.Fatalf("no demand served via %s", tc.name)
			}
			for guid, h := range hand {
				info, err := s.m.Instance(model.Admin, guid)
				if err != nil {
					t.Fatal(err)
				}
				if info.Owner != h.buyer {
					t.Fatalf("%s was handed over to %s at %s, the master says it is %s's", guid, h.buyer, h.at, info.Owner)
				}
			}
			var buyerHours, sellerHours float64
			for _, m := range s.m.Movements() {
				h, ok := hand[m.InstanceGUID]
				if !ok || m.Kind != account.KindHosting {
					continue
				}
				switch {
				case !m.Start.Before(h.at):
					if m.Owner != h.buyer {
						t.Fatalf("hosting of %s after its hand-over (%s to %s) is billed to %s, not the buyer %s", m.InstanceGUID, m.Start, m.Stop, m.Owner, h.buyer)
					}
					buyerHours += m.Quantity
				case !m.Stop.After(h.at):
					if m.Owner != h.seller {
						t.Fatalf("hosting of %s before its hand-over (%s to %s) is billed to %s, not the seller %s", m.InstanceGUID, m.Start, m.Stop, m.Owner, h.seller)
					}
					sellerHours += m.Quantity
				default:
					t.Fatalf("hosting movement of %s (%s to %s) straddles its hand-over at %s", m.InstanceGUID, m.Start, m.Stop, h.at)
				}
			}
			if buyerHours <= 0 {
				t.Errorf("no hosting billed to buyers after %d hand-overs", len(hand))
			}
			t.Logf("%d hand-overs: %.1f hosting hours billed to the sellers before, %.1f to the buyers after", len(hand), sellerHours, buyerHours)
		})
	}
}

// TestHandOversRespectTheBuyersSLA: a unit goes only to a requester whose
// SLA its computer meets (core/alloc's filters, through core/master). With
// every request asking for a price below the grid's, no unit changes hands
// (before, the pool checked no SLA and resale only the region).
func TestHandOversRespectTheBuyersSLA(t *testing.T) {
	cheap := "workload.sla=[{weight: 1, conditions: {max_price: '0.001'}}]"
	cases := []struct {
		name, file string
		sets       []string
	}{
		{"pool", "preallocation.yaml", []string{"nodes[0].count=20", "workload.initial=0", "workload.rate_per_hour=100", "duration=4h", cheap}},
		{"resale", "speculation.yaml", append(specSets("0s"), "workload.initial=0", "duration=4h", cheap)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := runFixture(t, tc.file, 1, tc.sets)
			sum := &res.Summary
			if sum.Invariants.Violation != "" {
				t.Fatal(sum.Invariants.Violation)
			}
			if p := sum.Preallocation; p != nil && (p.Handovers != 0 || p.Orders == 0) {
				t.Errorf("pool: %d hand-overs (want none) of %d units ordered", p.Handovers, p.Orders)
			}
			if sp := sum.Speculation; sp != nil && (sp.Sales != 0 || sp.Orders == 0) {
				t.Errorf("speculation: %d sales (want none) of %d units ordered", sp.Sales, sp.Orders)
			}
			if sum.Placements.Demands == 0 || sum.Placements.HonestPendingEnd == 0 {
				t.Errorf("the requests should stay pending: %+v", sum.Placements)
			}
		})
	}
}

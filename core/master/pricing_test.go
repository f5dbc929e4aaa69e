package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestPricePolicyInvoices: with a price policy, each instance is invoiced
// at its computer's list price times the factor quoted when it was
// placed, also after a restart from the stored entities; without one, at
// the list price. One computer of 2 partitions at 2 EUR/h; "first" is
// placed on the empty grid, "second" when the last free partition faces
// a demand of 2 (an auction's scarcity price).
func TestPricePolicyInvoices(t *testing.T) {
	auction := &market.Curve{Kind: market.Auction, Base: 1, Gain: 1, Max: 3, Horizon: time.Hour}
	for _, c := range []struct {
		name          string
		pricing       *market.Curve
		first, second float64 // factors quoted
	}{
		{"list price", nil, 0, 0},
		{"auction", auction, 1, 2},
		{"proportional to fill", &market.Curve{Kind: market.Proportional, Base: 1, Max: 3}, 1, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := master.DefaultConfig()
			cfg.Pricing = c.pricing
			g := &grid{t: t, s: master.New(cfg), now: t0}
			g.alice = model.Actor{Kind: model.KindPerson, ID: "alice"}
			g.must(master.AddPerson{By: model.Admin, ID: "alice"})
			g.must(master.RegisterComputer{By: g.alice, ID: "COMP-0", Region: "eu",
				Prices: model.PriceList{"hosting": 2}, Currency: "EUR"})
			g.must(master.SetCapacity{By: computerActor("COMP-0"), ComputerID: "COMP-0",
				Partitions: []master.PartitionSpec{{ID: "slappart0"}, {ID: "slappart1"}}})
			g.must(master.Supply{By: g.alice, ComputerID: "COMP-0", URL: sr, State: model.SoftwareAvailable})
			started := g.now.Add(time.Minute)
			for _, title := range []string{"first", "second"} {
				inst := g.request(title, nil)
				if inst.Status != master.StatusAllocated {
					t.Fatalf("%s: %+v", title, inst)
				}
				if _, _, err := g.s.Apply(started, master.ReportPartition{By: computerActor("COMP-0"), ComputerID: "COMP-0",
					PartitionID: inst.PartitionID, State: model.ReportedStarted}); err != nil {
					t.Fatal(err)
				}
			}
			// "first" stops after 10 h (a closed movement), "second" runs
			// on (counted up to the invoice's end).
			stop := started.Add(10 * time.Hour)
			res, muts, err := g.s.Apply(stop, master.ReportPartition{By: computerActor("COMP-0"), ComputerID: "COMP-0",
				PartitionID: "slappart0", State: model.ReportedStopped})
			if err != nil || res.Instance == nil {
				t.Fatal(err)
			}
			g.muts = append(g.muts, muts...)
			want := 10*2*orOne(c.first) + 10*2*orOne(c.second)
			restored := restoreFromStore(t, g.s)
			for name, s := range map[string]*master.State{"master": g.s, "restarted master": restored} {
				inv, err := s.Invoices(model.Admin, "alice", t0, stop, stop)
				if err != nil || len(inv) != 1 {
					t.Fatalf("%s: invoices: %v %+v", name, err, inv)
				}
				if got := inv[0].Total; fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", want) {
					t.Errorf("%s: invoiced %v EUR, want %v (factors %v and %v of 2 EUR/h for 10 h)", name, got, want, c.first, c.second)
				}
				for title, f := range map[string]float64{"first": c.first, "second": c.second} {
					if i := instanceByTitle(t, s, title); i.PriceFactor != f {
						t.Errorf("%s: %s quoted %v, want %v", name, title, i.PriceFactor, f)
					}
				}
			}
		})
	}
}

func orOne(f float64) float64 {
	if f == 0 {
		return 1
	}
	return f
}

// restoreFromStore encodes every entity of s as the store would, decodes
// them and restores a master from them.
func restoreFromStore(t *testing.T, s *master.State) *master.State {
	t.Helper()
	var back []master.Mutation
	for _, m := range s.Snapshot() {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := master.DecodeEntity(m.Kind, m.Key, data)
		if err != nil {
			t.Fatalf("%s %s: %v", m.Kind, m.Key, err)
		}
		back = append(back, d)
	}
	r, err := master.Restore(s.Config(), back)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// instanceByTitle is alice's instance named title, as the master shows it.
func instanceByTitle(t *testing.T, s *master.State, title string) master.InstanceInfo {
	t.Helper()
	info, err := s.InstanceByTitle(model.Actor{Kind: model.KindPerson, ID: "alice"}, title)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

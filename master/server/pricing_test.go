package server

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// TestPricePolicyInvoicedByTheMaster: a master serving with an auction
// price policy answers each request with the factor quoted when it was
// placed, and invoices its hosting at the list price times that factor,
// before and after a restart. One computer of 2 partitions at 0.25 EUR/h:
// "first" takes the empty grid (factor 1), "second" the last free
// partition while two requests of the last hour compete for it (factor 2).
func TestPricePolicyInvoicedByTheMaster(t *testing.T) {
	tune := func(o *Options) {
		o.Pricing = &market.Curve{Kind: market.Auction, Base: 1, Gain: 1, Max: 3, Horizon: time.Hour}
	}
	m := startMaster(t, tune)
	ctx := context.Background()
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", 2, "eu")
	want := map[string]float64{"first": 1, "second": 2}
	part, guid := map[string]string{}, map[string]string{}
	for _, title := range []string{"first", "second"} {
		inst, err := alice.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL})
		noErr(t, err)
		if inst.Status != api.StatusAllocated || inst.PriceFactor != want[title] {
			t.Fatalf("%s: %s at price factor %v, want allocated at %v", title, inst.Status, inst.PriceFactor, want[title])
		}
		part[title], guid[title] = inst.PartitionID, inst.GUID
		noErr(t, comp.ReportPartition(ctx, "COMP-1", inst.PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}))
	}
	from := m.clock.Now().Add(-time.Minute)
	m.clock.Advance(10 * time.Hour)
	for _, title := range []string{"first", "second"} {
		noErr(t, comp.ReportPartition(ctx, "COMP-1", part[title], api.PartitionStateRequest{State: model.ReportedStopped}))
	}
	to := m.clock.Now().Add(time.Minute)
	// 10 h at 0.25 EUR/h × 1, and 10 h at 0.25 EUR/h × 2 (the list price
	// would give 5).
	const total = 2.5 + 5
	invs, err := alice.Invoices(ctx, from, to, "")
	noErr(t, err)
	if len(invs) != 1 || math.Abs(invs[0].Total-total) > 0.01 {
		t.Fatalf("invoices = %+v, want one of %v EUR", invs, total)
	}
	m.stop()
	m.start(tune)
	alice.BaseURL = m.url
	again, err := alice.Invoices(ctx, from, to, "")
	noErr(t, err)
	if len(again) != 1 || again[0].Total != invs[0].Total {
		t.Errorf("after a restart: invoices = %+v, want %v EUR as before", again, invs[0].Total)
	}
	second, err := alice.Instance(ctx, guid["second"])
	noErr(t, err)
	if second.PriceFactor != 2 {
		t.Errorf("after a restart: second at price factor %v, want 2", second.PriceFactor)
	}
}

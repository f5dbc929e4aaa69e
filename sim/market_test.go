package sim

import (
	"math"
	"testing"
)

// question shrinks the provisioning-question fixture to 8 hours.
func question(variant string, rate string, extra ...string) []string {
	return append([]string{"variant=" + variant, "workload.rate_per_hour=" + rate, "duration=8h"}, extra...)
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(a)+math.Abs(b)) }

// The objectives add up: profit is revenue minus the costs, welfare is
// value minus price, waiting and unserved needs, the surplus their sum.
// The market's count of busy partitions agrees with the master's.
func TestObjectivesAddUp(t *testing.T) {
	for _, v := range []string{"open", "preallocate", "slow-when-full", "auction"} {
		t.Run(v, func(t *testing.T) {
			sets := question(v, "650")
			en, err := NewEngine(load(t, "provisioning-question.yaml", sets), Options{Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			e := en.s
			e.runUntil(e.end, nil)
			res := en.Finish(0)
			if res.Summary.Invariants.Violation != "" {
				t.Fatal(res.Summary.Invariants.Violation)
			}
			o := res.Summary.Objectives
			if !near(o.ProviderProfit, o.ProviderRevenue-o.ProviderCapex-o.ProviderEnergy-o.ProviderIdle-o.SLAPenalties) {
				t.Errorf("profit %v is not revenue minus costs: %+v", o.ProviderProfit, o)
			}
			if !near(o.RequesterWelfare, o.RequesterValue-o.RequesterPaid-o.WaitingCost-o.AbandonedCost) {
				t.Errorf("welfare %v does not add up: %+v", o.RequesterWelfare, o)
			}
			if !near(o.TotalSurplus, o.ProviderProfit+o.RequesterWelfare+o.SpeculatorProfit) {
				t.Errorf("surplus %v does not add up: %+v", o.TotalSurplus, o)
			}
			if o.ProviderCapex <= 0 || o.ProviderEnergy <= 0 || o.RequesterValue <= 0 || o.DowntimeHours <= 0 {
				t.Errorf("a cost or value was not counted: %+v", o)
			}
			// 40 computers for 8h, 8 more from 6h.
			if !near(o.NodeHours, 40*8+8*2) {
				t.Errorf("node-hours in service %v, want %v", o.NodeHours, 40*8+8*2)
			}
			_, busy := e.m.Capacity()
			mine := 0
			for _, b := range e.mk.gBusy {
				mine += b
			}
			if mine != busy {
				t.Errorf("the market counts %d busy partitions, the master %d", mine, busy)
			}
			if o.Utilisation <= 0 || o.Utilisation > 1 || o.ServiceP95 < o.ServiceP50 {
				t.Errorf("utilisation or service times out of range: %+v", o)
			}
		})
	}
}

// Each regime does what it says on a grid past its capacity.
func TestRegimes(t *testing.T) {
	run := func(v string) *Result { return runFixture(t, "provisioning-question.yaml", 1, question(v, "650")) }
	open, slow, auction := run("open"), run("slow-when-full"), run("auction")
	if open.Summary.Speculation.Sales == 0 {
		t.Errorf("open market: speculators sold nothing: %+v", open.Summary.Speculation)
	}
	heldMax, delayMax := 0, 0.0
	for _, x := range slow.Series {
		heldMax = max(heldMax, x.Held)
		delayMax = math.Max(delayMax, x.DelayS)
	}
	if heldMax == 0 || delayMax < 600 {
		t.Errorf("slow-when-full held nothing (peak held %d, peak delay %vs)", heldMax, delayMax)
	}
	if slow.Summary.Speculation.Sales >= open.Summary.Speculation.Sales {
		t.Errorf("slow-when-full: %d resales, open market %d", slow.Summary.Speculation.Sales, open.Summary.Speculation.Sales)
	}
	ao := auction.Summary.Objectives
	if ao.PricedOut == 0 || ao.MeanPriceFactor <= 1 {
		t.Errorf("auction: nobody priced out or no premium: %+v", ao)
	}
	if open.Summary.Objectives.MeanPriceFactor != 1 || open.Summary.Objectives.PricedOut != 0 {
		t.Errorf("open market at list price: %+v", open.Summary.Objectives)
	}
}

// A group that retires closes to allocation: nothing is placed on it
// afterwards and its computer-hours stop counting.
func TestRetire(t *testing.T) {
	sets := question("open", "300", "nodes[1].join_at=0s", "nodes[1].retire_at=2h", "duration=4h")
	res := runFixture(t, "provisioning-question.yaml", 1, sets)
	o := res.Summary.Objectives
	if !near(o.NodeHours, 40*4+8*2) {
		t.Errorf("node-hours %v, want %v", o.NodeHours, 40*4+8*2)
	}
	for _, x := range res.Series {
		want := 48
		if x.T >= 2 {
			want = 40
		}
		if x.NodesInService != want {
			t.Fatalf("at %.2fh %d computers in service, want %d", x.T, x.NodesInService, want)
		}
	}
}

// Runs that do not opt into the market model report the same objectives
// shape with no cost: revenue is what the master invoiced.
func TestObjectivesWithoutMarket(t *testing.T) {
	res := runFixture(t, "baseline.yaml", 1, smallBaseline)
	o := res.Summary.Objectives
	if o.ProviderCapex != 0 || o.SLAPenalties != 0 || o.RequesterValue != 0 {
		t.Errorf("costs without a market model: %+v", o)
	}
	if math.Abs(o.ProviderRevenue-res.Summary.Economics.InvoicedTotal) > 0.01*res.Summary.Economics.InvoicedTotal {
		t.Errorf("revenue %v, invoiced %v", o.ProviderRevenue, res.Summary.Economics.InvoicedTotal)
	}
	if o.MeanPriceFactor != 1 || o.Utilisation <= 0 {
		t.Errorf("%+v", o)
	}
}

// The series' peaks are true peaks: never below the sampled level, and
// above it somewhere in a run with flash crowds.
func TestTruePeaks(t *testing.T) {
	res := runFixture(t, "provisioning-question.yaml", 2, question("open", "650"))
	above := 0
	for _, x := range res.Series {
		if x.PendingPeak < x.Pending || x.HonestPendingPeak < x.HonestPending || x.BusyPeak < x.Busy ||
			x.ConfigQueueMaxPeak < x.ConfigQueueMax || x.MasterQueuePeak < x.MasterQueue || x.HeldPeak < x.Held {
			t.Fatalf("a peak below its sample at %.2fh: %+v", x.T, x)
		}
		if x.PendingPeak > x.Pending || x.ConfigQueueMaxPeak > x.ConfigQueueMax {
			above++
		}
	}
	if above == 0 {
		t.Error("no peak ever exceeded its sample: the peaks are samples")
	}
}

// Requesters choosing among providers ask the region with the lowest
// quote: a cheaper region that first-fit would fill last gets the
// requests, until the auction's price there catches up with the other's.
func TestChooseProvider(t *testing.T) {
	usFill := func(choose string) (float64, int) {
		sets := question("auction", "600", "nodes[1].region=us", "nodes[1].join_at=0s", "nodes[1].prices={hosting: 0.03}",
			"nodes[1].price_spread=0", "economics.market.choose_provider="+choose, "duration=4h")
		en, err := NewEngine(load(t, "provisioning-question.yaml", sets), Options{Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		e := en.s
		e.runUntil(e.end, nil)
		pinned := 0
		for _, d := range e.demands[e.sc.Workload.Initial:] {
			if d.sla["region"] != "" {
				pinned++
			}
		}
		return float64(e.mk.gBusy[1]) / float64(e.mk.gParts[1]), pinned
	}
	without, p0 := usFill("false")
	with, p1 := usFill("true")
	if p0 != 0 || p1 == 0 {
		t.Errorf("requests naming a region: %d without the choice, %d with it", p0, p1)
	}
	t.Logf("us fill %.2f with the choice, %.2f without", with, without)
	if with < without+0.2 {
		t.Errorf("the cheaper region is %.2f full with the choice, %.2f without", with, without)
	}
}

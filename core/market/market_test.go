package market

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFill(t *testing.T) {
	for _, tc := range []struct {
		s    State
		want float64
	}{
		{State{Free: 10, Busy: 0}, 0},
		{State{Free: 5, Busy: 15}, 0.75},
		{State{Free: 0, Busy: 7}, 1},
		{State{}, 1}, // no open partition: full
	} {
		if got := tc.s.Fill(); got != tc.want {
			t.Errorf("%+v.Fill() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestCurveValue(t *testing.T) {
	step := Curve{Kind: Step, Base: 0, Steps: []StepAt{{0.8, 300}, {0.9, 900}, {0.95, 1800}}}
	prop := Curve{Kind: Proportional, Base: 1, Max: 3}
	auc := Curve{Kind: Auction, Base: 1, Gain: 0.5, Max: 4, Horizon: 30 * time.Minute}
	for _, tc := range []struct {
		name string
		c    Curve
		s    State
		want float64
	}{
		{"constant ignores the state", Curve{Kind: Constant, Base: 60}, State{Free: 0, Busy: 100, Pending: 50}, 60},
		{"step below the first step", step, State{Free: 30, Busy: 70}, 0},
		{"step exactly at a step", step, State{Free: 20, Busy: 80}, 300},
		{"step between steps", step, State{Free: 15, Busy: 85}, 300},
		{"step at the second", step, State{Free: 10, Busy: 90}, 900},
		{"step full", step, State{Free: 0, Busy: 100}, 1800},
		{"proportional empty", prop, State{Free: 100}, 1},
		{"proportional half", prop, State{Free: 50, Busy: 50}, 2},
		{"proportional full", prop, State{Busy: 100}, 3},
		{"auction with room", auc, State{Free: 100, Busy: 0, Pending: 10, RecentDemand: 20}, 1},
		// demand = 10 + 10 + 20·0.5 = 30 over 10 free: ratio 3, 1·(1 + 0.5·2) = 2.
		{"auction scarce", auc, State{Free: 10, Busy: 90, Pending: 10, Held: 10, RecentDemand: 20}, 2},
		{"auction capped", auc, State{Free: 1, Busy: 99, Pending: 100}, 4},
		{"auction full and quiet", Curve{Kind: Auction, Base: 1, Gain: 1}, State{Busy: 10}, 1},
		{"auction full, one asks", Curve{Kind: Auction, Base: 1, Gain: 1}, State{Busy: 10, Pending: 3}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := tc.c.Value(tc.s); got != tc.want {
				t.Errorf("Value(%+v) = %v, want %v", tc.s, got, tc.want)
			}
		})
	}
}

func TestCurveDelay(t *testing.T) {
	c := Curve{Kind: Proportional, Base: 0, Max: 3600}
	if got := c.Delay(State{Free: 75, Busy: 25}); got != 15*time.Minute {
		t.Errorf("Delay at 25%% = %v, want 15m", got)
	}
}

// The auction's price never falls as scarcity rises (more pending, fewer
// free), and the step and proportional curves never fall as the grid fills.
func TestCurvesMonotonic(t *testing.T) {
	auc := Curve{Kind: Auction, Base: 1, Gain: 0.3, Horizon: time.Hour}
	prev := 0.0
	for pending := 0; pending < 500; pending += 7 {
		v := auc.Value(State{Free: 40, Busy: 60, Pending: pending, RecentDemand: 12})
		if v < prev {
			t.Fatalf("auction fell from %v to %v at pending=%d", prev, v, pending)
		}
		prev = v
	}
	for _, c := range []Curve{
		{Kind: Step, Steps: []StepAt{{0.5, 1}, {0.7, 2}, {0.9, 5}}},
		{Kind: Proportional, Base: 0.5, Max: 2},
		{Kind: Auction, Base: 1, Gain: 1},
	} {
		prev := -1.0
		for busy := 0; busy <= 100; busy++ {
			v := c.Value(State{Free: 100 - busy, Busy: busy, Pending: 5})
			if v < prev {
				t.Fatalf("%s fell from %v to %v at busy=%d", c.Kind, prev, v, busy)
			}
			prev = v
		}
	}
}

func TestCurveValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Curve
		want string
	}{
		{Curve{Kind: "linear"}, `kind "linear"`},
		{Curve{Kind: Constant, Base: -1}, "base -1"},
		{Curve{Kind: Step}, "at least one step"},
		{Curve{Kind: Step, Steps: []StepAt{{0.9, 1}, {0.8, 2}}}, "steps[1].fill 0.8: expected above steps[0].fill 0.9"},
		{Curve{Kind: Step, Steps: []StepAt{{1.5, 1}}}, "steps[0].fill 1.5"},
		{Curve{Kind: Step, Steps: []StepAt{{0.5, -2}}}, "steps[0] value -2"},
		{Curve{Kind: Proportional, Base: 2, Max: 1}, "max 1: expected >= base 2"},
		{Curve{Kind: Auction, Base: 1}, "gain 0"},
		{Curve{Kind: Auction, Base: 2, Gain: 1, Max: 1}, "max 1"},
		{Curve{Kind: Auction, Base: 1, Gain: 1, Horizon: -time.Second}, "horizon -1s"},
	} {
		err := tc.c.Validate()
		if !errors.Is(err, ErrCurve) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an ErrCurve naming %q", tc.c, err, tc.want)
		}
	}
}

func TestTake(t *testing.T) {
	for _, tc := range []struct{ e, f, want float64 }{
		{1, 1, 1},
		{1, 1.5, 0.5},
		{2, 1.25, 0.5},
		{0, 10, 1},  // inelastic
		{1, 3, 0},   // priced out
		{1, 0.5, 1}, // a discount draws no more than everyone
	} {
		if got := Take(tc.e, tc.f); got != tc.want {
			t.Errorf("Take(%v, %v) = %v, want %v", tc.e, tc.f, got, tc.want)
		}
	}
}

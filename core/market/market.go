package market

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Curve kinds.
const (
	Constant     = "constant"
	Step         = "step"
	Proportional = "proportional"
	Auction      = "auction"
)

// Kinds lists every curve kind, in the order documented.
var Kinds = []string{Constant, Step, Proportional, Auction}

// ErrCurve is wrapped by every validation error of a Curve.
var ErrCurve = errors.New("market: invalid curve")

// State is what a policy reads of the grid (or of one provider's share of
// it) at one instant.
type State struct {
	// Free and Busy partitions of the computers open to allocation.
	Free, Busy int
	// Pending requests at the master (placed nowhere yet) and Held ones
	// (waiting out the provisioning delay).
	Pending, Held int
	// RecentDemand is the recent arrival rate of requests, per hour.
	RecentDemand float64
}

// Fill is the busy share of the open partitions, in [0, 1]; a grid with
// no open partition is full.
func (s State) Fill() float64 {
	total := s.Free + s.Busy
	if total <= 0 {
		return 1
	}
	return float64(s.Busy) / float64(total)
}

// Demand is the requests competing for the free partitions: pending, held,
// and those expected over horizon at the recent rate.
func (s State) Demand(horizon time.Duration) float64 {
	return float64(s.Pending+s.Held) + s.RecentDemand*horizon.Hours()
}

// StepAt is one step of a step curve: from fill level Fill on, Value.
type StepAt struct {
	Fill  float64
	Value float64
}

// Curve is one policy: a value as a function of State.
type Curve struct {
	Kind string
	// Base is the value of an empty or uncongested grid.
	Base float64
	// Max caps proportional and auction curves (proportional: its value at
	// a full grid). 0 leaves an auction uncapped.
	Max float64
	// Steps of a step curve, by increasing fill.
	Steps []StepAt
	// Gain is an auction's rise per unit of excess demand ratio; Horizon
	// how far ahead it counts the recent arrival rate.
	Gain    float64
	Horizon time.Duration
}

// Validate reports what is wrong with c, naming the field.
func (c Curve) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrCurve, fmt.Sprintf(format, a...))
	}
	if !slices.Contains(Kinds, c.Kind) {
		return bad("kind %q: expected one of %v", c.Kind, Kinds)
	}
	if c.Base < 0 {
		return bad("base %v: expected >= 0", c.Base)
	}
	switch c.Kind {
	case Step:
		if len(c.Steps) == 0 {
			return bad("a step curve needs at least one step")
		}
		for i, st := range c.Steps {
			if st.Fill < 0 || st.Fill > 1 {
				return bad("steps[%d].fill %v: expected a fraction in [0, 1]", i, st.Fill)
			}
			if st.Value < 0 {
				return bad("steps[%d] value %v: expected >= 0", i, st.Value)
			}
			if i > 0 && st.Fill <= c.Steps[i-1].Fill {
				return bad("steps[%d].fill %v: expected above steps[%d].fill %v", i, st.Fill, i-1, c.Steps[i-1].Fill)
			}
		}
	case Proportional:
		if c.Max < c.Base {
			return bad("max %v: expected >= base %v", c.Max, c.Base)
		}
	case Auction:
		if c.Gain <= 0 {
			return bad("gain %v: expected > 0", c.Gain)
		}
		if c.Horizon < 0 {
			return bad("horizon %v: expected >= 0", c.Horizon)
		}
		if c.Max != 0 && c.Max < c.Base {
			return bad("max %v: expected >= base %v (or 0: no cap)", c.Max, c.Base)
		}
	}
	return nil
}

// Value is the curve's value in state s.
func (c Curve) Value(s State) float64 {
	switch c.Kind {
	case Step:
		v, fill := c.Base, s.Fill()
		for _, st := range c.Steps {
			if fill < st.Fill {
				break
			}
			v = st.Value
		}
		return v
	case Proportional:
		return c.Base + float64((c.Max-c.Base)*s.Fill())
	case Auction:
		demand := s.Demand(c.Horizon)
		supply := float64(max(s.Free, 1))
		if s.Free <= 0 && demand <= 0 {
			demand = 1 // a full grid is scarce even before anyone asks
		}
		ratio := demand / supply
		if ratio <= 1 {
			return c.Base
		}
		v := c.Base * (1 + float64(c.Gain*(ratio-1)))
		if c.Max > 0 && v > c.Max {
			v = c.Max
		}
		return v
	}
	return c.Base
}

// Delay is a delay curve's value (seconds) as a duration, rounded down to
// the nanosecond.
func (c Curve) Delay(s State) time.Duration {
	return time.Duration(float64(c.Value(s) * 1e9))
}

// Take is the probability that a requester with price elasticity e still
// asks at a price factor f (1 = the list price): 1 − e·(f − 1), within
// [0, 1]. A linear demand curve: at e = 1 a 10% rise loses a tenth of the
// requests, and a price below the list price draws no more than everyone.
func Take(e, f float64) float64 {
	p := 1 - float64(e*(f-1))
	return min(max(p, 0), 1)
}

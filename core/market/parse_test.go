package market

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseCurve(t *testing.T) {
	for _, c := range []struct {
		spec string
		want Curve
		err  string // part of the error; "" = valid
	}{
		{spec: "constant,base=1.5", want: Curve{Kind: Constant, Base: 1.5}},
		{spec: "step,base=1,steps=0.8:1.5/0.95:3", want: Curve{Kind: Step, Base: 1, Steps: []StepAt{{0.8, 1.5}, {0.95, 3}}}},
		{spec: " proportional, base=1, max=3 ", want: Curve{Kind: Proportional, Base: 1, Max: 3}},
		{spec: "auction,base=1,gain=2,max=4,horizon=1h", want: Curve{Kind: Auction, Base: 1, Gain: 2, Max: 4, Horizon: time.Hour}},
		{spec: "", err: "kind"},
		{spec: "bidding,base=1", err: `kind "bidding"`},
		{spec: "auction,base=1", err: "gain"},
		{spec: "constant,base", err: "expected key=value"},
		{spec: "constant,base=1,base=2", err: "base given twice"},
		{spec: "constant,price=1", err: `unknown key "price"`},
		{spec: "constant,base=NaN", err: "base=NaN: expected a finite number"},
		{spec: "auction,gain=1,horizon=soon", err: "horizon=soon"},
		{spec: "step,base=1,steps=0.8", err: `step "0.8": expected fill:value`},
		{spec: "step,base=1,steps=0.9:2/0.5:3", err: "steps[1].fill"},
		{spec: "proportional,base=2,max=1", err: "max 1"},
	} {
		got, err := ParseCurve(c.spec)
		if c.err == "" {
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Errorf("ParseCurve(%q) = %+v, %v; want %+v", c.spec, got, err, c.want)
			}
			continue
		}
		if err == nil || !errors.Is(err, ErrCurve) || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ParseCurve(%q) error = %v; want ErrCurve naming %q", c.spec, err, c.err)
		}
	}
}

// FuzzParseCurve: any line is either refused with ErrCurve or gives a
// valid curve whose value is defined.
func FuzzParseCurve(f *testing.F) {
	for _, s := range []string{"constant,base=1", "step,base=1,steps=0.5:2", "auction,base=1,gain=2,horizon=1h", "proportional,max=3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := ParseCurve(spec)
		if err != nil {
			if !errors.Is(err, ErrCurve) {
				t.Fatalf("%q: error %v does not wrap ErrCurve", spec, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("%q: parsed an invalid curve: %v", spec, err)
		}
		if v := c.Value(State{Free: 1, Busy: 1, Pending: 3, RecentDemand: 1e6}); v != v || v > 1e300 || v < 0 {
			t.Fatalf("%q: value %v", spec, v)
		}
	})
}

package scenario

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestDetExpLog(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 200000 {
		x := (r.Float64() - 0.5) * 80 // e**-40 .. e**40
		if i%2 == 0 {
			x = math.Log(1e9) + r.NormFloat64() // log-normal draws around a second in ns
		}
		if got, want := detExp(x), math.Exp(x); math.Abs(got-want) > 1e-15*want {
			t.Fatalf("detExp(%v) = %v, math.Exp %v", x, got, want)
		}
		y := math.Exp(x)
		if got, want := detLog(y), math.Log(y); math.Abs(got-want) > 1e-15*math.Max(1, math.Abs(want)) {
			t.Fatalf("detLog(%v) = %v, math.Log %v", y, got, want)
		}
	}
	for _, c := range []struct{ got, want float64 }{
		{detExp(0), 1}, {detExp(1000), math.Inf(1)}, {detExp(-1000), 0}, {detLog(1), 0},
		{detLog(0), math.Inf(-1)}, {detLog(math.Inf(1)), math.Inf(1)},
	} {
		if c.got != c.want {
			t.Errorf("got %v, want %v", c.got, c.want)
		}
	}
	if !math.IsNaN(detLog(-1)) || !math.IsNaN(detExp(math.NaN())) {
		t.Error("NaN cases")
	}
}

package scenario

import "math"

// Deterministic exp and log. math.Exp on amd64 takes a fused multiply-add
// path on CPUs that have one, so its last bit may differ from one machine
// to another; a duration drawn from a log-normal distribution, rounded to
// nanoseconds, would then differ now and then, and with it the trace. These
// versions use only IEEE operations whose every product is rounded
// explicitly (float64(x*y) cannot be fused), so they give the same bits on
// every machine. They are within 1e-15 (relative) of math.Exp and math.Log.

const (
	ln2Hi = 6.93147180369123816490e-01 // ln 2, high bits: k*ln2Hi is exact for |k| < 2^20
	ln2Lo = 1.90821492927058770002e-10 // ln 2 - ln2Hi
)

// detExp is e**x.
func detExp(x float64) float64 {
	switch {
	case x != x || x > 709.78:
		if x != x {
			return x
		}
		return math.Inf(1)
	case x < -745.13:
		return 0
	}
	k := math.Floor(x/math.Ln2 + 0.5)
	r := (x - float64(k*ln2Hi)) - float64(k*ln2Lo) // |r| <= ln2/2
	// Taylor series of e**r in Horner form, smallest terms first:
	// 1 + r(1 + r/2(1 + r/3(…))); 18 terms for |r| <= 0.35.
	p := 1.0
	for n := 18; n >= 1; n-- {
		p = 1 + float64(r*p)/float64(n)
	}
	return math.Ldexp(p, int(k))
}

// detLog is the natural logarithm of x > 0.
func detLog(x float64) float64 {
	switch {
	case x != x || x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return x
	}
	f, e := math.Frexp(x) // x = f * 2**e, f in [0.5, 1)
	if f < math.Sqrt2/2 {
		f *= 2
		e--
	}
	// log(f) = 2 atanh(z), z = (f-1)/(f+1), |z| <= 0.172: z**2 <= 0.0295.
	z := (f - 1) / (f + 1)
	z2 := float64(z * z)
	sum := 0.0 // z(1 + z2/3 + z2**2/5 + …), smallest terms first
	for n := 25; n >= 1; n -= 2 {
		sum = 1/float64(n) + float64(z2*sum)
	}
	sum = float64(z * sum)
	fe := float64(e)
	return float64(fe*ln2Hi) + (float64(fe*ln2Lo) + 2*sum)
}

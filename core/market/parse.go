package market

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseCurve reads a curve written on one line, as a command-line flag
// takes it: the kind, then comma-separated key=value fields.
//
//	constant,base=1.5
//	step,base=1,steps=0.8:1.5/0.95:3     (fill:value pairs, by fill)
//	proportional,base=1,max=3
//	auction,base=1,gain=2,max=4,horizon=1h
//
// Keys: base, max, gain (numbers), horizon (a Go duration), steps. The
// curve is validated; an error names the field that is wrong and wraps
// ErrCurve.
func ParseCurve(spec string) (Curve, error) {
	bad := func(format string, a ...any) (Curve, error) {
		return Curve{}, fmt.Errorf("%w: %q: %s", ErrCurve, spec, fmt.Sprintf(format, a...))
	}
	fields := strings.Split(strings.TrimSpace(spec), ",")
	c := Curve{Kind: strings.TrimSpace(fields[0])}
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return bad("field %q: expected key=value", f)
		}
		if seen[k] {
			return bad("%s given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "base":
			c.Base, err = parseNumber(v)
		case "max":
			c.Max, err = parseNumber(v)
		case "gain":
			c.Gain, err = parseNumber(v)
		case "horizon":
			c.Horizon, err = time.ParseDuration(v)
		case "steps":
			c.Steps, err = parseSteps(v)
		default:
			return bad("unknown key %q: expected base, max, gain, horizon or steps", k)
		}
		if err != nil {
			return bad("%s=%s: %v", k, v, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Curve{}, fmt.Errorf("%q: %w", spec, err)
	}
	return c, nil
}

// maxNumber bounds the numbers of a written curve, so that no value of
// it overflows.
const maxNumber = 1e12

// parseNumber reads a finite decimal number within ±maxNumber.
func parseNumber(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || x != x || x > maxNumber || x < -maxNumber {
		return 0, fmt.Errorf("expected a finite number within ±%g", maxNumber)
	}
	return x, nil
}

// parseSteps reads fill:value pairs separated by '/'.
func parseSteps(v string) ([]StepAt, error) {
	var out []StepAt
	for _, p := range strings.Split(v, "/") {
		f, val, ok := strings.Cut(p, ":")
		if !ok {
			return nil, fmt.Errorf("step %q: expected fill:value", p)
		}
		fill, err := parseNumber(f)
		if err != nil {
			return nil, fmt.Errorf("step %q: fill: %w", p, err)
		}
		x, err := parseNumber(val)
		if err != nil {
			return nil, fmt.Errorf("step %q: value: %w", p, err)
		}
		out = append(out, StepAt{Fill: fill, Value: x})
	}
	return out, nil
}

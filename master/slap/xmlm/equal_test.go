package xmlm

import (
	"math"
	"slices"
)

// Equal reports whether two values are the same Python value (NaN equals
// NaN, so that a decoded value equals itself).
func Equal(a, b Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case KindNone:
		return true
	case KindBool:
		return a.Bool == b.Bool
	case KindInt:
		return a.Int == b.Int
	case KindFloat:
		return a.Float == b.Float && math.Signbit(a.Float) == math.Signbit(b.Float) ||
			math.IsNaN(a.Float) && math.IsNaN(b.Float)
	case KindString:
		return a.Str == b.Str
	case KindObject:
		if a.Module != b.Module || a.Class != b.Class {
			return false
		}
	}
	return slices.EqualFunc(a.Items, b.Items, Equal)
}

package model

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of the numbers the master accepts. Every number it stores is finite
// and within these bounds, so that any product it derives (a quantity times
// a unit price) stays finite too.
const (
	// MaxPrice bounds a unit price and an SLA max_price, in currency units.
	MaxPrice = 1e9
	// MaxQuantity bounds a reported usage quantity (1e21: a zettabyte
	// counted in bytes).
	MaxQuantity = 1e21
)

// ValidatePrice checks a price or price bound: a finite number in
// [0, MaxPrice]. what names it in the error ("price of \"hosting\"").
func ValidatePrice(what string, v float64) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return invalidf("%s is %v: expected a finite number", what, v)
	case v < 0:
		return invalidf("%s is %v: expected a non-negative number", what, v)
	case v > MaxPrice:
		return invalidf("%s is %v: out of range, at most %g", what, v, float64(MaxPrice))
	}
	return nil
}

// ValidatePriceList checks every entry of a price list: a resource name
// that is valid text, and a price ValidatePrice accepts.
func ValidatePriceList(p PriceList) error {
	valid := true
	for k, v := range p {
		valid = valid && k != "" && isText(k) && ValidatePrice("", v) == nil
	}
	if valid {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(p)) { // the first problem, by key
		v := p[k]
		if k == "" {
			return invalidf("price list has an empty resource name")
		}
		if err := ValidateText("price list resource name", k); err != nil {
			return err
		}
		if err := ValidatePrice("price of "+quote(k), v); err != nil {
			return err
		}
	}
	return nil
}

// ValidateHardware checks the figures a computer declares: non-negative,
// and an architecture that is valid text.
func ValidateHardware(h Hardware) error {
	for _, f := range []struct {
		name string
		v    int64
	}{{"hardware.cpu", h.CPU}, {"hardware.ram", h.RAM}, {"hardware.disk", h.Disk}} {
		if f.v < 0 {
			return invalidf("%s is %d: hardware figures must be non-negative", f.name, f.v)
		}
	}
	return ValidateText("hardware.arch", h.Arch)
}

// ValidateText checks a string the master stores: valid UTF-8 and no NUL
// byte, so that it is stored and read back byte for byte. what names the
// field in the error.
func ValidateText(what, s string) error {
	if !utf8.ValidString(s) {
		return invalidf("%s %s is not valid UTF-8", what, quote(s))
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalidf("%s %s contains a NUL byte", what, quote(s))
	}
	return nil
}

// isText is ValidateText's test, without the error.
func isText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// ValidateTextMap checks the keys and values of a string map with
// ValidateText; what names the map ("attribute", "parameter").
func ValidateTextMap(what string, m map[string]string) error {
	valid := true
	for k, v := range m {
		valid = valid && isText(k) && isText(v)
	}
	if valid {
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(m)) { // the first problem, by key
		v := m[k]
		if err := ValidateText(what+" key", k); err != nil {
			return err
		}
		if err := ValidateText(what+" "+quote(k), v); err != nil {
			return err
		}
	}
	return nil
}

// SanitizeText makes a free text (an error log excerpt a node reports)
// storable: invalid UTF-8 and NUL bytes become U+FFFD.
func SanitizeText(s string) string {
	if isText(s) {
		return s
	}
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if r == 0 {
			r = utf8.RuneError
		}
		b = append(b, r)
	}
	return string(b)
}

// quote quotes s for an error message, clipped to 64 bytes.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

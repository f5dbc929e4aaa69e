package alloc

import (
	"errors"
	"fmt"
)

// Policy ranks the feasible computers of one placement. Every policy is
// deterministic: equal inputs give equal decisions.
type Policy string

const (
	// PolicyFirstFit takes the first feasible computer in slice order (the
	// caller keeps the slice sorted by computer ID). The default: cheapest to
	// compute and easiest to predict, like slapproxy.
	PolicyFirstFit Policy = "first-fit"
	// PolicyCheapest takes the feasible computer with the lowest hourly
	// price; ties go to the earlier one. What a price-minded requester wants.
	PolicyCheapest Policy = "cheapest"
	// PolicyPack takes the feasible computer with the fewest free partitions
	// (ties to the earlier one): fills computers up so others stay empty
	// for large requests or can be switched off.
	PolicyPack Policy = "pack"
	// PolicySpread takes the feasible computer with the most free partitions
	// (ties to the earlier one): balances load and limits the blast radius
	// of one node failing.
	PolicySpread Policy = "spread"
	// PolicyRandom takes a feasible computer uniformly at random, from a PCG
	// seeded with the FNV-64a hash of Request.Key: the same request on the
	// same candidates always lands on the same computer.
	PolicyRandom Policy = "random"
)

// ErrUnknownPolicy is wrapped by ParsePolicy's error.
var ErrUnknownPolicy = errors.New("alloc: unknown policy")

// Policies lists every policy, the default first.
func Policies() []Policy {
	return []Policy{PolicyFirstFit, PolicyCheapest, PolicyPack, PolicySpread, PolicyRandom}
}

// ParsePolicy accepts a policy name; "" means PolicyFirstFit.
func ParsePolicy(s string) (Policy, error) {
	if s == "" {
		return PolicyFirstFit, nil
	}
	for _, p := range Policies() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w %q: expected one of first-fit, cheapest, pack, spread, random", ErrUnknownPolicy, s)
}

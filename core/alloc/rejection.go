package alloc

import (
	"cmp"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ErrNoPlacement is what every *Rejection unwraps to.
var ErrNoPlacement = errors.New("alloc: no feasible computer")

// Rejection explains a failed placement: each candidate is counted once, at
// the first filter it failed, so the counts add up to Considered.
//
// Considered is the number of candidates examined: all of them, or 1 when
// the SLA pins a computer that is among them. Counts maps a reason
// ("region!=jp", "no free partition", "attr.gpu!=yes") to a number of
// computers. The reasons name the SLA values, so they are for people; use
// ReasonFilter to group them by filter.
type Rejection struct {
	Considered int
	Counts     map[string]int
}

// Error lists the reasons in pipeline order (reasons of one filter, such as
// several attr.* conditions, alphabetically), e.g.
// "12 computers: 3 no free partition, 9 region!=jp";
// "no computer registered" when nothing was considered.
func (r *Rejection) Error() string {
	if r.Considered == 0 {
		return "no computer registered"
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(r.Considered))
	if r.Considered == 1 {
		b.WriteString(" computer")
	} else {
		b.WriteString(" computers")
	}
	sep := ": "
	for _, reason := range r.Reasons() {
		b.WriteString(sep)
		b.WriteString(strconv.Itoa(r.Counts[reason]))
		b.WriteByte(' ')
		b.WriteString(reason)
		sep = ", "
	}
	return b.String()
}

// Reasons returns the reasons with a positive count, in the order Error
// lists them: pipeline order, then alphabetical; unknown reasons last.
func (r *Rejection) Reasons() []string {
	keys := slices.Collect(maps.Keys(r.Counts))
	keys = slices.DeleteFunc(keys, func(k string) bool { return r.Counts[k] <= 0 })
	slices.SortFunc(keys, func(a, b string) int {
		if c := cmp.Compare(reasonFilter(a), reasonFilter(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	return keys
}

// Unwrap returns ErrNoPlacement, so errors.Is(rej, ErrNoPlacement) holds.
func (r *Rejection) Unwrap() error { return ErrNoPlacement }

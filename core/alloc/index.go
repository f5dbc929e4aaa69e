package alloc

import "math/bits"

// Index keeps the positions of a candidate slice grouped by free
// partitions, so that the policies ranked by free partitions need not
// examine every candidate: PolicySpread walks the groups from the most
// free partitions down, PolicyPack from the fewest up, PolicyFirstFit
// walks the candidates with a free partition; each walks a group in slice
// order and stops at the first feasible candidate. That is the candidate
// Choose would take on the same slice (property-tested): a feasible
// candidate has a free partition, and slice order breaks ties.
//
// Invariants: positions holds cands[i] -> i; free[i] is the Free that
// cands[i] is filed under; groups[f] (f >= 1) holds, as a bitset of
// positions, the candidates filed under f, and size[f] counts them; open
// holds the positions filed under some f >= 1; every group above top is
// empty. The caller keeps them true: Update after changing a candidate's
// Free, and a new Index after changing the slice itself (adding, removing
// or reordering candidates). A group's bitset is allocated when it first
// gets a member: memory is len(cands)/8 bytes per distinct Free value seen.
type Index struct {
	cands     []*Candidate
	positions map[*Candidate]int
	free      []int
	groups    [][]uint64
	size      []int
	open      []uint64
	top       int
}

// NewIndex indexes cands, which it keeps (not a copy): the caller must not
// change the slice afterwards, only its candidates' fields, telling Update
// when Free changed.
func NewIndex(cands []*Candidate) *Index {
	x := &Index{
		cands:     cands,
		positions: make(map[*Candidate]int, len(cands)),
		free:      make([]int, len(cands)),
		open:      make([]uint64, (len(cands)+63)/64),
	}
	for i, c := range cands {
		x.positions[c] = i
		x.file(i, c.Free)
	}
	return x
}

// Update files c again after its Free changed. A candidate that is not in
// the indexed slice is ignored: adding it to the slice needs a new Index.
func (x *Index) Update(c *Candidate) {
	i, ok := x.positions[c]
	if !ok || x.free[i] == c.Free {
		return
	}
	if f := x.free[i]; f > 0 {
		x.groups[f][i/64] &^= 1 << (i % 64)
		x.size[f]--
		x.open[i/64] &^= 1 << (i % 64)
		for x.top > 0 && x.size[x.top] == 0 {
			x.top--
		}
	}
	x.file(i, c.Free)
}

// file records position i under free partitions f (f <= 0 is no group).
func (x *Index) file(i, f int) {
	x.free[i] = f
	if f <= 0 {
		return
	}
	for len(x.groups) <= f {
		x.groups = append(x.groups, nil)
		x.size = append(x.size, 0)
	}
	if x.groups[f] == nil {
		x.groups[f] = make([]uint64, len(x.open))
	}
	x.groups[f][i/64] |= 1 << (i % 64)
	x.size[f]++
	x.open[i/64] |= 1 << (i % 64)
	x.top = max(x.top, f)
}

// Choose is Choose(cands, req, opts) on the indexed slice: the same
// decision, found without examining every candidate for PolicySpread,
// PolicyPack and PolicyFirstFit (the other policies and a pinned request
// take Choose's path).
func (x *Index) Choose(req Request, opts Options) (Decision, bool) {
	var attrBuf [maxStackAttrs]attrCond
	q := compile(&req, &opts, attrBuf[:0])
	i := -1
	switch {
	case q.pin != "" || opts.Policy == PolicyCheapest || opts.Policy == PolicyRandom:
		return Choose(x.cands, req, opts)
	case opts.Policy == PolicySpread:
		for f := x.top; f > 0 && i < 0; f-- {
			if x.size[f] > 0 {
				i = x.first(&q, x.groups[f])
			}
		}
	case opts.Policy == PolicyPack:
		for f := 1; f <= x.top && i < 0; f++ {
			if x.size[f] > 0 {
				i = x.first(&q, x.groups[f])
			}
		}
	default: // first-fit, as Choose takes an unknown policy
		i = x.first(&q, x.open)
	}
	if i < 0 {
		return noDecision, false
	}
	return Decision{Index: i, ComputerID: x.cands[i].ID}, true
}

// first returns the first position of set, in slice order, whose
// candidate is feasible for q, or -1.
func (x *Index) first(q *query, set []uint64) int {
	for w, word := range set {
		for word != 0 {
			i := w*64 + bits.TrailingZeros64(word)
			if q.feasible(x.cands[i]) {
				return i
			}
			word &= word - 1
		}
	}
	return -1
}

package alloc

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Candidate is the allocator's view of one computer; core/master keeps one
// per computer and updates it in place. Place only reads it.
type Candidate struct {
	ID, Owner             string // computer id, owner person id
	Region, Network, Arch string
	CPU, RAM, Disk        int64 // cores, MiB, GiB
	Attributes            map[string]string
	Price                 float64 // hourly hosting price
	Scope                 model.Scope
	LastContact           time.Time
	Software              map[string]bool // software URLs supplied (requested available) on this computer
	Free, Total           int             // free / total partitions
}

// Request is one instance to place.
type Request struct {
	Person          string // requesting person (owner of the tree)
	SoftwareRelease string
	SLA             model.SLA
	// TreeNetworks holds the networks already used by the instance's tree
	// (for unique_by_network), "" included for a computer without network.
	TreeNetworks map[string]bool
	// Key is the stable identity of the request; it seeds PolicyRandom.
	Key string
}

// Options are the master's placement settings.
type Options struct {
	Policy Policy // "" is PolicyFirstFit
	// Now is the current time; it matters only when OnlineWithin > 0.
	Now time.Time
	// OnlineWithin rejects a computer whose LastContact is older than
	// Now-OnlineWithin; 0 disables the check.
	OnlineWithin time.Duration
}

// Decision is a successful placement: Index into the candidate slice and
// that candidate's ID. On failure Place returns Index -1.
type Decision struct {
	Index      int
	ComputerID string
}

var noDecision = Decision{Index: -1}

// Place chooses the computer for req among cands, or explains why none fits.
// Exactly one of the results is meaningful: the *Rejection is nil on success.
//
// The SLA's computer_guid restricts the choice to that computer (and lets
// its owner use it even if closed); otherwise every candidate goes through
// the filters and opts.Policy ranks the feasible ones. Place neither
// mutates cands nor keeps them; it does not allocate on success (with at
// most 8 attr.* conditions). An unknown opts.Policy is taken as first-fit:
// validate configuration with ParsePolicy.
//
// NB return the *Rejection as an error only when non-nil: a nil
// *Rejection stored in an error interface is not a nil error.
func Place(cands []*Candidate, req Request, opts Options) (Decision, *Rejection) {
	if d, ok := Choose(cands, req, opts); ok {
		return d, nil
	}
	return noDecision, Explain(cands, req, opts)
}

// Choose is Place without the explanation: the decision, and false when no
// candidate is feasible. It is the cheap half of Place; call Explain when
// the reason is wanted.
func Choose(cands []*Candidate, req Request, opts Options) (Decision, bool) {
	var attrBuf [maxStackAttrs]attrCond
	q := compile(&req, &opts, attrBuf[:0])
	if q.pin != "" {
		for i, c := range cands {
			if c.ID == q.pin && q.feasible(c) {
				return Decision{Index: i, ComputerID: c.ID}, true
			}
		}
		return noDecision, false
	}
	var i int
	switch opts.Policy {
	case PolicyCheapest:
		i = q.cheapest(cands)
	case PolicyPack:
		i = q.pack(cands)
	case PolicySpread:
		i = q.spread(cands)
	case PolicyRandom:
		i = q.random(cands, req.Key)
	default:
		i = q.firstFit(cands)
	}
	if i < 0 {
		return noDecision, false
	}
	return Decision{Index: i, ComputerID: cands[i].ID}, true
}

// Explain says why no candidate is feasible for req, as Place's rejection
// does. Call it only when Choose found none: it panics on a feasible
// candidate. Its cost is every filter of every candidate (of the pinned one
// only, when the SLA pins a computer).
func Explain(cands []*Candidate, req Request, opts Options) *Rejection {
	var attrBuf [maxStackAttrs]attrCond
	q := compile(&req, &opts, attrBuf[:0])
	if q.pin != "" {
		for i, c := range cands {
			if c.ID == q.pin {
				return q.reject(cands[i : i+1])
			}
		}
		// Not registered: every candidate fails the pin.
		r := &Rejection{Considered: len(cands), Counts: map[string]int{}}
		if len(cands) > 0 {
			r.Counts[q.reason(filterPin, 0)] = len(cands)
		}
		return r
	}
	return q.reject(cands)
}

// Feasible reports whether one candidate passes every filter for req: what
// a caller that knows only c changed needs to retry a request.
func Feasible(c *Candidate, req Request, opts Options) bool {
	var attrBuf [maxStackAttrs]attrCond
	q := compile(&req, &opts, attrBuf[:0])
	return q.feasible(c)
}

// The ranking policies. Each returns an index into cands or -1. Where the
// rank key alone can rule a candidate out, it is compared before the
// filters run, to skip their cost.

func (q *query) firstFit(cands []*Candidate) int {
	for i, c := range cands {
		if q.feasible(c) {
			return i
		}
	}
	return -1
}

func (q *query) cheapest(cands []*Candidate) int {
	best, bestPrice := -1, 0.0
	for i, c := range cands {
		p := c.Price
		if p != p { // NaN ranks last
			p = math.Inf(1)
		}
		if best >= 0 && p >= bestPrice {
			continue
		}
		if q.feasible(c) {
			best, bestPrice = i, p
		}
	}
	return best
}

func (q *query) pack(cands []*Candidate) int {
	best, bestFree := -1, 0
	for i, c := range cands {
		if best >= 0 && c.Free >= bestFree {
			continue
		}
		if q.feasible(c) {
			best, bestFree = i, c.Free
			if bestFree == 1 { // a feasible candidate has Free >= 1
				break
			}
		}
	}
	return best
}

func (q *query) spread(cands []*Candidate) int {
	best, bestFree := -1, 0
	for i, c := range cands {
		if best >= 0 && c.Free <= bestFree {
			continue
		}
		if q.feasible(c) {
			best, bestFree = i, c.Free
		}
	}
	return best
}

// randomProbes is how many uniform draws PolicyRandom tries before it
// counts the feasible candidates.
const randomProbes = 32

// random picks uniformly among the feasible candidates. It first draws up
// to randomProbes indexes uniformly among all candidates and takes the
// first feasible one (a uniform draw that lands on a feasible candidate is
// uniform among them, and costs one filter run instead of a scan); when
// every probe misses (few or no feasible candidates), it counts the n
// feasible ones, draws r in [0, n) and takes the r-th in slice order.
// Either way each feasible candidate has the same chance.
func (q *query) random(cands []*Candidate, key string) int {
	if len(cands) == 0 {
		return -1
	}
	rng := newKeyedRand(key)
	for range randomProbes {
		if i := rng.intN(len(cands)); q.feasible(cands[i]) {
			return i
		}
	}
	n := 0
	for _, c := range cands {
		if q.feasible(c) {
			n++
		}
	}
	if n == 0 {
		return -1
	}
	r := rng.intN(n)
	for i, c := range cands {
		if q.feasible(c) {
			if r == 0 {
				return i
			}
			r--
		}
	}
	return -1 // unreachable: the second pass sees the same n candidates
}

// keyedRand is a PCG seeded with the FNV-64a hash h of a request key, as
// PCG(h, h^0x9e3779b97f4a7c15). It lives on the stack: boxing the PCG in
// a rand.Source interface would allocate.
type keyedRand struct{ pcg rand.PCG }

func newKeyedRand(key string) keyedRand {
	h := fnv64a(key)
	var r keyedRand
	r.pcg.Seed(h, h^0x9e3779b97f4a7c15)
	return r
}

// intN draws uniformly in [0, n), n > 0. It computes what
// rand.New(pcg).Uint64N(n) does on 64-bit platforms (a mask for a power of
// two, else Lemire's multiply-and-reject), the same on every platform.
func (r *keyedRand) intN(n int) int {
	bound := uint64(n)
	if bound&(bound-1) == 0 {
		return int(r.pcg.Uint64() & (bound - 1))
	}
	hi, lo := bits.Mul64(r.pcg.Uint64(), bound)
	if lo < bound {
		threshold := -bound % bound
		for lo < threshold {
			hi, lo = bits.Mul64(r.pcg.Uint64(), bound)
		}
	}
	return int(hi)
}

// fnv64a is hash/fnv's New64a over key, without its allocation.
func fnv64a(key string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime
	}
	return h
}

// Admit says whether an instance already holding a partition on c may stay
// there under req: every filter of Place but the free partition (the
// instance holds one). It returns nil when c is admitted, else a Rejection
// that considered c alone. core/master uses it when an instance changes
// hands: the buyer's SLA must accept the computer it runs on.
func Admit(c *Candidate, req Request, opts Options) *Rejection {
	var attrBuf [maxStackAttrs]attrCond
	q := compile(&req, &opts, attrBuf[:0])
	held := *c
	held.Free = max(held.Free, 1)
	if q.feasible(&held) {
		return nil
	}
	return q.reject([]*Candidate{&held})
}

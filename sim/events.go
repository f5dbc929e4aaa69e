package sim

import (
	"math"
	"time"
)

// evKind is the kind of a scheduled event.
type evKind uint8

const (
	evActionDone       evKind = iota // a node's configuration worker finished an action
	evSoftwareDone                   // a node's software worker finished a build
	evMasterArrive                   // a command reaches the master's queue
	evMasterApply                    // the master finished applying the command it served
	evProvision                      // a request held by the provisioning delay is released
	evArrival                        // next Poisson arrival of the workload
	evBurstArrival                   // one request of a burst
	evLifetimeEnd                    // a requester is done with an instance
	evPatience                       // a requester gives up on a pending request
	evRetryRequest                   // a requester asks again after an outage
	evParamChange                    // next Poisson parameter change
	evStorm                          // a mass reconfiguration
	evSupply                         // a software release is supplied on the grid
	evNodeCrash                      // a random node crash
	evNodeBoot                       // a node boots
	evRegionDown                     // a region outage starts
	evRegionUp                       // a region outage ends
	evMasterDown                     // a master outage starts
	evMasterUp                       // a master outage ends
	evCut                            // a network partition starts
	evHeal                           // a network partition ends
	evSpeculate                      // a speculator looks at the market
	evPoolRefill                     // the pre-allocation pool manager runs
	evLivenessDeadline               // a convergence watch's bound expires
	evSample                         // a time-series sample
	evFullCheck                      // a sweep of every invariant over the whole state
	evDuty                           // a node's duty is due: an instance pass, usage (ref: the duty token)
	evJoin                           // a node group opens to allocation (ref: the group)
	evRetire                         // a node group closes to allocation (ref: the group)
)

// event is one scheduled happening. It is a small value: payloads live in
// the simulator's tables and are named by ref.
type event struct {
	at    int64  // virtual time, ns since the start
	seq   uint64 // tie-break: scheduling order
	kind  evKind
	epoch uint32 // node epoch (node events), to drop events of a crashed life
	node  int32  // node index, or -1
	ref   int32  // index into a table, by kind
}

// eventHeap is a 4-ary min-heap by (at, seq): half the depth of a binary
// heap, and the four children of a node share a cache line or two. (at,
// seq) is a total order (seq is unique), so events come out in the same
// order whatever the heap's shape.
type eventHeap []event

// before orders events by time, then by scheduling order.
func (a *event) before(b *event) bool {
	return a.at < b.at || a.at == b.at && a.seq < b.seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&s[p]) {
			break
		}
		s[i] = s[p]
		i = p
	}
	s[i] = e
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	last := s[n]
	s = s[:n]
	*h = s
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < c+4 && j < n; j++ {
			if s[j].before(&s[m]) {
				m = j
			}
		}
		if !s[m].before(&last) {
			break
		}
		s[i] = s[m]
		i = m
	}
	s[i] = last
	return top
}

// eventQueue is the engine's schedule: the events due before horizon in a
// small heap (near), the later ones in another (far). The grid's requests
// hold their lifetime ends, days ahead (the baseline's 190,000 events);
// the next hour's events, a few thousand, are popped and pushed without
// wading through them. Every near event is due before horizon, every far
// one at or after it, so the near heap's first is the queue's first, in
// the same (at, seq) order as one heap. When the near heap is empty, the
// horizon moves to nearWindow after the first far event.
type eventQueue struct {
	near, far eventHeap
	horizon   int64
}

// nearWindow is how far ahead of its first event the near heap reaches
// when it is filled from the far one.
const nearWindow = int64(time.Hour)

// len is the number of events scheduled.
func (q *eventQueue) len() int { return len(q.near) + len(q.far) }

func (q *eventQueue) push(e event) {
	if e.at < q.horizon {
		q.near.push(e)
		return
	}
	q.far.push(e)
}

// first is the next event; the queue must not be empty.
func (q *eventQueue) first() *event {
	if len(q.near) == 0 {
		q.refill()
	}
	return &q.near[0]
}

// pop removes and returns the next event; the queue must not be empty.
func (q *eventQueue) pop() event {
	if len(q.near) == 0 {
		q.refill()
	}
	return q.near.pop()
}

// refill moves the far events of the next window into the empty near heap.
func (q *eventQueue) refill() {
	at := q.far[0].at
	q.horizon = math.MaxInt64
	if at < math.MaxInt64-nearWindow {
		q.horizon = at + nearWindow
	}
	q.near.push(q.far.pop()) // due at or after a saturated horizon too
	for len(q.far) > 0 && q.far[0].at < q.horizon {
		q.near.push(q.far.pop())
	}
}

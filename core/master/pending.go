package master

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// pendingQueue holds the requests waiting for a home, oldest first
// (SOFTINST-2 before SOFTINST-10): instances that need a partition and
// shared instances that need a host in two queues of their own, so that
// retrying one kind never walks the other. It is kept ordered as requests
// join and leave: a retry never sorts.
type pendingQueue struct {
	in     map[string]bool
	alloc  []string // non-shared instances, by compareGUID
	shared []string // shared instances, by compareGUID
}

func newPendingQueue() pendingQueue { return pendingQueue{in: map[string]bool{}} }

func (q *pendingQueue) has(guid string) bool { return q.in[guid] }

func (q *pendingQueue) len() int { return len(q.in) }

func (q *pendingQueue) list(i *model.Instance) *[]string {
	if i.Shared {
		return &q.shared
	}
	return &q.alloc
}

// add queues an instance (again: adding a queued one changes nothing).
func (q *pendingQueue) add(i *model.Instance) {
	if q.in[i.GUID] {
		return
	}
	q.in[i.GUID] = true
	l := q.list(i)
	// NB: new requests have the highest number: appended without a search.
	if n := len(*l); n == 0 || compareGUID((*l)[n-1], i.GUID) < 0 {
		*l = append(*l, i.GUID)
		return
	}
	at, _ := slices.BinarySearchFunc(*l, i.GUID, compareGUID)
	*l = slices.Insert(*l, at, i.GUID)
}

// remove takes an instance out of the queue (if it is there).
func (q *pendingQueue) remove(i *model.Instance) {
	if !q.in[i.GUID] {
		return
	}
	delete(q.in, i.GUID)
	l := q.list(i)
	if at, found := slices.BinarySearchFunc(*l, i.GUID, compareGUID); found {
		*l = slices.Delete(*l, at, at+1)
	}
}

// all returns every queued guid, oldest first (the two queues merged).
func (q *pendingQueue) all() []string {
	out := make([]string, 0, len(q.alloc)+len(q.shared))
	a, b := q.alloc, q.shared
	for len(a) > 0 && len(b) > 0 {
		if compareGUID(a[0], b[0]) < 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// retryAll tries to place every pending request, oldest first, against
// every computer: what to do when time alone may have changed the answer.
func (s *State) retryAll(now time.Time) int {
	placed := 0
	for _, g := range s.pending.all() {
		if inst := s.instances[g]; inst != nil && s.pending.has(g) && s.place(now, inst) {
			placed++
		}
	}
	return placed
}

// retryOn tries the pending requests, oldest first, on one computer whose
// offer grew (a partition freed, software supplied, capacity or settings
// changed, back online): only it can have become feasible for them, since
// every change of a computer retries on that computer. A request feasible
// there is placed through the ranking policy like any other. It stops when
// the computer has no free partition left. Shared instances whose host
// may have appeared are retried after.
//
// NB: a request it does not place keeps the reason of its last full
// attempt (RetryPending refreshes them all).
func (s *State) retryOn(now time.Time, computerID string) int {
	cs := s.computers[computerID]
	if cs == nil {
		return 0
	}
	opts := s.allocOptions(now)
	placed := 0
	for i := 0; i < len(s.pending.alloc) && cs.cand.Free > 0; {
		g := s.pending.alloc[i]
		inst := s.instances[g]
		if inst != nil && alloc.Feasible(cs.cand, s.allocRequest(inst), opts) && s.place(now, inst) {
			placed++
		}
		if i < len(s.pending.alloc) && s.pending.alloc[i] == g {
			i++ // still queued: go on; else the next one moved to i
		}
	}
	if placed > 0 {
		placed += s.retryPendingShared(now)
	}
	return placed
}

// retryPendingShared tries to give a host to every pending shared
// instance, oldest first.
func (s *State) retryPendingShared(now time.Time) int {
	placed := 0
	for i := 0; i < len(s.pending.shared); {
		g := s.pending.shared[i]
		if inst := s.instances[g]; inst != nil && s.place(now, inst) {
			placed++
		}
		if i < len(s.pending.shared) && s.pending.shared[i] == g {
			i++
		}
	}
	return placed
}

func (s *State) allocOptions(now time.Time) alloc.Options {
	return alloc.Options{Policy: s.cfg.Policy, Now: now, OnlineWithin: s.cfg.OnlineWithin}
}

// allocRequest is what the allocator needs of a non-shared instance.
func (s *State) allocRequest(inst *model.Instance) alloc.Request {
	req := alloc.Request{Person: inst.Owner, SoftwareRelease: inst.SoftwareRelease, SLA: inst.SLA, Key: inst.GUID}
	if inst.SLA.UniqueByNetwork {
		req.TreeNetworks = map[string]bool{}
		for _, g := range s.treeMembers(treeOf(inst)) {
			m := s.instances[g]
			if g != inst.GUID && !m.Shared && m.ComputerID != "" {
				req.TreeNetworks[s.computers[m.ComputerID].c.Network] = true
			}
		}
	}
	return req
}

// rejectKey is what a rejection's words depend on when the SLA pins no
// computer and does not depend on the tree: the requester does not matter
// then (a closed computer refuses everybody who does not pin it).
type rejectKey struct {
	software, region, arch, network string
	minRAM, minCPU, minDisk         int64
	maxPrice                        float64
	attrs                           string
}

// rejectEntry is a rejection's words, valid from at until until (when an
// online computer may go offline) while no candidate changes.
type rejectEntry struct {
	reason    string
	at, until time.Time
}

// candidatesChanged forgets the rejections explained so far: call it on
// every change of a candidate (but a later contact of an online computer,
// which the entries' validity already covers).
func (s *State) candidatesChanged() { clear(s.rejects) }

// rejection explains why no computer fits req. On a full grid many waiting
// requests ask the same thing: the explanation, which runs every filter on
// every computer, is kept and reused while no candidate changes.
func (s *State) rejection(now time.Time, req alloc.Request, opts alloc.Options) string {
	sla := &req.SLA
	if sla.ComputerGUID != "" || sla.UniqueByNetwork {
		return alloc.Explain(s.cands, req, opts).Error()
	}
	k := rejectKey{software: req.SoftwareRelease, region: sla.Region, arch: sla.Arch, network: sla.Network,
		minRAM: sla.MinRAM, minCPU: sla.MinCPU, minDisk: sla.MinDisk, maxPrice: sla.MaxPrice}
	if len(sla.Attributes) > 0 {
		var b strings.Builder
		for _, a := range slices.Sorted(maps.Keys(sla.Attributes)) {
			b.WriteString(a)
			b.WriteByte(0)
			b.WriteString(sla.Attributes[a])
			b.WriteByte(0)
		}
		k.attrs = b.String()
	}
	if e, ok := s.rejects[k]; ok && !now.Before(e.at) && !now.After(e.until) {
		return e.reason
	}
	e := rejectEntry{reason: alloc.Explain(s.cands, req, opts).Error(), at: now, until: maxTime}
	if opts.OnlineWithin > 0 {
		// An online computer goes offline OnlineWithin after its last
		// contact; an offline one comes back only by a contact, which
		// calls candidatesChanged.
		cutoff := now.Add(-opts.OnlineWithin)
		for _, c := range s.cands {
			if !c.LastContact.Before(cutoff) {
				if end := c.LastContact.Add(opts.OnlineWithin); end.Before(e.until) {
					e.until = end
				}
			}
		}
	}
	if s.rejects == nil {
		s.rejects = map[rejectKey]rejectEntry{}
	}
	if len(s.rejects) >= maxRejects {
		clear(s.rejects)
	}
	s.rejects[k] = e
	return e.reason
}

// maxRejects bounds the rejections kept.
const maxRejects = 1024

var maxTime = time.Unix(1<<62, 0)

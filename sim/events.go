package sim

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

// eventHeap is a binary min-heap by (at, seq).
type eventHeap []event

func (h eventHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	n := len(s) - 1
	s[0] = s[n]
	s = s[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s.less(r, l) {
			m = r
		}
		if !s.less(m, i) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

package alloc

import (
	"strconv"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// filterID names one feasibility filter. The constants are in pipeline order:
// a rejected candidate is counted at the lowest-numbered filter it fails, so
// this order is the order of explanations (see doc.go for why each filter
// sits where it does).
type filterID uint8

const (
	// filterPin: the SLA's computer_guid names the one computer to use.
	filterPin filterID = iota
	// filterScope: a closed computer is reserved to its owner, who must pin it.
	filterScope
	// filterOnline: a computer that stopped polling will never deploy anything.
	filterOnline
	// filterSoftware: a node only runs software its provider supplied on it.
	filterSoftware
	// filterFree: an instance needs one free partition.
	filterFree
	// filterRegion: the requester wants a region (law, latency).
	filterRegion
	// filterArch: binaries are built per architecture.
	filterArch
	// filterRAM: the requester needs at least this much memory (MiB).
	filterRAM
	// filterCPU: the requester needs at least this many cores.
	filterCPU
	// filterDisk: the requester needs at least this much disk (GiB).
	filterDisk
	// filterPrice: the requester pays at most this hourly price.
	filterPrice
	// filterNetwork: the requester wants one network (private cloud, LAN).
	filterNetwork
	// filterTreeNetwork: unique_by_network keeps a tree's instances on
	// distinct networks (resilience: one network down, one replica lost).
	filterTreeNetwork
	// filterAttr: free-form attr.<name>=<value> conditions (gpu, ssd, ...).
	filterAttr

	numFilters
	// filterNone means "feasible".
	filterNone = numFilters
)

// filterSpec describes one filter for explanations: Name is its stable name
// (SLA key or concept), Prefix starts every reason string it produces.
type filterSpec struct{ Name, Prefix string }

// filterSpecs is indexed by filterID.
var filterSpecs = [numFilters]filterSpec{
	filterPin:         {model.SLAComputerGUID, "computer_guid!="},
	filterScope:       {"scope", "closed scope"},
	filterOnline:      {"online", "offline"},
	filterSoftware:    {"software", "software not supplied"},
	filterFree:        {"free_partition", "no free partition"},
	filterRegion:      {model.SLARegion, "region!="},
	filterArch:        {model.SLAArch, "arch!="},
	filterRAM:         {model.SLAMinRAM, "ram<"},
	filterCPU:         {model.SLAMinCPU, "cpu<"},
	filterDisk:        {model.SLAMinDisk, "disk<"},
	filterPrice:       {model.SLAMaxPrice, "price>"},
	filterNetwork:     {model.SLANetwork, "network!="},
	filterTreeNetwork: {model.SLAUniqueByNetwork, "network used by tree"},
	filterAttr:        {"attr", model.SLAAttrPrefix},
}

// ReasonFilter returns the stable name of the filter that produced a reason
// string of a Rejection ("region" for "region!=jp", "free_partition" for
// "no free partition"), or "" for a reason this package does not produce.
// Use it where reasons must be few (metric labels).
func ReasonFilter(reason string) string {
	id := reasonFilter(reason)
	if id == filterNone {
		return ""
	}
	return filterSpecs[id].Name
}

func reasonFilter(reason string) filterID {
	for id := range numFilters {
		p := filterSpecs[id].Prefix
		if len(reason) >= len(p) && reason[:len(p)] == p {
			return id
		}
	}
	return filterNone
}

// attrCond is one free-form condition attr.<key>=<want>; rejected counts
// the candidates that failed it first (failure path only).
type attrCond struct {
	key, want string
	rejected  int
}

// maxStackAttrs attribute conditions are checked without allocating.
const maxStackAttrs = 8

// query is a request compiled once per Place call: the SLA's active
// conditions as flat fields, so that a candidate costs a few compares and
// no string work for conditions the SLA does not set.
type query struct {
	pin, person, software   string
	region, arch, network   string
	minRAM, minCPU, minDisk int64
	maxPrice                float64 // > 0 when set
	checkOnline             bool
	cutoff                  time.Time // LastContact before this is offline
	unique                  bool
	tree                    map[string]bool
	attrs                   []attrCond // sorted by key
}

func compile(req *Request, opts *Options, attrBuf []attrCond) query {
	s := &req.SLA
	q := query{
		pin: s.ComputerGUID, person: req.Person, software: req.SoftwareRelease,
		region: s.Region, arch: s.Arch, network: s.Network,
		minRAM: s.MinRAM, minCPU: s.MinCPU, minDisk: s.MinDisk,
		unique: s.UniqueByNetwork, tree: req.TreeNetworks,
		attrs: attrBuf[:0],
	}
	if s.MaxPrice > 0 {
		q.maxPrice = s.MaxPrice
	}
	if opts.OnlineWithin > 0 {
		q.checkOnline = true
		q.cutoff = opts.Now.Add(-opts.OnlineWithin)
	}
	for k, v := range s.Attributes {
		q.attrs = append(q.attrs, attrCond{key: k, want: v})
	}
	// Insertion sort: a handful of conditions, sorted in place.
	for i := 1; i < len(q.attrs); i++ {
		for j := i; j > 0 && q.attrs[j].key < q.attrs[j-1].key; j-- {
			q.attrs[j], q.attrs[j-1] = q.attrs[j-1], q.attrs[j]
		}
	}
	return q
}

// The filters. Each is true when the candidate passes; a filter whose SLA
// condition is unset passes without touching the candidate's strings.

func (q *query) pinOK(c *Candidate) bool { return q.pin == "" || c.ID == q.pin }

func (q *query) scopeOK(c *Candidate) bool {
	if c.Scope == model.ScopeOpen || c.Scope == "" {
		return true
	}
	// Any other scope is closed (fail safe): only its owner, pinning it.
	return q.pin != "" && q.person != "" && q.person == c.Owner
}

func (q *query) onlineOK(c *Candidate) bool {
	return !q.checkOnline || !c.LastContact.Before(q.cutoff)
}

func (q *query) softwareOK(c *Candidate) bool { return c.Software[q.software] }

func (q *query) freeOK(c *Candidate) bool { return c.Free > 0 }

func (q *query) regionOK(c *Candidate) bool { return q.region == "" || c.Region == q.region }

func (q *query) archOK(c *Candidate) bool { return q.arch == "" || c.Arch == q.arch }

func (q *query) ramOK(c *Candidate) bool { return q.minRAM <= 0 || c.RAM >= q.minRAM }

func (q *query) cpuOK(c *Candidate) bool { return q.minCPU <= 0 || c.CPU >= q.minCPU }

func (q *query) diskOK(c *Candidate) bool { return q.minDisk <= 0 || c.Disk >= q.minDisk }

// priceOK: NB a NaN price never satisfies a max_price.
func (q *query) priceOK(c *Candidate) bool { return q.maxPrice == 0 || c.Price <= q.maxPrice }

func (q *query) networkOK(c *Candidate) bool { return q.network == "" || c.Network == q.network }

// treeNetworkOK: NB "" is a network like any other: two computers that
// declare none are not known to be apart.
func (q *query) treeNetworkOK(c *Candidate) bool { return !q.unique || !q.tree[c.Network] }

// attrsOK returns the index of the first (by key) failed condition, or -1.
// A condition needs the attribute present with exactly that value.
func (q *query) attrsOK(c *Candidate) int {
	for i := range q.attrs {
		a := &q.attrs[i]
		if v, ok := c.Attributes[a.key]; !ok || v != a.want {
			return i
		}
	}
	return -1
}

// feasible is the success path: every filter, cheapest checks first, map
// lookups last. NB it must accept exactly the candidates firstFailure
// accepts; only the evaluation order differs (property-tested).
func (q *query) feasible(c *Candidate) bool {
	return q.freeOK(c) &&
		q.pinOK(c) &&
		q.scopeOK(c) &&
		q.ramOK(c) && q.cpuOK(c) && q.diskOK(c) && q.priceOK(c) &&
		q.onlineOK(c) &&
		q.regionOK(c) && q.archOK(c) && q.networkOK(c) &&
		q.softwareOK(c) &&
		q.treeNetworkOK(c) &&
		(len(q.attrs) == 0 || q.attrsOK(c) < 0)
}

// firstFailure is the explanation path: the filters in pipeline order.
// It returns the first filter c fails (filterNone if feasible) and, for
// filterAttr, the index of the failed condition.
func (q *query) firstFailure(c *Candidate) (filterID, int) {
	switch {
	case !q.pinOK(c):
		return filterPin, 0
	case !q.scopeOK(c):
		return filterScope, 0
	case !q.onlineOK(c):
		return filterOnline, 0
	case !q.softwareOK(c):
		return filterSoftware, 0
	case !q.freeOK(c):
		return filterFree, 0
	case !q.regionOK(c):
		return filterRegion, 0
	case !q.archOK(c):
		return filterArch, 0
	case !q.ramOK(c):
		return filterRAM, 0
	case !q.cpuOK(c):
		return filterCPU, 0
	case !q.diskOK(c):
		return filterDisk, 0
	case !q.priceOK(c):
		return filterPrice, 0
	case !q.networkOK(c):
		return filterNetwork, 0
	case !q.treeNetworkOK(c):
		return filterTreeNetwork, 0
	}
	if i := q.attrsOK(c); i >= 0 {
		return filterAttr, i
	}
	return filterNone, 0
}

// reason renders the explanation of filter id (attr: condition a).
func (q *query) reason(id filterID, a int) string {
	p := filterSpecs[id].Prefix
	switch id {
	case filterPin:
		return p + q.pin
	case filterRegion:
		return p + q.region
	case filterArch:
		return p + q.arch
	case filterRAM:
		return p + strconv.FormatInt(q.minRAM, 10)
	case filterCPU:
		return p + strconv.FormatInt(q.minCPU, 10)
	case filterDisk:
		return p + strconv.FormatInt(q.minDisk, 10)
	case filterPrice:
		return p + strconv.FormatFloat(q.maxPrice, 'g', -1, 64)
	case filterNetwork:
		return p + q.network
	case filterAttr:
		return p + q.attrs[a].key + "!=" + q.attrs[a].want
	}
	return p
}

// reject explains why none of cands is feasible: each candidate counted
// once, at the first filter it fails, in a fixed array; the map is built
// at the end (this is the only path that allocates).
func (q *query) reject(cands []*Candidate) *Rejection {
	var counts [numFilters]int
	for _, c := range cands {
		id, a := q.firstFailure(c)
		switch id {
		case filterAttr:
			q.attrs[a].rejected++
		case filterNone:
			// Place calls reject only when feasible refused every candidate.
			panic("alloc: internal error: feasible and firstFailure disagree on computer " + c.ID)
		default:
			counts[id]++
		}
	}
	r := &Rejection{Considered: len(cands), Counts: map[string]int{}}
	for id := range numFilters {
		if counts[id] > 0 {
			r.Counts[q.reason(id, 0)] += counts[id]
		}
	}
	for i := range q.attrs {
		if q.attrs[i].rejected > 0 {
			r.Counts[q.reason(filterAttr, i)] += q.attrs[i].rejected
		}
	}
	return r
}

package alloc

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

const (
	testSoftware = "https://sr/kvm.cfg"
	testOwner    = "PERSON-OWNER"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fitCandidate passes fitRequest under fitOptions; each table row below
// breaks one thing.
func fitCandidate() *Candidate {
	return &Candidate{
		ID: "COMP-1", Owner: testOwner, Region: "jp", Network: "lan1", Arch: "x86_64",
		CPU: 4, RAM: 4096, Disk: 100, Price: 0.5, Scope: model.ScopeOpen,
		Attributes:  map[string]string{"gpu": "yes", "ssd": "yes"},
		LastContact: testNow.Add(-time.Minute),
		Software:    map[string]bool{testSoftware: true},
		Free:        1, Total: 10,
	}
}

func fitRequest() Request {
	return Request{Person: "PERSON-1", SoftwareRelease: testSoftware, Key: "k"}
}

func fitOptions() Options { return Options{Now: testNow, OnlineWithin: 10 * time.Minute} }

// TestFilters: each filter alone, passing and failing, with its reason.
func TestFilters(t *testing.T) {
	tests := []struct {
		name   string
		cand   func(*Candidate)
		req    func(*Request)
		opts   func(*Options)
		reason string // "" when the candidate must be chosen
	}{
		{name: "fit"},

		{name: "pin/other computer", req: func(r *Request) { r.SLA.ComputerGUID = "COMP-2" }, reason: "computer_guid!=COMP-2"},
		{name: "pin/this computer", req: func(r *Request) { r.SLA.ComputerGUID = "COMP-1" }},

		{name: "scope/closed", cand: func(c *Candidate) { c.Scope = model.ScopeClosed }, reason: "closed scope"},
		{name: "scope/empty is open", cand: func(c *Candidate) { c.Scope = "" }},
		{name: "scope/unknown is closed", cand: func(c *Candidate) { c.Scope = "private" }, reason: "closed scope"},
		{name: "scope/closed, owner without pin", cand: func(c *Candidate) { c.Scope = model.ScopeClosed },
			req: func(r *Request) { r.Person = testOwner }, reason: "closed scope"},
		{name: "scope/closed, pinned by owner", cand: func(c *Candidate) { c.Scope = model.ScopeClosed },
			req: func(r *Request) { r.Person, r.SLA.ComputerGUID = testOwner, "COMP-1" }},
		{name: "scope/closed, pinned by another", cand: func(c *Candidate) { c.Scope = model.ScopeClosed },
			req: func(r *Request) { r.SLA.ComputerGUID = "COMP-1" }, reason: "closed scope"},
		{name: "scope/closed, pinned by nobody, no owner", cand: func(c *Candidate) { c.Scope, c.Owner = model.ScopeClosed, "" },
			req: func(r *Request) { r.Person, r.SLA.ComputerGUID = "", "COMP-1" }, reason: "closed scope"},

		{name: "online/too old", cand: func(c *Candidate) { c.LastContact = testNow.Add(-11 * time.Minute) }, reason: "offline"},
		{name: "online/exactly at the limit", cand: func(c *Candidate) { c.LastContact = testNow.Add(-10 * time.Minute) }},
		{name: "online/never seen", cand: func(c *Candidate) { c.LastContact = time.Time{} }, reason: "offline"},
		{name: "online/clock ahead", cand: func(c *Candidate) { c.LastContact = testNow.Add(time.Hour) }},
		{name: "online/check disabled", cand: func(c *Candidate) { c.LastContact = time.Time{} },
			opts: func(o *Options) { o.OnlineWithin = 0 }},

		{name: "software/other supplied", cand: func(c *Candidate) { c.Software = map[string]bool{"https://sr/other.cfg": true} },
			reason: "software not supplied"},
		{name: "software/supply destroyed", cand: func(c *Candidate) { c.Software[testSoftware] = false }, reason: "software not supplied"},
		{name: "software/none", cand: func(c *Candidate) { c.Software = nil }, reason: "software not supplied"},

		{name: "free/none", cand: func(c *Candidate) { c.Free = 0 }, reason: "no free partition"},
		{name: "free/negative", cand: func(c *Candidate) { c.Free = -1 }, reason: "no free partition"},

		{name: "region/other", req: func(r *Request) { r.SLA.Region = "eu" }, reason: "region!=eu"},
		{name: "region/undeclared", cand: func(c *Candidate) { c.Region = "" }, req: func(r *Request) { r.SLA.Region = "jp" }, reason: "region!=jp"},
		{name: "region/same", req: func(r *Request) { r.SLA.Region = "jp" }},

		{name: "arch/other", req: func(r *Request) { r.SLA.Arch = "arm64" }, reason: "arch!=arm64"},
		{name: "arch/same", req: func(r *Request) { r.SLA.Arch = "x86_64" }},

		{name: "ram/too small", req: func(r *Request) { r.SLA.MinRAM = 8192 }, reason: "ram<8192"},
		{name: "ram/exact", req: func(r *Request) { r.SLA.MinRAM = 4096 }},
		{name: "cpu/too few", req: func(r *Request) { r.SLA.MinCPU = 8 }, reason: "cpu<8"},
		{name: "cpu/exact", req: func(r *Request) { r.SLA.MinCPU = 4 }},
		{name: "disk/too small", req: func(r *Request) { r.SLA.MinDisk = 200 }, reason: "disk<200"},
		{name: "disk/exact", req: func(r *Request) { r.SLA.MinDisk = 100 }},

		{name: "price/too expensive", req: func(r *Request) { r.SLA.MaxPrice = 0.25 }, reason: "price>0.25"},
		{name: "price/exact", req: func(r *Request) { r.SLA.MaxPrice = 0.5 }},
		{name: "price/NaN never fits", cand: func(c *Candidate) { c.Price = math.NaN() },
			req: func(r *Request) { r.SLA.MaxPrice = 10 }, reason: "price>10"},
		{name: "price/unset accepts any", cand: func(c *Candidate) { c.Price = 1e9 }},

		{name: "network/other", req: func(r *Request) { r.SLA.Network = "lan2" }, reason: "network!=lan2"},
		{name: "network/same", req: func(r *Request) { r.SLA.Network = "lan1" }},

		{name: "unique_by_network/used", req: func(r *Request) {
			r.SLA.UniqueByNetwork, r.TreeNetworks = true, map[string]bool{"lan1": true}
		}, reason: "network used by tree"},
		{name: "unique_by_network/unused", req: func(r *Request) {
			r.SLA.UniqueByNetwork, r.TreeNetworks = true, map[string]bool{"lan2": true}
		}},
		{name: "unique_by_network/empty network is one network", cand: func(c *Candidate) { c.Network = "" }, req: func(r *Request) {
			r.SLA.UniqueByNetwork, r.TreeNetworks = true, map[string]bool{"": true}
		}, reason: "network used by tree"},
		{name: "unique_by_network/empty network unused", cand: func(c *Candidate) { c.Network = "" }, req: func(r *Request) {
			r.SLA.UniqueByNetwork, r.TreeNetworks = true, map[string]bool{"lan1": true}
		}},
		{name: "unique_by_network/off", req: func(r *Request) { r.TreeNetworks = map[string]bool{"lan1": true} }},

		{name: "attr/equal", req: func(r *Request) { r.SLA.Attributes = map[string]string{"gpu": "yes"} }},
		{name: "attr/different", req: func(r *Request) { r.SLA.Attributes = map[string]string{"gpu": "no"} }, reason: "attr.gpu!=no"},
		{name: "attr/missing", req: func(r *Request) { r.SLA.Attributes = map[string]string{"fpga": "yes"} }, reason: "attr.fpga!=yes"},
		{name: "attr/missing is not empty", req: func(r *Request) { r.SLA.Attributes = map[string]string{"fpga": ""} }, reason: "attr.fpga!="},
		{name: "attr/first failing key", req: func(r *Request) {
			r.SLA.Attributes = map[string]string{"ssd": "no", "gpu": "no", "zone": "a"}
		}, reason: "attr.gpu!=no"},
		{name: "attr/region key is only an attribute", req: func(r *Request) { r.SLA.Attributes = map[string]string{"region": "jp"} },
			reason: "attr.region!=jp"},

		{name: "ignored/instance_guid and retention_delay", req: func(r *Request) {
			r.SLA.InstanceGUID, r.SLA.RetentionDelay = "SOFTINST-9", 86400
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, req, opts := fitCandidate(), fitRequest(), fitOptions()
			if tt.cand != nil {
				tt.cand(c)
			}
			if tt.req != nil {
				tt.req(&req)
			}
			if tt.opts != nil {
				tt.opts(&opts)
			}
			for _, p := range Policies() {
				opts.Policy = p
				d, rej := checkPlace(t, []*Candidate{c}, req, opts)
				if tt.reason == "" {
					if rej != nil {
						t.Fatalf("%s: rejected: %v", p, rej)
					}
					if d != (Decision{Index: 0, ComputerID: "COMP-1"}) {
						t.Fatalf("%s: decision %+v", p, d)
					}
					continue
				}
				if rej == nil {
					t.Fatalf("%s: placed, want rejection %q", p, tt.reason)
				}
				want := &Rejection{Considered: 1, Counts: map[string]int{tt.reason: 1}}
				if !reflect.DeepEqual(rej, want) {
					t.Fatalf("%s: rejection %+v, want %+v", p, rej, want)
				}
			}
		})
	}
}

// TestPipelineOrder: a computer that fails every filter is counted at the
// first; repairing the filters one by one moves it along the pipeline.
func TestPipelineOrder(t *testing.T) {
	c := &Candidate{ID: "COMP-1", Owner: testOwner, Region: "eu", Network: "lan2", Arch: "arm64",
		CPU: 1, RAM: 1024, Disk: 10, Price: 2, Scope: model.ScopeClosed, LastContact: testNow.Add(-time.Hour),
		Attributes: map[string]string{"gpu": "no"}}
	req := fitRequest()
	req.SLA = model.SLA{Region: "jp", Arch: "x86_64", MinRAM: 4096, MinCPU: 4, MinDisk: 100, MaxPrice: 1,
		Network: "lan1", UniqueByNetwork: true, Attributes: map[string]string{"gpu": "yes"}}
	req.TreeNetworks = map[string]bool{"lan1": true}
	opts := fitOptions()
	steps := []struct {
		reason string
		repair func()
	}{
		{"closed scope", func() { c.Scope = model.ScopeOpen }},
		{"offline", func() { c.LastContact = testNow }},
		{"software not supplied", func() { c.Software = map[string]bool{testSoftware: true} }},
		{"no free partition", func() { c.Free = 3 }},
		{"region!=jp", func() { c.Region = "jp" }},
		{"arch!=x86_64", func() { c.Arch = "x86_64" }},
		{"ram<4096", func() { c.RAM = 4096 }},
		{"cpu<4", func() { c.CPU = 4 }},
		{"disk<100", func() { c.Disk = 100 }},
		{"price>1", func() { c.Price = 1 }},
		{"network!=lan1", func() { c.Network = "lan1" }},
		{"network used by tree", func() { req.TreeNetworks = nil }},
		{"attr.gpu!=yes", func() { c.Attributes["gpu"] = "yes" }},
	}
	for _, step := range steps {
		_, rej := checkPlace(t, []*Candidate{c}, req, opts)
		if rej == nil || rej.Counts[step.reason] != 1 {
			t.Fatalf("want the computer counted at %q, got %v", step.reason, rej)
		}
		step.repair()
	}
	if _, rej := checkPlace(t, []*Candidate{c}, req, opts); rej != nil {
		t.Fatalf("fully repaired computer rejected: %v", rej)
	}
}

// TestPin covers what is special to a pinned request: only that computer
// is considered, however many others would fit.
func TestPin(t *testing.T) {
	mk := func(id string, free int) *Candidate {
		c := fitCandidate()
		c.ID, c.Free = id, free
		return c
	}
	cands := []*Candidate{mk("COMP-1", 5), mk("COMP-2", 0), mk("COMP-3", 5)}
	tests := []struct {
		pin        string
		wantIndex  int
		considered int
		counts     map[string]int
	}{
		{pin: "COMP-3", wantIndex: 2},
		{pin: "COMP-2", wantIndex: -1, considered: 1, counts: map[string]int{"no free partition": 1}},
		{pin: "COMP-9", wantIndex: -1, considered: 3, counts: map[string]int{"computer_guid!=COMP-9": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.pin, func(t *testing.T) {
			req := fitRequest()
			req.SLA.ComputerGUID = tt.pin
			for _, p := range Policies() {
				opts := fitOptions()
				opts.Policy = p
				d, rej := checkPlace(t, cands, req, opts)
				if d.Index != tt.wantIndex {
					t.Fatalf("%s: index %d, want %d", p, d.Index, tt.wantIndex)
				}
				if tt.wantIndex >= 0 {
					continue
				}
				want := &Rejection{Considered: tt.considered, Counts: tt.counts}
				if !reflect.DeepEqual(rej, want) {
					t.Fatalf("%s: %+v, want %+v", p, rej, want)
				}
			}
		})
	}
}

// TestNoCandidates: an empty market is explained as such.
func TestNoCandidates(t *testing.T) {
	for _, pin := range []string{"", "COMP-1"} {
		req := fitRequest()
		req.SLA.ComputerGUID = pin
		_, rej := checkPlace(t, nil, req, fitOptions())
		if rej == nil || rej.Error() != "no computer registered" {
			t.Fatalf("pin %q: %v", pin, rej)
		}
	}
}

// TestManyAttributes: more conditions than the stack buffer still work.
func TestManyAttributes(t *testing.T) {
	c := fitCandidate()
	req := fitRequest()
	req.SLA.Attributes = map[string]string{}
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"} {
		c.Attributes[k] = "1"
		req.SLA.Attributes[k] = "1"
	}
	if _, rej := checkPlace(t, []*Candidate{c}, req, fitOptions()); rej != nil {
		t.Fatal(rej)
	}
	c.Attributes["j"] = "2"
	_, rej := checkPlace(t, []*Candidate{c}, req, fitOptions())
	if rej == nil || rej.Counts["attr.j!=1"] != 1 {
		t.Fatalf("got %v, want attr.j!=1", rej)
	}
}

package master_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// newGridWith is newGrid with a configuration of the test's choosing.
func newGridWith(t *testing.T, cfg master.Config, computers, parts int) *grid {
	t.Helper()
	g := &grid{t: t, s: master.New(cfg), now: t0}
	g.must(master.AddPerson{By: model.Admin, ID: "alice"})
	g.alice = model.Actor{Kind: model.KindPerson, ID: "alice"}
	for c := range computers {
		id := fmt.Sprintf("COMP-%d", c)
		g.must(master.RegisterComputer{By: g.alice, ID: id, Region: "eu", Network: fmt.Sprintf("net%d", c)})
		var specs []master.PartitionSpec
		for p := range parts {
			specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p),
				Addresses: []model.Address{{Iface: "lo", Addr: fmt.Sprintf("10.0.%d.%d", c, p)}}})
		}
		g.must(master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs})
		g.must(master.Supply{By: g.alice, ComputerID: id, URL: sr, State: model.SoftwareAvailable})
	}
	return g
}

func params(n int, size int) map[string]string {
	p := map[string]string{}
	for i := range n {
		p[fmt.Sprintf("k%d", i)] = strings.Repeat("v", size)
	}
	return p
}

func partitions(n, addrs int) []master.PartitionSpec {
	var out []master.PartitionSpec
	for i := range n {
		spec := master.PartitionSpec{ID: fmt.Sprintf("slappart%d", i)}
		for a := range addrs {
			spec.Addresses = append(spec.Addresses, model.Address{Iface: "lo", Addr: fmt.Sprintf("10.1.%d.%d", i, a)})
		}
		out = append(out, spec)
	}
	return out
}

// wantErr checks that err wraps sentinel and names every part of want.
func wantErr(t *testing.T, err, sentinel error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error wrapping %v naming %q", sentinel, want)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %v does not wrap %v", err, sentinel)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
}

// TestCountLimits: each count or size limit refuses one entry more than it
// allows with a 400-class error naming the field and the limit, accepts
// exactly the limit, and changes nothing when it refuses.
func TestCountLimits(t *testing.T) {
	lim := master.Limits{MaxParameters: 3, MaxParameterKeyBytes: 8, MaxParameterValueBytes: 16, MaxSLAEntries: 2,
		MaxPartitions: 4, MaxAddressesPerPartition: 2}
	long := func(n int) string { return strings.Repeat("x", n) }
	req := func(p map[string]string, sla map[string]string) func(g *grid) master.Command {
		return func(g *grid) master.Command {
			return master.Request{By: g.alice, Title: "web", SoftwareRelease: sr, Parameters: p, SLA: sla}
		}
	}
	capa := func(n, addrs int) func(g *grid) master.Command {
		return func(g *grid) master.Command {
			return master.SetCapacity{By: computerActor("COMP-0"), ComputerID: "COMP-0", Partitions: partitions(n, addrs)}
		}
	}
	conn := func(p map[string]string) func(g *grid) master.Command {
		return func(g *grid) master.Command {
			return master.SetConnection{By: computerActor("COMP-0"), ComputerID: "COMP-0", PartitionID: "slappart0", Parameters: p}
		}
	}
	attrs := func(p map[string]string) func(g *grid) master.Command {
		return func(g *grid) master.Command {
			return master.UpdateComputer{By: g.alice, ComputerID: "COMP-0", Attributes: p}
		}
	}
	for _, tc := range []struct {
		name string
		ok   func(g *grid) master.Command
		bad  func(g *grid) master.Command
		want []string
	}{
		{"parameters", req(params(3, 1), nil), req(params(4, 1), nil), []string{"parameters: 4 entries", "max-parameters=3"}},
		{"parameter key", req(map[string]string{long(8): "v"}, nil), req(map[string]string{long(9): "v"}, nil),
			[]string{"parameters: key", "9 bytes", "max-parameter-key-bytes=8"}},
		{"parameter value", req(map[string]string{"k": long(16)}, nil), req(map[string]string{"k": long(17)}, nil),
			[]string{`parameters: value of "k" is 17 bytes`, "max-parameter-value-bytes=16"}},
		{"sla entries", req(nil, map[string]string{"region": "eu", "min_ram": "0"}),
			req(nil, map[string]string{"region": "eu", "min_ram": "0", "min_cpu": "0"}), []string{"sla: 3 conditions", "max-sla-entries=2"}},
		{"partitions", capa(4, 1), capa(5, 1), []string{"computer COMP-0", "partitions: 5 announced", "max-partitions=4"}},
		{"addresses", capa(1, 2), capa(1, 3), []string{"partition slappart0: 3 addresses", "max-addresses-per-partition=2"}},
		{"connection parameters", conn(params(3, 1)), conn(params(4, 1)), []string{"connection parameters: 4 entries", "max-parameters=3"}},
		{"attributes", attrs(params(3, 1)), attrs(params(4, 1)), []string{"computer COMP-0", "attributes: 4 entries", "max-parameters=3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := master.DefaultConfig()
			cfg.Limits = lim
			g := newGridWith(t, cfg, 1, 1)
			g.request("db", nil) // holds slappart0, for connection parameters
			before := g.s.Snapshot()
			_, err := g.apply(tc.bad(g))
			wantErr(t, err, master.ErrInvalid, tc.want...)
			if !snapshotsEqual(before, g.s.Snapshot()) {
				t.Error("a refused command changed the state")
			}
			g.must(tc.ok(g))
		})
	}
}

// snapshotsEqual compares two snapshots by their encoding.
func snapshotsEqual(a, b []master.Mutation) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, err1 := a[i].Encode()
		y, err2 := b[i].Encode()
		if err1 != nil || err2 != nil || a[i].Key != b[i].Key || string(x) != string(y) {
			return false
		}
	}
	return true
}

// TestDefaultLimitsAreSet: the production configuration has every limit
// on, and its parameter values leave room for SlapOS's JSON-in-one-value
// convention.
func TestDefaultLimitsAreSet(t *testing.T) {
	l := master.DefaultConfig().Limits
	for name, v := range map[string]int{"MaxParameters": l.MaxParameters, "MaxParameterKeyBytes": l.MaxParameterKeyBytes,
		"MaxParameterValueBytes": l.MaxParameterValueBytes, "MaxSLAEntries": l.MaxSLAEntries, "MaxPartitions": l.MaxPartitions,
		"MaxAddressesPerPartition": l.MaxAddressesPerPartition, "MaxTreeInstances": l.MaxTreeInstances, "MaxSharedPerHost": l.MaxSharedPerHost} {
		if v <= 0 {
			t.Errorf("default %s = %d: expected a limit", name, v)
		}
	}
	if l.MaxParameterValueBytes < 64<<10 {
		t.Errorf("default MaxParameterValueBytes = %d: too small for a parameter set as JSON under \"_\"", l.MaxParameterValueBytes)
	}
	if master.DefaultConfig().AllowLocalSoftwareURLs {
		t.Error("local software URLs are allowed by default")
	}
}

// TestTreeLimit: a tree holds at most MaxTreeInstances instances; the
// request for one more is a quota refusal (403 class) naming the tree and
// the limit; a destroyed member makes room.
func TestTreeLimit(t *testing.T) {
	cfg := master.DefaultConfig()
	cfg.Limits.MaxTreeInstances = 3
	g := newGridWith(t, cfg, 1, 10)
	root := g.request("root", nil)
	me := model.Actor{Kind: model.KindInstance, ID: root.GUID}
	child := func(title string) master.Request {
		return master.Request{By: me, Title: title, SoftwareRelease: sr}
	}
	g.must(child("a"))
	b := g.must(child("b")).Instance
	_, err := g.apply(child("c"))
	wantErr(t, err, master.ErrQuota, `instance tree "root" of person alice holds 3 instances`, "max-tree-instances=3")
	if !errors.Is(err, master.ErrForbidden) {
		t.Errorf("a quota refusal is not a forbidden one: %v", err)
	}
	g.must(child("b")) // the same request again is no new instance
	g.must(master.Request{By: me, Title: "b", SoftwareRelease: sr, State: model.StateDestroyed})
	g.must(master.PartitionDestroyed{By: computerActor(b.ComputerID), ComputerID: b.ComputerID, PartitionID: b.PartitionID})
	g.must(child("c"))
	// Another root starts a tree of its own.
	g.request("root2", nil)
}

// TestSharedPerHostLimit: a full host takes no more shared instances; the
// request stays pending with the reason, or goes to another host.
func TestSharedPerHostLimit(t *testing.T) {
	cfg := master.DefaultConfig()
	cfg.Limits.MaxSharedPerHost = 1
	g := newGridWith(t, cfg, 1, 3)
	h1 := g.request("front1", nil)
	shared := func(title string, sla map[string]string) *master.InstanceInfo {
		return g.must(master.Request{By: g.alice, Title: title, SoftwareRelease: sr, Shared: true, SLA: sla}).Instance
	}
	if a := shared("site-a", nil); a.HostGUID != h1.GUID {
		t.Fatalf("first shared instance not on %s: %+v", h1.GUID, a)
	}
	b := shared("site-b", nil)
	if b.Status != master.StatusPending || !strings.Contains(b.PendingReason, "max-shared-per-host=1") {
		t.Fatalf("second shared instance on a full host: %+v", b)
	}
	c := shared("site-c", map[string]string{"instance_guid": h1.GUID})
	if c.Status != master.StatusPending || !strings.Contains(c.PendingReason, "instance_guid="+h1.GUID+": hosts 1 shared instances") {
		t.Fatalf("shared instance naming a full host: %+v", c)
	}
	h2 := g.request("front2", nil)
	if got := g.instance(b.GUID); got.HostGUID != h2.GUID {
		t.Fatalf("pending shared instance not placed on the new host %s: %+v", h2.GUID, got)
	}
}

func (g *grid) instance(guid string) master.InstanceInfo {
	g.t.Helper()
	info, err := g.s.Instance(model.Admin, guid)
	if err != nil {
		g.t.Fatal(err)
	}
	return info
}

// TestQuotas: a person's instances and parameter bytes are bounded; the
// refusal names the quota, the usage and the limit; re-requesting,
// shrinking and destroying stay possible at the quota.
func TestQuotas(t *testing.T) {
	cfg := master.DefaultConfig()
	cfg.Quotas = master.Quotas{MaxInstances: 2, MaxParameterBytes: 10}
	g := newGridWith(t, cfg, 1, 5)
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	g.request("a", map[string]string{"k": "1234"}) // 5 bytes
	g.request("b", nil)
	_, err := g.apply(master.Request{By: g.alice, Title: "c", SoftwareRelease: sr})
	wantErr(t, err, master.ErrQuota, "instances of person alice: 2 used of 2", "quota max-instances")
	// Shared instances count too.
	_, err = g.apply(master.Request{By: g.alice, Title: "s", SoftwareRelease: sr, Shared: true})
	wantErr(t, err, master.ErrQuota, "max-instances")
	// Quotas are per person.
	g.must(master.Request{By: bob, Title: "c", SoftwareRelease: sr})
	// The same request again is no new instance.
	g.request("b", nil)
	// Parameter bytes: growing over the quota is refused.
	_, err = g.apply(master.Request{By: g.alice, Title: "b", SoftwareRelease: sr, Parameters: map[string]string{"kk": "1234"}})
	wantErr(t, err, master.ErrQuota, "parameter bytes of person alice: 5 used, 6 more asked", "max-parameter-bytes=10")
	g.request("b", map[string]string{"k": "123"}) // 4: 9 of 10
	g.request("a", map[string]string{"k": "1"})   // shrinking
	if u := g.s.Usage("alice"); u != (master.Usage{Instances: 2, ParameterBytes: 6}) {
		t.Fatalf("usage %+v", u)
	}
	// Destroying frees the quota at once.
	g.must(master.Request{By: g.alice, Title: "a", SoftwareRelease: sr, State: model.StateDestroyed})
	if u := g.s.Usage("alice"); u != (master.Usage{Instances: 1, ParameterBytes: 4}) {
		t.Fatalf("usage after a destruction %+v", u)
	}
	g.request("c", nil)

	// A quota lowered below the usage refuses growth, allows shrinking.
	cfg.Quotas = master.Quotas{MaxInstances: 1, MaxParameterBytes: 2}
	s, err := master.Restore(cfg, g.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if u := s.Usage("alice"); u != (master.Usage{Instances: 2, ParameterBytes: 4}) {
		t.Fatalf("usage after Restore %+v", u)
	}
	if _, _, err := s.Apply(g.now, master.Request{By: g.alice, Title: "b", SoftwareRelease: sr, Parameters: map[string]string{"k": "12"}}); err != nil {
		t.Fatalf("shrinking over a lowered quota: %v", err)
	}
	if _, _, err := s.Apply(g.now, master.Request{By: g.alice, Title: "d", SoftwareRelease: sr}); !errors.Is(err, master.ErrQuota) {
		t.Fatalf("a new instance over a lowered quota: %v", err)
	}
}

// TestLocalSoftwareURLs: file:// URLs are refused unless the
// configuration allows them; what is already held can still be requested
// again, stopped, destroyed or removed.
func TestLocalSoftwareURLs(t *testing.T) {
	const local = "file:///srv/software/hello/software.cfg"
	allowed := master.DefaultConfig()
	allowed.AllowLocalSoftwareURLs = true
	g := newGridWith(t, allowed, 1, 2)
	g.must(master.Supply{By: g.alice, ComputerID: "COMP-0", URL: local, State: model.SoftwareAvailable})
	inst := g.must(master.Request{By: g.alice, Title: "hello", SoftwareRelease: local}).Instance
	if inst.Status != master.StatusAllocated {
		t.Fatalf("local software not placed when allowed: %+v", inst)
	}

	s, err := master.Restore(master.DefaultConfig(), g.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	now := g.now
	for _, tc := range []struct {
		name string
		cmd  master.Command
		want string // "" accepted
	}{
		{"new instance", master.Request{By: g.alice, Title: "other", SoftwareRelease: local}, "is local to one machine"},
		{"upgrade to a local URL", master.Request{By: g.alice, Title: "web", SoftwareRelease: "file:///tmp/x.cfg"}, "--allow-local-software-urls"},
		{"supply", master.Supply{By: g.alice, ComputerID: "COMP-0", URL: "file:///tmp/x.cfg", State: model.SoftwareAvailable}, "only http:// and https://"},
		{"network URL", master.Request{By: g.alice, Title: "web", SoftwareRelease: sr}, ""},
		{"held instance again", master.Request{By: g.alice, Title: "hello", SoftwareRelease: local}, ""},
		{"held instance stopped", master.Request{By: g.alice, Title: "hello", SoftwareRelease: local, State: model.StateStopped}, ""},
		{"held instance destroyed", master.Request{By: g.alice, Title: "hello", SoftwareRelease: local, State: model.StateDestroyed}, ""},
		{"removal", master.Supply{By: g.alice, ComputerID: "COMP-0", URL: local, State: model.SoftwareDestroyed}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = now.Add(time.Second)
			_, _, err := s.Apply(now, tc.cmd)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, master.ErrInvalid, tc.want)
		})
	}
}

// TestUsageIsDerived: after random requests, parameter changes,
// transfers, destructions and frees, each person's usage equals what its live
// instances hold, and Restore of the snapshot derives the same.
func TestUsageIsDerived(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			cfg := master.DefaultConfig()
			cfg.Quotas = master.Quotas{MaxInstances: 12, MaxParameterBytes: 60}
			cfg.Limits.MaxTreeInstances = 4
			g := newGridWith(t, cfg, 2, 6)
			g.must(master.AddPerson{By: model.Admin, ID: "bob"})
			persons := []model.Actor{g.alice, {Kind: model.KindPerson, ID: "bob"}}
			for range 400 {
				by := persons[r.IntN(2)]
				live := g.s.Instances(by, false)
				if r.IntN(4) == 0 && len(live) > 0 { // a child
					by = model.Actor{Kind: model.KindInstance, ID: live[r.IntN(len(live))].GUID}
				}
				switch r.IntN(7) {
				case 0, 1, 2:
					g.apply(master.Request{By: by, Title: fmt.Sprintf("i%d", r.IntN(10)), SoftwareRelease: sr,
						Parameters: params(r.IntN(4), r.IntN(8)), Shared: r.IntN(5) == 0})
				case 3:
					if len(live) > 0 {
						i := live[r.IntN(len(live))]
						g.apply(master.Request{By: persons[0], Title: i.Title, SoftwareRelease: sr, Shared: i.Shared, State: model.StateDestroyed})
						g.apply(master.Request{By: persons[1], Title: i.Title, SoftwareRelease: sr, Shared: i.Shared, State: model.StateDestroyed})
					}
				case 4: // hand a root over to the other person (refusals are fine)
					if len(live) > 0 {
						i := live[r.IntN(len(live))]
						from, to := persons[0], persons[1]
						if i.Owner == to.ID {
							from, to = to, from
						}
						g.apply(master.TransferInstance{By: from, InstanceGUID: i.GUID, To: to.ID,
							Title: fmt.Sprintf("t%d", r.IntN(10)), Parameters: params(r.IntN(3), r.IntN(8))})
					}
				default:
					for _, id := range []string{"COMP-0", "COMP-1"} {
						for _, p := range g.s.Partitions(id) {
							g.apply(master.PartitionDestroyed{By: computerActor(id), ComputerID: id, PartitionID: p.ID})
						}
					}
				}
				for _, p := range persons {
					want := master.Usage{}
					for _, i := range g.s.Instances(p, false) {
						if i.Status != master.StatusDestroyed {
							want.Instances++
							for k, v := range i.Parameters {
								want.ParameterBytes += int64(len(k) + len(v))
							}
						}
					}
					if got := g.s.Usage(p.ID); got != want {
						t.Fatalf("usage of %s: got %+v, its instances hold %+v", p.ID, got, want)
					}
				}
			}
			s, err := master.Restore(cfg, g.s.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range persons {
				if a, b := g.s.Usage(p.ID), s.Usage(p.ID); a != b {
					t.Fatalf("usage of %s: %+v live, %+v after Restore", p.ID, a, b)
				}
			}
		})
	}
}

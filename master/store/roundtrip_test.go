package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/store"
)

// The property: whatever core/master.Apply accepts, the production store
// persists, and Restore of what the store loads back is equal to the state
// that accepted it, and behaves the same from then on. The commands are
// random and their values adversarial (NaN, infinities, huge and negative
// numbers, invalid UTF-8, NUL bytes, empty strings). Only the store's public
// API is used: Open, Commit (Submit then Wait, as the server does), Load,
// Close.

// choices is a stream of decisions: random in the property test, the
// fuzzer's bytes in the fuzz target. An exhausted stream answers 0.
type choices struct{ data []byte }

func (c *choices) intn(n int) int {
	if n <= 1 || len(c.data) == 0 {
		return 0
	}
	v := int(c.data[0])
	c.data = c.data[1:]
	if n > 256 {
		if len(c.data) > 0 {
			v = v<<8 | int(c.data[0])
			c.data = c.data[1:]
		}
	}
	return v % n
}

func (c *choices) pick(xs ...string) string { return xs[c.intn(len(xs))] }

func (c *choices) done() bool { return len(c.data) == 0 }

// Values: each draw is adversarial one time in five.
var (
	goodNumberTexts = []string{"0", "1", "0.5", "1e9", "4096"}
	badNumberTexts  = []string{"-1", "NaN", "nan", "+Inf", "-Inf", "Infinity", "inf", "1e300", "1e400",
		"-0", "1000000001", "9223372036854775807", "99999999999999999999", "0x10", "", " 1", "4e-320"}
	goodFloats = []float64{0, 0.25, 1, 1e9, 1e21}
	badFloats  = []float64{-1, nan(), inf(1), inf(-1), 1e300, 1e9 + 1, 4e-320, 1e22, -1e-300}
	goodInts   = []int64{0, 1, 8, 1 << 62}
	badInts    = []int64{-1, -1 << 63}
	goodStrs   = []string{"", "a", "eu", "é", "x\ny", strings.Repeat("z", 300), "slappart0"}
	badStrs    = []string{"\xff\xfe", "a\x00b", "\xc3", "é\xe9"}
	goodTitles = []string{"t0", "t1", "t2", "été"}
	badTitles  = []string{"", "\xff", "a\x00", strings.Repeat("t", 256)}
	goodURLs   = []string{"https://example.org/a.cfg", "https://example.org/b.cfg"}
	badURLs    = []string{"https://example.org/\xff.cfg", "relative.cfg", ""}
	comps      = []string{"C0", "C1", "C2", "C3"}
	parts      = []string{"slappart0", "slappart1", "slappart2"}
	persons    = []string{"p0", "p1", "p2"}
)

// draw picks from bad one time in five, else from good.
func draw[T any](c *choices, good, bad []T) T {
	if c.intn(5) == 0 {
		return bad[c.intn(len(bad))]
	}
	return good[c.intn(len(good))]
}

func nan() float64         { return zero / zero }
func inf(sign int) float64 { return float64(sign) / zero }

var zero float64

type world struct {
	c     *choices
	now   time.Time
	guids []string
}

func (w *world) str() string    { return draw(w.c, goodStrs, badStrs) }
func (w *world) float() float64 { return draw(w.c, goodFloats, badFloats) }
func (w *world) int() int64     { return draw(w.c, goodInts, badInts) }
func (w *world) number() string { return draw(w.c, goodNumberTexts, badNumberTexts) }
func (w *world) person() model.Actor {
	return model.Actor{Kind: model.KindPerson, ID: w.c.pick(persons...)}
}
func (w *world) computer() string         { return w.c.pick(comps...) }
func (w *world) partition() string        { return w.c.pick(parts...) }
func (w *world) title() string            { return draw(w.c, goodTitles, badTitles) }
func (w *world) url() string              { return draw(w.c, goodURLs, badURLs) }
func (w *world) guid() string             { return w.c.pick(append([]string{"SOFTINST-404"}, w.guids...)...) }
func computerActor(id string) model.Actor { return model.Actor{Kind: model.KindComputer, ID: id} }

func (w *world) stringMap() map[string]string {
	m := map[string]string{}
	for range w.c.intn(3) {
		m[w.str()] = w.str()
	}
	return m
}

func (w *world) prices() model.PriceList {
	p := model.PriceList{}
	for range w.c.intn(3) {
		p[draw(w.c, []string{"hosting", "cpu_time", "memory_used"}, []string{"", "\xff"})] = w.float()
	}
	return p
}

func (w *world) hardware() model.Hardware {
	return model.Hardware{Arch: draw(w.c, []string{"x86_64", ""}, []string{"\xff"}), CPU: w.int(), RAM: w.int(), Disk: w.int()}
}

func (w *world) sla() map[string]string {
	sla := map[string]string{}
	for range w.c.intn(3) {
		switch w.c.intn(6) {
		case 0:
			sla[w.c.pick(model.SLAMaxPrice, model.SLAMinRAM, model.SLAMinCPU, model.SLARetentionDelay)] = w.number()
		case 1:
			sla[model.SLAComputerGUID] = w.computer()
		case 2:
			sla[model.SLAInstanceGUID] = w.guid()
		case 3:
			sla[draw(w.c, []string{model.SLARegion, model.SLANetwork, model.SLAArch, "attr.disk"}, []string{"attr.\xff", "\xff"})] = w.str()
		case 4:
			sla[model.SLAUniqueByNetwork] = w.c.pick("true", "false", "maybe")
		case 5:
			sla[w.c.pick("", "unknown", "\xff")] = w.str()
		}
	}
	return sla
}

// command draws one command.
func (w *world) command() master.Command {
	c := w.c
	switch c.intn(17) {
	case 0:
		return master.AddPerson{By: model.Admin, ID: c.pick(persons...), Name: w.str(), Email: w.str()}
	case 1:
		return master.RegisterComputer{By: w.person(), ID: w.computer(), Title: w.str(), Region: draw(c, []string{"eu", "jp", ""}, []string{"\xff"}),
			Network: w.str(), Hardware: w.hardware(), Attributes: w.stringMap(), Prices: w.prices(), Currency: w.str(),
			Scope: model.Scope(c.pick("open", "closed", ""))}
	case 2:
		u := master.UpdateComputer{By: w.person(), ComputerID: w.computer()}
		if c.intn(2) == 0 {
			u.Prices = w.prices()
		}
		if c.intn(2) == 0 {
			r := w.str()
			u.Region = &r
		}
		if c.intn(2) == 0 {
			u.Attributes = w.stringMap()
		}
		if c.intn(2) == 0 {
			sc := model.Scope(c.pick("open", "closed"))
			u.Scope = &sc
		}
		return u
	case 3:
		id := w.computer()
		var specs []master.PartitionSpec
		for p := range c.intn(4) {
			specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p),
				Addresses: []model.Address{{Iface: draw(c, []string{"lo"}, []string{"\xff"}), Addr: draw(c, []string{"10.0.0.1", "fd00::2"}, []string{"", "\xfe"})}}})
		}
		sc := master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: specs}
		if c.intn(2) == 0 {
			h := w.hardware()
			sc.Hardware = &h
		}
		return sc
	case 4:
		return master.Supply{By: w.person(), ComputerID: w.computer(), URL: w.url(),
			State: model.SoftwareRequest(c.pick("available", "destroyed", "available"))}
	case 5, 6, 7:
		by := w.person()
		if len(w.guids) > 0 && c.intn(3) == 0 {
			by = model.Actor{Kind: model.KindInstance, ID: w.guid()}
		}
		return master.Request{By: by, Title: w.title(), SoftwareRelease: w.url(), SoftwareType: draw(c, []string{"", "default", "front"}, []string{"\xff"}),
			Parameters: w.stringMap(), SLA: w.sla(), Shared: c.intn(5) == 0,
			State: model.RequestedState(c.pick("", "started", "stopped", "destroyed"))}
	case 8:
		id := w.computer()
		return master.ReportSoftware{By: computerActor(id), ComputerID: id, URL: w.url(),
			State: model.SoftwareState(c.pick("building", "available", "error")), Error: w.str() + strings.Repeat("é", c.intn(3000))}
	case 9:
		id := w.computer()
		return master.ReportPartition{By: computerActor(id), ComputerID: id, PartitionID: w.partition(),
			State: model.ReportedState(c.pick("started", "stopped", "error")), Error: w.str()}
	case 10:
		id := w.computer()
		return master.SetConnection{By: computerActor(id), ComputerID: id, PartitionID: w.partition(), Parameters: w.stringMap()}
	case 11:
		return master.Bang{By: w.person(), InstanceGUID: w.guid(), Message: w.str()}
	case 12:
		id := w.computer()
		return master.PartitionDestroyed{By: computerActor(id), ComputerID: id, PartitionID: w.partition()}
	case 13:
		return master.Rename{By: w.person(), InstanceGUID: w.guid(), NewTitle: w.title()}
	case 14:
		id := w.computer()
		start := w.now.Truncate(time.Hour)
		j := account.BuildJournal(id, start.Add(-time.Hour), start, map[string][]account.JournalMovement{
			w.partition(): {{Resource: draw(c, []string{"cpu_time", "memory_used", "network_out_bytes"}, []string{"\xff"}), Quantity: w.float()}},
		}, draw(c, []string{"EUR"}, []string{"\xff"}))
		return master.PostUsage{By: computerActor(id), ComputerID: id, Journal: j}
	case 15:
		t := master.TransferInstance{By: w.person(), InstanceGUID: w.guid(), To: w.c.pick(persons...), SLA: w.sla()}
		if c.intn(2) == 0 {
			t.Title, t.Parameters = w.title(), w.stringMap()
		}
		return t
	default:
		return master.RetryPending{By: model.Admin}
	}
}

// runRoundTrip drives the commands of c through Apply and the store, and
// checks the property at every checkpoint and at the end.
func runRoundTrip(t *testing.T, c *choices, maxSteps int) {
	t.Helper()
	// NB: not t.TempDir: the names of fuzz seeds ("seed#0") hold a '#',
	// which a database path may not.
	dir, err := os.MkdirTemp("", "slapgo-roundtrip-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "master.db")
	st, err := store.OpenSQLite(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { st.Close() }()
	ctx := context.Background()
	cfg := master.DefaultConfig()
	live := master.New(cfg)
	w := &world{c: c, now: time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)}
	// A small grid to start from: two persons, three computers (one
	// closed) with three partitions and both software releases each.
	setup := []master.Command{
		master.AddPerson{By: model.Admin, ID: "p0"},
		master.AddPerson{By: model.Admin, ID: "p1"},
	}
	for i, id := range comps[:3] {
		owner := model.Actor{Kind: model.KindPerson, ID: persons[i%2]}
		scope := model.ScopeOpen
		if i == 1 {
			scope = model.ScopeClosed
		}
		setup = append(setup,
			master.RegisterComputer{By: owner, ID: id, Region: "eu", Prices: model.PriceList{"hosting": 0.25, "cpu_time": 0.001}, Scope: scope},
			master.SetCapacity{By: computerActor(id), ComputerID: id, Partitions: []master.PartitionSpec{{ID: "slappart0"}, {ID: "slappart1"}, {ID: "slappart2"}}})
		for _, u := range goodURLs {
			setup = append(setup, master.Supply{By: owner, ComputerID: id, URL: u, State: model.SoftwareAvailable})
		}
	}
	for _, cmd := range setup {
		_, muts, err := live.Apply(w.now, cmd)
		if err != nil {
			t.Fatalf("setting up: %s: %v", cmd.CommandName(), err)
		}
		if err := st.Commit(ctx, store.Batch{Mutations: muts}); err != nil {
			t.Fatal(err)
		}
	}
	var shadow *master.State // restored at the last checkpoint, fed the same commands
	var trail []string
	checkpoint := func(step int) {
		t.Helper()
		if err := st.Close(); err != nil {
			t.Fatalf("step %d: closing the store: %v\ncommands:\n%s", step, err, strings.Join(trail, "\n"))
		}
		st, err = store.OpenSQLite(path, store.Options{})
		if err != nil {
			t.Fatalf("step %d: reopening the store: %v", step, err)
		}
		ents, err := st.Load(ctx)
		if err != nil {
			t.Fatalf("step %d: loading: %v\ncommands:\n%s", step, err, strings.Join(trail, "\n"))
		}
		restored, err := master.Restore(cfg, ents)
		if err != nil {
			t.Fatalf("step %d: Restore: %v\ncommands:\n%s", step, err, strings.Join(trail, "\n"))
		}
		if diff := diffStates(live, restored); diff != "" {
			t.Fatalf("step %d: the restored state differs from the one that accepted the commands: %s\ncommands:\n%s",
				step, diff, strings.Join(trail, "\n"))
		}
		if shadow != nil {
			if diff := diffStates(live, shadow); diff != "" {
				t.Fatalf("step %d: a state restored earlier, given the same commands, diverged: %s\ncommands:\n%s",
					step, diff, strings.Join(trail, "\n"))
			}
		}
		shadow = restored
	}
	for step := 0; step < maxSteps && !c.done(); step++ {
		w.now = w.now.Add(time.Duration(c.intn(3600)) * time.Second)
		cmd := w.command()
		res, muts, err := live.Apply(w.now, cmd)
		trail = append(trail, fmt.Sprintf("%d %s %+q -> %v", step, cmd.CommandName(), fmt.Sprintf("%+v", cmd), err))
		if shadow != nil {
			sres, _, serr := shadow.Apply(w.now, cmd)
			if fmt.Sprint(err) != fmt.Sprint(serr) || res.Placed != sres.Placed || res.Changed != sres.Changed {
				t.Fatalf("step %d: %s: a restored state answers %v (placed %d, changed %v), the live one %v (placed %d, changed %v)\ncommands:\n%s",
					step, cmd.CommandName(), serr, sres.Placed, sres.Changed, err, res.Placed, res.Changed, strings.Join(trail, "\n"))
			}
		}
		if err != nil {
			if len(muts) != 0 {
				t.Fatalf("step %d: a refused command returned %d mutations", step, len(muts))
			}
			continue
		}
		if res.Instance != nil && res.Instance.GUID != "" && !contains(w.guids, res.Instance.GUID) {
			w.guids = append(w.guids, res.Instance.GUID)
		}
		if err := master.CheckValues(muts); err != nil {
			t.Fatalf("step %d: Apply accepted %s with a value storage cannot keep: %v\ncommands:\n%s",
				step, cmd.CommandName(), err, strings.Join(trail, "\n"))
		}
		if err := st.Commit(ctx, store.Batch{Mutations: muts}); err != nil {
			t.Fatalf("step %d: the store refused what Apply accepted (%s): %v\ncommands:\n%s",
				step, cmd.CommandName(), err, strings.Join(trail, "\n"))
		}
		if step%25 == 24 {
			checkpoint(step)
		}
	}
	checkpoint(maxSteps)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// diffStates compares two states entity by entity ("" when equal).
//
// NB: a computer's LastContact is left out: a poll (Touch) and an unchanged
// capacity announcement record it in memory only, to be persisted with the
// computer's next mutation (core/master's contract, point 4).
func diffStates(a, b *master.State) string {
	ea, eb := index(a.Snapshot()), index(b.Snapshot())
	for k, va := range ea {
		vb, ok := eb[k]
		if !ok {
			return fmt.Sprintf("%s is missing", k)
		}
		if d := diffValue(reflect.ValueOf(va), reflect.ValueOf(vb), k); d != "" {
			return d
		}
	}
	for k := range eb {
		if _, ok := ea[k]; !ok {
			return fmt.Sprintf("%s appeared", k)
		}
	}
	return ""
}

func index(ms []master.Mutation) map[string]any {
	out := map[string]any{}
	for _, m := range ms {
		out[string(m.Kind)+" "+m.Key] = m.Value
	}
	return out
}

var timeType = reflect.TypeFor[time.Time]()

// diffValue is reflect.DeepEqual with times compared as instants, nil and
// empty maps and slices taken as equal, and the path of the first
// difference.
func diffValue(a, b reflect.Value, path string) string {
	if a.Type() != b.Type() {
		return fmt.Sprintf("%s: %s vs %s", path, a.Type(), b.Type())
	}
	if a.Type() == timeType {
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if !ta.Equal(tb) {
			return fmt.Sprintf("%s: %s vs %s", path, ta, tb)
		}
		return ""
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				return fmt.Sprintf("%s: nil vs not nil", path)
			}
			return ""
		}
		return diffValue(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if !f.IsExported() || f.Name == "LastContact" {
				continue
			}
			if d := diffValue(a.Field(i), b.Field(i), path+"."+f.Name); d != "" {
				return d
			}
		}
	case reflect.Map:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d vs %d entries (%v vs %v)", path, a.Len(), b.Len(), a, b)
		}
		it := a.MapRange()
		for it.Next() {
			vb := b.MapIndex(it.Key())
			if !vb.IsValid() {
				return fmt.Sprintf("%s: key %q missing", path, it.Key())
			}
			if d := diffValue(it.Value(), vb, fmt.Sprintf("%s[%q]", path, it.Key())); d != "" {
				return d
			}
		}
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: %d vs %d elements", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := diffValue(a.Index(i), b.Index(i), fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case reflect.Float32, reflect.Float64:
		if fa, fb := a.Float(), b.Float(); fa != fb {
			return fmt.Sprintf("%s: %v vs %v", path, fa, fb)
		}
	default:
		if !a.Equal(b) {
			return fmt.Sprintf("%s: %q vs %q", path, fmt.Sprint(a), fmt.Sprint(b))
		}
	}
	return ""
}

// TestApplyPersistRestoreRoundTrip is the property over random command
// sequences.
func TestApplyPersistRestoreRoundTrip(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 12))
			data := make([]byte, 4000)
			for i := range data {
				data[i] = byte(r.UintN(256))
			}
			runRoundTrip(t, &choices{data: data}, 150)
		})
	}
}

// FuzzApplyPersistRestore is the same property with the fuzzer choosing the
// commands:
//
//	go test -run '^$' -fuzz FuzzApplyPersistRestore -fuzzminimizetime 5s ./master/store/
//
// NB: every command is committed (an fsync each, as in production), so an
// execution takes tens of milliseconds; the default minimization time of
// interesting inputs (60 s) would leave the fuzzer looking idle.
func FuzzApplyPersistRestore(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	r := rand.New(rand.NewPCG(1, 2))
	for range 4 {
		seed := make([]byte, 600)
		for i := range seed {
			seed[i] = byte(r.UintN(256))
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		runRoundTrip(t, &choices{data: data}, 60)
	})
}

package agent

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

func pubLines(ps []Publication) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s %s=%s", p, p.InstanceGUID, p.Parameters["url"]))
	}
	return out
}

func count(lines []string, line string) int {
	n := 0
	for _, l := range lines {
		if l == line {
			n++
		}
	}
	return n
}

// TestPublicationOutbox: publications that cannot reach the master are
// kept and the configuration succeeds; a newer value of a kept one
// replaces it in place; the drain stops at the first unreachable; when the
// master answers, the kept ones are sent first, in order, latest values.
func TestPublicationOutbox(t *testing.T) {
	host := started("slappart0", "S-1", 1)
	host.SharedInstances = []model.SharedView{{GUID: "SH-2"}, {GUID: "SH-1"}}
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, host, started("slappart1", "S-2", 1)), step: time.Second,
		unreachable: func(e Effect) bool { return e.Kind == Publish }}
	x.conn = map[string]string{"url": "v1"}
	x.shared = map[string]map[string]string{"SH-1": {"url": "v1"}, "SH-2": {"url": "v1"}}
	x.pass(t, a)
	if pa := a.Actual().Partitions["slappart0"]; !pa.Running || pa.Failures != 0 || pa.AppliedVersion != 1 {
		t.Fatalf("a configuration whose publications did not get through failed: %+v", pa)
	}
	want := []string{"slappart0 S-1=v1", "slappart0 shared SH-1 S-1=v1", "slappart0 shared SH-2 S-1=v1", "slappart1 S-2=v1"}
	if got := pubLines(a.Unpublished()); !slices.Equal(got, want) {
		t.Fatalf("kept after the first pass = %q, want %q", got, want)
	}
	if a.Converged() {
		t.Errorf("converged with publications kept")
	}

	// slappart1 is reconfigured: its kept publication takes the new value,
	// in place; the drain tries the first kept one only.
	x.view = view(2, host, started("slappart1", "S-2", 2))
	x.conn = map[string]string{"url": "v2"}
	a.Wake()
	got := x.pass(t, a)
	if got[1] != "publish slappart0 (kept)" || count(got, "publish slappart0 (kept)") != 1 || slices.Contains(got, "publish slappart1 (kept)") {
		t.Errorf("pass while the master does not take publications = %q, want one kept publication tried", got)
	}
	want[3] = "slappart1 S-2=v2"
	if got := pubLines(a.Unpublished()); !slices.Equal(got, want) {
		t.Fatalf("kept after the second pass = %q, want %q", got, want)
	}

	// The master answers: the kept ones first, in order, then nothing.
	x.unreachable = nil
	a.Wake()
	got = x.pass(t, a)
	wantFx := []string{"fetch-view", "publish slappart0 (kept)", "publish slappart0 shared SH-1 (kept)",
		"publish slappart0 shared SH-2 (kept)", "publish slappart1 (kept)"}
	if !slices.Equal(got, wantFx) {
		t.Errorf("pass once the master answers = %q, want %q", got, wantFx)
	}
	if got := pubLines(x.delivered); !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	if len(a.Unpublished()) != 0 || !a.Converged() {
		t.Errorf("after the drain: kept %q, converged %v", pubLines(a.Unpublished()), a.Converged())
	}
	if c := a.OutboxCounters(); c.Kept != 5 || c.Resent != 4 || c.Dropped != 0 || c.Refused != 0 {
		t.Errorf("counters %+v, want 5 kept (4, then slappart1's newer value), 4 resent", c)
	}
}

// TestKeptPublicationOlderThanSent: a publication that gets through
// replaces the kept value of its key (never sent afterwards), and a
// refused one is dropped without stopping the drain.
func TestKeptPublicationOlderThanSent(t *testing.T) {
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1), started("slappart1", "S-2", 1)),
		conn: map[string]string{"url": "v1"}}
	a.KeepPublication(Publication{PartitionID: "slappart0", InstanceGUID: "S-1", Parameters: map[string]string{"url": "old"}})
	a.KeepPublication(Publication{PartitionID: "slappart1", InstanceGUID: "S-2", Parameters: map[string]string{"url": "old"}})
	// The drain cannot get through, the configurations can.
	x.unreachable = func(e Effect) bool { return e.Kept }
	x.pass(t, a)
	if len(a.Unpublished()) != 0 {
		t.Fatalf("kept values older than the ones published: %q", pubLines(a.Unpublished()))
	}
	a.KeepPublication(Publication{PartitionID: "slappart0", InstanceGUID: "S-1", Parameters: map[string]string{"url": "v2"}})
	a.KeepPublication(Publication{PartitionID: "slappart1", InstanceGUID: "S-2", Parameters: map[string]string{"url": "v2"}})
	x.unreachable = nil
	x.refuse = func(e Effect) bool { return e.PartitionID == "slappart0" }
	x.delivered = nil
	a.Wake()
	got := x.pass(t, a)
	if want := []string{"fetch-view", "publish slappart0 (kept)", "publish slappart1 (kept)"}; !slices.Equal(got, want) {
		t.Errorf("drain = %q, want %q", got, want)
	}
	if got := pubLines(x.delivered); !slices.Equal(got, []string{"slappart1 S-2=v2"}) {
		t.Errorf("delivered %q", got)
	}
	if len(a.Unpublished()) != 0 || a.OutboxCounters().Refused != 1 {
		t.Errorf("refused publication: kept %q, counters %+v", pubLines(a.Unpublished()), a.OutboxCounters())
	}
	a.Wake()
	if got := x.pass(t, a); !slices.Equal(got, []string{"fetch-view"}) {
		t.Errorf("a refused publication was sent again: %q", got)
	}
}

// TestKeptPublicationDropped: a kept publication goes when a newer view no
// longer places its instance here (another instance in the partition, a
// shared instance no longer hosted), when the partition is destroyed, or
// at once when it is kept for an instance the view does not place.
func TestKeptPublicationDropped(t *testing.T) {
	host := started("slappart1", "S-2", 1)
	host.SharedInstances = []model.SharedView{{GUID: "SH-1"}, {GUID: "SH-2"}}
	doomed := started("slappart2", "S-3", 1)
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1), host, doomed),
		conn:   map[string]string{"url": "v1"},
		shared: map[string]map[string]string{"SH-1": {"url": "v1"}, "SH-2": {"url": "v1"}}}
	x.unreachable = func(e Effect) bool { return e.Kind == Publish }
	x.pass(t, a)
	if n := len(a.Unpublished()); n != 5 {
		t.Fatalf("kept %d publications, want 5: %q", n, pubLines(a.Unpublished()))
	}
	// slappart0 now holds another instance, SH-1 left slappart1, slappart2
	// is to be destroyed; nothing gets through.
	host2 := host
	host2.SharedInstances = []model.SharedView{{GUID: "SH-2"}}
	doomed.RequestedState, doomed.Version = model.StateDestroyed, 2
	x.view = view(2, started("slappart0", "S-9", 1), host2, doomed)
	x.conn, x.shared = nil, nil
	x.unreachable = func(e Effect) bool { return e.Kind == Publish || e.Kind == SendReport }
	a.Wake()
	got := x.pass(t, a)
	if !slices.Contains(got, "run-action destroy-partition slappart2 (requested, v2)") {
		t.Fatalf("slappart2 not destroyed: %q", got)
	}
	want := []string{"slappart1 S-2=v1", "slappart1 shared SH-2 S-2=v1"}
	if got := pubLines(a.Unpublished()); !slices.Equal(got, want) {
		t.Errorf("kept after the new view = %q, want %q", got, want)
	}
	if c := a.OutboxCounters(); c.Dropped != 3 {
		t.Errorf("dropped %d, want 3 (another instance, a shared instance gone, a destruction)", c.Dropped)
	}
	// Kept again by an executor for an instance no longer here: dropped.
	a.KeepPublication(Publication{PartitionID: "slappart0", InstanceGUID: "S-1", Parameters: map[string]string{"url": "v1"}})
	if got := pubLines(a.Unpublished()); !slices.Equal(got, want) || a.OutboxCounters().Dropped != 4 {
		t.Errorf("kept %q for an instance the view does not place", got)
	}
}

// TestKeptPublicationOfDestroyedSharedDropped: a kept publication of a
// shared instance goes when a newer view lists it destroyed (the host
// still shows it until its destruction is done), and one kept for it
// afterwards is dropped at once.
func TestKeptPublicationOfDestroyedSharedDropped(t *testing.T) {
	host := started("slappart0", "S-1", 1)
	host.SharedInstances = []model.SharedView{{GUID: "SH-1"}, {GUID: "SH-2"}}
	a := New(Config{}, installed(swA))
	x := &executor{now: t0, view: view(1, host), conn: map[string]string{"url": "v1"},
		shared: map[string]map[string]string{"SH-1": {"url": "v1"}, "SH-2": {"url": "v1"}}}
	x.unreachable = func(e Effect) bool { return e.Kind == Publish }
	x.pass(t, a)
	if n := len(a.Unpublished()); n != 3 {
		t.Fatalf("kept %d publications, want 3: %q", n, pubLines(a.Unpublished()))
	}
	host2 := host
	host2.SharedInstances = []model.SharedView{{GUID: "SH-1", State: model.StateDestroyed}, {GUID: "SH-2"}}
	x.view = view(2, host2)
	x.conn, x.shared = nil, nil
	a.Wake()
	x.pass(t, a)
	want := []string{"slappart0 S-1=v1", "slappart0 shared SH-2 S-1=v1"}
	if got := pubLines(a.Unpublished()); !slices.Equal(got, want) || a.OutboxCounters().Dropped != 1 {
		t.Errorf("kept after SH-1 was destroyed = %q (dropped %d), want %q (dropped 1)", got, a.OutboxCounters().Dropped, want)
	}
	a.KeepPublication(Publication{PartitionID: "slappart0", InstanceGUID: "S-1", SharedGUID: "SH-1", Parameters: map[string]string{"url": "v2"}})
	if got := pubLines(a.Unpublished()); !slices.Equal(got, want) || a.OutboxCounters().Dropped != 2 {
		t.Errorf("kept %q for a shared instance the view lists destroyed", got)
	}
}

// TestKeepPublicationRestores: publications a previous run kept, given
// back before the first view, are sent by the first pass that reaches
// the master, unless that view does not place their instance.
func TestKeepPublicationRestores(t *testing.T) {
	a := New(Config{}, installed(swA))
	p0 := Publication{PartitionID: "slappart0", InstanceGUID: "S-1", Parameters: map[string]string{"url": "a"}}
	p1 := Publication{PartitionID: "slappart1", InstanceGUID: "S-2", SharedGUID: "SH-1", Parameters: map[string]string{"url": "b"}}
	a.KeepPublication(p0)
	a.KeepPublication(p1)
	actual := installed(swA)
	actual.Partitions["slappart0"] = converge.PartitionActual{AppliedVersion: 1, InstanceGUID: "S-1", Running: true}
	*a.Actual() = actual
	x := &executor{now: t0, view: view(1, started("slappart0", "S-1", 1))}
	got := x.pass(t, a)
	if want := []string{"fetch-view", "publish slappart0 (kept)"}; !slices.Equal(got[:min(2, len(got))], want) {
		t.Errorf("first pass = %q, want %q first", got, want)
	}
	if len(x.delivered) != 1 || !maps.Equal(x.delivered[0].Parameters, p0.Parameters) || len(a.Unpublished()) != 0 {
		t.Errorf("delivered %q, kept %q", pubLines(x.delivered), pubLines(a.Unpublished()))
	}
}

// TestKeepPublicationRestoresOrder: publications given back with their
// Seq take their places whatever order they come in (an executor reads
// them partition by partition); one kept afterwards goes last, and a
// newer value of a kept one stays in its place.
func TestKeepPublicationRestoresOrder(t *testing.T) {
	a := New(Config{}, installed(swA))
	pub := func(part, shared string, seq uint64) Publication {
		return Publication{PartitionID: part, InstanceGUID: "S-" + part, SharedGUID: shared, Parameters: map[string]string{"url": "a"}, Seq: seq}
	}
	for _, p := range []Publication{pub("slappart0", "", 7), pub("slappart1", "", 3), pub("slappart1", "SH-1", 9), pub("slappart2", "", 5)} {
		a.KeepPublication(p)
	}
	a.KeepPublication(pub("slappart0", "SH-2", 0))
	a.KeepPublication(pub("slappart1", "", 0)) // a newer value: in place
	var got []string
	for _, p := range a.Unpublished() {
		got = append(got, fmt.Sprintf("%s/%s#%d", p.PartitionID, p.SharedGUID, p.Seq))
	}
	want := []string{"slappart1/#3", "slappart2/#5", "slappart0/#7", "slappart1/SH-1#9", "slappart0/SH-2#10"}
	if !slices.Equal(got, want) {
		t.Errorf("outbox = %q, want %q", got, want)
	}
}

// TestDestroyedReReportNeedsFreshView: after telling the master a
// partition is clean, the agent tells it again only on a view fetched
// afterwards, however long the pass's other actions take.
func TestDestroyedReReportNeedsFreshView(t *testing.T) {
	doomed := model.PartitionView{ID: "slappart0", InstanceGUID: "S-1", SoftwareRelease: swA, RequestedState: model.StateDestroyed, Version: 2}
	actual := installed(swA)
	actual.Partitions["slappart0"] = converge.PartitionActual{AppliedVersion: 1, InstanceGUID: "S-1", Running: true}
	a := New(Config{PollInterval: time.Minute, PromiseInterval: -1}, actual)
	// Each effect takes a minute: the pass lasts far beyond PollInterval/2.
	x := &executor{now: t0, step: time.Minute,
		view: view(2, doomed, started("slappart1", "S-2", 1), started("slappart2", "S-3", 1))}
	got := x.pass(t, a)
	if n := count(got, "send-report slappart0 destroyed"); n != 1 {
		t.Fatalf("told %d times in the pass that destroyed it, want 1 (its view predates the report): %q", n, got)
	}
	// The next passes fetch the view (not modified: still busy): told again.
	for i := range 2 {
		x.now = sleepUntil(t, a, x.now)
		got := x.pass(t, a)
		if !slices.Equal(got, []string{"fetch-view", "send-report slappart0 destroyed"}) {
			t.Errorf("pass %d after = %q, want the partition told again", i+1, got)
		}
	}
	if told, _ := a.DestroyTold("slappart0"); told != 3 {
		t.Errorf("told %d, want 3", told)
	}
}

// TestDestroyedRefusalEnds: a destruction report the master refuses is not
// sent again for that instance; another instance placed there and
// requested destroyed is told again.
func TestDestroyedRefusalEnds(t *testing.T) {
	cfg := Config{PollInterval: time.Minute}
	a := New(cfg, installed(swA))
	x := &executor{now: t0, view: view(1, model.PartitionView{ID: "slappart0", InstanceGUID: "S-1", RequestedState: model.StateDestroyed, Version: 1}),
		refuse: func(e Effect) bool { return e.Kind == SendReport }}
	for range 10 {
		x.pass(t, a)
		x.now = sleepUntil(t, a, x.now)
	}
	if n := count(x.log, "send-report slappart0 destroyed"); n != 1 {
		t.Errorf("a refused destruction report was sent %d times in 10 polls, want 1", n)
	}
	if c := a.OutboxCounters(); c.DestroyedRefused != 1 {
		t.Errorf("destroyed refused %d, want 1", c.DestroyedRefused)
	}
	x.view = view(2, model.PartitionView{ID: "slappart0", InstanceGUID: "S-2", RequestedState: model.StateDestroyed, Version: 2})
	x.refuse, x.log = nil, nil
	for range 3 {
		x.pass(t, a)
		x.now = sleepUntil(t, a, x.now)
	}
	if n := count(x.log, "send-report slappart0 destroyed"); n != 3 {
		t.Errorf("another instance's destruction told %d times in 3 polls, want 3", n)
	}
}

// TestPropertyPublications: whatever the views, outages and failed
// publications, the master never takes a value of a key after a value a
// later configuration produced, and once the master stays, every partition configured at its
// view's version has its last value published and nothing stays kept.
func TestPropertyPublications(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 13))
		cfg := Config{PollInterval: time.Minute, Converge: converge.Config{RetryBase: time.Minute, RetryMax: 10 * time.Minute}}
		a := New(cfg, installed(swA, swB))
		x := &simExecutor{r: r, now: t0, view: randomView(r, 1), failRate: 0.3}
		for round := range 6 {
			x.away = r.IntN(2) == 0
			x.runFor(t, a, time.Duration(r.IntN(30))*time.Minute)
			if r.IntN(2) == 0 {
				x.view = randomView(r, uint64(round+2))
			}
		}
		x.away, x.failRate = false, 0
		x.runFor(t, a, 3*time.Hour)
		if len(a.Unpublished()) != 0 {
			t.Fatalf("seed %d: still kept after 3 healthy hours: %q", seed, pubLines(a.Unpublished()))
		}
		last := map[string]Publication{}
		for _, p := range x.published {
			if l, ok := last[p.PartitionID]; ok && configuration(l) >= configuration(p) {
				t.Fatalf("seed %d: %s published %v after %v", seed, p.PartitionID, p.Parameters, l.Parameters)
			}
			last[p.PartitionID] = p
		}
		for _, p := range x.view.Partitions {
			pa := a.Actual().Partitions[p.ID]
			if p.InstanceGUID == "" || p.RequestedState == model.StateDestroyed || pa.InstanceGUID != p.InstanceGUID || pa.AppliedVersion != p.Version {
				continue
			}
			want := fmt.Sprintf("http://%s/%s/v%d", p.ID, p.InstanceGUID, p.Version)
			if got := last[p.ID].Parameters["url"]; got != want {
				t.Errorf("seed %d: %s: the master has %q, want %q", seed, p.ID, got, want)
			}
		}
	}
}

// configuration numbers the configuration that produced p.
func configuration(p Publication) int {
	n, _ := strconv.Atoi(p.Parameters["n"])
	return n
}

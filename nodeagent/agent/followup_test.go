package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
	"github.com/slapgo/slapgo/nodeagent/config"
)

// testClock is a clock a test stops and moves by hand; running, it is the
// wall clock, shifted so that it never goes back.
type testClock struct {
	mu     sync.Mutex
	frozen bool
	at     time.Time
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now()
}

func (c *testClock) now() time.Time {
	if c.frozen {
		return c.at
	}
	return time.Now().Add(c.offset)
}

// freeze stops the clock.
func (c *testClock) freeze() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.frozen = c.now(), true
}

// advance moves a stopped clock.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// thaw runs the clock again from where it stands.
func (c *testClock) thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset, c.frozen = max(c.offset, time.Until(c.at)), false
}

// logCount counts the agent's log messages.
type logCount struct {
	mu   sync.Mutex
	msgs map[string]int
}

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.msgs == nil {
		l.msgs = map[string]int{}
	}
	l.msgs[r.Message]++
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[msg]
}

// inProcess is a grid with hello supplied and built, driven by an agent in
// the test's process with a clock of the test's.
type inProcess struct {
	g     *grid
	a     *agent.Agent
	clock *testClock
	logs  *logCount
	sr    string
	cfg   config.Config
}

func newInProcess(t *testing.T, partitions int) *inProcess {
	t.Helper()
	g := startMaster(t, t.TempDir(), gridOptions{partitions: partitions})
	t.Cleanup(g.killLeftovers)
	cfg, err := config.Load(g.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	hello, _ := filepath.Abs("../../fixtures/software/hello/software.cfg")
	p := &inProcess{g: g, clock: &testClock{}, logs: &logCount{}, sr: "file://" + hello, cfg: cfg}
	p.a = p.newAgent(t)
	ctx := context.Background()
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: p.sr, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.SoftwarePass(ctx, true); err != nil {
		t.Fatal(err)
	}
	return p
}

// newAgent is a fresh agent process on the grid's node.
func (p *inProcess) newAgent(t *testing.T) *agent.Agent {
	t.Helper()
	a, err := agent.New(p.cfg, agent.Options{Unprivileged: true, SlapgoBinary: p.g.bin, Now: p.clock.Now, Logger: slog.New(p.logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.StopServices)
	return a
}

func (p *inProcess) request(t *testing.T, c *api.Client, title string, state model.RequestedState) api.Instance {
	t.Helper()
	inst, err := c.Request(context.Background(), api.InstanceRequest{Title: title, SoftwareRelease: p.sr, State: state,
		SLA: map[string]string{"computer_guid": p.g.comp}})
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func (p *inProcess) pass(t *testing.T) agent.InstanceResult {
	t.Helper()
	res, err := p.a.InstancePass(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() > 0 {
		t.Fatalf("instance pass: %d actions failed: %+v", res.Failed(), res.Results)
	}
	return res
}

func (p *inProcess) instance(t *testing.T, guid string) api.Instance {
	t.Helper()
	inst, err := p.g.person.Instance(context.Background(), guid)
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

// busy lists the partitions the master does not show free.
func (p *inProcess) busy(t *testing.T) []string {
	t.Helper()
	d, err := p.g.person.ComputerDetails(context.Background(), p.g.comp)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, part := range d.Partitions {
		if part.Status != model.PartitionFree {
			out = append(out, part.ID)
		}
	}
	return out
}

// TestAnomalyPromises follows SlapOS's anomaly mode: a promise that starts
// failing on a partition nothing else happens to is reported as the
// partition's error, once, and the partition started again when it holds.
func TestAnomalyPromises(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	p := newInProcess(t, 2)
	a := p.request(t, p.g.person, "anomaly-a", "")
	b := p.request(t, p.g.person, "anomaly-b", "")
	p.clock.freeze()
	if res := p.pass(t); len(res.Results) != 4 || len(res.Checked) != 0 {
		t.Fatalf("deployment: %d actions, checked %v (want 4 actions, no anomaly check)", len(res.Results), res.Checked)
	}
	poll := p.cfg.Grid.PollInterval
	failing := filepath.Join(p.g.dir, "inst", a.PartitionID, "etc", "promise", "zz-disk")
	const failed = "promise failed on a running partition: reported in error"
	const holds = "promises hold again: partition reported started"

	steps := []struct {
		name      string
		advance   time.Duration
		fail      bool
		checked   []string
		reportedA model.ReportedState
		errorHas  string
		failedLog int // reports of errors so far
		holdsLog  int // reports of started again so far
	}{
		{"just started: not checked before a poll interval", poll / 2, false, nil, model.ReportedStarted, "", 0, 0},
		{"a poll interval later: both checked", poll / 2, false, []string{a.PartitionID, b.PartitionID}, model.ReportedStarted, "", 0, 0},
		{"the promise fails: reported in error with its output", poll, true, []string{a.PartitionID, b.PartitionID}, model.ReportedError, "disk is full", 1, 0},
		{"within the poll interval: not checked again", poll / 2, true, nil, model.ReportedError, "disk is full", 1, 0},
		{"still failing: not reported again", poll, true, []string{a.PartitionID, b.PartitionID}, model.ReportedError, "disk is full", 1, 0},
		{"holds again: reported started", poll, false, []string{a.PartitionID, b.PartitionID}, model.ReportedStarted, "", 1, 1},
		{"still holds: not reported again", 2 * poll, false, []string{a.PartitionID, b.PartitionID}, model.ReportedStarted, "", 1, 1},
	}
	for _, st := range steps {
		if st.fail {
			if err := os.WriteFile(failing, []byte("#!/bin/sh\necho 'the disk is full' >&2\nexit 1\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		} else {
			os.Remove(failing)
		}
		p.clock.advance(st.advance)
		res := p.pass(t)
		slices.Sort(res.Checked)
		want := slices.Clone(st.checked)
		slices.Sort(want)
		if len(res.Results) != 0 || !slices.Equal(res.Checked, want) {
			t.Errorf("%s: %d actions, checked %v, want none and %v", st.name, len(res.Results), res.Checked, want)
		}
		ia := p.instance(t, a.GUID)
		if ia.ReportedState != st.reportedA || !strings.Contains(ia.ReportedError, st.errorHas) {
			t.Errorf("%s: %q reported %q (%q), want %q mentioning %q", st.name, ia.Title, ia.ReportedState, ia.ReportedError, st.reportedA, st.errorHas)
		}
		if ib := p.instance(t, b.GUID); ib.ReportedState != model.ReportedStarted {
			t.Errorf("%s: %q reported %q (%q), want started", st.name, ib.Title, ib.ReportedState, ib.ReportedError)
		}
		if n, m := p.logs.count(failed), p.logs.count(holds); n != st.failedLog || m != st.holdsLog {
			t.Errorf("%s: %d error and %d started reports from checks, want %d and %d", st.name, n, m, st.failedLog, st.holdsLog)
		}
	}

	// A partition reconfigured in a pass is not checked in that pass: its
	// start checked its promises.
	p.clock.advance(poll)
	if _, err := p.g.person.Request(context.Background(), api.InstanceRequest{Title: "anomaly-a", SoftwareRelease: p.sr,
		Parameters: map[string]string{"name": "changed"}}); err != nil {
		t.Fatal(err)
	}
	res := p.pass(t)
	if len(res.Results) != 2 || !slices.Equal(res.Checked, []string{b.PartitionID}) {
		t.Errorf("reconfiguration: %d actions, checked %v, want 2 and [%s]", len(res.Results), res.Checked, b.PartitionID)
	}

	// A stopped partition runs no promise.
	p.clock.advance(poll)
	p.request(t, p.g.person, "anomaly-b", model.StateStopped)
	p.pass(t)
	p.clock.advance(poll)
	if res := p.pass(t); !slices.Equal(res.Checked, []string{a.PartitionID}) {
		t.Errorf("after stopping %s: checked %v, want [%s]", b.PartitionID, res.Checked, a.PartitionID)
	}
}

// TestDestroyReportedAgain: the master keeps a root allocated while its
// children live, and a node rebuilt with an empty disk has nothing to
// wipe; the agent tells the master again, on later passes, until it frees
// the partitions.
func TestDestroyReportedAgain(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	t.Run("root before its children", func(t *testing.T) {
		p := newInProcess(t, 3)
		poll := p.cfg.Grid.PollInterval
		root := p.request(t, p.g.person, "root", "")
		p.pass(t)
		// The root requests its children with its own certificate.
		certs := filepath.Join(p.g.dir, "inst", root.PartitionID, agent.StateDir)
		rc, err := api.NewClient(p.g.url, filepath.Join(certs, "instance.crt"), filepath.Join(certs, "instance.key"), p.cfg.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		var children []api.Instance
		for _, title := range []string{"child-1", "child-2"} {
			children = append(children, p.request(t, rc, title, ""))
		}
		p.pass(t)
		for _, c := range children {
			if ic := p.instance(t, c.GUID); ic.ReportedState != model.ReportedStarted || ic.RootTitle != "root" {
				t.Fatalf("%s: reported %q in the tree of %q, want started in root's", c.Title, ic.ReportedState, ic.RootTitle)
			}
		}
		p.request(t, p.g.person, "root", model.StateDestroyed)
		p.clock.freeze()
		res := p.pass(t)
		destroyed := 0
		for _, r := range res.Results {
			if r.Action.Kind == converge.DestroyPartition {
				destroyed++
			}
		}
		if destroyed != 3 {
			t.Fatalf("the destruction pass destroyed %d partitions, want 3", destroyed)
		}
		rootFirst := slices.IndexFunc(res.Results, func(r agent.ActionResult) bool { return r.Action.PartitionID == root.PartitionID }) <
			slices.IndexFunc(res.Results, func(r agent.ActionResult) bool { return r.Action.PartitionID == children[0].PartitionID })
		busy := p.busy(t)
		if rootFirst && !slices.Equal(busy, []string{root.PartitionID}) {
			t.Fatalf("after wiping the root before its children: busy %v, want the root's %s only", busy, root.PartitionID)
		}
		// Once per pass: the same pass, or one at the same moment, does
		// not tell it again.
		p.pass(t)
		if rootFirst && !slices.Equal(p.busy(t), busy) {
			t.Fatalf("told again within the same half poll interval: busy %v, want %v", p.busy(t), busy)
		}
		p.clock.advance(poll)
		if res := p.pass(t); len(res.Results) != 0 {
			t.Errorf("the next pass ran %d actions, want none", len(res.Results))
		}
		if busy := p.busy(t); len(busy) != 0 {
			t.Errorf("after the next pass: busy %v, want every partition free", busy)
		}
		if ir := p.instance(t, root.GUID); ir.Status != api.StatusDestroyed {
			t.Errorf("root is %q, want %q", ir.Status, api.StatusDestroyed)
		}
		// Free partitions are not told about.
		told := p.logs.count("partition clean: master told it is destroyed")
		p.clock.advance(poll)
		p.pass(t)
		if n := p.logs.count("partition clean: master told it is destroyed"); n != told {
			t.Errorf("free partitions told about: %d reports, want %d", n, told)
		}
	})
	t.Run("rebuilt node", func(t *testing.T) {
		p := newInProcess(t, 2)
		keep := p.request(t, p.g.person, "keep", "")
		gone := p.request(t, p.g.person, "gone", "")
		p.pass(t)
		// The node dies and comes back with empty partitions (its
		// software kept); meanwhile, "gone" is destroyed.
		p.a.StopServices()
		for _, inst := range []api.Instance{keep, gone} {
			dir := filepath.Join(p.g.dir, "inst", inst.PartitionID)
			if err := agent.Wipe(dir, nil); err != nil {
				t.Fatal(err)
			}
			os.RemoveAll(filepath.Join(dir, agent.StateDir))
		}
		os.RemoveAll(filepath.Join(p.g.dir, "inst", agent.StateDir))
		p.request(t, p.g.person, "gone", model.StateDestroyed)
		p.a = p.newAgent(t)
		res := p.pass(t)
		for _, r := range res.Results {
			if r.Action.PartitionID != keep.PartitionID {
				t.Errorf("action %s on %s, want actions on %s only", r.Action.Kind, r.Action.PartitionID, keep.PartitionID)
			}
		}
		if busy := p.busy(t); !slices.Equal(busy, []string{keep.PartitionID}) {
			t.Errorf("busy %v, want %s only (%s freed)", busy, keep.PartitionID, gone.PartitionID)
		}
		if ik := p.instance(t, keep.GUID); ik.ReportedState != model.ReportedStarted {
			t.Errorf("keep reported %q %s, want started", ik.ReportedState, ik.ReportedError)
		}
	})
}

// TestAnomalyBudgetOnAgentClock: the time a pass spends on anomaly checks
// is measured on the agent's clock, like every other time it decides on.
// Frozen, no time passes: every partition due is checked, however long
// its promises take on the wall clock.
func TestAnomalyBudgetOnAgentClock(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds and runs the slapgo binary")
	}
	const n = 3
	p := newInProcess(t, n)
	var ids []string
	for i := range n {
		ids = append(ids, p.request(t, p.g.person, fmt.Sprintf("slow-%d", i), "").PartitionID)
	}
	p.clock.freeze()
	p.pass(t)
	// Each promise takes 400ms: three take longer than half a poll
	// interval (500ms) of wall time.
	for _, id := range ids {
		slow := filepath.Join(p.g.dir, "inst", id, "etc", "promise", "zz-slow")
		if err := os.WriteFile(slow, []byte("#!/bin/sh\nsleep 0.4\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.clock.advance(p.cfg.Grid.PollInterval)
	res := p.pass(t)
	slices.Sort(res.Checked)
	slices.Sort(ids)
	if !slices.Equal(res.Checked, ids) {
		t.Errorf("checked %v on a frozen clock, want all of %v: the budget must be measured on the agent's clock", res.Checked, ids)
	}
}

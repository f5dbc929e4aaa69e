package master_test

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// wantEvent is an event expected in a history: its kind and a pattern its
// message matches.
type wantEvent struct {
	kind master.EventKind
	msg  string
}

func checkEvents(t *testing.T, what string, got []master.Event, want []wantEvent) {
	t.Helper()
	var b strings.Builder
	for _, e := range got {
		fmt.Fprintf(&b, "  %s %s %s\n", e.At.Format("15:04:05"), e.Kind, e.Message)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d:\n%s", what, len(got), len(want), b.String())
	}
	for k, w := range want {
		if got[k].Kind != w.kind || !regexp.MustCompile(w.msg).MatchString(got[k].Message) {
			t.Fatalf("%s: event %d is %s %q, want %s matching %q; all:\n%s", what, k+1, got[k].Kind, got[k].Message, w.kind, w.msg, b.String())
		}
		if k > 0 && got[k].At.Before(got[k-1].At) {
			t.Fatalf("%s: event %d is older than the one before:\n%s", what, k+1, b.String())
		}
	}
}

func (g *grid) events(guid string) []master.Event {
	g.t.Helper()
	ev, err := g.s.InstanceEvents(g.alice, guid)
	if err != nil {
		g.t.Fatal(err)
	}
	return ev
}

// TestEventsRecorded: what happens to an instance is in its history, once
// per change: what a repeated report, publication or retry does not change
// adds nothing.
func TestEventsRecorded(t *testing.T) {
	comp := computerActor("COMP-0")
	for _, tc := range []struct {
		name string
		run  func(g *grid) string // returns the guid whose history is checked
		want []wantEvent
	}{
		{"life cycle", func(g *grid) string {
			a := g.request("a", map[string]string{"name": "A"})
			g.request("a", map[string]string{"name": "A"}) // the same: nothing
			g.request("a", map[string]string{"name": "B", "port": "80"})
			g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: model.StateStopped})
			for range 3 { // a node reports at every pass
				g.must(master.ReportPartition{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0", State: model.ReportedStopped})
			}
			g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: model.StateStarted})
			g.must(master.ReportPartition{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0", State: model.ReportedStarted})
			for range 2 {
				g.must(master.SetConnection{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0", Parameters: map[string]string{"url": "http://x"}})
			}
			g.must(master.ReportPartition{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0", State: model.ReportedError,
				Error: "\n  promise http failed  \nsecond line"})
			g.must(master.Bang{By: g.alice, InstanceGUID: a.GUID, Message: "try again"})
			g.must(master.Rename{By: g.alice, InstanceGUID: a.GUID, NewTitle: "b"})
			g.must(master.SetState{By: g.alice, InstanceGUID: a.GUID, State: model.StateDestroyed})
			g.must(master.PartitionDestroyed{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0"})
			return a.GUID
		}, []wantEvent{
			{master.EventRequested, `^requested started \(type default\)$`},
			{master.EventPlaced, `^placed on COMP-0/slappart0$`},
			{master.EventChanged, `^changed: parameters \(name, port\)$`},
			{master.EventState, `^stopped requested$`},
			{master.EventReported, `^node reported stopped$`},
			{master.EventState, `^started requested$`},
			{master.EventReported, `^node reported started$`},
			{master.EventPublished, `^connection parameters published \(url\)$`},
			{master.EventReported, `^node reported error: promise http failed$`},
			{master.EventBang, `^bang by person:alice: try again$`},
			{master.EventRenamed, `^renamed from "a" to "b"$`},
			{master.EventState, `^destroyed requested$`},
			{master.EventDestroyed, `^destroyed: partition COMP-0/slappart0 is free$`},
		}},
		{"pending once per reason", func(g *grid) string {
			a := g.must(master.Request{By: g.alice, Title: "far", SoftwareRelease: sr, SLA: map[string]string{"region": "mars"}}).Instance
			for range 3 {
				g.must(master.RetryPending{By: model.Admin})
			}
			g.must(master.Request{By: g.alice, Title: "far", SoftwareRelease: sr, SLA: map[string]string{"computer_guid": "COMP-9"}})
			g.must(master.RetryPending{By: model.Admin})
			g.must(master.Request{By: g.alice, Title: "far", SoftwareRelease: sr})
			return a.GUID
		}, []wantEvent{
			{master.EventRequested, `^requested started`},
			{master.EventPending, `region`},
			{master.EventChanged, `^changed: SLA$`},
			{master.EventPending, `^computer_guid=COMP-9: no such computer$`},
			{master.EventChanged, `^changed: SLA$`},
			{master.EventPlaced, `^placed on COMP-0/slappart0$`},
		}},
		{"a child follows its root", func(g *grid) string {
			root := g.request("root", nil)
			child := g.must(master.Request{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, Title: "child", SoftwareRelease: sr}).Instance
			g.must(master.SetState{By: g.alice, InstanceGUID: root.GUID, State: model.StateStopped})
			g.must(master.SetState{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, InstanceGUID: child.GUID, State: model.StateStopped})
			g.must(master.SetState{By: model.Actor{Kind: model.KindInstance, ID: root.GUID}, InstanceGUID: child.GUID, State: model.StateStarted})
			g.must(master.Bang{By: g.alice, InstanceGUID: root.GUID})
			return child.GUID
		}, []wantEvent{
			{master.EventRequested, `^requested started`},
			{master.EventPlaced, `^placed on COMP-0/slappart1$`},
			{master.EventState, `^stopped, as its root is$`},
			{master.EventState, `^stopped requested: it stays stopped, as its root is$`},
			{master.EventState, `^started requested: it stays stopped, as its root is$`},
			{master.EventBang, `^bang of SOFTINST-1 by person:alice$`},
		}},
		{"shared instance", func(g *grid) string {
			host := g.request("host", nil)
			sh := g.must(master.Request{By: g.alice, Title: "sh", SoftwareRelease: sr, Shared: true}).Instance
			g.must(master.SetConnection{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0", SharedGUID: sh.GUID,
				Parameters: map[string]string{"url": "http://sh"}})
			g.must(master.SetState{By: g.alice, InstanceGUID: host.GUID, State: model.StateDestroyed})
			g.must(master.SetState{By: g.alice, InstanceGUID: sh.GUID, State: model.StateDestroyed})
			return sh.GUID
		}, []wantEvent{
			{master.EventRequested, `^requested started`},
			{master.EventPlaced, `^placed: hosted by SOFTINST-1 on COMP-0$`},
			{master.EventPublished, `^connection parameters published \(url\)$`},
			{master.EventPending, `^its host SOFTINST-1 is being destroyed$`},
			{master.EventPending, `^no started instance of .* to host it$`},
			{master.EventState, `^destroyed requested$`},
			{master.EventDestroyed, `^destroyed: it was never placed$`},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := master.DefaultConfig()
			cfg.EventHistory = 20
			g := newGridConfig(t, cfg, 1, 2)
			guid := tc.run(g)
			checkEvents(t, tc.name, g.events(guid), tc.want)
			// The mutations persist them: a state restored from what the
			// commands returned has the same history.
			st, err := master.Restore(cfg, master.Compact(g.muts))
			if err != nil {
				t.Fatal(err)
			}
			again, err := st.InstanceEvents(g.alice, guid)
			if err != nil {
				t.Fatal(err)
			}
			checkEvents(t, tc.name+" after restore", again, tc.want)
		})
	}
}

// TestEventHistoryIsBounded: a state keeps Config.EventHistory events per
// instance, the newest; with 0 it keeps none and persists none; a restore
// with a shorter history keeps the newest.
func TestEventHistoryIsBounded(t *testing.T) {
	for _, keep := range []int{0, 1, 3, master.DefaultEventHistory} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			cfg := master.DefaultConfig()
			cfg.EventHistory = keep
			g := newGridConfig(t, cfg, 0, 0)
			a := g.must(master.Request{By: g.alice, Title: "a", SoftwareRelease: sr}).Instance // pending: no computer
			for n := range 30 {
				g.must(master.Bang{By: g.alice, InstanceGUID: a.GUID, Message: fmt.Sprint(n)})
			}
			got := g.events(a.GUID)
			if len(got) != keep {
				t.Fatalf("%d events kept, want %d", len(got), keep)
			}
			if keep > 0 && got[len(got)-1].Message != "bang by person:alice: 29" {
				t.Fatalf("the newest event is %q", got[len(got)-1].Message)
			}
			for _, m := range g.muts {
				if m.Kind == master.KindEvents && keep == 0 {
					t.Fatalf("no history kept, yet a mutation of %s", m.Key)
				}
			}
			if keep < 2 {
				return
			}
			shorter := cfg
			shorter.EventHistory = 2
			st, err := master.Restore(shorter, g.s.Snapshot())
			if err != nil {
				t.Fatal(err)
			}
			ev, _ := st.InstanceEvents(g.alice, a.GUID)
			if len(ev) != 2 || ev[1].Message != "bang by person:alice: 29" || ev[0].Message != "bang by person:alice: 28" {
				t.Fatalf("restored with 2: %+v", ev)
			}
		})
	}
}

// TestEventsAuthorization: reading a history is reading the instance.
func TestEventsAuthorization(t *testing.T) {
	g := newGrid(t, 1, 2)
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	a := g.request("a", nil)
	for _, tc := range []struct {
		who  model.Actor
		want error
	}{
		{g.alice, nil},
		{model.Admin, nil},
		{computerActor("COMP-0"), nil},
		{model.Actor{Kind: model.KindInstance, ID: a.GUID}, nil},
		{model.Actor{Kind: model.KindPerson, ID: "bob"}, master.ErrNotFound},
		{computerActor("COMP-9"), master.ErrForbidden},
	} {
		ev, err := g.s.InstanceEvents(tc.who, a.GUID)
		if !errors.Is(err, tc.want) || (err == nil && len(ev) == 0) {
			t.Errorf("%s: %d events, err %v, want %v", tc.who, len(ev), err, tc.want)
		}
	}
	if _, err := g.s.InstanceEvents(g.alice, "SOFTINST-99"); !errors.Is(err, master.ErrNotFound) {
		t.Errorf("unknown instance: %v", err)
	}
}

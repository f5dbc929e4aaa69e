package master_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkFetch: what a node's poll costs the master, as the simulator's
// fetch asks it: whether the poll carries a contact, the view's version,
// and the view when it changed. by-id asks State by computer id; poll
// through a Poll kept per computer.
//
// unchanged: polls go round 1,000 computers, none carrying a contact or
// fetching a view (most polls of a day). after-one-change: one instance
// of a computer of 300 partitions, each instance with an SLA, changed
// since the last poll: the view is fetched.
func BenchmarkFetch(b *testing.B) {
	const computers = 1000
	s := fill(b, computers, 4, 0)
	ids := make([]string, computers)
	polls := make([]master.Poll, computers)
	for c := range ids {
		ids[c] = fmt.Sprintf("COMP-%04d", c)
		polls[c], _ = s.Poll(ids[c])
	}
	at := t0.Add(time.Minute) // fill contacted every computer just before
	for _, how := range []string{"by-id", "poll"} {
		b.Run(fmt.Sprintf("computers=%d/unchanged/%s", computers, how), func(b *testing.B) {
			b.ReportAllocs()
			c := 0
			for b.Loop() {
				var due bool
				var v uint64
				if how == "poll" {
					p := polls[c]
					due, v = p.ContactDue(at), p.ViewVersion()
				} else {
					due = s.ContactDue(ids[c], at)
					v, _ = s.ViewVersion(ids[c])
				}
				if due || v == 0 {
					b.Fatalf("%s: contact due %v, view version %d", ids[c], due, v)
				}
				if c++; c == computers {
					c = 0
				}
			}
		})
	}

	const parts = 300
	cfg := master.DefaultConfig()
	cfg.ViewReplacesPrevious, cfg.MutationsShareEntities = true, true // as the simulator
	s = fillConfig(b, cfg, 1, parts, 1)
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	now := t0.Add(time.Second) // fill contacted the computer just before
	request := func(i, rev int) {
		now = now.Add(time.Microsecond)
		if _, _, err := s.Apply(now, master.Request{By: alice, Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: sr,
			Parameters: map[string]string{"port": "8080", "name": fmt.Sprintf("n%d", i), "rev": strconv.Itoa(rev)},
			SLA:        map[string]string{"region": "eu"}}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range parts {
		request(i, 0)
	}
	p, _ := s.Poll("COMP-0000")
	for _, how := range []string{"by-id", "poll"} {
		b.Run(fmt.Sprintf("partitions=%d/after-one-change/%s", parts, how), func(b *testing.B) {
			b.ReportAllocs()
			rev, held := 0, uint64(0)
			for b.Loop() {
				rev++
				request(7, rev)
				var due bool
				var v uint64
				if how == "poll" {
					due, v = p.ContactDue(now), p.ViewVersion()
				} else {
					due = s.ContactDue("COMP-0000", now)
					v, _ = s.ViewVersion("COMP-0000")
				}
				if due || v == held {
					b.Fatalf("contact due %v, view version %d after %d", due, v, held)
				}
				view, err := s.ComputerView("COMP-0000")
				if err != nil {
					b.Fatal(err)
				}
				if pv := view.Partitions[7]; pv.Parameters["rev"] != strconv.Itoa(rev) || pv.SLA["region"] != "eu" {
					b.Fatalf("partition 7 shows rev %q and SLA %v, want rev %d and region eu", pv.Parameters["rev"], pv.SLA, rev)
				}
				held = view.Version
			}
		})
	}
}

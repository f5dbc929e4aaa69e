package master_test

import (
	"errors"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestContactDue: the rule a shell follows on each poll.
func TestContactDue(t *testing.T) {
	for _, tc := range []struct {
		name         string
		onlineWithin time.Duration
		since        time.Duration // since the last recorded contact
		want         bool
	}{
		{"fresh contact, window", time.Hour, time.Minute, false},
		{"just under a quarter of the window", time.Hour, 15*time.Minute - time.Second, false},
		{"a quarter of the window", time.Hour, 15 * time.Minute, true},
		{"offline", time.Hour, 2 * time.Hour, true},
		{"no window, fresh", 0, time.Minute, false},
		{"no window, old", 0, master.DefaultContactEvery, true},
		{"clock stepped back", time.Hour, -time.Minute, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := master.New(master.Config{Policy: "first-fit", OnlineWithin: tc.onlineWithin})
			alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
			for _, c := range []master.Command{
				master.AddPerson{By: model.Admin, ID: "alice"},
				master.RegisterComputer{By: alice, ID: "COMP-0"},
				master.Contact{By: computerActor("COMP-0"), ComputerID: "COMP-0"},
			} {
				if _, _, err := s.Apply(t0, c); err != nil {
					t.Fatal(err)
				}
			}
			if got := s.ContactDue("COMP-0", t0.Add(tc.since)); got != tc.want {
				t.Errorf("ContactDue after %s = %v, want %v", tc.since, got, tc.want)
			}
			if s.ContactDue("COMP-9", t0.Add(tc.since)) {
				t.Error("ContactDue of an unknown computer")
			}
		})
	}
}

// TestContactBringsComputerBack: a computer's contact is a command: only
// the computer itself (or the admin) may apply it, its time is persisted,
// and when it brings the computer back online the requests waiting for it
// are placed there.
func TestContactBringsComputerBack(t *testing.T) {
	s := master.New(master.Config{Policy: "first-fit", OnlineWithin: time.Hour, KeepMovements: true})
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	now := t0
	apply := func(c master.Command) (master.Result, []master.Mutation, error) {
		now = now.Add(time.Second)
		return s.Apply(now, c)
	}
	for _, c := range []master.Command{
		master.AddPerson{By: model.Admin, ID: "alice"},
		master.RegisterComputer{By: alice, ID: "COMP-0"},
		master.RegisterComputer{By: alice, ID: "COMP-1"},
		master.SetCapacity{By: computerActor("COMP-0"), ComputerID: "COMP-0", Partitions: []master.PartitionSpec{{ID: "slappart0"}}},
		master.Supply{By: alice, ComputerID: "COMP-0", URL: sr, State: model.SoftwareAvailable},
	} {
		if _, _, err := apply(c); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		by   model.Actor
		id   string
		want error
	}{
		{"another computer", computerActor("COMP-1"), "COMP-0", master.ErrForbidden},
		{"a person", alice, "COMP-0", master.ErrForbidden},
		{"an unknown computer", model.Admin, "COMP-9", master.ErrNotFound},
	} {
		if _, muts, err := apply(master.Contact{By: tc.by, ComputerID: tc.id}); !errors.Is(err, tc.want) || len(muts) != 0 {
			t.Errorf("%s: Contact = %v with %d mutations, want %v and none", tc.name, err, len(muts), tc.want)
		}
	}
	now = now.Add(2 * time.Hour) // COMP-0 goes silent
	res, _, err := apply(master.Request{By: alice, Title: "web", SoftwareRelease: sr})
	if err != nil || res.Instance.Status != master.StatusPending {
		t.Fatalf("request while offline: %+v, %v", res.Instance, err)
	}
	if !s.ContactDue("COMP-0", now) {
		t.Fatal("an offline computer's poll is not due")
	}
	res, muts, err := apply(master.Contact{By: computerActor("COMP-0"), ComputerID: "COMP-0"})
	if err != nil || !res.CameBack || res.Placed != 1 {
		t.Fatalf("Contact = %+v, %v; want came back, 1 placed", res, err)
	}
	var contact time.Time
	for _, m := range muts {
		if m.Kind == master.KindComputer {
			data, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			d, err := master.DecodeEntity(m.Kind, m.Key, data)
			if err != nil {
				t.Fatal(err)
			}
			restored, err := master.Restore(s.Config(), []master.Mutation{d})
			if err != nil {
				t.Fatal(err)
			}
			c, err := restored.Computer(model.Admin, "COMP-0")
			if err != nil {
				t.Fatal(err)
			}
			contact = c.LastContact
		}
	}
	if !contact.Equal(now) {
		t.Errorf("persisted contact %s, want %s", contact, now)
	}
	if s.ContactDue("COMP-0", now.Add(time.Minute)) {
		t.Error("a poll a minute after a contact is due")
	}
	res, _, err = apply(master.Contact{By: computerActor("COMP-0"), ComputerID: "COMP-0"})
	if err != nil || res.CameBack || res.Placed != 0 {
		t.Errorf("a second contact: %+v, %v; want not came back", res, err)
	}
}

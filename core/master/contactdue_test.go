package master_test

import (
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestContactDueFrom: ContactDue holds exactly from ContactDueFrom on,
// with or without an online window, and moves with each contact.
func TestContactDueFrom(t *testing.T) {
	for _, window := range []time.Duration{0, time.Minute, time.Hour} {
		s := master.New(master.Config{Policy: "first-fit", OnlineWithin: window})
		alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
		for _, c := range []master.Command{
			master.AddPerson{By: model.Admin, ID: "alice"},
			master.RegisterComputer{By: alice, ID: "COMP-0"},
		} {
			if _, _, err := s.Apply(t0, c); err != nil {
				t.Fatal(err)
			}
		}
		for contact := range 3 {
			at := t0.Add(time.Duration(contact) * 7 * time.Minute)
			if _, _, err := s.Apply(at, master.Contact{By: computerActor("COMP-0"), ComputerID: "COMP-0"}); err != nil {
				t.Fatal(err)
			}
			from, ok := s.ContactDueFrom("COMP-0")
			if !ok || !from.After(at) {
				t.Fatalf("window %v: ContactDueFrom after a contact at %v = %v, %v", window, at, from, ok)
			}
			for _, d := range []time.Duration{-time.Minute, 0, time.Second, 14 * time.Minute, 15 * time.Minute, 2 * time.Hour, master.DefaultContactEvery} {
				now := at.Add(d)
				if got, want := s.ContactDue("COMP-0", now), !now.Before(from); got != want {
					t.Errorf("window %v: ContactDue %v after the contact = %v, but ContactDueFrom is %v after it", window, d, got, from.Sub(at))
				}
			}
		}
		if _, ok := s.ContactDueFrom("COMP-9"); ok {
			t.Error("ContactDueFrom of an unknown computer")
		}
	}
}

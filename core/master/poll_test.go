package master_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestPollReadsAsState applies random command sequences with contacts and
// computers destroyed (and registered again) among them, keeping one Poll
// per computer id as a shell does (another once Of is false): while Of
// holds, the Poll answers as the State's lookups by id.
func TestPollReadsAsState(t *testing.T) {
	destroyed := 0
	for _, window := range []time.Duration{0, 10 * time.Minute, time.Hour} {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("window=%v/seed=%d", window, seed), func(t *testing.T) {
				s := master.New(master.Config{Policy: "random", OnlineWithin: window})
				g := newCommandGen(t, s, seed+3000)
				polls := map[string]master.Poll{}
				for step := range 400 {
					now, cmd := g.next(step)
					switch id := g.pick(g.comps); g.r.IntN(6) {
					case 0:
						cmd = master.Contact{By: computerActor(id), ComputerID: id}
					case 1:
						cmd = master.DestroyComputer{By: model.Admin, ID: id}
					}
					if cmd == nil {
						continue
					}
					res, _, err := s.Apply(now, cmd)
					if err != nil {
						continue
					}
					g.applied(res)
					if _, ok := cmd.(master.DestroyComputer); ok {
						destroyed++
					}
					for _, id := range g.comps {
						p, kept := polls[id]
						if !kept || !p.Of(s) {
							if p, kept = s.Poll(id); !kept {
								if _, ok := s.ViewVersion(id); ok {
									t.Fatalf("step %d: no Poll of %s, a registered computer", step, id)
								}
								delete(polls, id)
								continue
							}
							polls[id] = p
						}
						if want, _ := s.ViewVersion(id); p.ViewVersion() != want {
							t.Fatalf("step %d: after %s, the Poll of %s reads view version %d, the State %d",
								step, cmd.CommandName(), id, p.ViewVersion(), want)
						}
						for _, d := range []time.Duration{-time.Minute, 0, time.Second, window / 4, window, 2 * window, master.DefaultContactEvery} {
							if got, want := p.ContactDue(now.Add(d)), s.ContactDue(id, now.Add(d)); got != want {
								t.Fatalf("step %d: after %s, the Poll of %s says a contact %v later is due: %v, the State %v",
									step, cmd.CommandName(), id, d, got, want)
							}
						}
					}
				}
			})
		}
	}
	if destroyed == 0 {
		t.Error("no computer was destroyed: the sequences do not test a Poll outliving its computer")
	}
}

// TestPollOf: a Poll reads only the computer it was got for, in the State
// that gave it.
func TestPollOf(t *testing.T) {
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	leader := master.New(master.Config{Policy: "first-fit", OnlineWithin: time.Hour})
	follower := master.New(master.Config{Policy: "first-fit", OnlineWithin: time.Hour})
	now := t0
	apply := func(c master.Command) {
		t.Helper()
		now = now.Add(time.Minute)
		_, muts, err := leader.Apply(now, c)
		if err != nil {
			t.Fatal(err)
		}
		if err := follower.ApplyPersisted(muts); err != nil {
			t.Fatal(err)
		}
	}
	apply(master.AddPerson{By: model.Admin, ID: "alice"})
	apply(master.RegisterComputer{By: alice, ID: "COMP-0"})
	if _, ok := leader.Poll("COMP-9"); ok {
		t.Error("a Poll of a computer not registered")
	}
	if (master.Poll{}).Of(leader) {
		t.Error("the zero Poll is of a State")
	}
	lp, ok := leader.Poll("COMP-0")
	fp, fok := follower.Poll("COMP-0")
	if !ok || !fok || !lp.Of(leader) || !fp.Of(follower) {
		t.Fatalf("Polls of COMP-0: leader %v, follower %v: not of their States", ok, fok)
	}
	if lp.Of(follower) || fp.Of(leader) {
		t.Error("a Poll is of another State")
	}
	apply(master.Supply{By: alice, ComputerID: "COMP-0", URL: sr, State: model.SoftwareAvailable})
	if want, _ := follower.ViewVersion("COMP-0"); fp.ViewVersion() != want || lp.ViewVersion() != want {
		t.Errorf("after a change, the Polls read view versions %d (leader) and %d (follower), want %d",
			lp.ViewVersion(), fp.ViewVersion(), want)
	}
	apply(master.Supply{By: alice, ComputerID: "COMP-0", URL: sr, State: model.SoftwareDestroyed})
	apply(master.DestroyComputer{By: alice, ID: "COMP-0"})
	apply(master.RegisterComputer{By: alice, ID: "COMP-0"})
	if lp.Of(leader) || fp.Of(follower) {
		t.Errorf("Polls of a destroyed computer still of their States (leader %v, follower %v), after one with its id registered",
			lp.Of(leader), fp.Of(follower))
	}
	if p, ok := leader.Poll("COMP-0"); !ok || !p.Of(leader) {
		t.Error("no Poll of the computer registered again")
	}
}

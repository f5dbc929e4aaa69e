package master_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// asStored encodes and decodes mutations as a store writes and reads them
// back, so that the follower gets values of its own, as from a database.
func asStored(t *testing.T, muts []master.Mutation) []master.Mutation {
	t.Helper()
	out := make([]master.Mutation, 0, len(muts))
	for _, m := range muts {
		if m.Delete {
			out = append(out, master.Mutation{Kind: m.Kind, Key: m.Key, Delete: true})
			continue
		}
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := master.DecodeEntity(m.Kind, m.Key, data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestApplyPersistedEqualsRestore: a follower applying each commit's
// entities in place (ApplyPersisted) holds, after a mixed random workload,
// the state a fresh load of every persisted entity gives: the same
// entities, the same pending queue, views, usage, capacity and answers to
// the queries the API serves.
func TestApplyPersistedEqualsRestore(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			// With a price policy: the recent demand it reads is kept
			// by the follower too (a promoted follower quotes alike).
			pricing := market.Curve{Kind: market.Auction, Base: 1, Gain: 2, Max: 4, Horizon: time.Hour}
			leader := master.New(master.Config{Policy: "random", KeepMovements: true, EventHistory: 4,
				Pricing: &pricing, DemandWindow: 10 * time.Minute})
			g := newCommandGen(t, leader, seed)
			db := map[string]master.Mutation{} // the database: the last write of each entity
			for _, m := range asStored(t, leader.Snapshot()) {
				db[string(m.Kind)+"\x00"+m.Key] = m
			}
			follower, err := master.Restore(leader.Config(), slices.Collect(maps.Values(db)))
			if err != nil {
				t.Fatal(err)
			}
			var last time.Time
			for step := range 400 {
				now, cmd := g.next(step)
				last = now
				// Commands the generator does not draw: destructions,
				// revocations, keyed commands.
				switch g.r.IntN(12) {
				case 0:
					cmd = master.DestroyComputer{By: model.Admin, ID: g.pick(g.comps)}
				case 1:
					cmd = master.RevokeCertificate{By: model.Admin, Serial: fmt.Sprintf("%x", step), Identity: g.persons[0]}
				case 2:
					cmd = master.AddPerson{By: model.Admin}
				case 3:
					cmd = master.DestroyPerson{By: model.Admin, ID: fmt.Sprintf("PERSON-%d", 1+g.r.IntN(3))}
				}
				if cmd == nil {
					continue
				}
				var res master.Result
				var muts []master.Mutation
				if g.r.IntN(4) == 0 {
					res, muts, err = leader.ApplyOnce(now, fmt.Sprintf("k%d", g.r.IntN(20)), cmd)
				} else {
					res, muts, err = leader.Apply(now, cmd)
				}
				if err != nil {
					continue
				}
				g.applied(res)
				commit := asStored(t, muts)
				for _, m := range commit {
					k := string(m.Kind) + "\x00" + m.Key
					if m.Delete {
						delete(db, k)
					} else {
						db[k] = m
					}
				}
				if err := follower.ApplyPersisted(commit); err != nil {
					t.Fatalf("step %d: %s: %v", step, cmd.CommandName(), err)
				}
				// The follower's instances are replaced by those it reads.
				if err := follower.CheckInstanceIn(); err != nil {
					t.Fatalf("step %d: after %s: %v", step, cmd.CommandName(), err)
				}
				if step%40 == 39 {
					compareStates(t, step, last, follower, db)
				}
			}
			compareStates(t, -1, last, follower, db)
			// The follower keeps deciding as the leader does.
			if got, want := mustJSON(t, follower.Snapshot()), mustJSON(t, leader.Snapshot()); got != want {
				t.Fatal("the follower's entities differ from the leader's")
			}
		})
	}
}

// compareStates compares a follower with a fresh load of db.
func compareStates(t *testing.T, step int, now time.Time, follower *master.State, db map[string]master.Mutation) {
	t.Helper()
	fresh, err := master.Restore(follower.Config(), slices.Collect(maps.Values(db)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := stateAnswers(t, now, follower), stateAnswers(t, now, fresh); got != want {
		t.Fatalf("step %d: the follower differs from a fresh load:\nfollower: %.2000s\nfresh:    %.2000s", step, got, want)
	}
}

// stateAnswers is a state as its readers see it at now, in JSON: its
// entities, pending queue, views, usage, capacity, remembered keys, market
// and the answers to the queries the API serves. Equal states give equal
// answers.
func stateAnswers(t *testing.T, now time.Time, s *master.State) string {
	t.Helper()
	type answers struct {
		Snapshot  []master.Mutation
		Pending   []master.PendingInfo
		Views     map[string]model.ComputerView
		Usage     map[string]master.Usage
		Instances []master.InstanceInfo
		Free      int
		Busy      int
		Keys      []master.IdempotencyRecord
		Market    market.State
	}
	a := answers{Snapshot: s.Snapshot(), Pending: s.Pending(), Views: map[string]model.ComputerView{},
		Usage: map[string]master.Usage{}, Instances: s.Instances(model.Admin, true), Keys: s.IdempotencyRecords(),
		Market: s.MarketState(now, "")}
	for _, id := range s.ComputerIDs() {
		v, err := s.ComputerView(id)
		if err != nil {
			t.Fatal(err)
		}
		a.Views[id] = v
	}
	for _, p := range s.Persons() {
		a.Usage[p.ID] = s.Usage(p.ID)
	}
	a.Free, a.Busy = s.Capacity()
	return mustJSON(t, a)
}

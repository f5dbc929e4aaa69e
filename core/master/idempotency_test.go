package master_test

import (
	"errors"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestApplyOnce: a command sent again under its idempotency key is answered
// with the first result and applied once, also after a restore (another
// master, a restart); another command under the key is a conflict; a key
// is forgotten after IdempotencyKeyTTL.
func TestApplyOnce(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := master.New(master.DefaultConfig())
	add := master.AddPerson{By: model.Admin, Name: "Alice"}
	first, muts, err := s.ApplyOnce(now, "k1", add)
	if err != nil {
		t.Fatal(err)
	}
	if first.Replayed || first.Person == nil || first.Person.ID != "PERSON-1" {
		t.Fatalf("first call = %+v", first)
	}
	var recorded bool
	for _, m := range muts {
		recorded = recorded || m.Kind == master.KindIdempotency
	}
	if !recorded {
		t.Fatal("the first call recorded no idempotency entity: a take-over would forget the key")
	}

	// Another master (or this one, restarted) restores the persisted state.
	restored, err := master.Restore(master.DefaultConfig(), s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*master.State{"same state": s, "restored": restored} {
		again, muts, err := st.ApplyOnce(now.Add(time.Minute), "k1", add)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !again.Replayed || again.Changed || len(muts) != 0 || again.Person == nil || again.Person.ID != "PERSON-1" {
			t.Errorf("%s: repeated key = %+v, %d mutations; want the first result replayed, nothing applied", name, again, len(muts))
		}
		if n := len(st.Persons()); n != 1 {
			t.Errorf("%s: %d persons after a repeated key, want 1", name, n)
		}
		// The same key for another command is refused.
		if _, _, err := st.ApplyOnce(now.Add(time.Minute), "k1", master.AddPerson{By: model.Admin, Name: "Bob"}); !errors.Is(err, master.ErrConflict) {
			t.Errorf("%s: key reused for another command = %v, want a conflict", name, err)
		}
		// Keys belong to their identity: another actor's key does not collide.
		alice := model.Actor{Kind: model.KindPerson, ID: "PERSON-1"}
		if _, _, err := st.ApplyOnce(now.Add(time.Minute), "k1", master.Supply{By: alice, ComputerID: "COMP-0", URL: "https://x/y.cfg"}); errors.Is(err, master.ErrConflict) {
			t.Errorf("%s: alice's key k1 collided with the admin's: %v", name, err)
		}
	}

	// A failed command records nothing: sent again, it is applied again.
	if _, _, err := s.ApplyOnce(now, "k2", master.AddPerson{By: model.Admin, ID: "PERSON-1"}); !errors.Is(err, master.ErrConflict) {
		t.Fatalf("adding an existing id = %v, want a conflict", err)
	}
	if len(s.IdempotencyRecords()) != 1 {
		t.Errorf("a failed command was recorded: %+v", s.IdempotencyRecords())
	}

	// After the TTL the key is forgotten (pruned by the next keyed command)
	// and the command applies again.
	later := now.Add(master.IdempotencyKeyTTL + time.Second)
	res, muts, err := s.ApplyOnce(later, "k1", add)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed || res.Person.ID != "PERSON-2" {
		t.Errorf("expired key = %+v, want a new person", res)
	}
	var pruned bool
	for _, m := range muts {
		pruned = pruned || (m.Kind == master.KindIdempotency && m.Delete)
	}
	if !pruned {
		t.Error("the expired record was not deleted from the database")
	}
	if n := len(s.IdempotencyRecords()); n != 1 {
		t.Errorf("%d keys remembered, want 1", n)
	}
}

func TestValidateIdempotencyKey(t *testing.T) {
	long := make([]byte, master.MaxIdempotencyKeyLen+1)
	for i := range long {
		long[i] = 'a'
	}
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"0123abcd-ef", true},
		{"", false},
		{"with space", false},
		{"é", false},
		{string(long), false},
	} {
		err := master.ValidateIdempotencyKey(tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateIdempotencyKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
		if err != nil && !errors.Is(err, master.ErrInvalid) {
			t.Errorf("ValidateIdempotencyKey(%q) = %v, want an ErrInvalid", tc.key, err)
		}
	}
}

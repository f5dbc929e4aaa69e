package master_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

func TestPasswordIsSetByItsPersonOrTheAdmin(t *testing.T) {
	g := newGrid(t, 0, 0)
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	if _, ok := g.s.PasswordHash("alice"); ok {
		t.Fatal("alice has a password before setting one")
	}
	g.must(master.SetPassword{By: g.alice, Person: "alice", Hash: "$argon2id$alice1"})
	if h, ok := g.s.PasswordHash("alice"); !ok || h != "$argon2id$alice1" {
		t.Fatalf("PasswordHash(alice) = %q, %v", h, ok)
	}
	g.must(master.SetPassword{By: model.Admin, Person: "bob", Hash: "$argon2id$bob"})
	for _, tc := range []struct {
		cmd  master.SetPassword
		want error
	}{
		{master.SetPassword{By: bob, Person: "alice", Hash: "x"}, master.ErrForbidden},
		{master.SetPassword{By: computerActor("COMP-0"), Person: "alice", Hash: "x"}, master.ErrForbidden},
		{master.SetPassword{By: model.Admin, Person: "carol", Hash: "x"}, master.ErrNotFound},
		{master.SetPassword{By: g.alice, Person: "alice", Hash: ""}, master.ErrInvalid},
		{master.SetPassword{By: g.alice, Person: "alice", Hash: "a b"}, master.ErrInvalid},
	} {
		if _, err := g.apply(tc.cmd); !errors.Is(err, tc.want) {
			t.Errorf("%+v: got %v, want %v", tc.cmd, err, tc.want)
		}
	}
	if h, _ := g.s.PasswordHash("alice"); h != "$argon2id$alice1" {
		t.Errorf("a refused command changed alice's hash to %q", h)
	}
	// Durable: the mutations rebuild the same credentials.
	r, err := master.Restore(master.DefaultConfig(), g.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"alice", "bob"} {
		a, _ := g.s.PasswordHash(p)
		b, _ := r.PasswordHash(p)
		if a != b {
			t.Errorf("restored hash of %s = %q, want %q", p, b, a)
		}
	}
}

func TestSignInLinkIsUsedOnceBeforeItExpires(t *testing.T) {
	g := newGrid(t, 0, 0)
	exp := g.now.Add(time.Hour)
	if _, err := g.apply(master.IssueSignInLink{By: g.alice, For: g.alice, Hash: "h1", ExpiresAt: exp}); !errors.Is(err, master.ErrForbidden) {
		t.Fatalf("a person issuing a link: %v, want forbidden", err)
	}
	g.must(master.IssueSignInLink{By: model.Admin, For: g.alice, Hash: "h1", ExpiresAt: exp})
	if _, err := g.apply(master.UseSignInLink{By: g.alice, Hash: "h2"}); !errors.Is(err, master.ErrForbidden) {
		t.Fatalf("a wrong digest: %v, want forbidden", err)
	}
	res := g.must(master.UseSignInLink{By: g.alice, Hash: "h1"})
	if res.Person == nil || res.Person.ID != "alice" {
		t.Fatalf("using the link returned %+v", res)
	}
	if _, err := g.apply(master.UseSignInLink{By: g.alice, Hash: "h1"}); !errors.Is(err, master.ErrForbidden) {
		t.Fatalf("the link used twice: %v, want forbidden", err)
	}
	g.must(master.IssueSignInLink{By: model.Admin, For: g.alice, Hash: "h3", ExpiresAt: g.now.Add(2 * time.Second)})
	g.now = g.now.Add(time.Minute)
	if _, err := g.apply(master.UseSignInLink{By: g.alice, Hash: "h3"}); !errors.Is(err, master.ErrForbidden) {
		t.Fatalf("an expired link: %v, want forbidden", err)
	}
}

func TestRequestRefusalsNameTheirField(t *testing.T) {
	g := newGrid(t, 1, 1)
	for _, tc := range []struct {
		req   master.Request
		field string
	}{
		{master.Request{By: g.alice, Title: "", SoftwareRelease: sr}, master.FieldTitle},
		{master.Request{By: g.alice, Title: "a", SoftwareRelease: "not a url"}, master.FieldSoftwareRelease},
		{master.Request{By: g.alice, Title: "a", SoftwareRelease: sr, SLA: map[string]string{"colour": "red"}}, master.FieldSLA},
		{master.Request{By: g.alice, Title: "a", SoftwareRelease: sr, State: "paused"}, master.FieldState},
	} {
		_, err := g.apply(tc.req)
		if !errors.Is(err, master.ErrInvalid) || master.ErrorField(err) != tc.field {
			t.Errorf("%+v: got %v (field %q), want invalid %s", tc.req, err, master.ErrorField(err), tc.field)
		}
	}
}

func TestRequestableSoftwareIsOnOpenOrOwnComputers(t *testing.T) {
	g := newGrid(t, 1, 1)
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	closed := model.ScopeClosed
	g.must(master.RegisterComputer{By: g.alice, ID: "COMP-closed", Scope: closed})
	g.must(master.Supply{By: g.alice, ComputerID: "COMP-closed", URL: "https://example.org/private.cfg", State: model.SoftwareAvailable})
	if got, want := g.s.RequestableSoftware(g.alice), []string{"https://example.org/hello/software.cfg", "https://example.org/private.cfg"}; !reflect.DeepEqual(got, want) {
		t.Errorf("alice may request %v, want %v", got, want)
	}
	if got, want := g.s.RequestableSoftware(bob), []string{sr}; !reflect.DeepEqual(got, want) {
		t.Errorf("bob may request %v, want %v", got, want)
	}
}

func TestTheAdminMaySignInWithALink(t *testing.T) {
	g := newGrid(t, 0, 0)
	g.must(master.AddPerson{By: model.Admin, ID: "admin"}) // a person may bear the admin's id
	g.must(master.IssueSignInLink{By: model.Admin, For: model.Admin, Hash: "ha", ExpiresAt: g.now.Add(time.Hour)})
	personAdmin := model.Actor{Kind: model.KindPerson, ID: "admin"}
	if _, err := g.apply(master.UseSignInLink{By: personAdmin, Hash: "ha"}); !errors.Is(err, master.ErrForbidden) {
		t.Fatalf("the person named admin used the admin's link: %v", err)
	}
	g.must(master.UseSignInLink{By: model.Admin, Hash: "ha"})
	if _, err := g.apply(master.IssueSignInLink{By: model.Admin, For: computerActor("COMP-0"), Hash: "h", ExpiresAt: g.now.Add(time.Hour)}); !errors.Is(err, master.ErrInvalid) {
		t.Fatalf("a link for a computer: %v, want invalid", err)
	}
}

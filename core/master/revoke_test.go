package master_test

import (
	"errors"
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

func TestRevokeCertificate(t *testing.T) {
	g := newGrid(t, 1, 1)
	bob := model.Actor{Kind: model.KindPerson, ID: "bob"}
	g.must(master.AddPerson{By: model.Admin, ID: "bob"})
	issued := g.now
	if err := g.s.CertificateRefused("a1", g.alice, issued); err != nil {
		t.Fatalf("a valid certificate is refused: %v", err)
	}
	// Bob may not revoke Alice's certificate; Alice may.
	if _, err := g.apply(master.RevokeCertificate{By: bob, Serial: "A1", Identity: g.alice}); !errors.Is(err, master.ErrForbidden) {
		t.Errorf("bob revoking alice's certificate = %v, want forbidden", err)
	}
	for _, bad := range []string{"", "xyz", "0x", "12:zz"} {
		if _, err := g.apply(master.RevokeCertificate{By: model.Admin, Serial: bad, Identity: g.alice}); !errors.Is(err, master.ErrInvalid) {
			t.Errorf("serial %q = %v, want invalid", bad, err)
		}
	}
	res := g.must(master.RevokeCertificate{By: g.alice, Serial: "00:A1", Identity: g.alice, Reason: "laptop lost"})
	if !res.Changed {
		t.Error("the first revocation changed nothing")
	}
	if err := g.s.CertificateRefused("a1", g.alice, issued); !errors.Is(err, master.ErrForbidden) {
		t.Errorf("revoked certificate: %v, want refused", err)
	}
	if err := g.s.CertificateRefused("a2", g.alice, issued); err != nil {
		t.Errorf("another certificate of alice is refused: %v", err)
	}
	if res := g.must(master.RevokeCertificate{By: model.Admin, Serial: "a1", Identity: g.alice}); res.Changed {
		t.Error("revoking twice changed something")
	}
	// The revocations survive a restart.
	st, err := master.Restore(master.DefaultConfig(), g.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CertificateRefused("a1", g.alice, issued); err == nil {
		t.Error("after a restart the revoked certificate is accepted")
	}
	if got := st.Revocations(); len(got) != 1 || got[0].Serial != "a1" || got[0].Reason != "laptop lost" {
		t.Errorf("Revocations after restart = %+v", got)
	}
}

func TestDestroyIdentitiesRefusesTheirCertificates(t *testing.T) {
	g := newGrid(t, 1, 1)
	comp := computerActor("COMP-0")
	inst := g.request("web", nil)
	instActor := model.Actor{Kind: model.KindInstance, ID: inst.GUID}
	issued := g.now
	for _, who := range []model.Actor{g.alice, comp, instActor, model.Admin} {
		if err := g.s.CertificateRefused("1", who, issued); err != nil {
			t.Fatalf("%s: %v", who, err)
		}
	}
	// Nothing that still holds something can be destroyed.
	if _, err := g.apply(master.DestroyComputer{By: g.alice, ID: "COMP-0"}); !errors.Is(err, master.ErrConflict) {
		t.Errorf("destroying a computer hosting an instance = %v, want conflict", err)
	}
	if _, err := g.apply(master.DestroyPerson{By: model.Admin, ID: "alice"}); !errors.Is(err, master.ErrConflict) {
		t.Errorf("destroying a person owning a computer = %v, want conflict", err)
	}
	if _, err := g.apply(master.DestroyPerson{By: g.alice, ID: "alice"}); !errors.Is(err, master.ErrForbidden) {
		t.Errorf("a person destroying a person = %v, want forbidden", err)
	}
	// The instance destroyed: its certificate is refused.
	g.must(master.Request{By: g.alice, Title: "web", SoftwareRelease: sr, State: model.StateDestroyed})
	if err := g.s.CertificateRefused("1", instActor, issued); err == nil {
		t.Error("the certificate of a destroyed instance is accepted")
	}
	g.must(master.PartitionDestroyed{By: comp, ComputerID: "COMP-0", PartitionID: "slappart0"})
	g.must(master.DestroyComputer{By: g.alice, ID: "COMP-0"})
	if err := g.s.CertificateRefused("1", comp, issued); err == nil {
		t.Error("the certificate of a destroyed computer is accepted")
	}
	g.must(master.DestroyPerson{By: model.Admin, ID: "alice"})
	if err := g.s.CertificateRefused("1", g.alice, issued); err == nil {
		t.Error("the certificate of a destroyed person is accepted")
	}
	// A person of the same id added again: the old certificate stays
	// refused, a new one is accepted.
	g.must(master.AddPerson{By: model.Admin, ID: "alice"})
	if err := g.s.CertificateRefused("1", g.alice, issued); err == nil {
		t.Error("a certificate issued before the destruction is accepted for the new alice")
	}
	if err := g.s.CertificateRefused("2", g.alice, g.now); err != nil {
		t.Errorf("a certificate issued to the new alice is refused: %v", err)
	}
	if _, ok := g.s.ViewVersion("COMP-0"); ok {
		t.Error("the destroyed computer still has a view")
	}
	st, err := master.Restore(master.DefaultConfig(), g.s.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CertificateRefused("1", g.alice, issued); err == nil {
		t.Error("after a restart the old certificate of alice is accepted")
	}
}

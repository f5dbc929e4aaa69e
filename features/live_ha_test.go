package features_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/livebackend"
	"github.com/slapgo/slapgo/internal/pgtest"
)

// TestLiveTwoMastersLeaderKilled: two masters on one PostgreSQL database,
// real node agents whose master_url lists both. The leader is SIGKILLed
// twice (the first one back as a follower in between): requests keep
// being answered, the nodes keep converging, and every instance requested
// runs once.
func TestLiveTwoMastersLeaderKilled(t *testing.T) {
	bin, root, keep, privileged := liveSetup(t)
	pg := pgtest.Start(t)
	ctx := context.Background()
	b, err := livebackend.New(ctx, livebackend.Config{Binary: bin, Dir: filepath.Join(root, "ha"), Keep: keep,
		Privileged: privileged, Net: 64 + (os.Getpid()+1)%128, Postgres: pg.NewDatabase(t), Masters: 2,
		Log: func(format string, args ...any) { t.Logf("live: "+format, args...) }})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	alice := backend.Person("alice")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.AddPerson(ctx, backend.Admin, "alice"))
	url, err := b.DefineSoftware(ctx, backend.SoftwareSpec{Name: "hello"})
	must(err)
	for _, id := range []string{"COMP-1", "COMP-2"} {
		must(b.RegisterComputer(ctx, alice, backend.ComputerSpec{ID: id, Owner: "alice", Partitions: 3}))
		must(b.Supply(ctx, alice, id, url, model.SoftwareAvailable))
	}
	request := func(title string) {
		t.Helper()
		_, err := b.Request(ctx, alice, backend.RequestSpec{Title: title, SoftwareRelease: url})
		must(err)
	}
	request("one")
	request("two")
	must(b.Converge(ctx, 3*time.Minute))
	for round := range 2 {
		must(b.CutMaster(ctx)) // the leader
		request(fmt.Sprintf("after-kill-%d-a", round))
		request(fmt.Sprintf("after-kill-%d-b", round))
		must(b.Converge(ctx, 3*time.Minute))
		must(b.RestoreMaster(ctx)) // back, as a follower
	}
	insts, err := b.Instances(ctx, alice)
	must(err)
	running := map[string]int{}
	for _, id := range []string{"COMP-1", "COMP-2"} {
		n, err := b.Node(ctx, id)
		must(err)
		for _, p := range n.Partitions {
			if p.InstanceGUID != "" && p.Running {
				running[p.InstanceGUID]++
			}
		}
	}
	if len(insts) != 6 {
		t.Errorf("%d instances, want 6", len(insts))
	}
	for _, in := range insts {
		if running[in.GUID] != 1 {
			t.Errorf("instance %s (%s) runs in %d partitions, want 1", in.GUID, in.Title, running[in.GUID])
		}
	}
}

package clusterbackend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/clusterbackend"
	"github.com/slapgo/slapgo/internal/testenv"
)

// TestBackend drives the adapter through the Backend interface on one
// grid: what the scenarios rely on (classified refusals, convergence, the
// node's own view, crashes, rebuilds, cuts, promises) holds on containers.
func TestBackend(t *testing.T) {
	testenv.Short(t, "the cluster backend runs containers")
	testenv.HoldHostNetwork(t) // its containers' interfaces come and go on the host
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pool, err := clusterbackend.NewPool(ctx, clusterbackend.PoolConfig{Binary: os.Getenv("SLAPGO_BIN"), Logf: t.Logf})
	if errors.Is(err, cluster.ErrNoDocker) || errors.Is(err, cluster.ErrNoBusybox) {
		testenv.Missing(t, "cluster backend: "+err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pool.Close(); err != nil {
			t.Error(err)
		}
	})
	b, err := pool.New(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	var be backend.Backend = b
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containers' output:\n%s", b.Cluster().Logs(context.Background(), 40))
		}
		be.Close()
	})
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	converge := func(what string) {
		t.Helper()
		began := time.Now()
		must(what, be.Converge(ctx, 2*time.Minute))
		t.Logf("%s: converged in %v", what, time.Since(began).Round(100*time.Millisecond))
	}
	alice := backend.Person("alice")
	must("add alice", be.AddPerson(ctx, backend.Admin, "alice"))
	if err := be.AddPerson(ctx, alice, "mallory"); !errors.Is(err, backend.ErrRefused) {
		t.Fatalf("a person adding a person: %v, expected a refusal", err)
	}
	must("register COMP-1", be.RegisterComputer(ctx, alice, backend.ComputerSpec{ID: "COMP-1", Owner: "alice", Partitions: 3}))
	good, err := be.DefineSoftware(ctx, backend.SoftwareSpec{Name: "hello"})
	must("define hello", err)
	broken, err := be.DefineSoftware(ctx, backend.SoftwareSpec{Name: "broken", Defect: backend.DefectUnknownRecipe})
	must("define broken", err)
	must("supply hello", be.Supply(ctx, alice, "COMP-1", good, model.SoftwareAvailable))
	must("supply broken", be.Supply(ctx, alice, "COMP-1", broken, model.SoftwareAvailable))
	web, err := be.Request(ctx, alice, backend.RequestSpec{Title: "web", SoftwareRelease: good, State: model.StateStarted})
	must("request web", err)
	if _, err := be.Request(ctx, alice, backend.RequestSpec{Title: "bad", SoftwareRelease: good, SLA: map[string]string{"regoin": "jp"}}); !errors.Is(err, backend.ErrInvalid) {
		t.Fatalf("an unknown SLA key: %v, expected invalid input", err)
	}
	converge("deployed")

	sw, err := be.Software(ctx, "COMP-1")
	must("software", err)
	states := map[string]model.SoftwareState{}
	for _, s := range sw {
		states[s.URL] = s.Reported
	}
	if states[good] != model.SoftwareReadyAvailable || states[broken] != model.SoftwareError {
		t.Fatalf("software reported %v: expected hello available and broken in error", states)
	}
	web, err = be.Instance(ctx, alice, web.GUID)
	must("read web", err)
	if web.ReportedState != model.ReportedStarted || web.Connection["url"] == "" {
		t.Fatalf("web is %q with connection %v", web.ReportedState, web.Connection)
	}
	if _, err := cluster.Fetch(ctx, web.Connection["url"]); err != nil {
		t.Fatalf("web's URL: %v", err)
	}
	runs := func(want bool) {
		t.Helper()
		st, err := be.Node(ctx, "COMP-1")
		must("node state", err)
		p, ok := st.Partition(web.PartitionID)
		if !ok || p.InstanceGUID != web.GUID || p.Running != want || (want && p.AppliedVersion != web.Version) {
			t.Fatalf("node COMP-1 holds %+v in %s (up %v), expected %s v%d running=%v", p, web.PartitionID, st.Up, web.GUID, web.Version, want)
		}
	}
	runs(true)
	act, err := be.Activity(ctx, "COMP-1")
	must("activity", err)
	if len(act.Configurations) == 0 || act.Configurations[0].InstanceGUID != web.GUID {
		t.Fatalf("activity %+v: expected the configuration of web", act.Configurations)
	}

	// An instance reads itself with its own certificate; an impostor of it
	// is refused.
	if _, err := be.Instance(ctx, backend.Instance(web.GUID), web.GUID); err != nil {
		t.Fatalf("web reading itself: %v", err)
	}
	impostor := backend.Instance(web.GUID)
	impostor.Impostor = true
	if _, err := be.Instance(ctx, impostor, web.GUID); !errors.Is(err, backend.ErrRefused) {
		t.Fatalf("an impostor of web: %v, expected a refusal", err)
	}

	// A failing promise is reported.
	must("fail the promise", be.SetPromise(ctx, "COMP-1", web.PartitionID, true))
	must("bang", be.Bang(ctx, alice, web.GUID))
	waitReported(ctx, t, be, alice, web.GUID, model.ReportedError)
	must("heal the promise", be.SetPromise(ctx, "COMP-1", web.PartitionID, false))
	must("bang", be.Bang(ctx, alice, web.GUID))
	waitReported(ctx, t, be, alice, web.GUID, model.ReportedStarted)
	converge("promise healed")
	web, err = be.Instance(ctx, alice, web.GUID)
	must("read web", err)

	// Crash and reboot: nothing runs meanwhile, the same things after.
	must("crash", be.CrashNode(ctx, "COMP-1"))
	if err := be.CrashNode(ctx, "COMP-1"); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("crashing a crashed node: %v, expected a conflict", err)
	}
	runs(false)
	must("reboot", be.RebootNode(ctx, "COMP-1"))
	converge("rebooted")
	runs(true)

	// Cut off the master, a change waits; healed, it is applied.
	must("cut", be.CutNode(ctx, "COMP-1"))
	_, err = be.Request(ctx, alice, backend.RequestSpec{Title: "web", SoftwareRelease: good, State: model.StateStarted,
		Parameters: map[string]string{"color": "blue"}})
	must("change web", err)
	converge("cut off")
	runs(true) // the old version still runs
	must("heal", be.RestoreNode(ctx, "COMP-1"))
	converge("healed")
	web, err = be.Instance(ctx, alice, web.GUID)
	must("read web", err)
	runs(true)

	// Rebuilt with an empty disk: the same instance, version and address.
	must("wipe", be.WipeNode(ctx, "COMP-1"))
	converge("rebuilt")
	runs(true)
	again, err := be.Instance(ctx, alice, web.GUID)
	must("read web", err)
	if again.Connection["url"] != web.Connection["url"] || again.Version != web.Version {
		t.Fatalf("after the rebuild web is v%d at %s, expected v%d at %s", again.Version, again.Connection["url"], web.Version, web.Connection["url"])
	}

	// The master's outage: reads fail as unavailable, then it is back.
	must("cut the master", be.CutMaster(ctx))
	if _, err := be.Instance(ctx, alice, web.GUID); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("reading while the master is down: %v, expected unavailable", err)
	}
	must("restore the master", be.RestoreMaster(ctx))
	converge("master back")
	if err := be.SetTimings(backend.Timings{Configure: time.Second}); !errors.Is(err, backend.ErrUnsupported) {
		t.Fatalf("SetTimings: %v, expected unsupported", err)
	}
}

func waitReported(ctx context.Context, t *testing.T, be backend.Backend, as backend.Actor, guid string, want model.ReportedState) {
	t.Helper()
	err := cluster.Eventually(ctx, time.Minute, 500*time.Millisecond, func(ctx context.Context) error {
		in, err := be.Instance(ctx, as, guid)
		if err != nil {
			return err
		}
		if in.ReportedState != want {
			return fmt.Errorf("%s is reported %q (%s)", in.Title, in.ReportedState, in.ReportedError)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

package simbackend

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
)

var alice = backend.Person("alice")

// grid builds a sim with alice, the hello release supplied on COMP-1 (n
// partitions) and instances web-1..web-k requested.
func grid(t *testing.T, seed uint64, parts, instances int) (*Sim, string) {
	t.Helper()
	ctx := context.Background()
	s, err := New(Config{Seed: seed})
	must(t, err)
	url, err := s.DefineSoftware(ctx, backend.SoftwareSpec{Name: "hello"})
	must(t, err)
	must(t, s.AddPerson(ctx, backend.Admin, "alice"))
	must(t, s.RegisterComputer(ctx, alice, backend.ComputerSpec{ID: "COMP-1", Partitions: parts}))
	must(t, s.Supply(ctx, alice, "COMP-1", url, model.SoftwareAvailable))
	for i := range instances {
		_, err := s.Request(ctx, alice, backend.RequestSpec{Title: "web-" + string(rune('a'+i)), SoftwareRelease: url})
		must(t, err)
	}
	return s, url
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSameSeedSameTrace(t *testing.T) {
	run := func(seed uint64) string {
		s, _ := grid(t, seed, 4, 3)
		must(t, s.Converge(context.Background(), time.Hour))
		must(t, s.Advance(context.Background(), 3*time.Hour))
		return s.TraceHash()
	}
	a, b, c := run(1), run(1), run(2)
	if a != b {
		t.Fatalf("seed 1 gave traces %s and %s", a, b)
	}
	if a == c {
		t.Fatalf("seeds 1 and 2 gave the same trace %s: the jitter is not drawn from the seed", a)
	}
}

func TestConvergeSaysWhatIsLeft(t *testing.T) {
	ctx := context.Background()
	s, _ := grid(t, 1, 2, 0)
	slow, err := s.DefineSoftware(ctx, backend.SoftwareSpec{Name: "slow", BuildTime: 3 * time.Hour})
	must(t, err)
	must(t, s.Supply(ctx, alice, "COMP-1", slow, model.SoftwareAvailable))
	err = s.Converge(ctx, 10*time.Minute)
	if err == nil || !strings.Contains(err.Error(), "COMP-1: building") || !strings.Contains(err.Error(), "slow") {
		t.Fatalf("converge with a 3h build: %v", err)
	}
	if got := s.Now().Sub(DefaultConfig().Start); got != 10*time.Minute {
		t.Fatalf("a failed converge must end at its deadline: %s passed", got)
	}
	must(t, s.Converge(ctx, 4*time.Hour))
}

func TestMasterRestartKeepsWhatItAcknowledged(t *testing.T) {
	ctx := context.Background()
	s, url := grid(t, 1, 3, 2)
	must(t, s.Converge(ctx, time.Hour))
	inst, err := s.Request(ctx, alice, backend.RequestSpec{Title: "late", SoftwareRelease: url, Parameters: map[string]string{"a": "1"}})
	must(t, err)
	before, err := s.Instances(ctx, alice)
	must(t, err)
	must(t, s.CutMaster(ctx))
	if _, err := s.Instances(ctx, alice); !errors.Is(err, backend.ErrUnavailable) {
		t.Fatalf("during the outage: %v", err)
	}
	must(t, s.RestoreMaster(ctx))
	after, err := s.Instances(ctx, alice)
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("the restarted master differs:\nbefore %+v\nafter  %+v", before, after)
	}
	must(t, s.Converge(ctx, time.Hour))
	got, err := s.Instance(ctx, alice, inst.GUID)
	must(t, err)
	if got.ReportedState != model.ReportedStarted {
		t.Fatalf("the request acknowledged before the outage: %+v", got)
	}
}

func TestErrorClasses(t *testing.T) {
	ctx := context.Background()
	s, url := grid(t, 1, 1, 0)
	impostor := alice
	impostor.Impostor = true
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"impostor: no TLS layer", func() error { _, err := s.Instances(ctx, impostor); return err }, backend.ErrUnsupported},
		{"person adds a person", func() error { return s.AddPerson(ctx, alice, "bob") }, backend.ErrRefused},
		{"bad URL", func() error { return s.Supply(ctx, alice, "COMP-1", "ftp://x/y", model.SoftwareAvailable) }, backend.ErrInvalid},
		{"unknown computer", func() error { return s.Supply(ctx, alice, "COMP-9", url, model.SoftwareAvailable) }, backend.ErrNotFound},
		{"computer twice", func() error {
			return s.RegisterComputer(ctx, alice, backend.ComputerSpec{ID: "COMP-1", Partitions: 1})
		}, backend.ErrConflict},
		{"malformed journal", func() error {
			_, err := s.PostUsage(ctx, backend.Computer("COMP-1"), "COMP-1", []byte("<journal>"))
			return err
		}, backend.ErrInvalid},
		{"timings", func() error { return s.SetTimings(backend.Timings{Configure: 2 * time.Second}) }, nil},
		{"poll interval of running agents", func() error { return s.SetTimings(backend.Timings{PollInterval: 2 * time.Minute}) }, backend.ErrConflict},
		{"unknown node", func() error { return s.CrashNode(ctx, "COMP-9") }, backend.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.want == nil && err != nil || tt.want != nil && (!errors.Is(err, tt.want) || backend.ClassOf(err) != tt.want) {
				t.Fatalf("got %v, want class %v", err, tt.want)
			}
		})
	}
}

func TestOfflineNodeKeepsItsReports(t *testing.T) {
	ctx := context.Background()
	s, _ := grid(t, 1, 2, 1)
	must(t, s.Converge(ctx, time.Hour))
	must(t, s.CutNode(ctx, "COMP-1"))
	must(t, s.SetPromise(ctx, "COMP-1", "slappart0", true))
	must(t, s.Advance(ctx, 10*time.Minute))
	parts, err := s.Partitions(ctx, "COMP-1")
	must(t, err)
	if parts[0].ReportedState != model.ReportedStarted {
		t.Fatalf("the master cannot hear a node cut from it: %+v", parts[0])
	}
	st, err := s.Node(ctx, "COMP-1")
	must(t, err)
	if p, _ := st.Partition("slappart0"); !p.Running {
		t.Fatalf("offline, the node must keep running its instance: %+v", st)
	}
	must(t, s.RestoreNode(ctx, "COMP-1"))
	must(t, s.Converge(ctx, 10*time.Minute))
	parts, err = s.Partitions(ctx, "COMP-1")
	must(t, err)
	if parts[0].ReportedState != model.ReportedError || !strings.Contains(parts[0].ReportedError, "promise") {
		t.Fatalf("the kept report must arrive: %+v", parts[0])
	}
}

func TestCrashStopsEverythingAndKeepsTheDisk(t *testing.T) {
	ctx := context.Background()
	s, _ := grid(t, 1, 2, 2)
	must(t, s.Converge(ctx, time.Hour))
	must(t, s.CrashNode(ctx, "COMP-1"))
	st, err := s.Node(ctx, "COMP-1")
	must(t, err)
	for _, p := range st.Partitions {
		if st.Up || p.Running || p.InstanceGUID == "" {
			t.Fatalf("after a crash: %+v", st)
		}
	}
	if err := s.RebootNode(ctx, "COMP-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.RebootNode(ctx, "COMP-1"); !errors.Is(err, backend.ErrConflict) {
		t.Fatalf("rebooting a running node: %v", err)
	}
	must(t, s.WipeNode(ctx, "COMP-1"))
	st, err = s.Node(ctx, "COMP-1")
	must(t, err)
	if len(st.Software) != 0 || st.Partitions[0].InstanceGUID != "" {
		t.Fatalf("after a wipe: %+v", st)
	}
}

package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
	"github.com/slapgo/slapgo/nodeagent/config"
)

// gate is an HTTP server an instance profile downloads a file from at
// instance time: armed, it holds the download (so the configuration) until
// the test opens it.
type gate struct {
	srv     *httptest.Server
	mu      sync.Mutex
	armed   bool
	reached chan struct{}
	open    chan struct{}
}

func newGate(t *testing.T) *gate {
	g := &gate{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		armed, reached, open := g.armed, g.reached, g.open
		g.armed = false
		g.mu.Unlock()
		if armed {
			close(reached)
			<-open
		}
		fmt.Fprintln(w, "through the gate")
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// arm makes the next download wait for release; reached is closed when it
// starts.
func (g *gate) arm() (reached chan struct{}, release func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.reached, g.open = true, make(chan struct{}), make(chan struct{})
	return g.reached, func() { close(g.open) }
}

// writeGateRelease writes a software release without programs whose
// instance downloads a file through gate, then publishes its URL.
func writeGateRelease(t *testing.T, dir, gateURL string) string {
	t.Helper()
	dir = filepath.Join(dir, "gated")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	software := `[buildout]
parts = instance-profile
instance-profile = instance-profile

[instance-profile]
recipe = template
url = ${:_profile_base_location_}/instance.cfg.in
output = ${buildout:directory}/instance.cfg
`
	instance := `[buildout]
parts =
    gate
    publish-connection

[gate]
recipe = template
url = ` + gateURL + `/$${slap-connection:partition-id}
output = $${buildout:directory}/gate.txt

[publish-connection]
recipe = publish
url = http://gated.example/$${slap-connection:partition-id}/
`
	for name, text := range map[string]string{"software.cfg": software, "instance.cfg.in": instance} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return "file://" + filepath.Join(dir, "software.cfg")
}

// recordOf reads a partition's state.json as JSON fields.
func recordOf(t *testing.T, dir, id string) map[string]json.RawMessage {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "inst", id, agent.StateDir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(data, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestPublicationsAfterOutage: the master goes down while a partition is
// being configured. The configuration still succeeds; its connection
// parameters are kept in the partition's record (state.json, unpublished)
// and shown by the status; an agent started afresh once the master is back
// publishes them first, and the record forgets them.
func TestPublicationsAfterOutage(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 1})
	t.Cleanup(g.killLeftovers)
	cfg, err := config.Load(g.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	gt := newGate(t)
	p := &inProcess{g: g, clock: &testClock{}, logs: &logCount{}, sr: writeGateRelease(t, g.dir, gt.srv.URL), cfg: cfg}
	p.a = p.newAgent(t)
	ctx := context.Background()
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: p.sr, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.a.SoftwarePass(ctx, true); err != nil {
		t.Fatal(err)
	}
	inst := p.request(t, g.person, "gated", "")

	// The pass fetches the view, then the master stops while the
	// configuration waits at the gate.
	reached, release := gt.arm()
	type passResult struct {
		res agent.InstanceResult
		err error
	}
	done := make(chan passResult, 1)
	go func() {
		res, err := p.a.InstancePass(ctx)
		done <- passResult{res, err}
	}()
	select {
	case <-reached:
	case r := <-done:
		t.Fatalf("the pass ended before configuring: %+v, %v", r.res, r.err)
	case <-time.After(60 * time.Second):
		t.Fatal("the configuration never reached the gate")
	}
	listen := strings.TrimPrefix(g.url, "https://")
	g.stopMaster()
	release()
	r := <-done
	if r.err != nil || r.res.Failed() > 0 || len(r.res.Results) != 2 {
		t.Fatalf("pass during the outage: %v, results %+v: want the configuration and the start to succeed", r.err, r.res.Results)
	}
	want := fmt.Sprintf("http://gated.example/%s/", inst.PartitionID)
	rec := recordOf(t, g.dir, inst.PartitionID)
	var kept []struct {
		InstanceGUID string            `json:"instance_guid"`
		Parameters   map[string]string `json:"parameters"`
	}
	if err := json.Unmarshal(rec["unpublished"], &kept); err != nil || len(kept) != 1 ||
		kept[0].InstanceGUID != inst.GUID || kept[0].Parameters["url"] != want {
		t.Fatalf("state.json unpublished = %s (%v), want %s's url %s", rec["unpublished"], err, inst.GUID, want)
	}
	st, err := agent.ReadStatus(cfg, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Converged || len(st.Partitions) != 1 || st.Partitions[0].Unpublished != 1 {
		t.Errorf("status during the outage: converged %v, partitions %+v, waiting %q", st.Converged, st.Partitions, st.Waiting)
	}

	// The master comes back where it was; a new agent process takes over
	// from the records.
	g.serve(listen)
	p.restart(t)
	res := p.pass(t)
	for _, r := range res.Results {
		if r.Action.Kind == converge.ConfigurePartition {
			t.Errorf("the pass after the outage configured %s again: its publication is the outbox's", r.Action.PartitionID)
		}
	}
	got := p.instance(t, inst.GUID)
	if got.Connection["url"] != want || got.ReportedState != model.ReportedStarted {
		t.Errorf("after the outage the master has connection %v, state %q; want url %s, started", got.Connection, got.ReportedState, want)
	}
	if rec := recordOf(t, g.dir, inst.PartitionID); rec["unpublished"] != nil || rec["unreported"] != nil {
		t.Errorf("the record still keeps unpublished %s, unreported %s", rec["unpublished"], rec["unreported"])
	}
	if n := p.logs.count("kept connection parameters published"); n != 1 {
		t.Errorf("%d kept publications logged published, want 1", n)
	}
}

// restart replaces the agent by a new one on the same disk, as a
// restarted process.
func (p *inProcess) restart(t *testing.T) {
	t.Helper()
	p.a.Close()
	p.a = p.newAgent(t)
}

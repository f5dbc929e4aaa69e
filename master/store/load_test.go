package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// manyRows commits a state of several computers whose partitions fill
// several of Load's batches, with instances and the other kinds.
func manyRows(t *testing.T, s *SQLite) *master.State {
	t.Helper()
	st := master.New(master.DefaultConfig())
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	cmds := []master.Command{master.AddPerson{By: admin, ID: "alice"}}
	for c := range 5 {
		id := fmt.Sprintf("COMP-%d", c)
		specs := make([]master.PartitionSpec, 700)
		for p := range specs {
			specs[p] = master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p),
				Addresses: []model.Address{{Iface: "eth0", Addr: fmt.Sprintf("10.0.%d.%d", c, p)}}}
		}
		cmds = append(cmds,
			master.RegisterComputer{By: alice, ID: id, Region: "eu", Prices: model.PriceList{"hosting": 0.1}},
			master.SetCapacity{By: model.Actor{Kind: model.KindComputer, ID: id}, ComputerID: id, Partitions: specs},
			master.Supply{By: alice, ComputerID: id, URL: softURL, State: model.SoftwareAvailable})
	}
	for i := range 1500 {
		cmds = append(cmds, master.Request{By: alice, Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: softURL,
			Parameters: map[string]string{"n": fmt.Sprint(i)}})
	}
	for i, c := range cmds {
		if _, _, err := st.Apply(t0.Add(timeStep(i)), c); err != nil {
			t.Fatalf("%s: %v", c.CommandName(), err)
		}
	}
	if err := s.Commit(context.Background(), Batch{Mutations: st.Snapshot()}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestLoadStateManyBatches: a state spread over several of Load's batches
// comes back equal, through Load then Restore and through LoadState, and
// LoadState gives the collector its settings back.
func TestLoadStateManyBatches(t *testing.T) {
	s, _ := openTemp(t)
	want := encodeSnapshot(t, manyRows(t, s))
	ents, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 3*loadBatchRows {
		t.Fatalf("%d entities fill fewer than 3 batches of %d rows: the test checks nothing", len(ents), loadBatchRows)
	}
	st, err := master.Restore(master.DefaultConfig(), ents)
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeSnapshot(t, st); !bytes.Equal(got, want) {
		t.Fatalf("Load then Restore differs from the state committed")
	}
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(percent)
	st, err = s.LoadState(context.Background(), master.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeSnapshot(t, st); !bytes.Equal(got, want) {
		t.Fatalf("LoadState differs from the state committed")
	}
	if p, l := debug.SetGCPercent(percent), debug.SetMemoryLimit(-1); p != percent || l != limit {
		t.Fatalf("after LoadState, GC percent %d and memory limit %d; want %d and %d", p, l, percent, limit)
	}
}

// TestLoadStopsOnCorruptRow: a corrupt value among many rows fails Load
// with an error naming it, and so does a cancelled context; neither hangs.
func TestLoadStopsOnCorruptRow(t *testing.T) {
	s, _ := openTemp(t)
	manyRows(t, s)
	if _, err := s.db.Exec(`UPDATE entities SET data = x'01ff' WHERE kind = 'partition' AND key = 'COMP-1/slappart5'`); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), `"COMP-1/slappart5"`) {
		t.Fatalf("Load = %v, want an error naming partition COMP-1/slappart5", err)
	}
	if _, err := s.LoadState(context.Background(), master.DefaultConfig()); err == nil {
		t.Fatal("LoadState of a corrupt database succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context = %v, want context.Canceled", err)
	}
}

func timeStep(i int) time.Duration { return time.Duration(i) * time.Millisecond }

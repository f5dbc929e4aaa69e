package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	admin  = model.Admin
	person = model.Actor{Kind: model.KindPerson, ID: "PERSON-1"}
	comp   = model.Actor{Kind: model.KindComputer, ID: "COMP-1"}
)

const softURL = "https://example.org/sr/kvm.cfg"

func openTemp(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.db")
	s, err := OpenSQLite(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// applyAll applies commands to st and commits each command's mutations.
func applyAll(t *testing.T, st *master.State, s Store, cmds ...master.Command) {
	t.Helper()
	for i, c := range cmds {
		_, muts, err := st.Apply(t0.Add(time.Duration(i)*time.Second), c)
		if err != nil {
			t.Fatalf("%s: %v", c.CommandName(), err)
		}
		if err := s.Commit(context.Background(), Batch{Mutations: muts}); err != nil {
			t.Fatalf("committing %s: %v", c.CommandName(), err)
		}
	}
}

func encodeSnapshot(t *testing.T, st *master.State) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, m := range st.Snapshot() {
		data, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", m.Kind, m.Key, data)
	}
	return b.Bytes()
}

// withoutUpgradeRecord checks that an upgraded database's snapshot holds
// the record of when destruction times began to be recorded (schema
// version 6 of SQLite, 4 of PostgreSQL, on a database holding instances),
// made by the migration just now, and returns the snapshot without it.
func withoutUpgradeRecord(t *testing.T, snap []byte) []byte {
	t.Helper()
	prefix := []byte(string(master.KindUpgrade) + " " + master.UpgradeDestructionTimes + " ")
	var out [][]byte
	found := false
	for _, line := range bytes.SplitAfter(snap, []byte("\n")) {
		if !bytes.HasPrefix(line, prefix) {
			out = append(out, line)
			continue
		}
		found = true
		var rec master.DestructionTimes
		if err := json.Unmarshal(bytes.TrimSpace(line[len(prefix):]), &rec); err != nil {
			t.Fatalf("upgrade record %q: %v", line, err)
		}
		if d := time.Since(rec.UnknownBefore); d < -time.Minute || d > 10*time.Minute {
			t.Errorf("upgrade record says destruction times are unknown before %v: not the time of the migration", rec.UnknownBefore)
		}
	}
	if !found {
		t.Error("the upgrade of a database holding instances recorded no time for destructions before it")
	}
	return bytes.Join(out, nil)
}

func sampleCommands(parts int) []master.Command {
	var specs []master.PartitionSpec
	for i := range parts {
		specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", i),
			Addresses: []model.Address{{Iface: "lo", Addr: fmt.Sprintf("10.0.0.%d", i+1)}}})
	}
	return []master.Command{
		master.AddPerson{By: admin, Name: "Alice"},
		master.RegisterComputer{By: person, ID: comp.ID, Region: "eu", Prices: model.PriceList{"hosting": 0.5}},
		master.SetCapacity{By: comp, ComputerID: comp.ID, Partitions: specs},
		master.Supply{By: person, ComputerID: comp.ID, URL: softURL, State: model.SoftwareAvailable},
		master.Request{By: person, Title: "db", SoftwareRelease: softURL, Parameters: map[string]string{"size": "10"}},
		master.Request{By: person, Title: "web", SoftwareRelease: softURL, SLA: map[string]string{"region": "eu"}},
		master.ReportPartition{By: comp, ComputerID: comp.ID, PartitionID: "slappart0", State: model.ReportedStarted},
	}
}

func TestOpenNewDatabase(t *testing.T) {
	s, _ := openTemp(t)
	v, err := s.Version(context.Background())
	if err != nil || v != SchemaVersion() {
		t.Fatalf("Version = %d, %v; want %d", v, err, SchemaVersion())
	}
	var mode string
	var syncMode int
	s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	s.db.QueryRow(`PRAGMA synchronous`).Scan(&syncMode)
	if mode != "wal" || syncMode != 2 {
		t.Errorf("journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, syncMode)
	}
	ents, err := s.Load(context.Background())
	if err != nil || len(ents) != 0 {
		t.Errorf("Load of a new database = %d entities, %v", len(ents), err)
	}
}

func TestWriteFailureStopsTheStore(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	cert := Certificate{Serial: "dup", Identity: comp, IssuedAt: t0, NotAfter: t0}
	if err := s.Commit(ctx, Batch{Certificates: []Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
	// The same serial twice violates the primary key: the write fails.
	err := s.Commit(ctx, Batch{Certificates: []Certificate{cert}})
	if err == nil || !strings.Contains(err.Error(), "must restart") {
		t.Fatalf("Commit of a failing write = %v, want a failure asking for a restart", err)
	}
	select {
	case <-s.Failed():
	default:
		t.Error("Failed() is not closed after a failed write")
	}
	if _, err := s.Submit(Batch{Certificates: []Certificate{{Serial: "other"}}}); err == nil {
		t.Error("Submit accepted a batch after a failure")
	}
}

func TestUpgradeOlderDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.db")
	old, err := openSQLite(path, Options{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	st := master.New(master.DefaultConfig())
	applyAll(t, st, old, sampleCommands(2)...)
	want := encodeSnapshot(t, st)
	if v, _ := old.Version(context.Background()); v != 1 {
		t.Fatalf("old database has version %d, want 1", v)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(path, Options{})
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	defer s.Close()
	if v, _ := s.Version(context.Background()); v != SchemaVersion() {
		t.Errorf("upgraded database has version %d, want %d", v, SchemaVersion())
	}
	ents, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st2, err := master.Restore(master.DefaultConfig(), ents)
	if err != nil {
		t.Fatal(err)
	}
	if got := withoutUpgradeRecord(t, encodeSnapshot(t, st2)); !bytes.Equal(got, want) {
		t.Error("the upgrade changed the stored state")
	}
	if err := s.Commit(context.Background(), Batch{Tokens: []Token{{Hash: "h", ComputerID: "COMP-1", CreatedAt: t0, ExpiresAt: t0}}}); err != nil {
		t.Errorf("tokens table after the upgrade: %v", err)
	}
}

func TestRefuseNewerOrForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "newer.db")
	s, err := OpenSQLite(newer, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec(`INSERT INTO schema_version (version, name, applied_at) VALUES (?, 'from the future', '')`, SchemaVersion()+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = OpenSQLite(newer, Options{})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "newer slapgo") {
		t.Errorf("Open(newer database) = %v, want ErrSchemaTooNew", err)
	}

	foreign := filepath.Join(dir, "foreign.db")
	db, err := sql.Open("sqlite3", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE accounts (id INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := OpenSQLite(foreign, Options{}); !errors.Is(err, ErrForeign) {
		t.Errorf("Open(foreign database) = %v, want ErrForeign", err)
	}
	if _, err := OpenSQLite(filepath.Join(dir, "a?b.db"), Options{}); err == nil {
		t.Error("Open accepted a path with '?'")
	}
}

// TestUpgradeRewritesJSONEntities: a database of schema version 3 holds
// every entity as JSON; opening it with this version rewrites instances and
// partitions in the binary format, and the state loaded is the same.
func TestUpgradeRewritesJSONEntities(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.db")
	old, err := openSQLite(path, Options{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := master.DefaultConfig()
	cfg.EventHistory = 0 // versions before 5 kept no event histories
	st := master.New(cfg)
	for i, c := range sampleCommands(3) {
		if _, _, err := st.Apply(t0.Add(time.Duration(i)*time.Second), c); err != nil {
			t.Fatal(err)
		}
	}
	want := encodeSnapshot(t, st)
	kinds := map[string]int{}
	for _, m := range st.Snapshot() {
		data, err := json.Marshal(m.Value) // as versions before 4 wrote every entity
		if err != nil {
			t.Fatal(err)
		}
		if _, err := old.db.Exec(`INSERT INTO entities (kind, key, data) VALUES (?, ?, ?)`, string(m.Kind), m.Key, string(data)); err != nil {
			t.Fatal(err)
		}
		kinds[string(m.Kind)]++
	}
	if kinds["instance"] == 0 || kinds["partition"] == 0 {
		t.Fatalf("sample state has %v: it needs instances and partitions", kinds)
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSQLite(path, Options{})
	if err != nil {
		t.Fatalf("upgrading: %v", err)
	}
	defer s.Close()
	rows, err := s.db.Query(`SELECT kind, key, substr(data, 1, 1) FROM entities`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var kind, key string
		var first []byte
		if err := rows.Scan(&kind, &key, &first); err != nil {
			t.Fatal(err)
		}
		binary := len(first) == 1 && first[0] != '{'
		if wantBinary := kind == "instance" || kind == "partition"; binary != wantBinary {
			t.Errorf("%s %q starts with %q after the upgrade", kind, key, first)
		}
	}
	rows.Close()
	ents, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	st2, err := master.Restore(master.DefaultConfig(), ents)
	if err != nil {
		t.Fatal(err)
	}
	if got := withoutUpgradeRecord(t, encodeSnapshot(t, st2)); !bytes.Equal(got, want) {
		t.Errorf("the upgrade changed the stored state:\n got %s\nwant %s", got, want)
	}
}

// TestDestructionTimeBeforeTheUpgrade: an instance destroyed in a database
// of schema version 4, which did not record destruction times, is given
// the time of the upgrade, the same after every restart; an instance
// destroyed after the upgrade keeps its own time.
func TestDestructionTimeBeforeTheUpgrade(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.db")
	old, err := openSQLite(path, Options{}, 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := master.DefaultConfig()
	cfg.EventHistory = 0 // version 4 kept no event histories
	st := master.New(cfg)
	applyAll(t, st, old, sampleCommands(2)...)
	applyAll(t, st, old, master.SetState{By: person, InstanceGUID: "SOFTINST-1", State: model.StateDestroyed})
	// As version 4 wrote it: no destruction time.
	for _, m := range st.Snapshot() {
		if i, ok := m.Value.(*model.Instance); ok && !i.DestroyedAt.IsZero() {
			c := *i
			c.DestroyedAt = time.Time{}
			m.Value = &c
			data, err := m.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := old.db.Exec(`UPDATE entities SET data = ? WHERE kind = ? AND key = ?`, data, string(m.Kind), m.Key); err != nil {
				t.Fatal(err)
			}
		}
	}
	noErr(t, old.Close())

	inst1 := model.Actor{Kind: model.KindInstance, ID: "SOFTINST-1"}
	inst2 := model.Actor{Kind: model.KindInstance, ID: "SOFTINST-2"}
	var first time.Time
	for restart := range 3 {
		s, err := OpenSQLite(path, Options{})
		noErr(t, err)
		loaded, err := s.LoadState(context.Background(), master.DefaultConfig())
		noErr(t, err)
		at, ok := loaded.DestroyedAt(inst1)
		if !ok || at.IsZero() {
			t.Fatalf("restart %d: no destruction time for an instance destroyed before the upgrade", restart)
		}
		if restart == 0 {
			first = at
			if d := time.Since(at); d < -time.Minute || d > 10*time.Minute {
				t.Errorf("destruction time before the upgrade = %v, want the time of the upgrade", at)
			}
			// Destroyed after the upgrade: its own time.
			destroyedAt := t0.Add(time.Hour)
			_, muts, err := loaded.Apply(destroyedAt, master.SetState{By: person, InstanceGUID: "SOFTINST-2", State: model.StateDestroyed})
			noErr(t, err)
			noErr(t, s.Commit(context.Background(), Batch{Mutations: muts}))
		} else if !at.Equal(first) {
			t.Errorf("restart %d: destruction time %v, was %v", restart, at, first)
		}
		if at2, ok := loaded.DestroyedAt(inst2); restart > 0 && (!ok || !at2.Equal(t0.Add(time.Hour))) {
			t.Errorf("restart %d: instance destroyed after the upgrade: %v %v, want %v", restart, at2, ok, t0.Add(time.Hour))
		}
		noErr(t, s.Close())
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

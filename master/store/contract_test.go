package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/pgtest"
)

// backend is one implementation of the store contract under test.
type backend struct {
	name string
	// newDB makes a new, empty database and returns its spec for Open.
	newDB func(t *testing.T) string
	// seedOld makes a database at the first schema version holding ents.
	seedOld func(t *testing.T, ents []master.Mutation) string
}

// openSpec opens spec as a master does and closes it at the end of t.
func openSpec(t *testing.T, spec string, opts Options) Store {
	t.Helper()
	s, err := Open(context.Background(), spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sqliteBackend() backend {
	return backend{
		name:  "sqlite",
		newDB: func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "master.db") },
		seedOld: func(t *testing.T, ents []master.Mutation) string {
			path := filepath.Join(t.TempDir(), "master.db")
			old, err := openSQLite(path, Options{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := old.Commit(context.Background(), Batch{Mutations: ents}); err != nil {
				t.Fatal(err)
			}
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			return path
		},
	}
}

func postgresBackend(srv *pgtest.Server) backend {
	return backend{
		name:  "postgres",
		newDB: func(t *testing.T) string { return srv.NewDatabase(t) },
		seedOld: func(t *testing.T, ents []master.Mutation) string {
			url := srv.NewDatabase(t)
			ctx := context.Background()
			old, err := openPostgres(ctx, url, Options{}, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer old.Close()
			// Version 1 has no leader table: the rows go in as that
			// version's writer put them.
			for _, m := range ents {
				data, err := m.Encode()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := old.pool.Exec(ctx, `INSERT INTO entities (kind, key, data) VALUES ($1, $2, $3)`, string(m.Kind), m.Key, data); err != nil {
					t.Fatal(err)
				}
			}
			if v, err := old.Version(ctx); err != nil || v != 1 {
				t.Fatalf("old database at version %d, %v; want 1", v, err)
			}
			return url
		},
	}
}

// TestStoreContract runs one suite against both stores: the same
// mutations, migrations and durability promise.
func TestStoreContract(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { runContract(t, sqliteBackend()) })
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t)
		runContract(t, postgresBackend(srv))
	})
}

func runContract(t *testing.T, b backend) {
	t.Run("RestartLoadsAnEqualState", func(t *testing.T) { contractRestart(t, b) })
	t.Run("GroupCommitKeepsOrder", func(t *testing.T) { contractGroupCommit(t, b) })
	t.Run("EmptyBatchIsABarrier", func(t *testing.T) { contractBarrier(t, b) })
	t.Run("CloseFlushes", func(t *testing.T) { contractCloseFlushes(t, b) })
	t.Run("TokensAndCertificates", func(t *testing.T) { contractTokens(t, b) })
	t.Run("WriteFailureStopsTheStore", func(t *testing.T) { contractWriteFailure(t, b) })
	t.Run("AcknowledgedIsVisibleToAnotherConnection", func(t *testing.T) { contractVisible(t, b) })
	t.Run("UpgradeKeepsData", func(t *testing.T) { contractUpgrade(t, b) })
	t.Run("EventHistorySurvivesRestart", func(t *testing.T) { contractEvents(t, b) })
	t.Run("BackupUnderLoadHoldsEveryAcknowledgedWrite", func(t *testing.T) { contractBackup(t, b) })
}

func loadSnapshot(t *testing.T, s Store) []byte {
	t.Helper()
	st, err := s.LoadState(context.Background(), master.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return encodeSnapshot(t, st)
}

func contractRestart(t *testing.T, b backend) {
	spec := b.newDB(t)
	s := openSpec(t, spec, Options{})
	st := master.New(master.DefaultConfig())
	applyAll(t, st, s, sampleCommands(3)...)
	// Removing a free partition must delete it from the database.
	applyAll(t, st, s, master.SetCapacity{By: comp, ComputerID: comp.ID, Partitions: []master.PartitionSpec{
		{ID: "slappart0", Addresses: []model.Address{{Iface: "lo", Addr: "10.0.0.1"}}},
		{ID: "slappart1", Addresses: []model.Address{{Iface: "lo", Addr: "10.0.0.2"}}},
	}})
	want := encodeSnapshot(t, st)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openSpec(t, spec, Options{})
	st2, err := s2.LoadState(context.Background(), master.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := encodeSnapshot(t, st2); !bytes.Equal(got, want) {
		t.Errorf("restored state differs:\n got %s\nwant %s", got, want)
	}
	if n := len(st2.Partitions(comp.ID)); n != 2 {
		t.Errorf("restored computer has %d partitions, want 2 (slappart2 was removed)", n)
	}
}

func contractGroupCommit(t *testing.T, b backend) {
	var mu sync.Mutex
	batches := 0
	spec := b.newDB(t)
	s := openSpec(t, spec, Options{OnCommit: func(n int, _ time.Duration) {
		mu.Lock()
		batches += n
		mu.Unlock()
	}})
	// Writers submit under one lock, like the server does around Apply;
	// all write the same entity, so the last one submitted must win.
	var applyMu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	const writers, each = 8, 30
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				applyMu.Lock()
				counter++
				p := &model.Person{ID: "PERSON-1", Name: fmt.Sprintf("v%d", counter)}
				seq, err := s.Submit(Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: p.ID, Value: p}}})
				applyMu.Unlock()
				if err != nil {
					t.Error(err)
					return
				}
				if err := s.Wait(context.Background(), seq); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if batches != writers*each {
		t.Errorf("OnCommit saw %d batches, want %d", batches, writers*each)
	}
	s2 := openSpec(t, spec, Options{})
	ents, err := s2.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 || ents[0].Value.(*model.Person).Name != fmt.Sprintf("v%d", writers*each) {
		t.Errorf("after concurrent writes: %+v, want one person named v%d", ents, writers*each)
	}
}

func contractBarrier(t *testing.T, b backend) {
	s := openSpec(t, b.newDB(t), Options{})
	seq0, err := s.Submit(Batch{})
	if err != nil || seq0 != 0 {
		t.Fatalf("first empty Submit = %d, %v; want 0", seq0, err)
	}
	seq1, _ := s.Submit(Batch{Certificates: []Certificate{{Serial: "01", Identity: admin, IssuedAt: t0, NotAfter: t0}}})
	seq2, _ := s.Submit(Batch{})
	if seq1 != 1 || seq2 != 1 {
		t.Fatalf("sequences = %d, %d; want 1, 1", seq1, seq2)
	}
	if err := s.Wait(context.Background(), seq2); err != nil {
		t.Fatal(err)
	}
	certs, err := s.Certificates(context.Background())
	if err != nil || len(certs) != 1 {
		t.Fatalf("after the barrier: %d certificates, %v; want the one submitted before", len(certs), err)
	}
}

func contractCloseFlushes(t *testing.T, b backend) {
	spec := b.newDB(t)
	s := openSpec(t, spec, Options{})
	for i := range 20 {
		p := &model.Person{ID: fmt.Sprintf("PERSON-%d", i), Name: "x"}
		if _, err := s.Submit(Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: p.ID, Value: p}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Submit(Batch{Certificates: []Certificate{{Serial: "02"}}}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
	s2 := openSpec(t, spec, Options{})
	ents, _ := s2.Load(context.Background())
	if len(ents) != 20 {
		t.Errorf("after Close: %d entities, want 20", len(ents))
	}
}

func contractTokens(t *testing.T, b backend) {
	s := openSpec(t, b.newDB(t), Options{})
	ctx := context.Background()
	tok := Token{Hash: "abc", ComputerID: "COMP-1", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	cert := Certificate{Serial: "0a1b", Identity: comp, IssuedAt: t0, NotAfter: t0.Add(time.Hour)}
	if err := s.Commit(ctx, Batch{Tokens: []Token{tok}, Certificates: []Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
	used := tok
	used.UsedAt = t0.Add(time.Minute)
	if err := s.Commit(ctx, Batch{Tokens: []Token{used}}); err != nil {
		t.Fatal(err)
	}
	toks, err := s.Tokens(ctx)
	if err != nil || len(toks) != 1 || toks[0] != used {
		t.Errorf("Tokens = %+v, %v; want [%+v]", toks, err, used)
	}
	certs, err := s.Certificates(ctx)
	if err != nil || len(certs) != 1 || certs[0] != cert {
		t.Errorf("Certificates = %+v, %v; want [%+v]", certs, err, cert)
	}
}

func contractWriteFailure(t *testing.T, b backend) {
	spec := b.newDB(t)
	s := openSpec(t, spec, Options{})
	ctx := context.Background()
	cert := Certificate{Serial: "dup", Identity: comp, IssuedAt: t0, NotAfter: t0}
	if err := s.Commit(ctx, Batch{Certificates: []Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
	// The same serial twice violates the primary key: the write fails, and
	// the person written in the same batch is not committed.
	p := &model.Person{ID: "PERSON-LOST", Name: "x"}
	err := s.Commit(ctx, Batch{Certificates: []Certificate{cert}, Mutations: []master.Mutation{{Kind: master.KindPerson, Key: p.ID, Value: p}}})
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("Commit of a failing write = %v, want ErrFailed (the master must restart)", err)
	}
	select {
	case <-s.Failed():
	default:
		t.Error("Failed() is not closed after a failed write")
	}
	if _, err := s.Submit(Batch{Certificates: []Certificate{{Serial: "other"}}}); err == nil {
		t.Error("Submit accepted a batch after a failure")
	}
	s.Close()
	s2 := openSpec(t, spec, Options{})
	if ents, err := s2.Load(ctx); err != nil || len(ents) != 0 {
		t.Errorf("after the failed transaction the database holds %d entities (%v), want none", len(ents), err)
	}
}

func contractVisible(t *testing.T, b backend) {
	spec := b.newDB(t)
	s := openSpec(t, spec, Options{})
	ctx := context.Background()
	// A reader of its own: a follower, a backup, a restarted master.
	var reader interface {
		Load(context.Context) ([]master.Mutation, error)
		Close() error
	}
	var err error
	if IsPostgres(spec) {
		reader, err = OpenPostgres(ctx, spec, Options{})
	} else {
		reader, err = OpenSQLite(spec[len("sqlite:"):], Options{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	for i := range 20 {
		p := &model.Person{ID: fmt.Sprintf("PERSON-%02d", i), Name: "x"}
		if err := s.Commit(ctx, Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: p.ID, Value: p}}}); err != nil {
			t.Fatal(err)
		}
		ents, err := reader.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != i+1 {
			t.Fatalf("after %d acknowledged commits another connection reads %d entities", i+1, len(ents))
		}
	}
}

func contractUpgrade(t *testing.T, b backend) {
	st := master.New(master.DefaultConfig())
	var ents []master.Mutation
	for i, c := range sampleCommands(2) {
		_, muts, err := st.Apply(t0.Add(time.Duration(i)*time.Second), c)
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, muts...)
	}
	spec := b.seedOld(t, master.Compact(ents))
	s := openSpec(t, spec, Options{})
	v, err := s.Version(context.Background())
	if err != nil || v <= 1 {
		t.Fatalf("after the upgrade: version %d, %v", v, err)
	}
	if got, want := withoutUpgradeRecord(t, loadSnapshot(t, s)), encodeSnapshot(t, st); !bytes.Equal(got, want) {
		t.Errorf("the upgrade changed the stored state:\n got %s\nwant %s", got, want)
	}
	// And the upgraded database takes writes.
	applyAll(t, st, s, master.AddPerson{By: admin, ID: "PERSON-2", Name: "Bob"})
	if got, want := withoutUpgradeRecord(t, loadSnapshot(t, s)), encodeSnapshot(t, st); !bytes.Equal(got, want) {
		t.Errorf("after a write on the upgraded database:\n got %s\nwant %s", got, want)
	}
}

// contractEvents: an instance's event history survives a restart, and a
// database from before histories upgrades to one that starts keeping them.
func contractEvents(t *testing.T, b backend) {
	ctx := context.Background()
	st := master.New(master.DefaultConfig())
	var ents []master.Mutation
	for i, c := range sampleCommands(2) {
		_, muts, err := st.Apply(t0.Add(time.Duration(i)*time.Second), c)
		if err != nil {
			t.Fatal(err)
		}
		ents = append(ents, muts...)
	}
	// An old database has no history.
	spec := b.seedOld(t, slices.DeleteFunc(master.Compact(ents), func(m master.Mutation) bool { return m.Kind == master.KindEvents }))
	s := openSpec(t, spec, Options{})
	wantVersion := SchemaVersion()
	if _, ok := s.(*Postgres); ok {
		wantVersion = pgSchemaVersion()
	}
	if v, err := s.Version(ctx); err != nil || v != wantVersion {
		t.Fatalf("after the upgrade: version %d, %v; want %d", v, err, wantVersion)
	}
	loaded, err := s.LoadState(ctx, master.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	db, err := loaded.InstanceByTitle(person, "db")
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := loaded.InstanceEvents(person, db.GUID); err != nil || len(ev) != 0 {
		t.Fatalf("an old database's instance has %d events, %v; want none", len(ev), err)
	}
	// The instance stops, is reported stopped, starts again.
	for i, c := range []master.Command{
		master.SetState{By: person, InstanceGUID: db.GUID, State: model.StateStopped},
		master.ReportPartition{By: comp, ComputerID: comp.ID, PartitionID: db.PartitionID, State: model.ReportedStopped},
		master.SetState{By: person, InstanceGUID: db.GUID, State: model.StateStarted},
	} {
		_, muts, err := loaded.Apply(t0.Add(time.Minute+time.Duration(i)*time.Second), c)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, Batch{Mutations: muts}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := loaded.InstanceEvents(person, db.GUID)
	if err != nil || len(want) != 3 {
		t.Fatalf("%d events before the restart, %v; want 3", len(want), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := openSpec(t, spec, Options{}).LoadState(ctx, master.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	got, err := again.InstanceEvents(person, db.GUID)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after the restart: %v, %+v; want %+v", err, got, want)
	}
	for k, kind := range []master.EventKind{master.EventState, master.EventReported, master.EventState} {
		if got[k].Kind != kind || !got[k].At.Equal(t0.Add(time.Minute+time.Duration(k)*time.Second)) {
			t.Fatalf("event %d: %+v, want %s at %s", k+1, got[k], kind, t0.Add(time.Minute+time.Duration(k)*time.Second))
		}
	}
}

// contractBackup: a backup taken while writers commit holds every write
// acknowledged before the backup started; it restores into a new database
// of the same kind and into a SQLite file, and the restored state rebuilds.
func contractBackup(t *testing.T, b backend) {
	spec := b.newDB(t)
	s := openSpec(t, spec, Options{})
	ctx := context.Background()
	var acked atomic.Int64 // the highest person acknowledged (they commit in order)
	acked.Store(-1)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var applyMu sync.Mutex
		var wg sync.WaitGroup
		var next atomic.Int64
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					applyMu.Lock()
					i := next.Add(1) - 1
					p := &model.Person{ID: fmt.Sprintf("PERSON-%06d", i), Name: fmt.Sprint(i)}
					seq, err := s.Submit(Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: p.ID, Value: p}}})
					applyMu.Unlock()
					if err == nil {
						err = s.Wait(ctx, seq)
					}
					if err != nil {
						errs <- err
						return
					}
					// Batches commit in order: every person up to i is
					// durable once i is.
					for {
						cur := acked.Load()
						if cur >= i || acked.CompareAndSwap(cur, i) {
							break
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		done <- <-errs
	}()
	for acked.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	before := acked.Load()
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, backup); err != nil {
		t.Fatal(err)
	}
	after := acked.Load()
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if after == before {
		t.Logf("no write was acknowledged during the backup")
	}
	if err := s.Backup(ctx, backup); err == nil {
		t.Error("Backup overwrote an existing file")
	}
	targets := []string{b.newDB(t)}
	if IsPostgres(spec) {
		targets = append(targets, "sqlite:"+filepath.Join(t.TempDir(), "restored.db"))
	}
	for _, target := range targets {
		if err := Restore(ctx, backup, target); err != nil {
			t.Fatalf("restoring into %s: %v", target, err)
		}
		if err := Restore(ctx, backup, target); err == nil {
			t.Errorf("a second restore into %s was accepted", target)
		}
		r := openSpec(t, target, Options{})
		ents, err := r.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]string{}
		for _, m := range ents {
			have[m.Key] = m.Value.(*model.Person).Name
		}
		for i := range before + 1 {
			id := fmt.Sprintf("PERSON-%06d", i)
			if name, ok := have[id]; !ok || name != fmt.Sprint(i) {
				t.Fatalf("restored into %s: %s (acknowledged before the backup started) is %q, %v", target, id, name, ok)
			}
		}
		if int64(len(have)) < before+1 {
			t.Errorf("restored %d persons, fewer than the %d acknowledged before the backup", len(have), before+1)
		}
		if _, err := r.LoadState(ctx, master.DefaultConfig()); err != nil {
			t.Errorf("restored state does not rebuild: %v", err)
		}
		t.Logf("%s: %d acknowledged before the backup, %d after it, %d restored", target, before+1, after+1, len(have))
	}
}

// TestPostgresFencing: a master that lost the lead can never commit
// again, whether the epoch moved under it while it still believes it
// leads, or its lock session ended and another master took over.
func TestPostgresFencing(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	person := func(id string) Batch {
		p := &model.Person{ID: id, Name: id}
		return Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: id, Value: p}}}
	}
	t.Run("EpochMoved", func(t *testing.T) {
		url := srv.NewDatabase(t)
		a := openSpec(t, url, Options{})
		if err := a.Commit(ctx, person("PERSON-A1")); err != nil {
			t.Fatal(err)
		}
		admin, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `UPDATE slapgo_leader SET epoch = epoch + 1`); err != nil {
			t.Fatal(err)
		}
		err = a.Commit(ctx, person("PERSON-A2"))
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("commit of a deposed leader = %v, want ErrFenced", err)
		}
		var n int
		admin.QueryRow(ctx, `SELECT count(*) FROM entities WHERE key = 'PERSON-A2'`).Scan(&n)
		if n != 0 {
			t.Error("the deposed leader's write was committed")
		}
	})
	t.Run("LockLostAndTakenOver", func(t *testing.T) {
		url := srv.NewDatabase(t)
		a, err := OpenPostgres(ctx, url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Lead(ctx, "a", "https://a"); err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(ctx, person("PERSON-A1")); err != nil {
			t.Fatal(err)
		}
		b, err := OpenPostgres(ctx, url, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		led := make(chan error, 1)
		go func() {
			_, err := b.Lead(ctx, "b", "https://b")
			led <- err
		}()
		select {
		case err := <-led:
			t.Fatalf("b led while a held the lock: %v", err)
		case <-time.After(300 * time.Millisecond):
		}
		// a's session ends (its connection is cut): b takes over.
		admin, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted`, int64(leaderLockKey)); err != nil {
			t.Fatal(err)
		}
		if err := <-led; err != nil {
			t.Fatal(err)
		}
		if err := a.Commit(ctx, person("PERSON-A2")); !errors.Is(err, ErrFenced) {
			t.Fatalf("commit of the old leader = %v, want ErrFenced", err)
		}
		if err := b.Commit(ctx, person("PERSON-B1")); err != nil {
			t.Fatalf("the new leader cannot write: %v", err)
		}
		li, err := b.Leader(ctx)
		if err != nil || li.Holder != "b" || li.URL != "https://b" || li.Epoch != b.Epoch() {
			t.Errorf("Leader = %+v, %v; want b at epoch %d", li, err, b.Epoch())
		}
		ents, _ := b.Load(ctx)
		var keys []string
		for _, m := range ents {
			keys = append(keys, m.Key)
		}
		if fmt.Sprint(keys) != "[PERSON-A1 PERSON-B1]" && fmt.Sprint(keys) != "[PERSON-B1 PERSON-A1]" {
			t.Errorf("entities = %v, want PERSON-A1 and PERSON-B1 only", keys)
		}
	})
}

// TestPostgresMutationLog: what a follower reads: a snapshot with its
// position, then every later commit in order, announced by NOTIFY; a
// position the log was pruned past is refused.
func TestPostgresMutationLog(t *testing.T) {
	srv := pgtest.Start(t)
	ctx := context.Background()
	url := srv.NewDatabase(t)
	leader := openSpec(t, url, Options{})
	person := func(id string) Batch {
		p := &model.Person{ID: id, Name: id}
		return Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: id, Value: p}}}
	}
	noErr := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	noErr(leader.Commit(ctx, person("PERSON-1")))
	f, err := OpenPostgres(ctx, url, Options{})
	noErr(err)
	defer f.Close()
	snap, err := f.Snapshot(ctx)
	noErr(err)
	if len(snap.Entities) != 1 || snap.Seq == 0 {
		t.Fatalf("snapshot = %d entities at %d, want 1 at a position", len(snap.Entities), snap.Seq)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	notify := make(chan struct{}, 1)
	listening := make(chan error, 1)
	go func() { listening <- f.Listen(lctx, notify) }()
	// Wait until the session listens (its last statement is the LISTEN).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var n int
		noErr(f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN `+notifyChannel+`' AND state = 'idle'`).Scan(&n))
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower's session did not LISTEN within 30s")
		}
	}
	cert := Certificate{Serial: "c1", Identity: comp, IssuedAt: t0, NotAfter: t0}
	b := person("PERSON-2")
	b.Certificates = []Certificate{cert}
	noErr(leader.Commit(ctx, b))
	noErr(leader.Commit(ctx, Batch{Mutations: []master.Mutation{{Kind: master.KindPerson, Key: "PERSON-1", Delete: true}}}))
	select {
	case <-notify:
	case <-time.After(10 * time.Second):
		t.Fatal("no notification of the commits")
	}
	changes, err := f.ChangesAfter(ctx, snap.Seq, 10)
	noErr(err)
	if len(changes) != 2 {
		t.Fatalf("%d changes after the snapshot, want 2", len(changes))
	}
	c0, c1 := changes[0], changes[1]
	if c0.Seq <= snap.Seq || c1.Seq <= c0.Seq || c0.Epoch != leader.(*Postgres).Epoch() {
		t.Errorf("positions %d, %d after %d, epoch %d", c0.Seq, c1.Seq, snap.Seq, c0.Epoch)
	}
	if len(c0.Entities) != 1 || c0.Entities[0].Value.(*model.Person).ID != "PERSON-2" || len(c0.Certificates) != 1 || c0.Certificates[0] != cert {
		t.Errorf("first change = %+v", c0)
	}
	if len(c1.Entities) != 1 || !c1.Entities[0].Delete || c1.Entities[0].Key != "PERSON-1" {
		t.Errorf("second change = %+v", c1)
	}
	if more, err := f.ChangesAfter(ctx, c1.Seq, 10); err != nil || len(more) != 0 {
		t.Errorf("after the last change: %d, %v", len(more), err)
	}
	// The log pruned past a position: the follower must reload.
	_, err = f.pool.Exec(ctx, `UPDATE slapgo_leader SET log_from = $1`, c1.Seq)
	noErr(err)
	if _, err := f.ChangesAfter(ctx, snap.Seq, 10); !errors.Is(err, ErrLogTruncated) {
		t.Errorf("reading from a pruned position = %v, want ErrLogTruncated", err)
	}
	cancel()
	if err := <-listening; !errors.Is(err, context.Canceled) {
		t.Errorf("Listen after cancel = %v", err)
	}
}

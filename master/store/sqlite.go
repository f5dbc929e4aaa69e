package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // the "sqlite3" database/sql driver

	"github.com/slapgo/slapgo/core/master"
)

// SQLite is the embedded store: one SQLite file (WAL, synchronous=FULL).
type SQLite struct {
	*committer
	db      *sql.DB
	path    string
	closeDB sync.Once
}

// OpenSQLite opens (creating it if needed) the database at path, brings its
// schema up to date and starts the writer.
func OpenSQLite(path string, opts Options) (*SQLite, error) {
	return openSQLite(path, opts, SchemaVersion())
}

func openSQLite(path string, opts Options, upTo int) (*SQLite, error) {
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: database path %q: '?' and '#' are not allowed", path)
	}
	dsn := path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=on"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	// One connection: the writer is the only user once loaded, and the
	// pragmas above are per connection.
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if err := checkPragmas(ctx, db, path); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, path, upTo, time.Now()); err != nil {
		db.Close()
		return nil, err
	}
	s := &SQLite{db: db, path: path}
	s.committer = newCommitter(path, opts, s.write)
	s.start()
	return s, nil
}

func checkPragmas(ctx context.Context, db *sql.DB, path string) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return fmt.Errorf("store: opening %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("store: %s: journal_mode is %q, expected wal (is the file system local?)", path, mode)
	}
	var sync int
	if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	if sync != 2 {
		return fmt.Errorf("store: %s: synchronous is %d, expected 2 (FULL)", path, sync)
	}
	return nil
}

// Path is the database file.
func (s *SQLite) Path() string { return s.path }

// Version reads the schema version of the open database.
func (s *SQLite) Version(ctx context.Context) (int, error) {
	return currentVersion(ctx, s.db)
}

// Load reads every entity, decoded for core/master.Restore. Call it before
// the first Submit.
//
// NB: a goroutine reads the rows while the caller's decodes them: the two
// halves of a large load run on two cores.
func (s *SQLite) Load(ctx context.Context) ([]master.Mutation, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM entities`).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: loading entities from %s: %w", s.path, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	full := make(chan *rowBatch, loadBatches-1)
	free := make(chan *rowBatch, loadBatches)
	for range loadBatches {
		free <- &rowBatch{}
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		readErr <- s.readRows(ctx, full, free)
	}()
	out := make([]master.Mutation, 0, n)
	dec := master.NewEntityDecoder()
	var decodeErr error
	for b := range full {
		for i := 0; i < len(b.keys) && decodeErr == nil; i++ {
			m, err := dec.Decode(b.kinds[i], b.keys[i], b.value(i))
			if err != nil {
				decodeErr = fmt.Errorf("store: %s: %w", s.path, err)
				cancel() // the reader stops at its next batch
				break
			}
			out = append(out, m)
		}
		free <- b // never blocks: free holds every batch
	}
	if err := errors.Join(decodeErr, <-readErr); err != nil {
		return nil, err
	}
	return out, nil
}

// loadBatches is how many batches of rows a load has: one being read, one
// being decoded, one waiting.
const loadBatches = 3

// loadBatchRows is how many rows a batch holds.
const loadBatchRows = 1024

// rowBatch holds rows read from the entities table: their kinds, their keys
// and their values copied into one buffer.
type rowBatch struct {
	kinds []master.EntityKind
	keys  []string
	ends  []int // the value of row i is data[ends[i-1]:ends[i]]
	data  []byte
}

func (b *rowBatch) value(i int) []byte {
	lo := 0
	if i > 0 {
		lo = b.ends[i-1]
	}
	return b.data[lo:b.ends[i]]
}

func (b *rowBatch) reset() {
	b.kinds, b.keys, b.ends, b.data = b.kinds[:0], b.keys[:0], b.ends[:0], b.data[:0]
}

// readRows sends every entity row to full, in batches taken from free.
// Instances and partitions, nearly every row of a large state, are read
// kind by kind: the driver then makes no string of their kind.
func (s *SQLite) readRows(ctx context.Context, full chan<- *rowBatch, free <-chan *rowBatch) error {
	var b *rowBatch
	send := func() error {
		if b == nil || len(b.keys) == 0 {
			return nil
		}
		select {
		case full <- b:
			b = nil
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	queries := []struct {
		kind  master.EntityKind // "" when the query selects the kind
		query string
		args  []any
	}{
		{master.KindPartition, `SELECT key, data FROM entities WHERE kind = ?`, []any{string(master.KindPartition)}},
		{master.KindInstance, `SELECT key, data FROM entities WHERE kind = ?`, []any{string(master.KindInstance)}},
		{"", `SELECT kind, key, data FROM entities WHERE kind NOT IN (?, ?)`,
			[]any{string(master.KindPartition), string(master.KindInstance)}},
	}
	for _, q := range queries {
		err := func() error {
			rows, err := s.db.QueryContext(ctx, q.query, q.args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			// NB: raw bytes are valid until the next row: values are copied
			// into the batch. A key scanned into a string is the driver's
			// own, not copied.
			var rawKind, data sql.RawBytes
			var key string
			dest := []any{&key, &data}
			if q.kind == "" {
				dest = []any{&rawKind, &key, &data}
			}
			for rows.Next() {
				if err := rows.Scan(dest...); err != nil {
					return err
				}
				if b == nil {
					select {
					case b = <-free:
						b.reset()
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				kind := q.kind
				if kind == "" {
					kind = entityKind(rawKind)
				}
				b.kinds = append(b.kinds, kind)
				b.keys = append(b.keys, key)
				b.data = append(b.data, data...)
				b.ends = append(b.ends, len(b.data))
				if len(b.keys) == loadBatchRows {
					if err := send(); err != nil {
						return err
					}
				}
			}
			return rows.Err()
		}()
		if err != nil {
			return fmt.Errorf("store: loading entities from %s: %w", s.path, err)
		}
	}
	if err := send(); err != nil {
		return fmt.Errorf("store: loading entities from %s: %w", s.path, err)
	}
	return nil
}

// entityKind returns the kind named by b without a copy for known kinds.
func entityKind(b []byte) master.EntityKind {
	for _, k := range knownKinds {
		if string(b) == string(k) {
			return k
		}
	}
	return master.EntityKind(b)
}

var knownKinds = []master.EntityKind{master.KindInstance, master.KindPartition, master.KindComputer,
	master.KindSoftware, master.KindPerson, master.KindMovement, master.KindJournal, master.KindMeta, master.KindRevocation, master.KindCredential, master.KindEvents, master.KindIdempotency, master.KindUpgrade}

// Tokens reads every registration token (used ones included).
func (s *SQLite) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hash, computer_id, created_at, expires_at, used_at FROM tokens ORDER BY created_at`)
	if err != nil {
		return nil, fmt.Errorf("store: loading tokens from %s: %w", s.path, err)
	}
	defer rows.Close()
	return readTokens(rows)
}

// Certificates reads the records of issued certificates, oldest first.
func (s *SQLite) Certificates(ctx context.Context) ([]Certificate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT serial, kind, id, issued_at, not_after FROM certificates ORDER BY issued_at, serial`)
	if err != nil {
		return nil, fmt.Errorf("store: loading certificates from %s: %w", s.path, err)
	}
	defer rows.Close()
	return readCertificates(rows)
}

// Close flushes the queued batches, stops the writer and closes the
// database. It returns the store's failure, if any.
func (s *SQLite) Close() error {
	err := s.stop()
	s.closeDB.Do(func() { err = errors.Join(err, s.db.Close()) })
	return err
}

// write commits a group of batches in one transaction.
func (s *SQLite) write(group []entry) error {
	muts, tokens, certs := flatten(group)
	ctx := context.Background()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	upsert, err := tx.PrepareContext(ctx, `INSERT INTO entities (kind, key, data) VALUES (?, ?, ?)
		ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data`)
	if err != nil {
		return err
	}
	defer upsert.Close()
	del, err := tx.PrepareContext(ctx, `DELETE FROM entities WHERE kind = ? AND key = ?`)
	if err != nil {
		return err
	}
	defer del.Close()
	for _, m := range muts {
		if m.Kind == "" {
			continue
		}
		if m.Delete {
			if _, err := del.ExecContext(ctx, string(m.Kind), m.Key); err != nil {
				return fmt.Errorf("deleting %s %q: %w", m.Kind, m.Key, err)
			}
			continue
		}
		data, err := m.Encode()
		if err != nil {
			return fmt.Errorf("encoding %s %q: %w", m.Kind, m.Key, err)
		}
		if _, err := upsert.ExecContext(ctx, string(m.Kind), m.Key, data); err != nil {
			return fmt.Errorf("writing %s %q: %w", m.Kind, m.Key, err)
		}
	}
	for _, t := range tokens {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, computer_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO UPDATE SET used_at = excluded.used_at`,
			t.Hash, t.ComputerID, formatTime(t.CreatedAt), formatTime(t.ExpiresAt), formatTime(t.UsedAt)); err != nil {
			return fmt.Errorf("writing the token of computer %s: %w", t.ComputerID, err)
		}
	}
	for _, c := range certs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO certificates (serial, kind, id, issued_at, not_after) VALUES (?, ?, ?, ?, ?)`,
			c.Serial, string(c.Identity.Kind), c.Identity.ID, formatTime(c.IssuedAt), formatTime(c.NotAfter)); err != nil {
			return fmt.Errorf("recording certificate %s of %s: %w", c.Serial, c.Identity, err)
		}
	}
	return tx.Commit()
}

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/master"
)

// applicationID marks a slapgo master database (PRAGMA application_id,
// "SLAP" in ASCII).
const applicationID = 0x534C4150

var (
	// ErrSchemaTooNew: the database was written by a newer slapgo.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this binary")
	// ErrForeign: the file is a SQLite database of something else.
	ErrForeign = errors.New("store: not a slapgo master database")
)

type migration struct {
	version int
	name    string
	stmts   []string
	// run, when set, is a step in Go after the statements, in the same
	// transaction.
	run func(ctx context.Context, tx *sql.Tx) error
}

// migrations, in order. Append only: never edit or remove one that was
// released, never drop data.
var migrations = []migration{
	{version: 1, name: "entities", stmts: []string{
		`CREATE TABLE entities (
			kind TEXT NOT NULL,
			key  TEXT NOT NULL,
			data BLOB NOT NULL,
			PRIMARY KEY (kind, key)
		) WITHOUT ROWID`,
	}},
	{version: 2, name: "registration tokens", stmts: []string{
		`CREATE TABLE tokens (
			hash        TEXT PRIMARY KEY,
			computer_id TEXT NOT NULL,
			created_at  TEXT NOT NULL,
			expires_at  TEXT NOT NULL,
			used_at     TEXT NOT NULL DEFAULT ''
		)`,
	}},
	{version: 3, name: "issued certificates", stmts: []string{
		`CREATE TABLE certificates (
			serial    TEXT PRIMARY KEY,
			kind      TEXT NOT NULL,
			id        TEXT NOT NULL,
			issued_at TEXT NOT NULL,
			not_after TEXT NOT NULL
		)`,
		`CREATE INDEX certificates_identity ON certificates (kind, id)`,
	}},
	{version: 4, name: "instances and partitions in core/master's binary format", run: reencodeEntities},
	// The instances' event histories are entities of a new kind: older
	// databases simply have none. The version tells an older slapgo,
	// which could not read them, to refuse the database (ErrSchemaTooNew).
	{version: 5, name: "instance event histories"},
	{version: 6, name: "instance destruction times", stmts: []string{sqliteDestructionTimes}},
}

// sqliteDestructionTimes records when the database began recording the
// time each instance is destroyed (core/master.DestructionTimes): an
// instance destroyed before has no time of its own, and the CRL gives it
// this one (the time of the migration, in UTC). Only a database that holds
// instances gets the record: a new one needs none.
var sqliteDestructionTimes = fmt.Sprintf(`INSERT OR IGNORE INTO entities (kind, key, data)
	SELECT '%s', '%s', CAST('{"unknown_before":"' || strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now') || '"}' AS BLOB)
	FROM (SELECT 1) WHERE EXISTS (SELECT 1 FROM entities WHERE kind = '%s')`,
	master.KindUpgrade, master.UpgradeDestructionTimes, master.KindInstance)

// reencodeEntities rewrites the instances and partitions stored as JSON in
// the encoding of this version (core/master.Mutation.Encode), which loads
// several times faster. Each is decoded and encoded again: one that does
// not decode stops the migration, and nothing is changed.
func reencodeEntities(ctx context.Context, tx *sql.Tx) error {
	const chunk = 10000
	upd, err := tx.PrepareContext(ctx, `UPDATE entities SET data = ? WHERE kind = ? AND key = ?`)
	if err != nil {
		return err
	}
	defer upd.Close()
	type row struct {
		key  string
		data []byte
	}
	for _, kind := range []master.EntityKind{master.KindInstance, master.KindPartition} {
		after := ""
		for {
			rows, err := tx.QueryContext(ctx, `SELECT key, data FROM entities
				WHERE kind = ? AND key > ? AND substr(data, 1, 1) = '{' ORDER BY key LIMIT ?`,
				string(kind), after, chunk)
			if err != nil {
				return err
			}
			var batch []row
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.key, &r.data); err != nil {
					rows.Close()
					return err
				}
				batch = append(batch, r)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			for _, r := range batch {
				m, err := master.DecodeEntity(kind, r.key, r.data)
				if err != nil {
					return err
				}
				data, err := m.Encode()
				if err != nil {
					return err
				}
				if _, err := upd.ExecContext(ctx, data, string(kind), r.key); err != nil {
					return fmt.Errorf("rewriting %s %q: %w", kind, r.key, err)
				}
			}
			if len(batch) < chunk {
				break
			}
			after = batch[len(batch)-1].key
		}
	}
	return nil
}

// SchemaVersion is the schema version this binary writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the database to version upTo (SchemaVersion() in
// production; tests build older databases with a lower one).
func migrate(ctx context.Context, db *sql.DB, path string, upTo int, now time.Time) error {
	var appID int64
	if err := db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("store: %s: reading application_id: %w", path, err)
	}
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
		return fmt.Errorf("store: %s: listing tables: %w", path, err)
	}
	switch {
	case appID == 0 && tables == 0:
		// A new database.
		if _, err := db.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d`, applicationID)); err != nil {
			return fmt.Errorf("store: %s: %w", path, err)
		}
		if _, err := db.ExecContext(ctx, `CREATE TABLE schema_version (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`); err != nil {
			return fmt.Errorf("store: %s: creating schema_version: %w", path, err)
		}
	case appID != applicationID:
		return fmt.Errorf("%w: %s has application_id %#x and %d tables: give --data a directory of its own", ErrForeign, path, appID, tables)
	}
	current, err := currentVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	if current > SchemaVersion() {
		return fmt.Errorf("%w: %s has schema version %d, this slapgo knows up to %d: run a newer slapgo (a database is never downgraded)",
			ErrSchemaTooNew, path, current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current || m.version > upTo {
			continue
		}
		if err := apply(ctx, db, m, now); err != nil {
			return fmt.Errorf("store: %s: migration %d (%s): %w", path, m.version, m.name, err)
		}
	}
	return nil
}

func currentVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, `SELECT max(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the schema version: %w", err)
	}
	return int(v.Int64), nil
}

func apply(ctx context.Context, db *sql.DB, m migration, now time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, s := range m.stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return err
		}
	}
	if m.run != nil {
		if err := m.run(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, formatTime(now)); err != nil {
		return err
	}
	return tx.Commit()
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

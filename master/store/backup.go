package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	sqlite3 "github.com/mattn/go-sqlite3"

	"github.com/slapgo/slapgo/core/master"
)

// A backup is a SQLite database file in the store's own schema, whatever
// the store it was taken from: it restores into either kind (Restore).

// Backup copies the database, while the store serves, into a new file at
// path with SQLite's online backup API, from a connection of its own: the
// copy is one read transaction of the WAL, so it holds every commit
// acknowledged before it started and does not stop the writer.
func (s *SQLite) Backup(ctx context.Context, path string) error {
	return BackupSQLiteFile(ctx, s.path, path)
}

// BackupSQLiteFile copies the SQLite store at src, which a master may be
// serving from, into a new file dst (see SQLite.Backup).
func BackupSQLiteFile(ctx context.Context, src, dst string) (err error) {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if err := refuseExisting(dst); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			removeSQLiteFiles(dst)
		}
	}()
	sdb, err := sql.Open("sqlite3", src+"?_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("store: backup: opening %s: %w", src, err)
	}
	defer sdb.Close()
	// The source must be a slapgo master database: its application_id
	// says so.
	var appID int64
	if err := sdb.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return fmt.Errorf("store: backup: reading %s: %w", src, err)
	}
	if appID != applicationID {
		return fmt.Errorf("%w: %s has application_id %#x", ErrForeign, src, appID)
	}
	ddb, err := sql.Open("sqlite3", dst)
	if err != nil {
		return fmt.Errorf("store: backup: creating %s: %w", dst, err)
	}
	defer ddb.Close()
	sc, err := sdb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer sc.Close()
	dc, err := ddb.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer dc.Close()
	err = dc.Raw(func(d any) error {
		return sc.Raw(func(s any) error {
			b, err := d.(*sqlite3.SQLiteConn).Backup("main", s.(*sqlite3.SQLiteConn), "main")
			if err != nil {
				return err
			}
			// One step copies every page in one read transaction: a
			// consistent snapshot.
			if _, err := b.Step(-1); err != nil {
				b.Finish()
				return err
			}
			return b.Finish()
		})
	})
	if err != nil {
		return fmt.Errorf("store: backup of %s into %s: %w", src, dst, err)
	}
	// The copy keeps WAL mode: fold the WAL into the file, then sync it.
	if _, err := dc.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("store: backup: %s: %w", dst, err)
	}
	if _, err := dc.ExecContext(ctx, `PRAGMA journal_mode = DELETE`); err != nil {
		return fmt.Errorf("store: backup: %s: %w", dst, err)
	}
	if err := errors.Join(dc.Close(), ddb.Close()); err != nil {
		return fmt.Errorf("store: backup: %s: %w", dst, err)
	}
	// It holds connection parameters (passwords): owner only.
	if err := os.Chmod(dst, 0o600); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	return syncFile(dst)
}

// Backup exports the database, while the store serves, into a new SQLite
// file at path in the store's schema: the entities, tokens and certificate
// records read in one REPEATABLE READ transaction (a consistent snapshot
// holding every commit acknowledged before it started). For a physical
// backup of the whole cluster use PostgreSQL's own tools (pg_basebackup,
// WAL archiving); see the README.
func (s *Postgres) Backup(ctx context.Context, path string) (err error) {
	if err := refuseExisting(path); err != nil {
		return err
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("store: backup of %s: %w", s.where, err)
	}
	defer tx.Rollback(ctx)
	dst, err := OpenSQLite(path, Options{})
	if err != nil {
		return err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		dst.Close()
		removeSQLiteFiles(path)
		return fmt.Errorf("store: backup: %w", err)
	}
	defer func() {
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			removeSQLiteFiles(path)
		}
	}()
	return copyRows(ctx, pgRows{tx}, dst.db)
}

// rowSource reads the raw rows of a store's tables.
type rowSource interface {
	each(ctx context.Context, query string, n int, fn func(vals []any) error) error
}

type pgRows struct{ tx pgx.Tx }

func (p pgRows) each(ctx context.Context, query string, n int, fn func(vals []any) error) error {
	rows, err := p.tx.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return err
		}
		if len(vals) != n {
			return fmt.Errorf("%s: %d columns, expected %d", query, len(vals), n)
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

type sqlRows struct{ db *sql.DB }

func (q sqlRows) each(ctx context.Context, query string, n int, fn func(vals []any) error) error {
	rows, err := q.db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		if err := fn(vals); err != nil {
			return err
		}
	}
	return rows.Err()
}

// copyTables lists what a backup or a restore copies, with the statement
// that inserts a row (SQLite's ? placeholders; $N for PostgreSQL).
var copyTables = []struct {
	sel      string
	n        int
	insSQL   string
	insPG    string
	describe string
}{
	{`SELECT kind, key, data FROM entities`, 3,
		`INSERT INTO entities (kind, key, data) VALUES (?, ?, ?)`,
		`INSERT INTO entities (kind, key, data) VALUES ($1, $2, $3)`, "entities"},
	{`SELECT hash, computer_id, created_at, expires_at, used_at FROM tokens`, 5,
		`INSERT INTO tokens (hash, computer_id, created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?)`,
		`INSERT INTO tokens (hash, computer_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)`, "tokens"},
	{`SELECT serial, kind, id, issued_at, not_after FROM certificates`, 5,
		`INSERT INTO certificates (serial, kind, id, issued_at, not_after) VALUES (?, ?, ?, ?, ?)`,
		`INSERT INTO certificates (serial, kind, id, issued_at, not_after) VALUES ($1, $2, $3, $4, $5)`, "certificates"},
}

// copyRows copies every table from src into the SQLite database dst, in
// one transaction.
func copyRows(ctx context.Context, src rowSource, dst *sql.DB) error {
	tx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range copyTables {
		ins, err := tx.PrepareContext(ctx, t.insSQL)
		if err != nil {
			return err
		}
		err = src.each(ctx, t.sel, t.n, func(vals []any) error {
			_, err := ins.ExecContext(ctx, vals...)
			return err
		})
		ins.Close()
		if err != nil {
			return fmt.Errorf("store: copying %s: %w", t.describe, err)
		}
	}
	return tx.Commit()
}

// Restore loads the backup file from (made by Backup, of either store) into
// the store named by spec (see Open), which must not hold a master yet: a
// SQLite file that does not exist, or a PostgreSQL database with no
// entity. The backup is checked first: it must be a slapgo master database
// whose state rebuilds (a newer binary upgrades an older backup's schema in
// the copy, never in the backup).
func Restore(ctx context.Context, from, spec string) (err error) {
	if _, err := os.Stat(from); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmpDir, err := os.MkdirTemp("", "slapgo-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	// A copy of the backup, upgraded and checked.
	work := tmpDir + "/master.db"
	if err := BackupSQLiteFile(ctx, from, work); err != nil {
		return fmt.Errorf("store: restore: reading the backup %s: %w", from, err)
	}
	src, err := OpenSQLite(work, Options{})
	if err != nil {
		return fmt.Errorf("store: restore: the backup %s: %w", from, err)
	}
	defer src.Close()
	ents, err := src.Load(ctx)
	if err != nil {
		return fmt.Errorf("store: restore: the backup %s: %w", from, err)
	}
	if _, err := master.Restore(master.DefaultConfig(), ents); err != nil {
		return fmt.Errorf("store: restore: the backup %s does not rebuild a state: %w", from, err)
	}
	if !IsPostgres(spec) {
		path := spec
		if len(path) > len("sqlite:") && path[:len("sqlite:")] == "sqlite:" {
			path = path[len("sqlite:"):]
		}
		if err := src.Close(); err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("store: restore: %w", err)
		}
		return BackupSQLiteFile(ctx, work, path)
	}
	dst, err := OpenPostgres(ctx, spec, Options{})
	if err != nil {
		return err
	}
	defer dst.Close()
	var n int64
	if err := dst.pool.QueryRow(ctx, `SELECT count(*) FROM entities`).Scan(&n); err != nil {
		return fmt.Errorf("store: restore: %s: %w", dst.where, err)
	}
	if n > 0 {
		return fmt.Errorf("store: restore: %s already holds %d entities: restore into an empty database (a restore never merges)", dst.where, n)
	}
	return pgx.BeginFunc(ctx, dst.pool, func(tx pgx.Tx) error {
		// The restored database starts a new epoch: a master that led the
		// old one cannot write into it.
		if _, err := tx.Exec(ctx, `UPDATE slapgo_leader SET epoch = epoch + 1, holder = 'restore', url = '', since = now() WHERE id = 1`); err != nil {
			return err
		}
		for _, t := range copyTables {
			err := sqlRows{src.db}.each(ctx, t.sel, t.n, func(vals []any) error {
				_, err := tx.Exec(ctx, t.insPG, vals...)
				return err
			})
			if err != nil {
				return fmt.Errorf("store: restore into %s: copying %s: %w", dst.where, t.describe, err)
			}
		}
		return nil
	})
}

func refuseExisting(path string) error {
	if path == "" {
		return errors.New("store: no file given for the copy")
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: %s exists: refusing to overwrite it; give a new file", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

func removeSQLiteFiles(path string) {
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		os.Remove(p)
	}
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	return errors.Join(err, f.Close())
}

package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slapgo/slapgo/core/master"
)

// migrationLockKey is the advisory lock under which a master migrates a
// PostgreSQL database (several masters may start together).
const migrationLockKey = 0x534C4151

// pgMigrations, in order, for PostgreSQL. Append only: never edit or
// remove one that was released, never drop data.
var pgMigrations = []struct {
	version int
	name    string
	stmts   []string
}{
	{1, "entities, registration tokens, issued certificates", []string{
		`CREATE TABLE entities (
			kind TEXT NOT NULL,
			key  TEXT NOT NULL,
			data BYTEA NOT NULL,
			PRIMARY KEY (kind, key)
		)`,
		`CREATE TABLE tokens (
			hash        TEXT PRIMARY KEY,
			computer_id TEXT NOT NULL,
			created_at  TEXT NOT NULL,
			expires_at  TEXT NOT NULL,
			used_at     TEXT NOT NULL DEFAULT ''
		)`,
		`CREATE TABLE certificates (
			serial    TEXT PRIMARY KEY,
			kind      TEXT NOT NULL,
			id        TEXT NOT NULL,
			issued_at TEXT NOT NULL,
			not_after TEXT NOT NULL
		)`,
		`CREATE INDEX certificates_identity ON certificates (kind, id)`,
	}},
	{2, "leader epoch and mutation log", []string{
		`CREATE TABLE slapgo_leader (
			id     INTEGER PRIMARY KEY CHECK (id = 1),
			epoch  BIGINT NOT NULL,
			holder TEXT NOT NULL,
			url    TEXT NOT NULL,
			since  TIMESTAMPTZ,
			-- the mutation log holds every commit from this seq on
			log_from BIGINT NOT NULL DEFAULT 0
		)`,
		`INSERT INTO slapgo_leader (id, epoch, holder, url) VALUES (1, 0, '', '')`,
		`CREATE TABLE slapgo_log (
			seq   BIGSERIAL PRIMARY KEY,
			epoch BIGINT NOT NULL,
			data  BYTEA NOT NULL
		)`,
	}},
	// The instances' event histories are entities of a new kind (see the
	// SQLite migration 5): the version makes an older slapgo refuse them.
	{3, "instance event histories", nil},
	{4, "instance destruction times", []string{pgDestructionTimes}},
}

// pgDestructionTimes is sqliteDestructionTimes for PostgreSQL.
var pgDestructionTimes = fmt.Sprintf(`INSERT INTO entities (kind, key, data)
	SELECT '%s', '%s', convert_to('{"unknown_before":"' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') || '"}', 'UTF8')
	WHERE EXISTS (SELECT 1 FROM entities WHERE kind = '%s')
	ON CONFLICT DO NOTHING`,
	master.KindUpgrade, master.UpgradeDestructionTimes, master.KindInstance)

func pgSchemaVersion() int { return pgMigrations[len(pgMigrations)-1].version }

// migratePG brings the database to version upTo, under an advisory lock.
func migratePG(ctx context.Context, pool *pgxpool.Pool, where string, upTo int, now time.Time) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: connecting to %s: %w", where, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrationLockKey)); err != nil {
		return fmt.Errorf("store: %s: %w", where, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrationLockKey))
	var tables, foreign int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE table_name = 'schema_version'),
			count(*) FILTER (WHERE table_name <> 'schema_version')
		FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&tables, &foreign); err != nil {
		return fmt.Errorf("store: %s: listing tables: %w", where, err)
	}
	switch {
	case tables == 0 && foreign > 0:
		return fmt.Errorf("%w: %s holds %d tables and no schema_version: give slapgo a database of its own", ErrForeign, where, foreign)
	case tables == 0:
		if _, err := conn.Exec(ctx, `CREATE TABLE schema_version (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		)`); err != nil {
			return fmt.Errorf("store: %s: creating schema_version: %w", where, err)
		}
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("store: %s: reading the schema version: %w", where, err)
	}
	if current > pgSchemaVersion() {
		return fmt.Errorf("%w: %s has schema version %d, this slapgo knows up to %d: run a newer slapgo (a database is never downgraded)",
			ErrSchemaTooNew, where, current, pgSchemaVersion())
	}
	for _, m := range pgMigrations {
		if m.version <= current || m.version > upTo {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			for _, s := range m.stmts {
				if _, err := tx.Exec(ctx, s); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, formatTime(now))
			return err
		})
		if err != nil {
			return fmt.Errorf("store: %s: migration %d (%s): %w", where, m.version, m.name, err)
		}
	}
	return nil
}

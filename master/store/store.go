package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

var (
	// ErrClosed is returned by Submit after Close.
	ErrClosed = errors.New("store: closed")
	// ErrFailed is wrapped by every error of a store whose write failed.
	ErrFailed = errors.New("store: a write failed")
)

// Store is the contract of the master's database, kept by the SQLite and
// the PostgreSQL stores alike (see the package doc); one test suite runs
// against both.
type Store interface {
	// Path names the database (a file, or a PostgreSQL URL without its
	// password).
	Path() string
	// Version reads the schema version of the open database.
	Version(ctx context.Context) (int, error)
	// Load reads every entity, decoded for core/master.Restore.
	Load(ctx context.Context) ([]master.Mutation, error)
	// LoadState is a restart: Load, then core/master.Restore.
	LoadState(ctx context.Context, cfg master.Config) (*master.State, error)
	// Tokens reads every registration token (used ones included).
	Tokens(ctx context.Context) ([]Token, error)
	// Certificates reads the records of issued certificates, oldest first.
	Certificates(ctx context.Context) ([]Certificate, error)
	// Submit queues a batch and returns its sequence number; an empty
	// batch returns the sequence of the last batch queued (a barrier).
	Submit(b Batch) (uint64, error)
	// Wait returns once every batch up to seq is committed, or the store's
	// failure, or ctx's error.
	Wait(ctx context.Context, seq uint64) error
	// Commit is Submit then Wait.
	Commit(ctx context.Context, b Batch) error
	// Err is the write failure that stopped the store, or nil.
	Err() error
	// Failed is closed when a write fails (see Err).
	Failed() <-chan struct{}
	// Backup writes a consistent copy of the database, taken while the
	// store serves, to a new SQLite file at path (see Restore).
	Backup(ctx context.Context, path string) error
	// Close flushes the queued batches and closes the database.
	Close() error
}

// Token is a one-time computer registration token, known by its SHA-256.
type Token struct {
	Hash       string // hex SHA-256 of the token text
	ComputerID string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsedAt     time.Time // zero while unused
}

// Certificate records a certificate the master's CA issued.
type Certificate struct {
	Serial   string
	Identity model.Actor
	IssuedAt time.Time
	NotAfter time.Time
}

// Batch is what one command writes: entity mutations (core/master's),
// token upserts and certificate records.
type Batch struct {
	Mutations    []master.Mutation
	Tokens       []Token
	Certificates []Certificate
}

func (b *Batch) empty() bool {
	return len(b.Mutations) == 0 && len(b.Tokens) == 0 && len(b.Certificates) == 0
}

// Options tunes a store.
type Options struct {
	// OnCommit, when set, is called by the writer after each transaction
	// with the number of batches it held and how long it took (metrics).
	OnCommit func(batches int, took time.Duration)
}

// IsPostgres reports whether spec names a PostgreSQL database
// (postgres:// or postgresql://).
func IsPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// Open opens the store named by spec: "postgres://…" (or "postgresql://…")
// for PostgreSQL, "sqlite:PATH" or a plain PATH for SQLite. A PostgreSQL
// store is opened leading (Postgres.Lead): Open waits while another master
// leads the database.
func Open(ctx context.Context, spec string, opts Options) (Store, error) {
	switch {
	case spec == "":
		return nil, errors.New("store: no database given: expected sqlite:PATH, PATH or postgres://…")
	case IsPostgres(spec):
		pg, err := OpenPostgres(ctx, spec, opts)
		if err != nil {
			return nil, err
		}
		host, _ := os.Hostname()
		if _, err := pg.Lead(ctx, fmt.Sprintf("%s pid %d", host, os.Getpid()), ""); err != nil {
			pg.Close()
			return nil, err
		}
		return pg, nil
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, fmt.Errorf("store: %q: expected sqlite:PATH", spec)
		}
		return OpenSQLite(path, opts)
	case strings.Contains(spec, "://"):
		return nil, fmt.Errorf("store: %q: unknown database kind: expected sqlite:PATH, PATH or postgres://…", spec)
	}
	return OpenSQLite(spec, opts)
}

// rows is what the rows of database/sql and of pgx have in common.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// readTokens decodes rows of (hash, computer_id, created_at, expires_at,
// used_at).
func readTokens(rows rows) ([]Token, error) {
	var out []Token
	for rows.Next() {
		var t Token
		var created, expires, used string
		if err := rows.Scan(&t.Hash, &t.ComputerID, &created, &expires, &used); err != nil {
			return nil, fmt.Errorf("store: loading tokens: %w", err)
		}
		var e1, e2, e3 error
		t.CreatedAt, e1 = parseTime(created)
		t.ExpiresAt, e2 = parseTime(expires)
		t.UsedAt, e3 = parseTime(used)
		if err := errors.Join(e1, e2, e3); err != nil {
			return nil, fmt.Errorf("store: token of computer %s: %w", t.ComputerID, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// readCertificates decodes rows of (serial, kind, id, issued_at,
// not_after).
func readCertificates(rows rows) ([]Certificate, error) {
	var out []Certificate
	for rows.Next() {
		var c Certificate
		var kind, issued, notAfter string
		if err := rows.Scan(&c.Serial, &kind, &c.Identity.ID, &issued, &notAfter); err != nil {
			return nil, fmt.Errorf("store: loading certificates: %w", err)
		}
		c.Identity.Kind = model.IdentityKind(kind)
		var e1, e2 error
		c.IssuedAt, e1 = parseTime(issued)
		c.NotAfter, e2 = parseTime(notAfter)
		if err := errors.Join(e1, e2); err != nil {
			return nil, fmt.Errorf("store: certificate %s: %w", c.Serial, err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

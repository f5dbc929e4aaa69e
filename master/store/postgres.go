package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/slapgo/slapgo/core/master"
)

var (
	// ErrFenced is wrapped by the failure of a PostgreSQL store whose
	// write found another master's epoch: this master is no longer the
	// leader and must not write again.
	ErrFenced = errors.New("store: another master took the lead (epoch changed)")
	// ErrNotLeader is returned by writes of a PostgreSQL store that does
	// not lead (see Postgres.Lead).
	ErrNotLeader = errors.New("store: this master does not lead")
)

// leaderLockKey is the session-level advisory lock held by the leading
// master ("SLAP" in ASCII).
const leaderLockKey = 0x534C4150

// notifyChannel is the LISTEN/NOTIFY channel on which every commit is
// announced to the followers.
const notifyChannel = "slapgo_log"

// lockIdleTimeout is how long the session holding the leader lock may stay
// silent before PostgreSQL ends it (the leader pings it every second).
const lockIdleTimeout = 4 * time.Second

// writeIdleTimeout is how long a write transaction may wait for the next
// statement of its master before PostgreSQL ends it, releasing the epoch
// row for a new leader. A master takes microseconds between the statements
// of a transaction; waiting this long means it is cut off or stalled, and
// its commit fails (the store then stops).
const writeIdleTimeout = lockIdleTimeout

// logKeep is how many commits the mutation log keeps for the followers; a
// follower further behind loads the whole state again.
const logKeep = 20000

// Postgres is the store on a PostgreSQL database, shared by several masters
// of which one leads (writes) and the others follow the mutation log.
//
// Fencing: Lead takes a session-level advisory lock and increments the
// epoch in the table slapgo_leader; every write transaction reads the epoch
// FOR SHARE and fails with ErrFenced when it changed, so a master that lost
// the lead can never commit again, even one that still believes it leads.
type Postgres struct {
	*committer
	pool  *pgxpool.Pool
	where string // URL without password

	epoch atomic.Int64 // 0 until Lead
	// leadMu guards what Lead sets and Close undoes (they may run on two
	// goroutines).
	leadMu    sync.Mutex
	closing   bool
	lockConn  *pgxpool.Conn
	writes    int
	stopLead  context.CancelFunc // stops watchLock
	watchDone chan struct{}      // closed when watchLock returned
	closed    sync.Once

	// writeCtx is the context of the write transactions: cancelled when
	// the store fails (a leader cut from the database would otherwise
	// wait on its last transaction for as long as TCP takes to give up,
	// and never stop) and when it closes.
	writeCtx    context.Context
	abortWrites context.CancelFunc
}

// LeaderInfo is what the leader publishes about itself.
type LeaderInfo struct {
	Epoch  int64
	Holder string // a name for logs
	URL    string // where clients reach it
	Since  time.Time
}

// redactURL removes a password from a PostgreSQL URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}

// OpenPostgres connects to the database at rawURL, brings its schema up to
// date and starts the writer; it does not lead: call Lead before writing
// (Open does both).
func OpenPostgres(ctx context.Context, rawURL string, opts Options) (*Postgres, error) {
	return openPostgres(ctx, rawURL, opts, pgSchemaVersion())
}

func openPostgres(ctx context.Context, rawURL string, opts Options, upTo int) (*Postgres, error) {
	where := redactURL(rawURL)
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("store: PostgreSQL URL %s: %w", where, err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", where, err)
	}
	var sync string
	if err := pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&sync); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: connecting to %s: %w", where, err)
	}
	if sync == "off" {
		pool.Close()
		return nil, fmt.Errorf("store: %s: synchronous_commit is off: an acknowledged write could be lost; set it to on", where)
	}
	if err := migratePG(ctx, pool, where, upTo, time.Now()); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Postgres{pool: pool, where: where}
	s.committer = newCommitter(where, opts, s.write)
	s.writeCtx, s.abortWrites = context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.Failed():
			s.abortWrites()
		case <-s.writeCtx.Done():
		}
	}()
	s.start()
	return s, nil
}

// Path is the database's URL, without its password.
func (s *Postgres) Path() string { return s.where }

// Version reads the schema version of the database.
func (s *Postgres) Version(ctx context.Context) (int, error) {
	var v *int
	if err := s.pool.QueryRow(ctx, `SELECT max(version) FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: %s: reading the schema version: %w", s.where, err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// Lead makes this store the writer: it waits for the leader lock (another
// master holding it keeps it waiting until that master's session ends, or
// until ctx is done), then increments the epoch, which fences every write
// of a previous leader. Load the state after Lead returns: it then holds
// every write of the previous leaders.
func (s *Postgres) Lead(ctx context.Context, holder, url string) (LeaderInfo, error) {
	if s.epoch.Load() != 0 {
		return LeaderInfo{}, errors.New("store: already leading")
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return LeaderInfo{}, fmt.Errorf("store: %s: %w", s.where, err)
	}
	// A leader cut from the database, or paused, stops pinging its lock
	// session (watchLock pings every second): PostgreSQL then ends the
	// session after lockIdleTimeout, which releases the lock for another
	// master, instead of waiting for TCP to notice (hours). PostgreSQL
	// before 14 has no idle_session_timeout: there, set the server's
	// tcp_keepalives_* (see the README).
	conn.Exec(ctx, `SELECT set_config('idle_session_timeout', $1, false)`, fmt.Sprintf("%dms", lockIdleTimeout.Milliseconds()))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(leaderLockKey)); err != nil {
		conn.Release()
		return LeaderInfo{}, fmt.Errorf("store: %s: waiting for the leader lock: %w", s.where, err)
	}
	info := LeaderInfo{Holder: holder, URL: url}
	if err := conn.QueryRow(ctx, `UPDATE slapgo_leader SET epoch = epoch + 1, holder = $1, url = $2, since = now()
		WHERE id = 1 RETURNING epoch, since`, holder, url).Scan(&info.Epoch, &info.Since); err != nil {
		conn.Conn().Close(context.Background()) // releases the lock
		conn.Release()
		return LeaderInfo{}, fmt.Errorf("store: %s: taking the lead: %w", s.where, err)
	}
	s.leadMu.Lock()
	defer s.leadMu.Unlock()
	if s.closing {
		conn.Conn().Close(context.Background()) // releases the lock
		conn.Release()
		return LeaderInfo{}, ErrClosed
	}
	s.lockConn = conn
	s.epoch.Store(info.Epoch)
	wctx, cancel := context.WithCancel(context.Background())
	s.stopLead, s.watchDone = cancel, make(chan struct{})
	go s.watchLock(wctx, conn)
	return info, nil
}

// watchLock checks every second that the session holding the leader lock
// is alive; when it is not, the lock is gone and the store fails (fencing
// would refuse its next write anyway).
func (s *Postgres) watchLock(wctx context.Context, conn *pgxpool.Conn) {
	defer close(s.watchDone)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(wctx, 5*time.Second)
		err := conn.Ping(ctx)
		cancel()
		if wctx.Err() != nil {
			return // closing
		}
		if err != nil {
			s.fail(fmt.Errorf("%w: %w: the session holding the leader lock on %s ended: %w", ErrFailed, ErrFenced, s.where, err))
			return
		}
	}
}

// Leader reads who leads now (zero Epoch: nobody ever led).
func (s *Postgres) Leader(ctx context.Context) (LeaderInfo, error) {
	var li LeaderInfo
	var since *time.Time
	err := s.pool.QueryRow(ctx, `SELECT epoch, holder, url, since FROM slapgo_leader WHERE id = 1`).
		Scan(&li.Epoch, &li.Holder, &li.URL, &since)
	if err != nil {
		return li, fmt.Errorf("store: %s: reading the leader: %w", s.where, err)
	}
	if since != nil {
		li.Since = *since
	}
	return li, nil
}

// Epoch is the epoch this store leads with (0: it does not lead).
func (s *Postgres) Epoch() int64 { return s.epoch.Load() }

// Close flushes the queued batches, gives up the lead and closes the
// connections.
func (s *Postgres) Close() error {
	err := s.stop()
	s.abortWrites()
	s.closed.Do(func() {
		// NB: s.leadMu is not held while the pool closes: a Lead under
		// way must get it to give its connection back.
		s.leadMu.Lock()
		s.closing = true
		stop, done, conn := s.stopLead, s.watchDone, s.lockConn
		s.leadMu.Unlock()
		if stop != nil {
			stop()
			<-done // the lock connection is no longer in use
		}
		if conn != nil {
			conn.Conn().Close(context.Background())
			conn.Release()
		}
		s.pool.Close()
	})
	return err
}

// logRecord is one commit in the mutation log: what the followers apply.
type logRecord struct {
	Entities     []logEntity   `json:"e,omitempty"`
	Tokens       []Token       `json:"t,omitempty"`
	Certificates []Certificate `json:"c,omitempty"`
}

type logEntity struct {
	Kind   master.EntityKind `json:"k"`
	Key    string            `json:"id"`
	Data   []byte            `json:"d,omitempty"`
	Delete bool              `json:"x,omitempty"`
}

// write commits a group of batches in one transaction, after checking in
// that transaction that this master still leads.
func (s *Postgres) write(group []entry) error {
	epoch := s.epoch.Load()
	if epoch == 0 {
		return ErrNotLeader
	}
	muts, tokens, certs := flatten(group)
	ctx := s.writeCtx
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) // quick once ctx is cancelled (the store failed)
	// The transaction holds the epoch's row FOR SHARE, which the next
	// leader's epoch increment waits for: should this master be cut from
	// the database mid-transaction, PostgreSQL ends the transaction after
	// writeIdleTimeout without a word from it (set in the same query:
	// no round trip more).
	var current int64
	if err := tx.QueryRow(ctx, `SELECT epoch, set_config('idle_in_transaction_session_timeout', $1, true)
		FROM slapgo_leader WHERE id = 1 FOR SHARE`, fmt.Sprintf("%dms", writeIdleTimeout.Milliseconds())).Scan(&current, nil); err != nil {
		return fmt.Errorf("reading the epoch: %w", err)
	}
	if current != epoch {
		return fmt.Errorf("%w: this master leads with epoch %d, the database is at epoch %d", ErrFenced, epoch, current)
	}
	var rec logRecord
	b := &pgx.Batch{}
	for _, m := range muts {
		if m.Kind == "" {
			continue
		}
		if m.Delete {
			b.Queue(`DELETE FROM entities WHERE kind = $1 AND key = $2`, string(m.Kind), m.Key)
			rec.Entities = append(rec.Entities, logEntity{Kind: m.Kind, Key: m.Key, Delete: true})
			continue
		}
		data, err := m.Encode()
		if err != nil {
			return fmt.Errorf("encoding %s %q: %w", m.Kind, m.Key, err)
		}
		b.Queue(`INSERT INTO entities (kind, key, data) VALUES ($1, $2, $3)
			ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data`, string(m.Kind), m.Key, data)
		rec.Entities = append(rec.Entities, logEntity{Kind: m.Kind, Key: m.Key, Data: data})
	}
	for _, t := range tokens {
		b.Queue(`INSERT INTO tokens (hash, computer_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (hash) DO UPDATE SET used_at = excluded.used_at`,
			t.Hash, t.ComputerID, formatTime(t.CreatedAt), formatTime(t.ExpiresAt), formatTime(t.UsedAt))
	}
	for _, c := range certs {
		b.Queue(`INSERT INTO certificates (serial, kind, id, issued_at, not_after) VALUES ($1, $2, $3, $4, $5)`,
			c.Serial, string(c.Identity.Kind), c.Identity.ID, formatTime(c.IssuedAt), formatTime(c.NotAfter))
	}
	rec.Tokens, rec.Certificates = tokens, certs
	logData, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	b.Queue(`INSERT INTO slapgo_log (epoch, data) VALUES ($1, $2)`, epoch, logData)
	b.Queue(`SELECT pg_notify($1, '')`, notifyChannel)
	s.writes++
	if s.writes%1000 == 0 {
		b.Queue(`UPDATE slapgo_leader SET log_from = greatest(log_from, (SELECT max(seq) FROM slapgo_log) - $1) WHERE id = 1`, int64(logKeep))
		b.Queue(`DELETE FROM slapgo_log WHERE seq < (SELECT log_from FROM slapgo_leader WHERE id = 1)`)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Load reads every entity, decoded for core/master.Restore.
func (s *Postgres) Load(ctx context.Context) ([]master.Mutation, error) {
	ents, _, err := s.loadAt(ctx, nil)
	return ents, err
}

// loadAt reads every entity in tx (a new transaction when nil), and the
// last commit of the mutation log they include.
func (s *Postgres) loadAt(ctx context.Context, tx pgx.Tx) ([]master.Mutation, int64, error) {
	if tx == nil {
		var err error
		tx, err = s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return nil, 0, fmt.Errorf("store: loading entities from %s: %w", s.where, err)
		}
		defer tx.Rollback(ctx)
	}
	var seq int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM slapgo_log`).Scan(&seq); err != nil {
		return nil, 0, fmt.Errorf("store: loading entities from %s: %w", s.where, err)
	}
	rows, err := tx.Query(ctx, `SELECT kind, key, data FROM entities`)
	if err != nil {
		return nil, 0, fmt.Errorf("store: loading entities from %s: %w", s.where, err)
	}
	defer rows.Close()
	dec := master.NewEntityDecoder()
	var out []master.Mutation
	for rows.Next() {
		raw := rows.RawValues()
		m, err := dec.Decode(entityKind(raw[0]), string(raw[1]), raw[2])
		if err != nil {
			return nil, 0, fmt.Errorf("store: %s: %w", s.where, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: loading entities from %s: %w", s.where, err)
	}
	return out, seq, nil
}

// LoadState is a master's restart: Load, then core/master.Restore.
func (s *Postgres) LoadState(ctx context.Context, cfg master.Config) (*master.State, error) {
	ents, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	st, err := master.Restore(cfg, ents)
	if err != nil {
		return nil, fmt.Errorf("store: rebuilding the state from %s: %w", s.where, err)
	}
	return st, nil
}

// Tokens reads every registration token (used ones included).
func (s *Postgres) Tokens(ctx context.Context) ([]Token, error) { return s.tokens(ctx, s.pool) }

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *Postgres) tokens(ctx context.Context, q querier) ([]Token, error) {
	rows, err := q.Query(ctx, `SELECT hash, computer_id, created_at, expires_at, used_at FROM tokens ORDER BY created_at, hash`)
	if err != nil {
		return nil, fmt.Errorf("store: loading tokens from %s: %w", s.where, err)
	}
	defer rows.Close()
	return readTokens(rows)
}

// Certificates reads the records of issued certificates, oldest first.
func (s *Postgres) Certificates(ctx context.Context) ([]Certificate, error) {
	return s.certificates(ctx, s.pool)
}

func (s *Postgres) certificates(ctx context.Context, q querier) ([]Certificate, error) {
	rows, err := q.Query(ctx, `SELECT serial, kind, id, issued_at, not_after FROM certificates ORDER BY issued_at, serial`)
	if err != nil {
		return nil, fmt.Errorf("store: loading certificates from %s: %w", s.where, err)
	}
	defer rows.Close()
	return readCertificates(rows)
}

// ErrLogTruncated: the mutation log no longer holds the commits after the
// position asked; the follower must load the whole state again.
var ErrLogTruncated = errors.New("store: the mutation log was pruned past this position")

// Snapshot is the whole database at one instant, with the position in the
// mutation log it includes: a follower starts from it.
type Snapshot struct {
	Entities     []master.Mutation
	Tokens       []Token
	Certificates []Certificate
	Seq          int64
}

// Snapshot reads every entity, token and certificate record in one
// REPEATABLE READ transaction, with the last commit of the log they hold.
func (s *Postgres) Snapshot(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return snap, fmt.Errorf("store: reading %s: %w", s.where, err)
	}
	defer tx.Rollback(ctx)
	if snap.Entities, snap.Seq, err = s.loadAt(ctx, tx); err != nil {
		return snap, err
	}
	if snap.Tokens, err = s.tokens(ctx, tx); err != nil {
		return snap, err
	}
	if snap.Certificates, err = s.certificates(ctx, tx); err != nil {
		return snap, err
	}
	return snap, nil
}

// Change is one commit of the mutation log, decoded: entities to upsert or
// delete (Delete), token upserts and certificate records.
type Change struct {
	Seq          int64
	Epoch        int64
	Entities     []master.Mutation
	Tokens       []Token
	Certificates []Certificate
}

// ChangesAfter reads up to limit commits of the log after seq, in commit
// order; ErrLogTruncated when the log no longer reaches back to seq.
func (s *Postgres) ChangesAfter(ctx context.Context, seq int64, limit int) ([]Change, error) {
	var from int64
	if err := s.pool.QueryRow(ctx, `SELECT log_from FROM slapgo_leader WHERE id = 1`).Scan(&from); err != nil {
		return nil, fmt.Errorf("store: reading the log of %s: %w", s.where, err)
	}
	if seq+1 < from {
		return nil, fmt.Errorf("%w: at %d, the log starts at %d", ErrLogTruncated, seq, from)
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, epoch, data FROM slapgo_log WHERE seq > $1 ORDER BY seq LIMIT $2`, seq, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading the log of %s: %w", s.where, err)
	}
	defer rows.Close()
	dec := master.NewEntityDecoder()
	var out []Change
	for rows.Next() {
		var c Change
		var data []byte
		if err := rows.Scan(&c.Seq, &c.Epoch, &data); err != nil {
			return nil, fmt.Errorf("store: reading the log of %s: %w", s.where, err)
		}
		var rec logRecord
		if err := json.Unmarshal(data, &rec); err != nil {
			return nil, fmt.Errorf("store: log commit %d of %s: %w", c.Seq, s.where, err)
		}
		for _, e := range rec.Entities {
			if e.Delete {
				c.Entities = append(c.Entities, master.Mutation{Kind: e.Kind, Key: e.Key, Delete: true})
				continue
			}
			m, err := dec.Decode(e.Kind, e.Key, e.Data)
			if err != nil {
				return nil, fmt.Errorf("store: log commit %d of %s: %w", c.Seq, s.where, err)
			}
			c.Entities = append(c.Entities, m)
		}
		c.Tokens, c.Certificates = rec.Tokens, rec.Certificates
		out = append(out, c)
	}
	return out, rows.Err()
}

// Listen sends on notify (without blocking: one pending signal is
// enough) whenever a commit is announced, until ctx is done or the
// connection fails (its error is returned).
func (s *Postgres) Listen(ctx context.Context, notify chan<- struct{}) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is LISTENing: it is closed, not returned to the pool.
	defer func() {
		conn.Conn().Close(context.Background())
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			return err
		}
		select {
		case notify <- struct{}{}:
		default:
		}
	}
}

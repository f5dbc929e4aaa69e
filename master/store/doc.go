// Package store is the master's durable storage: the entities of
// core/master's state, the one-time computer registration tokens and the
// certificates issued. Store is the contract; two implementations keep it:
//
//   - SQLite (the default): one file, WAL, synchronous=FULL;
//   - Postgres: a PostgreSQL database (jackc/pgx), synchronous_commit on,
//     shared by several masters of which one leads (see Postgres).
//
// One test suite (contract_test.go) runs against both: the same mutations,
// migrations, durability and backups.
//
// # Schema
//
// The schema is versioned: the table schema_version lists the migrations
// applied. Open applies the missing ones in order, each in its own
// transaction, so a newer binary upgrades an older database; it refuses a
// database whose version is newer than the binary knows (ErrSchemaTooNew)
// and a SQLite file that is not a slapgo master database (ErrForeign).
// PostgreSQL has its own list of migrations (schema_pg.go), applied under an
// advisory lock since several masters may start at once.
// No migration drops data.
//
//	entities(kind, key, data)  PRIMARY KEY (kind, key): core/master.Mutation values, as
//	                           Mutation.Encode writes them (instances and partitions in
//	                           a binary format since schema version 4, the rest JSON;
//	                           the instances' event histories, kind "events", since
//	                           version 5, PostgreSQL version 3, in the binary format;
//	                           from version 6, PostgreSQL 4, a record of when
//	                           instances' destruction times began to be kept)
//	tokens(hash, computer_id, created_at, expires_at, used_at): SHA-256 of each token
//	certificates(serial, kind, id, issued_at, not_after)
//
// # Group commit
//
// One writer goroutine owns the database. Submit hands it a Batch and
// returns the batch's sequence number at once; the writer takes every batch
// queued while the previous transaction was being written, commits them in
// one transaction (one fsync of the WAL) and then releases the waiters:
// Wait(seq) returns once every batch up to seq is durable.
//
// Contract:
//
//  1. The caller submits batches in the order it applied the commands
//     (core/master.Apply): it calls Submit under the lock that serializes
//     Apply. Batches are committed in submission order.
//  2. The caller acknowledges a command only after Wait(seq) returned nil.
//     An empty batch is a barrier: Submit returns the sequence of the last
//     batch submitted, so an answer that read the state waits for whatever
//     it may have seen.
//  3. A failed write is fatal: memory is then ahead of the disk, so the
//     store refuses every later batch (Err, Failed) and the master must be
//     restarted to rebuild its state from what was committed.
//  4. Close flushes what is queued, then closes the database.
//
// # Several masters on PostgreSQL
//
// Lead takes a session-level advisory lock and increments the epoch in
// slapgo_leader; every write transaction reads the epoch FOR SHARE and fails
// with ErrFenced when it moved, so a deposed leader never commits. The lock
// session pings itself every second and carries idle_session_timeout, so a
// leader paused or cut from the database loses the lock within seconds.
// Every commit also appends its entities to slapgo_log and NOTIFYs: a
// follower starts from Snapshot (the state and its log position, in one
// transaction) and applies ChangesAfter, woken by Listen; ErrLogTruncated
// asks it to start again from a snapshot.
//
// # Backup
//
// Backup writes a consistent copy, taken while the store serves, into a new
// SQLite file of the store's schema (SQLite's online backup API; for
// PostgreSQL a logical export in one REPEATABLE READ transaction); Restore
// loads such a file into a new SQLite file or an empty PostgreSQL database.
//
// # Restart
//
// LoadState rebuilds core/master's state from the database (Load then
// core/master.Restore): a goroutine reads the rows while the caller decodes
// them, and the garbage collector is paused meanwhile, under a memory limit
// (see LoadState). Call it before the first Submit.
package store

// Package master is the master's state machine: the marketplace's decisions
// over an in-memory state, with no I/O.
//
// Contract, in the manner of a raft RawNode:
//
//  1. The caller builds a State with New (empty) or Restore (from persisted
//     entities) and owns it; State is not safe for concurrent use.
//  2. The caller passes every change as a Command to Apply(now, cmd). Apply
//     authorizes the command's Actor, validates it, decides (allocation,
//     versions, tree semantics) and returns a Result, the Mutations it made,
//     or an error that changed nothing.
//  3. The caller persists the Mutations (each is a whole entity to upsert or
//     delete) BEFORE it acknowledges the command to anyone. Restore of the
//     persisted entities rebuilds an equal State.
//  4. Reads (ComputerView, Instance, Pending, Invoices…) never mutate. A
//     node's poll is a read; ContactDue tells when it must also apply
//     Contact (the computer came back, or its recorded contact grew old),
//     so that most polls stay a lookup.
//
// Limits and quotas are decisions too (limits.go): Config.Limits bound what
// one command carries (parameters, SLA conditions, partitions; ErrInvalid)
// and what one tree or host holds; Config.Quotas bound what one person
// holds (ErrQuota, which wraps ErrForbidden). A person's usage is derived
// from its live instances, kept up to date by every change and rebuilt by
// Restore; it is never persisted. File:// software URLs are refused unless
// Config.AllowLocalSoftwareURLs.
//
// Each instance has a bounded history of events (events.go): what was
// requested, changed, placed or left pending (once per reason), reported,
// published, banged, renamed, transferred, destroyed, each at the now of
// its command. Config.EventHistory bounds it (0: none, as in the
// simulator); it lives outside model.Instance and is persisted as its own
// entity kind (KindEvents), so Restore brings it back. InstanceEvents
// reads it under the same rule as Instance.
//
// ApplyOnce is Apply under a client's idempotency key (idempotency.go): a
// command sent again after a lost answer, under the same key, gets its
// first result back and is not applied twice; the record is an entity, so
// it holds across a restart and a take-over.
//
// Seed (bulk.go) is Apply for many commands at once, for a caller that
// persists nothing (a simulator's warm start, a test grid): the same
// decisions, results and state, without the copies a caller persists; it
// tells each command's changed instances and partitions as live entities.
//
// Time is an input: now is passed to Apply and to queries, never read.
// Identifiers (PERSON-n, SOFTINST-n) and versions come from counters held in
// the state, so the same commands give the same state, byte for byte.
//
// Semantics kept from SlapOS: an instance's identity is (owner, root title,
// title); requests are idempotent and bump the version only on a real
// change; a child of a non-started root takes the root's state; destroying
// a root destroys its tree; shared instances live in a host instance's
// partition and appear in its shared list; a request that cannot be placed
// stays pending with the reason and is placed when capacity appears.
package master

// Package simbackend is the in-process feature backend: core/master in
// memory and virtual node agents on a virtual clock, one event queue, no
// goroutine, no wall clock. It is the default backend of features/ and
// runs the whole suite in seconds, deterministically.
//
// # What is modelled, and how faithfully
//
// The master is core/master itself. Its durable store is modelled by
// keeping every mutation Apply returns; a master outage ends with a state
// rebuilt by master.Restore from those mutations, as the production master
// rebuilds from its database, so that anything lost would show.
//
// Each node agent polls the master every PollInterval plus a jitter drawn
// from the node's own seeded generator, fetches its view only when the
// view's version changed (the conditional GET), and plans with
// converge.PlanNode whenever the view changed or the last plan's
// RequeueAfter came due. It runs partition actions one at a time on one
// worker, each taking a modelled duration, and software builds on a
// separate worker, records every outcome with converge.Actual.ApplySuccess
// or ApplyFailure, and reports to the master: software building, available
// or error; partitions started, stopped or error; connection parameters
// after a configuration (also for each shared instance hosted); the
// partition destroyed. Reports that cannot reach the master are kept in an
// outbox and sent, in order, once it is reachable again. After each pass
// the node checks the promises of its running partitions (SlapOS's anomaly
// mode) and reports a change.
//
// The node never decides what to do by itself: every action comes from
// core/converge. What the simulator decides is only what the outside world
// would: how long an action takes, whether a build or a configuration
// fails (backend.SoftwareSpec.Defect, the fail=configure parameter), and
// whether a promise fails (SetPromise).
//
// Faults: a crash kills the node's processes and its in-flight work but
// keeps its disk (converge.Actual, the cached view, the outbox); a wipe
// loses the disk too; a node cut from the master, or a master outage,
// leaves the node running on its cached view (offline mode).
//
// # Determinism
//
// Events are ordered by (time, sequence). Randomness comes from the seed
// given in Config, split per node by name. Maps are iterated in sorted
// order. Every event that changes something is written to a trace whose
// FNV-64a hash (TraceHash) is the same for the same scenario and seed.
package simbackend

// Package sim is slapgo's deterministic simulator: it drives the pure core
// (core/master, core/alloc, core/converge, core/account) with virtual time
// and seeded randomness over hundreds of virtual nodes, so that every
// placement and every reconfiguration in a simulation is the decision
// production would take.
//
// # Engine
//
// One goroutine pops events from a heap ordered by (virtual time, sequence
// of scheduling) and advances a virtual clock. One root seed is split into
// named streams (workload, workload/lifetimes, network, master, failures/…,
// speculators, grid, node/<id>, see SubSeed), so that adding a
// component leaves the others' draws unchanged. Map iteration never decides
// anything nor reaches output unsorted. Each significant event (a command
// the master applied, with its result; an action a node finished; a build;
// a fault) adds one canonical line to a SHA-256 trace: the same scenario and
// seed give the same trace hash on any machine.
//
// # Models
//
//   - Master: core/master in memory behind one writer that spends
//     master.command_cost per command (a queue, whose length is sampled);
//     reads (polls) are served from memory. Outages lose the queue.
//   - Nodes: an instance run every poll_interval plus jitter, skipped while
//     the previous run's plan is still running (slapgrid's pid lock). A run
//     compares master.ViewVersion with the version it holds and builds no
//     view when unchanged (the conditional GET that keeps 1,000×300 cheap);
//     it plans with converge.PlanNode when the view changed, when something
//     became due (RequeueAfter: periodic reprocessing, back-off retries) or
//     after a plan or a build ended. Partition actions run one at a time on
//     ONE configuration worker, each taking a modelled duration (the first
//     configuration of an instance takes agent.deploy, later ones
//     agent.configure); outcomes are recorded with Actual.ApplySuccess or
//     ApplyFailure. Builds run on a software worker (binary cache hit or
//     source build). Reports go to the master through the network; those
//     that cannot be delivered wait in an outbox (offline mode).
//   - Network: per group latency and loss; partitions cut a region, a list
//     of computers or a random fraction from the master.
//   - Failures: node crashes and reboots, region outages (every node of a
//     region down, then rebooting within a spread), master outages, broken
//     instances (their configuration always fails: the node backs off) and
//     transient action failures.
//   - Workload: Poisson arrivals modulated by a diurnal curve, bursts,
//     lifetimes, parameter changes, patience, storms (every live instance of
//     a region or of the grid changed or banged at once), software releases
//     supplied during the run.
//   - Economics: per-computer price lists, requester budgets, revenue from
//     core/account's invoices, utilisation, a provisioning delay, a
//     predictive pre-allocation pool, and speculators (see speculator).
//
// # Invariants
//
// Checked after every event, on what the event changed (see observe and
// checkEvent): no partition is given to two instances; no instance is lost
// (every requested instance is allocated, pending or destroyed as asked);
// a node never runs two partition actions at once; versions (of instances,
// of views, of what a node applied) only grow. A full sweep runs at the end
// (and every invariants.full_check_every). After a fault heals, or a storm
// is applied, every node concerned must converge (nothing left to do) within
// liveness.converge_within. A violation stops the run; Run returns it as a
// *Violation whose Reproduce is the exact `slapgo sim run` command.
//
// # Caller's duties
//
//  1. Load the scenario with sim/scenario (defaults filled, validated) and
//     treat it as read-only: concurrent runs may share it.
//  2. Give Options.File and Options.Overrides as the user gave them, so
//     that a violation's reproduce command is right.
//  3. Run one simulation per goroutine; runs share nothing.
package sim

// Package sim is slapgo's deterministic simulator: it drives the pure core
// (core/master, core/alloc, core/converge, core/agent, core/account) with
// virtual time and seeded randomness over hundreds of virtual nodes, so
// that every placement, every pass of a node agent and every
// reconfiguration in a simulation is the decision production would take.
// The core decides; the simulator executes with modelled durations and
// outcomes, as nodeagent/ executes for real.
//
// # Engine
//
// One goroutine pops events from a queue ordered by (virtual time, sequence
// of scheduling: two heaps, the next hour's and the later events) and
// advances a virtual clock. One root seed is split into
// named streams (workload, workload/lifetimes, network, master, failures/…,
// speculators, grid, node/<id>, see SubSeed), so that adding a
// component leaves the others' draws unchanged. Map iteration never decides
// anything nor reaches output unsorted. Each significant event (a command
// the master applied, with its result; an action a node finished; a build;
// a fault) adds one canonical line to a SHA-256 trace: the same scenario and
// seed give the same trace hash on any machine.
//
// Run simulates a scenario from its start to its end. Engine is the same
// simulation stepped by its caller: RunUntil(t, stop), faults at the
// current instant (Crash, Boot, Wipe, Cut, Heal, master Outage and
// Restart), commands applied as API calls (Apply), and observers (Node,
// Actions, Settled, Unsettled, TraceHash, Violation). With Options.Bare it
// builds neither grid nor workload: the feature suite's sim backend
// (features/backend/simbackend) is such an engine and a mapping of the
// backend API onto it, with no event queue, clock or node model of its own.
//
// # Models
//
//   - Master: core/master in memory behind one writer that spends
//     master.command_cost per command; commands queue in the order they
//     arrive (after their sender's latency), and the queue's length is
//     sampled. Reads (polls) are served from memory. An outage loses the
//     commands queued or in transit; the master restarts from its durable
//     store (its entities at the outage, every command having been written
//     before it was answered), encoded, decoded and rebuilt by
//     master.Restore: what it kept only in memory is gone.
//   - Nodes: each runs core/agent, the production node agent's instance
//     loop, and executes its effects. A pass fetches the view (the
//     conditional GET: master.ViewVersion against the version held, no view
//     built when unchanged, which keeps 1,000×300 cheap), drains the
//     outbox, plans with core/converge when the agent says so, runs the
//     partition actions one at a time on ONE configuration worker, each
//     taking a modelled duration (the first configuration of an instance
//     agent.deploy, later ones agent.configure), publishes the connection
//     parameters after each configuration, checks promises after each start
//     (and every agent.promise_interval when set), tells the master about
//     destroyed partitions; then sleeps. Each node runs core/agent's
//     Schedule, as the production agent does: its instance passes come when
//     the agent asks, up to a tenth of the delay later (the Schedule's
//     jitter: no agent.poll_jitter any more), at once after a build ends;
//     a boot starts a new Schedule (the first pass within a tenth of
//     agent.poll_interval), and the initial fleet's daemons start at
//     moments drawn within the first poll interval. Usage runs on the same
//     Schedule: a sample every agent.usage_sample_every
//     (modelled loads of the running partitions), a TioXML journal every
//     agent.usage_report_every, kept until the master accepts it (retried
//     with back-off after an outage). Builds run on a software worker
//     (binary cache hit or source build). Reports and publications
//     go to the master through the network; the agent's outbox keeps what
//     cannot be delivered (offline mode), also what an outage lost
//     (publications_kept, publications_dropped when their instance left
//     first); the master's refusals are counted (destroyed_refused,
//     publications_refused): they come after the agent's Done. A
//     crash keeps the agent's records; at boot the supervisor restarts what
//     ran, master or not.
//   - Network: per group latency and loss; partitions cut a region, a list
//     of computers or a random fraction from the master.
//   - Failures: node crashes and reboots, region outages (every node of a
//     region down, then rebooting within a spread), master outages, broken
//     instances (their configuration always fails: the node backs off; so
//     does an instance whose parameter fail is "configure", the fixture
//     releases' convention), transient action failures, failing promises
//     (Engine.SetPromise), software releases that fail to build.
//   - Workload: Poisson arrivals modulated by a diurnal curve, bursts,
//     lifetimes, parameter changes, patience, storms (every live instance of
//     a region or of the grid changed or banged at once), software releases
//     supplied during the run.
//   - Economics: per-computer price lists, requester budgets, revenue from
//     core/account's invoices, utilisation, a provisioning delay, a
//     predictive pre-allocation pool, and speculators (see speculator).
//     The market model (see marketState) applies core/market's policies
//     of the grid's state, a provisioning delay and a price quoted when a
//     request is made, and keeps the ledgers of the declared objectives
//     (Objectives): provider costs (capex of the computers in service,
//     energy and idle partition-hours, SLA penalties for started
//     partitions on computers that are down), requesters' value, waiting
//     and unserved needs, their elasticity, budget per hour and choice of
//     region; computer groups join and retire by opening and closing
//     their allocation scope through core/master.
//
// # Invariants
//
// Checked after every event, on what the event changed (see observe and
// checkEvent): no partition is given to two instances; no instance is lost
// (every requested instance is allocated, pending or destroyed as asked);
// a node never runs two partition actions at once; versions (of instances,
// of views, of what a node applied) only grow; nodes follow core/agent's
// protocol. A full sweep runs at the end
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

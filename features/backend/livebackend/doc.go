// Package livebackend runs the feature scenarios on the real stack: the
// slapgo binary as a master (`slapgo master init`, `slapgo master serve`)
// and as one node agent per computer (`slapgo node format`, `slapgo node
// run`), processes on loopback, driven over HTTPS with mutual TLS through
// master/api, with one certificate per identity as in production.
//
// # Layout
//
// Everything lives under Config.Dir: master/ (the data directory and its
// log), nodes/<COMPUTER>/ (node.cfg, the computer's credentials, its
// software and instance roots, agent.log), software/<name>/ (the fixture
// releases the scenarios define), identities/ (persons' and instances'
// credentials). Each node reaches the master through its own TCP relay on
// loopback, which CutNode severs: a network partition without touching the
// agent. CutMaster kills the master with SIGKILL; RestoreMaster starts it
// again on the same address from the same data directory.
//
// With Config.Postgres and Config.Masters > 1, several masters share one
// PostgreSQL database (master-2/, … are copies of master/ for the CA): the
// clients and the node agents are given every master's URL, each relay
// dials the leader first (by /healthz), CutMaster kills the leader and
// returns once another leads (KillLeader returns at once, for a scenario
// that times the take-over), and RestoreMaster brings the killed one back
// as a follower.
//
// Partitions are formatted unprivileged (no users, no addresses), unless
// Config.Privileged; each node takes its partitions' IPv4 addresses from
// its own 127.x.y.0/24 range, which Linux routes on loopback without any
// set-up, so the fixture releases' services really listen and their
// promises really connect.
//
// # What is observed, and how
//
// Everything a node says of itself comes from `slapgo node status --json`
// (package stackkit reads it):
//
//   - What a node holds and runs: its records and the processes its pid
//     files name.
//   - What a node configured, and why, and how many partitions it worked
//     on at once: the action start and end events of core/agent.
//   - Convergence: every node that is up has a status that says converged
//     (core/converge plans nothing, every report is delivered, no action
//     is in progress) for the view version the master shows it now, for
//     every started partition whose health promise a scenario changed
//     (SetPromise) an anomaly check that began after the change, and has
//     ended no action for two and a half poll intervals. A node cut off,
//     or any node while the master is down, only has to be quiet.
//
// What goes through master/api alone (identities, requests, reads) is
// stackkit.API's, which the cluster backend shares.
//
// Time is wall time: Advance sleeps, and SetTimings is unsupported.
package livebackend

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
// Partitions are formatted unprivileged (no users, no addresses), unless
// Config.Privileged; each node takes its partitions' IPv4 addresses from
// its own 127.x.y.0/24 range, which Linux routes on loopback without any
// set-up, so the fixture releases' services really listen and their
// promises really connect.
//
// # What is observed, and how
//
//   - What a node runs: the agent's pid files (<partition>/var/run) of live
//     processes, and its per-partition record (.slapgo/state.json).
//   - What a node configured, and why: the agent's JSON log
//     ("partition action done|failed" of configure-partition).
//   - Convergence: every node that is up has, for every partition of the
//     view it can get, a record matching the view's version and requested
//     state (or a failure backing off), its reports delivered, its
//     software built or failed as the view asks, no start still checking
//     promises (a configuration logged without the start that follows
//     it), for every started partition whose health promise a scenario
//     changed (SetPromise) an anomaly check that began after the change
//     ("promises checked" in its log), and has logged no action for two
//     and a half poll intervals.
//
// Time is wall time: Advance sleeps, and SetTimings is unsupported.
package livebackend

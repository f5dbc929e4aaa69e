// Package simbackend is the in-process feature backend: a bare sim.Engine
// (core/master, and virtual node agents running core/agent on a virtual
// clock) and the mapping of the backend API onto it. It owns no event
// queue, clock or node model: the scenarios run on the simulator that
// slapgo sim runs, with a fixture world instead of a workload. It is the
// default backend of features/ and runs the whole suite in seconds,
// deterministically.
//
// # The fixture world
//
// Config gives the world's rhythm (a pass every minute plus up to 6 s of
// jitter, the node's Schedule's, 1 s per configuration, 2 minutes per build) as a scenario whose
// grid and workload are empty; the steps register persons and computers
// and request instances through Engine.Apply, as API calls answered at
// once (no command cost, no network delay), and each registered computer
// gets a node agent (Engine.AddNode). Releases are declared with their
// build time and defect (a profile with an unknown recipe, or that does
// not parse, fails to build with the message a real build gives); an
// undeclared URL fails to fetch. An instance requested with fail=configure
// fails every configuration; SetPromise makes a partition's promise fail.
// Promises are checked every poll interval, as in production.
//
// # What it does not model
//
// The master's TLS layer: a call as an impostor (a certificate another
// authority issued) is refused as unsupported, never as if a handshake
// had checked it; the scenarios that check it are tagged
// @real-stack-only @tls and run on the live and cluster backends.
//
// # Convergence
//
// Converge runs the engine until every node that is up has nothing left
// to do on the latest view it can get: no action or build running, no
// command on its way to the master, its reports delivered and the
// master's latest view fetched (when it can reach the master), and a pass
// begun after the call that had nothing to do or ran its whole plan.
//
// # Determinism
//
// The engine orders events by (time, sequence) and draws from the seed
// given in Config, split per node by name (sim.SubSeed). TraceHash is the
// engine's SHA-256 trace hash: the same scenario and seed give the same.
package simbackend

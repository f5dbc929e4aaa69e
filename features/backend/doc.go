// Package backend is what the Gherkin scenarios of features/ talk to: a
// slapgo grid described in domain words (persons, computers, software
// releases, instances, node agents, time, faults), with one implementation
// per way of running it.
//
//   - simbackend: in-process core/master and virtual node agents that run
//     core/converge plans on a virtual clock. Fast and deterministic.
//   - livebackend: the real slapgo binary as master and node agents,
//     processes on loopback, driven through master/api.
//   - cluster: the same binaries in containers (see the cluster-test issue).
//
// # Contract
//
// Every Backend method returns an error that wraps exactly one of the
// sentinel classes below when the grid refused or could not do what was
// asked (ErrInvalid, ErrRefused, ErrNotFound, ErrConflict, ErrUnavailable),
// so that a scenario can say "it fails as invalid input" whatever the
// backend. Other errors mean the backend itself broke (a process died, a
// file could not be written): scenarios report them as failures.
//
// A backend that cannot do something at all (virtual-time knobs on a real
// grid) returns an error wrapping ErrUnsupported; scenarios that need it
// are tagged for the backends that can. A backend running several masters
// on one PostgreSQL database also implements Masters (kill the leader,
// read each master's role); scenarios needing it are tagged @live-only
// @postgres.
//
// # Caller's duties
//
//  1. Create one backend per scenario and Close it at the end, even when
//     the scenario failed.
//  2. Call a backend from one goroutine at a time.
//  3. Name computers and persons with ids model.ValidateID accepts.
package backend

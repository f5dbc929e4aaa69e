// Package stackkit holds the pieces the live and cluster feature backends
// share because both drive a real stack (a slapgo master and agents):
//
//   - API, the part of backend.Backend that goes through master/api alone
//     (one client per identity, requests, reads), which both embed;
//   - Classify, which maps master/api client errors to the backend error
//     classes (backend.ErrInvalid, ErrRefused, ErrNotFound, ErrConflict,
//     ErrUnavailable);
//   - ForgeCertificate, the impostor's certificate: it names an actor the
//     way the master does but is signed by a throw-away authority;
//   - the fixture software release (SoftwareProfile, InstanceProfile,
//     HealthFile) the scenarios' software names stand for;
//   - what a node says of itself through `slapgo node status --json`
//     (StatusArgs, ParseStatus) and what the backends make of it:
//     NodeState, Activity (configurations and the most partitions worked
//     on at once, from the agent's action start and end events) and
//     Waiting (why a node has not converged).
//
// Contract: apart from API, which talks to the master, everything here is
// stateless and touches neither the network nor the file system. Callers
// run the status command where their nodes are, write the release files
// where their nodes can read them and add their own error prefixes.
package stackkit

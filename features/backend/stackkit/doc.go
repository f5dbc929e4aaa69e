// Package stackkit holds the pieces the live and cluster feature backends
// share because both drive a real stack (a slapgo master and agents):
//
//   - Classify, which maps master/api client errors to the backend error
//     classes (backend.ErrInvalid, ErrRefused, ErrNotFound, ErrConflict,
//     ErrUnavailable);
//   - ForgeCertificate, the impostor's certificate: it names an actor the
//     way the master does but is signed by a throw-away authority;
//   - the fixture software release (SoftwareProfile, InstanceProfile,
//     HealthFile) the scenarios' software names stand for;
//   - the agent records a backend reads on a node (PartitionRecord,
//     SoftwareRecord, SoftwareDirName) and SoftwareInUse.
//
// Contract: everything here is stateless; nothing touches the network or
// the file system. Callers write the release files where their nodes can
// read them and add their own error prefixes.
package stackkit

// Package model holds slapgo's domain vocabulary: persons, computers and their
// partitions, software releases, software instances (including shared ones),
// the states they are requested in and reported in, SLA conditions and
// parameters, and the computer view a node converges to.
//
// Contract: the package is pure data plus validation. It performs no I/O and
// reads no clock. Every validation error names the field that was wrong and
// what was expected, so a user can act on it; all of them wrap ErrInvalid.
//
// NB: types here are shared by core/master, core/alloc, core/converge,
// core/account, the wire API (master/api) and the simulator. Changing a field
// name changes the wire format and the stored format: add, do not rename.
package model

// Package testenv is the one way a test says that something it needs is
// missing from the machine: Docker not answering, busybox, a C compiler and
// make, IPv6 on loopback, root, the go command, a slapgo binary.
//
// A test calls one of the Require functions, or Missing with its own check.
// What follows depends on the environment:
//
//   - with CI=true (continuous integration), a missing prerequisite fails
//     the test: a CI run either runs a test or says why it could not;
//   - otherwise the test is skipped with one line naming what is missing
//     and how to provide it.
//
// Each skip, and each test skipped because -short was given (Short), is
// also appended as one line to the file named by $SLAPGO_SKIP_LOG when it
// is set, so that `make test` can print every skip of the run at its end
// instead of letting them pass unseen among hundreds of "ok" lines.
//
// testenv is for tests only; it imports "testing" and must not be linked
// into the slapgo binary.
package testenv

// Package promise runs a partition's promises: the executables of
// <partition>/etc/promise, SlapOS's legacy promises. A promise holds when
// it exits with status 0 within the timeout; any other end (non-zero
// status, signal, timeout, cannot start) is a failure whose message carries
// the tail of what it printed.
//
// Promises run concurrently, each as the partition's user, in the partition
// directory with HOME set to it, in a process group of its own that is
// killed whole when the timeout passes.
//
// Caller's duties: run promises after the partition's services were
// (re)started; treat a non-nil error from Check as the partition's error
// (SlapOS reports the partition "error").
package promise

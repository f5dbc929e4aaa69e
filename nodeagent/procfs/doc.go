// Package procfs reads what the node agent needs of Linux's /proc: the
// process group, start time, CPU time and resident memory of processes.
// The supervisor uses it to recognise its own process groups after a
// restart (a pid is trusted only with the start time recorded beside it);
// the usage collector to measure partitions.
//
// Contract: functions read /proc at the moment they are called and return
// a snapshot; a process may be gone the next instant, so ErrNoProcess is an
// expected answer, not a failure. Times are converted from clock ticks at
// USER_HZ = 100, the value Linux exports to user space on every
// architecture it supports.
//
// Caller's duties: none beyond treating the snapshot as already stale.
package procfs

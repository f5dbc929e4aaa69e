// Package supervisor runs the processes of partitions, natively in the node
// agent's daemon (SlapOS delegates this to supervisord).
//
// A partition's programs are the executables of <partition>/etc/service
// (long-running services: restarted when they die, and each death is
// reported so the instance can be banged) and <partition>/etc/run (also
// restarted, never reported). Each program runs:
//
//   - as the partition's user (Group.Cred) with HOME = the partition
//     directory, in the partition directory, in a process group of its own
//     (Setpgid), so that stopping it reaches every process it forked;
//   - with stdout and stderr appended to <partition>/var/log/<name>.log,
//     where the supervisor also writes a line each time it starts, stops or
//     restarts the program;
//   - with its pid and start time in <partition>/var/run/slapgo.<name>.pid.
//
// A program that exits is started again after a back-off: BackoffBase,
// doubled at each exit that came less than StableAfter after its start, up
// to BackoffMax; a run of StableAfter resets it. What the dead leader left
// in its process group is killed before the restart.
//
// Stop and Start (which stops first) send SIGTERM to each process group,
// then SIGKILL after Grace, and return once every leader was reaped.
//
// # Restart of the daemon
//
// Processes outlive a daemon that dies or is stopped with Release. The next
// daemon does not adopt them (it could not wait for them nor read their
// output): KillStale, which Start calls first, reads the pid files, kills
// the process groups they name that are still alive (a pid counts only
// with the start time written beside it, so a reused pid is left alone),
// and Start then starts the programs again.
//
// # Caller's duties
//
//  1. Give each partition a unique Group.ID and call Start, Stop and
//     Release from any goroutine: the Supervisor serialises them per group.
//  2. Keep Group.OnServiceExit short: it runs on the program's goroutine,
//     before the back-off.
//  3. Call Close (stops everything) or Release (leaves everything running)
//     before the process exits.
package supervisor

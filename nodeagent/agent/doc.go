// Package agent is the node agent: the shell around core/converge that
// makes a computer what the master's view says, in the spirit of SlapOS's
// slapgrid, as one daemon (Run) whose duties also run once each
// (SoftwarePass, InstancePass, ReportPass, DestroyPass, Format).
//
// # Decisions and bookkeeping
//
// The agent decides nothing itself: the instance loop is core/agent's
// state machine, which plans with core/converge; this package executes the
// effects it asks for (fetch the view, run a partition action, publish
// connection parameters, check promises, send a report, hand a build over)
// and records their outcomes on disk. When each duty of the daemon runs
// (instance and software passes, capacity, destruction, usage samples,
// journals and their delivery, traffic captures) and how each backs off is
// core/agent's Schedule's; which service deaths bang is its Bangs'. Before each plan it reads
// converge.Actual from disk and from the processes. Actual lives on disk:
//
//   - per partition, <partition>/.slapgo/state.json (SlapOS's .timestamp
//     role): applied version, last success, failures and back-off, whether
//     the programs run, the destroy hook, a state report not yet delivered,
//     the connection parameters not yet published (unpublished).
//     No file means a clean partition. Running is read from the processes
//     themselves (supervisor, or pid files of another agent process).
//   - per software release, <software_root>/<md5(url)>/.completed (built)
//     and <software_root>/.slapgo/<md5(url)>.json (URL, failures, the state
//     to report), with the build log beside it.
//   - the last view and its ETag, <instance_root>/.slapgo/view.json, so
//     that polls are conditional (304) even after a restart.
//   - for `slapgo node status` (ReadStatus): the action start and end
//     events, <instance_root>/.slapgo/events.jsonl, and the instance
//     loop's state after each pass, <instance_root>/.slapgo/status.json.
//
// # Passes
//
// Software: installs go to a pool of build_workers goroutines (a build
// never delays partition work), reported building, then available or
// error with the last 4 KiB of the build log; removals delete the directory
// and report destroyed, never while the plan destroys a partition.
//
// Instance (core/agent decides, see its package documentation): partition
// actions run one at a time on one worker, in the plan's order; a failed
// action skips the rest of its partition only. configure = link
// software_release to the software, fetch the instance's certificate into
// <partition>/.slapgo, profile.Deploy; then its connection parameters are
// published (also per shared instance): those the master cannot be given
// now stay in the record and go first at the next pass that reaches it,
// those it refuses (400, 403, 404, 409, 422) are dropped; the
// configuration succeeds either way. start = (re)start the programs
// (package supervisor), then the promises (package promise) until they hold
// or promise_timeout passed; stop and destroy kill the process groups.
// After a partition's last action, its state (started, stopped, error) is
// reported; an undelivered report stays in the record and is sent again
// by later passes. A service that dies bangs its instance, at most once
// per deployment (core/agent's Bangs).
//
// Anomaly checks (SlapOS's anomaly mode): the promises of each started
// partition the plan left alone (not reconfigured, not failing) run again,
// at most once per poll_interval per partition, the least recently checked
// first, for at most half a poll interval per pass, on the agent's clock.
// A failure reports the partition error with the promise's output;
// promises that hold again report it started. Only changes are reported;
// a partition without promises costs one directory read. A daemon waits a
// poll interval before the first check of partitions it did not start
// itself (it may just have restarted their programs).
//
// Destroy: stop, kill what the partition's user still runs, run the destroy
// hook as the user, wipe the directory's content (it stays, 0750, owned by
// the user), drop the certificates; then the master is told the partition
// is free. Every instance and destruction pass tells the master again of
// each partition its view still shows busy and requested destroyed while it
// is clean here (wiped, or never deployed on this disk), as SlapOS's report
// loop does: the master keeps a root allocated until its children are
// freed, and a node rebuilt with an empty disk has nothing left to wipe. At
// most once per half poll interval for each, with back-off after errors
// (retry_base doubling to retry_max); partitions the view shows free cost
// nothing.
//
// Report: package usage; journals are spooled under
// <instance_root>/.slapgo/usage before they are posted. Sampling, reporting
// and flushing usage run one at a time.
//
// # Network accounting
//
// Each format that succeeds sets the address → partition table of a
// netacct.Counter from what it announces (every address alone, every IPv6
// range whole). As root, the daemon captures, from the first such format
// until it stops, each of interface_name, ipv6_interface and lo once, each
// as a duty of its own; a capture that cannot open (the interface is
// missing) or that ends is opened again, backing off from poll_interval to
// retry_max (core/agent's Schedule). Each usage sample moves the counter's period into the meter
// (Meter.AddNetwork) before saving it, so the journal carries
// network_in_bytes and network_out_bytes per partition, and logs the
// frames a capture dropped, if any. Without root, accounting is off (one
// log line).
//
// # Usage
//
// The daemon samples the partitions' usage every 5 minutes (disks every
// destruction_interval), closes a journal every usage_interval after the
// meter's period began, and delivers the journals pending at once, then
// with back-off while the master refuses or cannot be reached; a journal
// not delivered never closes a period early (core/agent's Schedule).
//
// # Offline and restarts
//
// A pass that cannot reach the master changes nothing and returns
// ErrOffline; the daemon keeps the programs running and backs off (from
// poll_interval, doubling to retry_max, with jitter; core/agent decides).
// Every time the agent decides on comes from its clock (Options.Now); only
// the daemon's timers wait on the system's. At start the daemon
// restarts the programs of partitions recorded running, after killing the
// process groups a previous agent left (supervisor.KillStale): processes
// are restarted, not adopted.
//
// # Caller's duties
//
//  1. Hold Lock for the instance root while an Agent works (one agent per
//     computer, as SlapOS's pid lock).
//  2. Call Close (programs keep running) or StopServices then Close when
//     done with an Agent outside Run.
//  3. Format before the first instance pass: partitions need their
//     directories (and, as root, their users).
package agent

// Package agent is the node agent's decisions as pure, synchronous state
// machines, in the style of raft's RawNode: they decide, their caller
// executes. Agent is the instance loop; Schedule says when each of the
// node's periodic duties runs (the instance pass, software, capacity,
// destruction, usage sampling, journals and their delivery, traffic
// captures) and how each backs off; Bangs says which service deaths bang
// their instance. The production agent (nodeagent/agent) executes its effects
// for real (processes, files, HTTP) and the simulator (sim/) with modelled
// durations and outcomes: one loop, several executors, the same decisions.
//
// The inputs are the time, the outcome of each effect (the view fetched,
// "not modified" or "unreachable" for a fetch; success or failure for the
// others) and a few events of the executor's own loops (a build ended,
// wake up). The outputs are Effects, one at a time: fetch the view, send a
// report, hand a build over, run a partition action (core/converge's plan),
// publish connection parameters (the instance's own, and one per shared
// instance it hosts), check promises, or sleep until a moment.
// The agent reads no clock, does no I/O and starts no goroutine.
//
// # A pass
//
// A pass starts when the previous one's Sleep ends (PollInterval after it
// ended, sooner when converge's RequeueAfter or a retry is due), when
// Wake or BuildDone was called, or at once with Begin. In order:
//
//  1. fetch the view. Unreachable (or failed): the pass ends, nothing else
//     is done (the programs keep running) and the next one backs off from
//     PollInterval doubling up to Converge.RetryMax.
//  2. drain the outboxes: the reports earlier passes could not send, then
//     the connection parameters they could not publish, each oldest first;
//     the first "unreachable" stops the drain; what the master refuses is
//     dropped, a report that failed otherwise stays for the next pass.
//  3. plan with converge.PlanNode, but only when the view changed,
//     Invalidate/BuildDone/SetView/Abort was called, or converge's deadline
//     (RequeueAfter) or a retry is reached: otherwise the last plan stands
//     (planning again after it ran would plan nothing). Installs become
//     Build effects (each release once until BuildDone). Partition actions
//     run one at a time in the plan's order; a failed action skips the rest
//     of its partition in this plan; removals run last (Config.RunRemovals)
//     unless a destruction failed. A configuration is followed by one
//     Publish per non-empty set of connection parameters it produced, a
//     start by a CheckPromises with AfterStart. A publication that does
//     not reach the master is kept in the publication outbox (latest
//     value per partition and shared instance) and the configuration
//     still succeeds; a kept one is dropped when a newer view no longer
//     places its instance here (or lists its shared instance destroyed)
//     or the partition is destroyed. Each outcome
//     is recorded in Actual (converge's ApplySuccess or ApplyFailure); then
//     the state report: error after any failure (with its message), started
//     after a partition's last action when it is a start, stopped after a
//     stop or a configuration of a stopped instance. A report goes through the
//     outbox: sent at once, kept when the master cannot be reached.
//  4. tell the master of every partition its view shows busy and requested
//     destroyed that is clean here (right after its destruction, then
//     again at most every PollInterval/2 while a view fetched after the
//     last report still shows it so; after a failure, with converge's
//     back-off; never again for that instance once the master refused;
//     an unreachable master stops the round).
//  5. check the promises of the started partitions the plans leave alone
//     (SlapOS's anomaly mode): each at most every PromiseInterval, the
//     least recently checked first, for at most PromiseBudget per pass (at
//     least one). A failure reports the partition in error, promises that
//     hold again report it started; nothing is reported while the result
//     does not change.
//
// A pass with PassOptions.DestroyOnly runs steps 1, 3 (stop and destroy
// actions of partitions requested destroyed only) and 4.
//
// Every RunAction is logged as a start event (at Next) and an end event
// (at Done) in a bounded ring (Events): "configured at most one partition
// at a time" is measured from them.
//
// # Caller's obligations
//
//  1. Serialise the calls: an Agent is not safe for concurrent use.
//  2. Call Next(now) and execute the effect it returns; then call
//     Done(now, outcome) with the time it ended, before the next Next.
//     Next returns the effect in flight again until Done (or Abort).
//  3. Never call Done for a Sleep: call Next again at its Until (or
//     earlier after Wake, BuildDone or Begin; Next sleeps again if too
//     early). Jitter, if any, is the caller's: sleep a little longer.
//  4. Give times that never go backwards.
//  5. Answer FetchView with ViewFetched (a new view, which the agent keeps:
//     do not modify it afterwards), NotModified (only when the agent has a
//     view: after a ViewFetched or SetView), Unreachable or Failed. Answer
//     the effects sent to the master with Refused when it answered no (a
//     4xx: the same request would be refused again), Unreachable when it
//     could not be reached, Failed otherwise.
//  6. Answer a configure-partition with Configured(own, shared) holding
//     what the instance publishes; an empty own set publishes nothing.
//  7. Hand each Build to the build worker and answer OK (or Failed if it
//     was not handed over); report its end with BuildDone. Reports about
//     builds are the executor's: Keep them.
//  8. When the executor's own records or processes say something Actual
//     does not know, update *Actual() between effects and call Invalidate.
//  9. After a restart, give back what a previous run kept: SetView (the
//     cached view), Keep (unsent reports), SetAnomaly.
//  10. Persist what must survive a crash from the accessors (Actual,
//     Pending, Unpublished, Anomaly) after the outcomes that change them
//     (a fetched view may drop kept publications); at start, give the
//     publications back with KeepPublication.
//  11. An interrupted effect (shutdown) is Aborted, not failed: it is not
//     the node's failure. A node that stops abruptly is Crashed (the
//     action in flight failed, nothing runs any more); at its boot, Wake.
//
// # The schedule's caller
//
//  1. Serialise the calls to a Schedule; the tasks themselves may run
//     concurrently (one run of each duty at a time: Take hands out no
//     duty that is running).
//  2. Take every task due at now, run it, and give Done its end time and
//     outcome; sleep until Until (or an input: Wake, SetPending).
//  3. At boot, give back what a previous run kept: SetUsagePeriod (the
//     meter's period start), SetPending (journals not delivered).
//  4. A usage journal (DutyJournal) first takes a last sample, disks
//     included, then closes the period; sampling waits while it runs.
//  5. An instance task runs an Agent until it sleeps and gives Done the
//     Sleep's Until as DutyOutcome.Next.
package agent

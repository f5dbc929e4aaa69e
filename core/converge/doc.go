// Package converge plans how a node converges to its computer view. It is
// level-based, like kubelet and controller-runtime: PlanNode is given the
// whole desired state (the model.ComputerView the master publishes), the
// whole actual state (Actual, the node's own record) and the time, and
// returns the actions that close the gap, in order, and when to look again.
// It never sees "the event that happened", so a lost or repeated event
// cannot mislead it. The node agent and the simulator both call it: the
// decisions are the same in production and in simulation.
//
// # Contract
//
// PlanNode is pure and deterministic: no I/O, no clock, no randomness, no
// state kept between calls, its inputs left untouched. The same inputs give
// the same Plan, whatever the order of the view's lists or of Actual's maps.
// Planning again after every action of a plan succeeded (recorded with
// Actual.ApplySuccess), at the same moment, plans nothing, except for the
// partitions the first plan listed in Waiting because their software was
// missing: their configuration is planned once the install succeeded.
//
// Actions come in this order, each kind after all actions of the previous
// one:
//
//  1. stop-partition    (a partition's stop must precede its destruction)
//  2. destroy-partition (frees files and addresses before new work)
//  3. install-software  (URLs sorted)
//  4. configure-partition
//  5. start-partition   (a configuration restarts services)
//  6. remove-software   (last: the destroyed partitions that used it are gone)
//
// Within a partition kind, partitions come in natural order (slappart2
// before slappart10, see ComparePartitionIDs); within a software kind, URLs
// in byte order. A partition's configuration is never planned in the same
// plan as the install of its software: builds may take hours and never
// block configurations; the partition waits (a note in Plan.Waiting) and a
// later plan configures it.
//
// Failures back off: work that failed is planned again only NextRetry
// (RetryBase doubling up to RetryMax) after its last failure, with reason
// "retry"; a new version of a failed partition is processed at once. A
// successfully processed partition is processed again after
// Config.MaximumPeriodicity ("periodic", SlapOS's maximum_periodicity).
// Plan.RequeueAfter says when the soonest of those moments comes.
//
// A Replanner gives PlanNode's plans to a caller that plans one node again
// and again (core/agent): it keeps each partition's share of its last plan,
// and the sums of the shares (the partitions with work or notes, the
// soonest deadline, the soonest moment a share expires), and plans again
// only the partitions whose view entry changed, that the caller says
// changed (Changed, Reset), whose release's record or request changed
// (SoftwareChanged, the view's software list), or whose own deadline
// came. When one partition
// of 300 comes due, one is planned, and the plan costs the work of that
// partition and of the plan's output, not a walk of the 300. It takes a
// view with the Version and Partitions slice of the last plan's for the
// same view: a view is not modified once given (or Reset follows).
//
// # Caller's duties
//
//  1. Run the actions in the order given, partition actions one at a time
//     (configuration is single-threaded per node). Software actions may run
//     on a separate worker, but a remove-software must wait for the
//     destroy-partition actions of its plan.
//  2. Record every outcome with Actual.ApplySuccess or Actual.ApplyFailure
//     (or bookkeeping that has the same effect), and persist Actual: it is
//     the only memory the planner has.
//  3. When an action of a partition fails, skip that partition's remaining
//     actions in the plan. When a destroy-partition fails, skip the plan's
//     remove-software actions: the partition may still use the software.
//  4. Configure a partition from the view's PartitionView of the action's
//     PartitionID, with the action's State as requested state. A
//     configuration must not start services: start-partition does.
//  5. Plan again after running a plan, when the view changes, and at the
//     latest RequeueAfter later (0: only on change). Planning more often is
//     harmless: nothing is planned before it is due.
package converge

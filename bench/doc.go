// Package bench holds the load generators and benchmarks behind
// `slapgo bench`, and the formatting of their results: figures capacity
// planners can reproduce on their own machines, side by side in one run.
//
//   - RunAlloc: placements per second of core/alloc over a grid of market
//     sizes × partitions × fill × ranking policy, each cell warmed up and
//     timed several times (median and spread).
//   - RunPoll: a real master (`slapgo master serve`, started on loopback,
//     or a running one) under virtual node agents polling their computer's
//     view with If-None-Match, time-compressed, with a small rate of
//     changes so that some polls get the full view; latency from a
//     log-bucket Histogram (no coordinated omission: a poll's latency runs
//     from when it was due), master CPU and RSS from /proc. FindMax raises
//     the load to the highest number of equivalent nodes whose p99 holds
//     (equivalent nodes: computers × compression; only a run of real
//     nodes, one certificate and connection each in real time, is judged
//     against the 10,000-node target, and only over Runs = 3: the target
//     holds in 3 of 3 runs, judgeRuns). Runs repeats the window, the master
//     restarted and new connections made between runs. Many nodes against
//     a master on 127.0.0.1 connect from several loopback addresses (one
//     range of ephemeral ports each), and the open files limit is raised
//     to one file per node (the hard limit only with CAP_SYS_RESOURCE).
//     With Storm, a reconnect storm instead: every node, with its own
//     certificate, connection and TLS session cache, polls once within
//     seconds of a master restart (or a network cut); time until every node
//     has its view, master CPU and peak RSS (ReconnectStorm).
//   - RunStorm: a real node agent (package nodeagent/agent, in this
//     process, unprivileged, or as root with a user per partition) with a
//     fixture release on every partition, all changed at once; time to
//     converge and per-partition times, then the same with incremental
//     reconfiguration switched off; with a PollInterval, the storm under
//     the agent's daemon, until the master holds every new URL and each
//     serves its new page (StormLive): LiveRuns
//     storms, each changing every instance at a drawn phase of the
//     daemon's cycle from one poll to the next (its polls seen in its log,
//     agent.LogInstancePass; one phase per LiveRuns-th of the cycle,
//     livePhases, changeAt), each run's time to
//     converge split into the wait for the next poll and the work after
//     it (attributePolls). `bench all` runs it privileged too when it
//     runs as root. Calibrate turns the measured times into the
//     simulator's agent model.
//   - RunSim: `slapgo sim run` as a child process per grid size: wall
//     time, events/s, virtual-to-real ratio, peak RSS (rusage maxrss).
//   - RunAll: all of them at sizes that fit in about half an hour, written
//     as latest.md and latest.json, with plots (WriteResults, WritePlots).
//   - RunCompare: one benchmark run by two slapgo binaries alternately,
//     figure by figure: the ratio new/base and the noise around it.
//
// # Contract
//
// Every figure comes from the run just made; nothing is a constant. Each
// Run function returns a typed result whose Section method lays it out as a
// report Section: headline Figures judged against the project's Targets,
// Tables of formatted cells, Notes on how it was measured
// and the command that reproduces it. A Report states the Machine first
// (cores, CPU, memory, Go version, kernel, load average at the start).
//
// A target carries the Conditions it is defined for (identity, time
// compression, connections, window, sizes, virtual duration): a figure
// measured otherwise is n/a, with the conditions it missed. A figure
// measured on a noisy machine (load average above MaxLoadPerCore per core,
// or repeats spread by more than MaxSpread) gets no verdict, and says why.
// Otherwise it is PASS or MISS (Judge). The find-max ramp, the verdict of
// one poll window and the choice of the headline load are pure functions
// (ramp, judgeStep, pollHeadline): a load holds only if every measure of
// it held. So is the verdict of repeated runs (judgeRepeated, for the
// poll runs judgeRuns and the live storms judgeLiveStorm): PASS only if
// every run held, no verdict if any run began above the load bound or if
// the runs disagree and their noise spreads (for the live storms, the
// work after the poll: the wait for it is what the runs vary), n/a with
// fewer runs than the target is defined for.
// Reports print as aligned text, Markdown or JSON (the JSON carries the
// typed results too).
//
// # Caller's duties
//
//  1. Give the slapgo binary (Bin) to the benchmarks that start processes:
//     the master, the promises of the storm's instances and the simulator
//     are run from it, never linked in (nothing outside master/ imports the
//     server: the master is reached through master/api only).
//  2. Run benchmarks one at a time on a machine as quiet as possible: the
//     load generator shares the machine with the master it measures (its
//     own CPU is reported beside the master's), and the load average at the
//     start is in every report for that reason.
//  3. Cancel the context to stop a run: masters are stopped with SIGTERM,
//     the storm's partition services are stopped, temporary directories are
//     removed (unless KeepDir).
package bench

// Package usage measures what partitions consume and delivers it to the
// master as TioXML usage journals, with nothing lost and nothing counted
// twice.
//
// # What is measured
//
// Per partition, over each period between two reports:
//
//   - cpu_time (s): CPU time of the processes of the partition's process
//     groups (named by the supervisor's pid files), with the children they
//     waited for, plus what the caller reports of processes that exited
//     (ExitedCPU); the difference between two readings of that cumulative
//     figure;
//   - memory_used (MiB·h): resident memory of those processes, integrated
//     over time between samples (each sample's value holds until the next);
//   - disk_used (GiB·day): blocks used under the partition directory
//     (symbolic links not followed), integrated the same way;
//   - network_in_bytes and network_out_bytes: IP-level bytes received and
//     sent by the partition's addresses, as package netacct counts them;
//     the caller adds each netacct period with Meter.AddNetwork;
//   - whatever the instance wrote in <partition>/var/xml_report/*.xml
//     (account.DecodeConsumption; at most 1 MiB each).
//
// The Meter keeps the running integrals in <spool>/meter.json, so a daemon
// restart loses at most one sampling interval.
//
// # Delivery
//
// Report, for a period [start, now):
//
//  1. moves each partition's report files into <spool>/staging/<partition>/
//     (a file that does not decode goes to <spool>/rejected/ with a note);
//  2. records the period as in flight in meter.json, builds one journal
//     (account.BuildJournal) and writes it to <spool>/pending/<period>.xml,
//     synced, BEFORE posting anything;
//  3. resets the meter, empties staging;
//  4. posts every pending journal, oldest first, and moves each accepted one
//     to <spool>/sent/.
//
// A crash between 2 and 3 is recognised at the next Report by the in-flight
// period whose journal exists: step 3 is finished, not redone. A journal
// the master refuses or cannot receive stays pending and is posted again by
// the next Report or Flush; the master treats a journal it already holds as
// a duplicate (same computer and period), so a journal posted twice is
// counted once.
//
// # Caller's duties
//
//  1. One Report or Flush at a time per spool directory (the node agent's
//     report loop is single).
//  2. Sample the Meter regularly (the agent does at each instance pass) so
//     that memory is integrated over the period rather than guessed from
//     its end.
//  3. Do not Sample or AddNetwork while a Report runs: what is added
//     between its reading of the meter and the start of the next period
//     would be lost (the node agent serialises them).
package usage

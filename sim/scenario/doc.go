// Package scenario reads, checks and resolves simulation scenarios: the YAML
// files under fixtures/scenarios that say which grid to simulate (nodes,
// partitions, regions, prices, networks), how its agents behave (polling,
// builds, configuration times), which workload it serves (arrivals,
// lifetimes, parameter changes, storms), which failures strike it (node
// crashes, region and master outages, network partitions, broken instances)
// and which economics play on it (budgets, pre-allocation pools, a
// provisioning delay, speculators).
//
// # Contract
//
// Load reads a file, applies command-line overrides (--set key=value, see
// Override), refuses unknown fields and ill-typed values, fills defaults and
// validates. Every error names the file, the line and the field path, e.g.
//
//	storm.yaml:12: workload.lifetime.dist: "lognormale" is unknown: expected constant, uniform, exponential or lognormal
//
// and a value given with --set is named by its override instead of a line.
// Unknown fields are refused twice over: a walk of the YAML tree names the
// path, the line and the accepted fields; the final decode runs with
// yaml.Decoder.KnownFields as a second guard.
//
// The resolved Scenario is plain data. Canonical returns its canonical JSON
// (struct fields in declaration order, map keys sorted, durations as Go
// duration strings): the simulator prints it on the first line of every
// run, so that a run's output states its whole configuration.
//
// # Caller's duties
//
//  1. Treat a Scenario as read-only once loaded: the simulator and the sweep
//     runner share one between concurrent runs.
//  2. Keep the overrides in the order given: a later --set of the same key
//     wins, and the reproduce command repeats them in that order.
package scenario

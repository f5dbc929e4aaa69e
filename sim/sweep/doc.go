// Package sweep runs a simulation scenario over a grid of parameter values,
// on every core: each point is one deterministic, single-threaded run, and
// points run side by side (runtime.NumCPU workers by default). --shard i/n
// selects every n-th point from the i-th, so that a batch system can spread
// one sweep over machines and the union of the shards is the whole grid.
//
// Contract: Grid is the Cartesian product of the parameters in the order
// given, the last one varying fastest; a point's index does not depend on
// sharding or on the number of workers, nor do its results. The key "seed"
// is not a scenario field: it sets the point's root seed.
//
// Caller's duties: check every point's overrides before a long sweep (the
// sweep command loads each point's scenario first), and give each sweep
// its own output directory: points overwrite their own files.
package sweep

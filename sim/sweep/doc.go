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
// Outputs: RunRows are one row per run (every objective); Aggregate groups
// them by point (the parameters but the seed) into the mean and the 95%
// confidence half-width over seeds; WriteOutputs writes sweep.csv and the
// figure (DrawFigure) from those rows alone, so that Merge, reading the
// shards' runs.csv back, writes the same bytes as an unsharded sweep.
//
// Caller's duties: check every point's overrides before a long sweep (the
// sweep command loads each point's scenario first), and give each sweep
// its own output directory: points overwrite their own files.
package sweep

// Package market holds the marketplace's policies that depend on the state
// of the grid: how long a request for a new instance is held before the
// master handles it (the provisioning delay) and what a partition-hour
// costs (the price). Each is a Curve, a pure function of State (fill
// level, queue length, recent demand), so that the production master and
// the simulator take the same decision from the same state.
//
// Kinds of curve:
//
//   - constant: Base, whatever the state;
//   - step: Base below the first step, then the value of the highest step
//     whose fill level the grid has reached;
//   - proportional: Base at an empty grid rising linearly to Max at a full
//     one (Base + (Max−Base)·fill);
//   - auction: Base while demand does not exceed the free partitions, then
//     Base·(1 + Gain·(demand/free − 1)), capped at Max, where demand counts
//     the requests pending at the master, those held by the provisioning
//     delay and the recent arrival rate over Horizon: the price a sealed-bid
//     auction for the free partitions would clear at when bidders value a
//     partition in proportion to their number.
//
// A delay curve's values are seconds; a price curve's values are factors
// of the computer's list price (EUR/h × factor = EUR/h).
//
// Contract: Validate before use; Value never fails on a valid Curve, and
// returns the same bits on every machine (additions, multiplications and
// divisions only, no math library).
package market

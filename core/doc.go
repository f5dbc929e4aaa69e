// Package core is the root of slapgo's pure logic: the domain model
// (core/model), the master's state machine (core/master), the allocator
// (core/alloc), node convergence (core/converge) and accounting
// (core/account). The production master and node agent, and the simulator,
// all drive these same packages, so a decision made in production is the
// decision the simulator makes.
//
// # The purity contract
//
// Every package under core/ is deterministic: given the same inputs it
// returns the same outputs, whatever the machine, the hour or the scheduler.
// Concretely, the non-test code of core/...:
//
//  1. imports the standard library and other core/... packages only;
//  2. of the standard library, never imports os/..., net/... (except the
//     value types of net/url and net/netip), io/fs, io/ioutil, syscall,
//     unsafe, runtime/..., sync/..., log/..., math/rand (v1), crypto/rand,
//     database/sql/..., plugin, expvar, nor uses cgo;
//  3. starts no goroutine (no go statement);
//  4. never reads the wall clock nor arms a timer (time.Now, time.Since,
//     time.Until, time.Sleep, time.After, time.AfterFunc, time.Tick,
//     time.NewTimer, time.NewTicker): the time is an argument, a time.Time
//     or a tick count;
//  5. never draws from the global generator of math/rand/v2 (rand.IntN,
//     rand.Float64, …): randomness is a *rand.Rand passed in, built by the
//     caller with rand.New(rand.NewPCG(seed1, seed2)) or rand.NewChaCha8;
//  6. touches no file system through path/filepath (Abs, EvalSymlinks, Glob,
//     Walk, WalkDir) and prints nothing (fmt.Print*, print, println);
//  7. uses no dot imports, which would hide the calls above.
//
// Test files are exempt: benchmarks may time themselves and tests may read
// golden files. purity_test.go in this directory enforces the contract on
// every build, together with the import rules between the top-level
// directories (sim/ never imports master/ or nodeagent/; outside master/,
// only master/api is imported, by everyone but cmd/slapgo which assembles
// the binary; master/api imports core/model alone from the project).
//
// # The caller's duties
//
// The shells around core/ (master/, nodeagent/, sim/) own every effect: they
// read the clock and pass the time in, seed and pass the generators, persist
// the mutations core/ returns before acknowledging them, and execute the
// actions core/ plans. They never re-make a decision that core/ makes.
package core

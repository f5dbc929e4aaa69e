// Package features holds slapgo's behaviour specification: Gherkin
// scenarios (*.feature, github.com/cucumber/godog) and their step
// definitions, run against a backend.Backend.
//
// The scenario text is the specification; the step definitions translate
// it into backend calls in domain words and check outcomes. Sizes,
// durations and thresholds are written in the scenario text, never hidden
// in step code. Step definitions are grouped by domain:
//
//	steps_identity.go    persons, impostors, who may read and change what
//	steps_computers.go   computers, formats, software supply
//	steps_instances.go   requests, trees, shared instances, allocation
//	steps_nodes.go       convergence, time, faults, what nodes run and did
//	steps_accounting.go  usage journals and invoices
//
// register.go holds the hooks and the outcome steps, scenario.go the
// scenario state and the parsing of scenario words. An action step (who
// requests, supplies, reads…) records its outcome; the step after it may
// judge it with `it succeeds` or `it fails as <invalid input|refused|not
// found|a conflict|unavailable> [mentioning "…"]`. An action that failed
// when no step said it should fails the next step, so nothing goes wrong
// unnoticed.
//
// Steps that say what nodes configured ("node X configured …") count the
// configurations of the last time step ("N minutes pass", "the nodes
// converge within …") on the backend's clock: those that ended after the
// time step before it ended, up to its own end. On live and cluster the
// nodes go on between steps; what they do then counts in the next time
// step. Each configuration belongs to the instance its node agent's event
// names.
//
// # Contract
//
// Register installs every step and the scenario hooks on a godog
// ScenarioContext. Each scenario gets a fresh backend from the Factory
// and its own state (a *Scenario carried in the context.Context), so
// scenarios share nothing. The Factory receives the scenario's seed,
// derived from its name (SeedOf), so the same scenario always runs with
// the same seed.
//
// Scenarios tagged @sim-only run only on backends with virtual time and
// modelled scale; scenarios tagged @not-yet-live describe behaviour the
// real stack lacks so far. On backends other than sim both are skipped,
// with the reason their reason tag gives (see SkipReasons). Scenarios
// tagged @real-stack-only check a layer the simulator does not model (the
// TLS handshake): the sim backend skips them, with the reason of their
// reason tag (see RealStackReasons), and refuses, as unsupported, an
// impostor's call rather than pretend to check a certificate. Scenarios
// tagged @live-only need what only the live backend runs (@postgres: two
// masters on a PostgreSQL database); the other backends skip them with the
// reason of their reason tag (see LiveOnlyReasons). A scenario whose tag
// is in Options.Lacks is skipped for want of a prerequisite.
//
// # Caller's duties
//
//  1. Run scenarios one at a time per backend (Concurrency 1): backends
//     are not safe for concurrent use.
//  2. Close nothing: Register's After hook closes each backend.
package features

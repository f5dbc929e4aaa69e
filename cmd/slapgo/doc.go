// Command slapgo is the single binary of slapgo: the master (marketplace),
// the node agent, the client commands (request, supply, …), the simulator
// and the benchmarks are all sub-commands of it.
//
// # Adding a sub-command
//
// Each sub-command family lives in its own file of this package (master.go,
// node.go, sim.go, bench.go, …) and registers itself from an init function:
//
//	func init() {
//		rootCmd.AddCommand(newSimCmd())
//	}
//
//	func newSimCmd() *cobra.Command {
//		return &cobra.Command{
//			Use:   "sim",
//			Short: "Run the deterministic simulator",
//			Args:  cobra.NoArgs,
//			RunE:  func(cmd *cobra.Command, args []string) error { … },
//		}
//	}
//
// rootCmd is a package variable, so it exists before any init function runs,
// whatever the file order. Build commands in a constructor (newXxxCmd) rather
// than as package variables, so tests can assemble a fresh tree.
//
// # Contract for sub-commands
//
//  1. Use RunE and return errors; never call os.Exit or log.Fatal. main prints
//     "slapgo: <error>" on stderr and exits with status 1. Usage is printed
//     only for usage errors (bad flags, bad arguments, unknown command), not
//     for errors returned once the command runs.
//  2. Honour cmd.Context(): it is cancelled on SIGINT and SIGTERM. Long-running
//     commands (master, node run) shut down cleanly when it is done.
//  3. Log with log/slog (slog.Default(), or slog.InfoContext…). The persistent
//     flags --log-level and --log-format configure it before any sub-command
//     hook runs; logs go to stderr.
//  4. Write results to cmd.OutOrStdout() and diagnostics to cmd.ErrOrStderr(),
//     so tests can capture them.
//  5. Do not set PersistentPreRun(E) on rootCmd; sub-commands may define
//     their own hooks, which run after the root's (cobra.EnableTraverseRunHooks
//     is on).
//  6. Give every leaf command an Args check (cobra.NoArgs, ExactArgs…): cobra
//     accepts any argument otherwise. Groups need none: execute makes every
//     command with sub-commands refuse an unknown one (strict.go), and a test
//     walks the tree for both.
//  7. Name a flag's value in its usage with back quotes, one short word:
//     "data directory `DIR` made by slapgo master init". pflag shows the
//     first back-quoted text as the placeholder (--data DIR); a command in
//     back quotes would become the placeholder. A test walks every flag.
//
// The global flags are:
//
//	--log-level  debug|info|warn|error (default info)
//	--log-format text|json (default text)
package main

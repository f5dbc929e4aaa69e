package main

import (
	"github.com/slapgo/slapgo/nodeagent/profile"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(newPromiseCmd())
}

// newPromiseCmd builds `slapgo promise`, the checks that the promise
// scripts written in a partition's etc/promise call. Its arguments are
// parsed by profile.RunPromise, beside the code writing those scripts.
func newPromiseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "promise (port HOST PORT | http URL) [--timeout 5s] [--expect-status 200]",
		Short: "Check a partition's promise: a port that listens, a URL that answers",
		Long: `Check one promise of an instance; exit 0 when it holds, 1 otherwise.
The node agent writes scripts calling it in each partition's etc/promise.

` + profile.PromiseUsage,
		Example: `  slapgo promise port 10.0.0.4 8080 --timeout 5s
  slapgo promise http http://10.0.0.4:8080/ --expect-status 200`,
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs, // checked by profile.RunPromise
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "-h" || a == "--help" {
					return cmd.Help()
				}
			}
			return profile.RunPromise(cmd.Context(), args, cmd.ErrOrStderr())
		},
	}
}

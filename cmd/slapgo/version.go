package main

import (
	"fmt"

	"github.com/slapgo/slapgo/internal/buildinfo"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(newVersionCmd())
}

// newVersionCmd builds `slapgo version`.
func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText(buildinfo.Read()))
			return err
		},
	}
}

// versionText is what `slapgo version` and `slapgo --version` print.
func versionText(info buildinfo.Info) string {
	return fmt.Sprintf("slapgo %s\ncommit: %s\ngo: %s %s\n", info.Version, info.Commit, info.GoVersion, info.Platform)
}

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
			info := buildinfo.Read()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "slapgo %s\ncommit: %s\ngo: %s %s\n",
				info.Version, info.Commit, info.GoVersion, info.Platform)
			return err
		},
	}
}

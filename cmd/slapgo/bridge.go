package main

import (
	"log/slog"

	"github.com/slapgo/slapgo/nodeagent/bridge"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(newBridgeCmd())
}

// newBridgeCmd builds `slapgo bridge`, the TCP proxy that the bridge
// recipe's services run: it makes a program listening only on its
// partition's IPv4 address reachable on the partition's IPv6 address.
func newBridgeCmd() *cobra.Command {
	var o bridge.Options
	cmd := &cobra.Command{
		Use:   "bridge --listen ADDRESS:PORT --target ADDRESS:PORT",
		Short: "Forward TCP connections from an address to another (IPv6 to IPv4 bridge)",
		Long: `Accept TCP connections on --listen and forward each to --target, copying
bytes both ways. Legacy software that listens only on its partition's local
IPv4 address becomes reachable on the partition's IPv6 address without
changing a line of it. The instance-time recipe "bridge" writes a supervised
service running this command.

An end of sending (half-close) is passed on and the other direction goes on;
a connection idle both ways for --idle-timeout is closed; beyond
--max-connections, new clients wait in the listen queue. On SIGTERM or
SIGINT the bridge stops accepting, lets open connections go on for
--drain-timeout, cuts the others and exits with status 0. One log line per
connection says who, how many bytes each way, for how long and why it ended.`,
		Example: `  slapgo bridge --listen [2001:db8::5]:8080 --target 10.0.0.5:8080
  slapgo bridge --listen [2001:db8::5]:5432 --target 10.0.0.5:5432 --idle-timeout 2h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Logger = slog.Default()
			return bridge.ListenAndServe(cmd.Context(), o)
		},
	}
	o.BindFlags(cmd.Flags())
	cmd.MarkFlagRequired("listen")
	cmd.MarkFlagRequired("target")
	return cmd
}

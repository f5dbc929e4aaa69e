package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// strictGroups makes every command of the tree that only groups sub-commands refuse
// an unknown sub-command or an argument, with suggestions, as a usage error
// (non-zero exit). cobra on its own checks this only on the root: under a
// group, `slapgo instance lst` would print the group's help and exit 0, so a
// script would believe it worked. A group called with no argument prints its
// help and succeeds, like the root.
func strictGroups(root *cobra.Command) {
	// A group runs only to print its help: its usage shows its
	// sub-commands, not "slapgo instance [flags]".
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(),
		"Usage:{{if .Runnable}}", "Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" && c.Run != nil {
			c.Run = nil
			c.RunE = helpTopic
			c.Args = cobra.ArbitraryArgs // checked by helpTopic
		}
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		// A group that runs on its own (sim sweep FILE, with sweep merge
		// under it) keeps the Args check of what it runs.
		if c.HasSubCommands() && c.Run == nil && c.RunE == nil {
			c.Args = unknownSubCommand
			c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownSubCommand is the Args check of a command group: no argument is
// accepted, and the error names the closest sub-commands.
func unknownSubCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if sugg := cmd.SuggestionsFor(args[0]); len(sugg) > 0 {
		b.WriteString("\n\nDid you mean this?\n")
		for _, s := range sugg {
			fmt.Fprintf(&b, "\t%s\n", s)
		}
	} else {
		var names []string
		for _, sub := range cmd.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		fmt.Fprintf(&b, "; its sub-commands are: %s", strings.Join(names, ", "))
	}
	return fmt.Errorf("%s", strings.TrimRight(b.String(), "\n"))
}

// helpTopic is `slapgo help [command]`: the help of a command, and an error
// for a topic that is none, rather than the root's help and success.
func helpTopic(cmd *cobra.Command, args []string) error {
	root := cmd.Root()
	target, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return unknownSubCommand(target, rest)
	}
	target.InitDefaultHelpFlag()
	target.InitDefaultVersionFlag()
	return target.Help()
}

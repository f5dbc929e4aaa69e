package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/slapgo/slapgo/internal/buildinfo"
	"github.com/slapgo/slapgo/master/api"
)

// rootCmd is the command every sub-command file registers under (see doc.go).
var rootCmd = newRootCmd()

func init() {
	// Sub-commands may have their own PersistentPreRunE; the root's (logging
	// set-up) must run before them rather than be replaced by them.
	cobra.EnableTraverseRunHooks = true
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, rootCmd, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Log formats accepted by --log-format.
const (
	logFormatText = "text"
	logFormatJSON = "json"
)

// newRootCmd builds the root command with the global flags and no
// sub-commands.
func newRootCmd() *cobra.Command {
	var logLevel, logFormat string
	info := buildinfo.Read()
	cmd := &cobra.Command{
		Use:     "slapgo",
		Version: info.Version,
		Short:   "slapgo is a distributed cloud where anyone can be a cloud provider",
		Long: `slapgo is SlapOS re-built in Go: a distributed cloud where anyone can be a
cloud provider.

A master keeps track of people, computers, software releases and instances, and
acts as a marketplace: requests for software instances are placed automatically
on computers that meet their conditions (region, hardware, price), or on the
computer they name. Node agents turn each computer into partitions (a Unix user,
a directory and addresses each), install the software supplied to the computer,
run the instances the master allocates there and report their state and usage.

The same decision logic also drives a deterministic simulator of hundreds of
virtual nodes, used to study provisioning economics and reconfiguration storms.`,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(cmd.ErrOrStderr(), logLevel, logFormat)
			if err != nil {
				return err
			}
			slog.SetDefault(logger)
			return nil
		},
	}
	cmd.SetVersionTemplate(versionText(info))
	flags := cmd.PersistentFlags()
	flags.StringVar(&logLevel, "log-level", "info", "minimum `LEVEL` of logged events: debug, info, warn or error")
	flags.StringVar(&logFormat, "log-format", logFormatText, "`FORMAT` of logged events: text or json")
	return cmd
}

// newLogger builds the process logger for the --log-level and --log-format
// values, writing to w.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case logFormatText:
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case logFormatJSON:
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
}

// execute runs root with args and returns the process exit status. Errors are
// printed to stderr as "slapgo: <error>", followed by the command's usage when
// the error is about how the command was called rather than about running it.
func execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	if args == nil {
		args = []string{} // nil would make cobra read os.Args
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true // printed below, in our format
	root.SilenceUsage = true  // printed below, only for usage errors
	root.InitDefaultCompletionCmd(args...)
	strictGroups(root)
	running := false
	markRunning(root, &running)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		fmt.Fprintln(stderr, "slapgo: interrupted")
		return 1
	}
	fmt.Fprintf(stderr, "slapgo: %v\n", err)
	var unreachable *api.UnreachableError
	if errors.As(err, &unreachable) && errors.Is(err, syscall.ECONNREFUSED) {
		fmt.Fprintln(stderr, "slapgo: is the master running? (make run / slapgo master serve)")
	}
	if !running && cmd != nil {
		fmt.Fprintf(stderr, "\n%s", cmd.UsageString())
	}
	var ec *exitError
	if errors.As(err, &ec) {
		return ec.code
	}
	return 1
}

// exitError is an error with its own exit status, for outcomes a script
// tells apart (see `slapgo request --wait`).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// markRunning makes every command of the tree set *running as soon as its own
// hooks start. Flags, arguments and required flags are all checked before a
// command's PreRun, so an error seen while *running is false is a usage error.
// Persistent hooks are left alone: they run before required flags are checked,
// and the root's only validates the global flags.
func markRunning(root *cobra.Command, running *bool) {
	mark := func() { *running = true }
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.PreRunE = wrapRunE(c.PreRunE, mark)
		c.PreRun = wrapRun(c.PreRun, mark)
		c.RunE = wrapRunE(c.RunE, mark)
		c.Run = wrapRun(c.Run, mark)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// wrapRunE returns f preceded by before; nil stays nil, because cobra tells
// runnable commands from groups by their Run/RunE being set.
func wrapRunE(f func(*cobra.Command, []string) error, before func()) func(*cobra.Command, []string) error {
	if f == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) error {
		before()
		return f(cmd, args)
	}
}

// wrapRun is wrapRunE for hooks that cannot fail.
func wrapRun(f func(*cobra.Command, []string), before func()) func(*cobra.Command, []string) {
	if f == nil {
		return nil
	}
	return func(cmd *cobra.Command, args []string) {
		before()
		f(cmd, args)
	}
}

package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/slapgo/slapgo/internal/localgrid"
)

func init() {
	rootCmd.AddCommand(newDemoCmd())
}

// demoDir returns the grid folder: --dir, else .local-grid in the checkout.
func demoDir(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	root, err := localgrid.FindCheckout(".")
	if err != nil {
		return "", fmt.Errorf("%w: give --dir", err)
	}
	return filepath.Join(root, ".local-grid"), nil
}

// demoSoftware returns the URL of the software to deploy: --software (a
// URL, or a profile's path), else the checkout's hello fixture.
func demoSoftware(software string) (string, error) {
	if software == "" {
		root, err := localgrid.FindCheckout(".")
		if err != nil {
			return "", fmt.Errorf("%w: give --software", err)
		}
		software = filepath.Join(root, "fixtures", "software", "hello", "software.cfg")
	}
	if u, err := url.Parse(software); err == nil && u.Scheme != "" && strings.Contains(software, "://") {
		return software, nil
	}
	abs, err := filepath.Abs(software)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("--software: %w", err)
	}
	return "file://" + abs, nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func newDemoCmd() *cobra.Command {
	var dir, software string
	var reset bool
	var port int
	var poll, timeout time.Duration
	cmd := &cobra.Command{
		Use:   "demo [--dir DIR] [--reset]",
		Short: "Start a local grid (master and node agent) in .local-grid and deploy the sample software",
		Long: `Start a whole grid on this machine, in one folder (default .local-grid in the
checkout): a master on SQLite and a node agent, both running in the
background, then deploy the sample software (fixtures/software/hello, a C
program built from source: it needs cc and make) and wait until its instance
answers. It prints each step as it happens, then where to look and how to use
the other commands against the grid.

Running it again reuses the folder: the master's data, the credentials, the
built software and the instance; it restarts the master or the node agent
only if they stopped or the slapgo binary changed. --reset stops the grid
and wipes the folder first. "slapgo demo stop" stops the grid.

The node agent runs unprivileged even as root: a local grid adds no user,
address or tap to the machine. Its partitions listen on addresses of
127.0.0.0/8, which Linux answers on the loopback interface.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := demoDir(dir)
			if err != nil {
				return err
			}
			// The sample greets its name parameter: its answer tells
			// that it serves what was requested.
			expect := ""
			if software == "" {
				expect = localgrid.InstanceParameters["name"]
			}
			sw, err := demoSoftware(software)
			if err != nil {
				return err
			}
			if err := localgrid.CheckBuildTools(); err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("cannot find the slapgo binary to run in the background: %w", err)
			}
			shownBin := localgrid.Show(bin)
			if !strings.Contains(shownBin, "/") {
				shownBin = "./" + shownBin // not looked up in PATH
			}
			out := cmd.OutOrStdout()
			res, err := localgrid.Up(cmd.Context(), localgrid.Options{Dir: d, Binary: bin, Software: sw, Port: port,
				PollInterval: poll, Timeout: timeout, Expect: expect, Reset: reset, Out: out, Live: isTerminal(out)})
			if err != nil {
				if running := localgrid.Running(d); len(running) > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "The grid keeps running in the background: %s. Stop it with: %s demo stop%s\n",
						strings.Join(running, ", "), shownBin, dirFlag(dir))
				}
				return err
			}
			printDemoSummary(out, res, shownBin, dirFlag(dir))
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", "", "grid `DIR` (default .local-grid in the checkout)")
	f := cmd.Flags()
	f.BoolVar(&reset, "reset", false, "stop the grid and wipe its folder first")
	f.StringVar(&software, "software", "", "software release to deploy instead of the sample: URL or profile path; its instance must publish a url")
	f.IntVar(&port, "port", localgrid.DefaultPort, "master port when free, else any free port (0: any free port)")
	f.DurationVar(&poll, "poll-interval", localgrid.DefaultPollInterval, "the node agent's poll_interval")
	f.DurationVar(&timeout, "timeout", localgrid.DefaultTimeout, "how long to wait for the instance (first build included)")

	stop := &cobra.Command{
		Use:   "stop [--dir DIR]",
		Short: "Stop the local grid: the node agent (and the instances' programs), then the master",
		Long: `Stop the processes "slapgo demo" started in the background: the node agent
(SIGTERM: it stops the programs of its partitions), programs left behind by
an agent that died, then the master. The folder and its data stay: "slapgo
demo" starts the grid again where it was.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := demoDir(dir)
			if err != nil {
				return err
			}
			_, err = localgrid.Stop(d, cmd.OutOrStdout())
			return err
		},
	}
	cmd.AddCommand(stop)
	return cmd
}

// dirFlag repeats --dir in the commands the summary suggests.
func dirFlag(dir string) string {
	if dir == "" {
		return ""
	}
	return " --dir " + dir
}

// printDemoSummary tells where to look and what to do next.
func printDemoSummary(w io.Writer, res localgrid.Result, bin, dirFlag string) {
	l := res.Layout
	show := localgrid.Show
	stopHint := fmt.Sprintf("make stop  (or: %s demo stop); %s demo --reset starts afresh", bin, bin)
	if dirFlag != "" {
		stopHint = fmt.Sprintf("%s demo stop%s; %s demo --reset%s starts afresh", bin, dirFlag, bin, dirFlag)
	}
	fmt.Fprintf(w, `
The local grid runs in the background (master pid %d, node agent pid %d).

  instance  %s: %s answered %q
  portal    %s
            sign in as %s (once; valid 24 h, then: %s person login-link %s):
              %s
            (the master's certificate is its own CA's: the browser asks to accept it)
  logs      %s, %s
            the instance's: %s
  CLI       as person %s, with its certificate:
              export SLAPGO_MASTER=%s
              export SLAPGO_CERT=%s
              export SLAPGO_KEY=%s
              export SLAPGO_CA=%s
              %s instance list
            (or: . %s; or: %s instance list --client-config %s)
  stop      %s
`,
		res.MasterPID, res.NodePID,
		localgrid.InstanceTitle, res.InstanceURL, res.Answer,
		res.PortalURL, localgrid.PersonID, bin, localgrid.PersonID, res.SignInLink,
		show(l.MasterLog()), show(l.NodeLog()),
		show(filepath.Join(l.InstanceRoot(), res.PartitionID, "var", "log"))+"/",
		localgrid.PersonID,
		res.MasterURL, l.PersonCert(), l.PersonKey(), l.PersonCA(),
		bin,
		show(l.EnvFile()), bin, show(l.ClientConfig()),
		stopHint)
}

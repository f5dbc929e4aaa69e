package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/slapgo/slapgo/nodeagent/agent"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/format"
)

func init() {
	rootCmd.AddCommand(newNodeCmd())
}

// defaultNodeConfig is where the node configuration is read from when
// neither --config nor SLAPGO_NODE_CONFIG says.
const defaultNodeConfig = "/etc/slapgo/node.cfg"

// nodeOptions are the flags every node command shares.
type nodeOptions struct {
	config       string
	unprivileged bool
}

func (o *nodeOptions) load() (config.Config, error) {
	path := o.config
	if path == "" {
		path = os.Getenv("SLAPGO_NODE_CONFIG")
	}
	if path == "" {
		path = defaultNodeConfig
	}
	return config.Load(path)
}

// agent loads the configuration, takes the agent lock (released by the
// returned function) and makes the agent.
// withAgent runs a one-pass command with the configured agent, holding the
// instance root's lock, and closes both afterwards.
func (o *nodeOptions) withAgent(pass func(cmd *cobra.Command, a *agent.Agent) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		a, release, err := o.agent()
		if err != nil {
			return err
		}
		defer release()
		defer a.Close()
		return pass(cmd, a)
	}
}

// actionStatus is how a one-pass command prints an action's outcome.
func actionStatus(err error) string {
	if err != nil {
		return "FAILED: " + err.Error()
	}
	return "ok"
}

func (o *nodeOptions) agent() (*agent.Agent, func(), error) {
	cfg, err := o.load()
	if err != nil {
		return nil, nil, err
	}
	release, err := agent.Lock(cfg)
	if err != nil {
		return nil, nil, err
	}
	a, err := agent.New(cfg, agent.Options{Unprivileged: o.unprivileged})
	if err != nil {
		release()
		return nil, nil, err
	}
	return a, release, nil
}

// newNodeCmd builds `slapgo node …`.
func newNodeCmd() *cobra.Command {
	o := &nodeOptions{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a compute node: format partitions, build software, run instances, report usage",
		Long: `The node agent turns this computer into partitions and converges them to what
the master asks: software releases built once per computer, instances
configured one partition at a time, their processes supervised, their usage
reported. Each loop runs once as a command; "node run" runs them all as a
daemon.

The configuration is an INI file in the style of slapos.cfg (--config, env
SLAPGO_NODE_CONFIG, default ` + defaultNodeConfig + `):

  [slapos]      computer_id, master_url, software_root, instance_root,
                key_file, cert_file, ca_file
  [slapformat]  partition_amount, partition_base_name, user_base_name,
                tap_base_name, interface_name, ipv4_local_network,
                ipv6_interface, create_tap
  [slapgrid]    maximum_periodicity, poll_interval, retry_base, retry_max,
                promise_timeout, usage_interval, destruction_interval,
                capacity_interval, stop_grace, build_workers

Unknown sections and keys are errors. Without root (or with
--unprivileged) partitions run as the agent's own user and format only
makes directories.`,
	}
	cmd.PersistentFlags().StringVar(&o.config, "config", "", "node configuration `FILE` (env SLAPGO_NODE_CONFIG, default "+defaultNodeConfig+")")
	cmd.PersistentFlags().BoolVar(&o.unprivileged, "unprivileged", false, "run partitions as this user, create no user, address or tap (implied without root)")
	cmd.AddCommand(newNodeRegisterCmd(o), newNodeFormatCmd(o), newNodeSoftwareCmd(o), newNodeInstanceCmd(o),
		newNodeReportCmd(o), newNodeRunCmd(o), newNodeStatusCmd(o))
	return cmd
}

func newNodeRegisterCmd(o *nodeOptions) *cobra.Command {
	var ro agent.RegisterOptions
	cmd := &cobra.Command{
		Use:   "register (--token T --ca FILE | --from DIR | --cert F --key F --ca F)",
		Short: "Install the computer's credentials: from a one-time token or from `slapgo computer add`",
		Long: `Install the computer's certificate, key and the master's CA into the files
[slapos] cert_file, key_file and ca_file name, after checking with the master
that they are those of [slapos] computer_id.

  --token T --ca FILE   exchange a token printed by "slapgo computer add --token"
                        (FILE is the master's ca.crt, to trust the master)
  --from DIR            use ID.crt, ID.key and ca.crt written by "slapgo computer add --out DIR"
  --cert F --key F --ca F  use these files`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load()
			if err != nil {
				return err
			}
			files, err := agent.Register(cmd.Context(), cfg, ro)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "computer %s registered at %s; credentials written: %s\n",
				cfg.ComputerID, firstNonEmpty(ro.MasterURL, cfg.MasterURL), strings.Join(files, " "))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&ro.MasterURL, "master", "", "master `URL` (default [slapos] master_url)")
	f.StringVar(&ro.Token, "token", "", "one-time registration `TOKEN`")
	f.StringVar(&ro.CAFile, "ca", "", "the master's CA certificate, a PEM `FILE`")
	f.StringVar(&ro.FromDir, "from", "", "`DIR` written by slapgo computer add --out")
	f.StringVar(&ro.CertFile, "cert", "", "the computer's certificate, a PEM `FILE`")
	f.StringVar(&ro.KeyFile, "key", "", "the computer's private key, a PEM `FILE`")
	f.BoolVar(&ro.Force, "force", false, "replace credentials already installed")
	return cmd
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func printFormat(w io.Writer, res format.Result) {
	mode := "privileged"
	if !res.Privileged {
		mode = "unprivileged"
	}
	fmt.Fprintf(w, "format (%s): %d partitions\n", mode, len(res.Capacity.Partitions))
	for _, d := range res.Done {
		fmt.Fprintf(w, "  done:    %s\n", d)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "  skipped: %s\n", s)
	}
	if h := res.Capacity.Hardware; h != nil {
		fmt.Fprintf(w, "  hardware: %s, %d CPU, %d MiB RAM, %d GiB disk\n", h.Arch, h.CPU, h.RAM, h.Disk)
	}
}

func newNodeFormatCmd(o *nodeOptions) *cobra.Command {
	var noAnnounce bool
	cmd := &cobra.Command{
		Use:   "format",
		Short: "Create partitions (users, directories, addresses, taps) and announce them to the master",
		Long: `Create, for each of [slapformat] partition_amount partitions, the user
slapuserN (own group, locked), the directory <instance_root>/slappartN (0750,
owned by it), an IPv4 address from ipv4_local_network and an IPv6 address on
the configured interfaces, and, with create_tap, a tap slaptapN owned by the
user; then announce the partitions and the hardware to the master.

It is idempotent, and partition_amount can never decrease. Without root it
only makes directories and says what it skipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.load()
			if err != nil {
				return err
			}
			if noAnnounce {
				res, err := format.Run(cmd.Context(), &cfg, format.Options{Unprivileged: o.unprivileged})
				printFormat(cmd.OutOrStdout(), res)
				return err
			}
			release, err := agent.Lock(cfg)
			if err != nil {
				return err
			}
			defer release()
			a, err := agent.New(cfg, agent.Options{Unprivileged: o.unprivileged})
			if err != nil {
				return err
			}
			res, err := a.Format(cmd.Context())
			printFormat(cmd.OutOrStdout(), res)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "capacity announced to %s\n", cfg.MasterURL)
			return nil
		},
	}
	cmd.Flags().BoolVar(&noAnnounce, "no-announce", false, "format only, do not contact the master")
	return cmd
}

func newNodeSoftwareCmd(o *nodeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "software",
		Short: "Build the software supplied to this computer, remove what is no longer supplied (one pass)",
		Args:  cobra.NoArgs,
		RunE: o.withAgent(func(cmd *cobra.Command, a *agent.Agent) error {
			res, err := a.SoftwarePass(cmd.Context(), true)
			w := cmd.OutOrStdout()
			for _, u := range res.Started {
				fmt.Fprintf(w, "built (or tried): %s\n", u)
			}
			for _, u := range res.Removed {
				fmt.Fprintf(w, "removed: %s\n", u)
			}
			return err
		}),
	}
}

func newNodeInstanceCmd(o *nodeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "instance",
		Short: "Converge the partitions to the master's view, one at a time (one pass)",
		Long: `Fetch the computer's view, plan, and run the plan: configure changed
partitions one at a time, (re)start their programs, check their promises,
publish their connection parameters and report their states. The programs
started keep running after the command (the daemon, "node run", restarts and
supervises them).`,
		Args: cobra.NoArgs,
		RunE: o.withAgent(func(cmd *cobra.Command, a *agent.Agent) error {
			res, err := a.InstancePass(cmd.Context())
			w := cmd.OutOrStdout()
			for _, r := range res.Results {
				status := actionStatus(r.Err)
				fmt.Fprintf(w, "%s (%s): %s\n", r.Action, r.Duration.Round(1e6), status)
			}
			for _, n := range res.Plan.Waiting {
				fmt.Fprintf(w, "waiting: %s\n", n)
			}
			if err != nil {
				return err
			}
			if n := res.Failed(); n > 0 {
				return fmt.Errorf("%d of %d partition actions failed", n, len(res.Results))
			}
			return nil
		}),
	}
}

func newNodeReportCmd(o *nodeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "report",
		Short: "Report usage to the master and destroy the partitions it asks destroyed (one pass)",
		Args:  cobra.NoArgs,
		RunE: o.withAgent(func(cmd *cobra.Command, a *agent.Agent) error {
			w := cmd.OutOrStdout()
			res, uerr := a.ReportPass(cmd.Context())
			if res.Period != "" {
				fmt.Fprintf(w, "usage journal %s: %d movements; sent %d, pending %d\n", res.Period, res.Movements, len(res.Sent), len(res.Pending))
			}
			for _, r := range res.Rejected {
				fmt.Fprintf(w, "rejected report: %s\n", r)
			}
			results, derr := a.DestroyPass(cmd.Context())
			for _, r := range results {
				status := actionStatus(r.Err)
				fmt.Fprintf(w, "%s: %s\n", r.Action, status)
			}
			if uerr != nil {
				return uerr
			}
			return derr
		}),
	}
}

func newNodeRunCmd(o *nodeOptions) *cobra.Command {
	var ro agent.RunOptions
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node agent as a daemon: every loop, until SIGTERM",
		Long: `Run every loop of the node agent until SIGTERM or SIGINT: instance and
software every poll_interval (with jitter), capacity every capacity_interval,
usage every usage_interval, destruction every destruction_interval.

At start it formats the computer and restarts the programs of the partitions
that were running (killing what a previous agent left of them, found by the
pid files in <partition>/var/run). When the master is unreachable the
programs keep running and the loops back off. On SIGTERM the loops stop and
the programs are stopped, unless --keep-services.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, release, err := o.agent()
			if err != nil {
				return err
			}
			defer release()
			return a.Run(cmd.Context(), ro)
		},
	}
	cmd.Flags().BoolVar(&ro.KeepServices, "keep-services", false, "leave the partitions' programs running when the agent stops")
	return cmd
}

func newNodeStatusCmd(o *nodeOptions) *cobra.Command {
	var jsonOut bool
	var events int
	cmd := &cobra.Command{
		Use:   "status [--json] [--events N]",
		Short: "Show what the node holds and runs, its current plan (empty: converged) and its recent actions",
		Long: `Read the node's records, processes and last view (no master is asked, no lock
taken: a daemon may run) and show each partition as the view asks it and as
the node holds it, the plan core/converge makes of them now (an empty plan
with every report delivered means converged, and why not otherwise), the
instance loop's last state as the daemon wrote it, and the last partition
actions started and ended (with the most that were in progress at once).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.load()
			if err != nil {
				return err
			}
			st, err := agent.ReadStatus(cfg, time.Now(), events)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if jsonOut {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printNodeStatus(w, st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&jsonOut, "json", false, "print the status as JSON")
	cmd.Flags().IntVar(&events, "events", agent.StatusEvents, "show the last N action events (-1: all the node's files keep)")
	return cmd
}

// printNodeStatus prints a status for people.
func printNodeStatus(w io.Writer, st agent.NodeStatus) {
	fmt.Fprintf(w, "computer %s at %s", st.ComputerID, st.At.Format(time.RFC3339))
	if st.HasView {
		fmt.Fprintf(w, ", view version %d", st.ViewVersion)
	}
	fmt.Fprintln(w)
	if st.Converged {
		fmt.Fprintln(w, "converged")
	} else {
		fmt.Fprintln(w, "not converged:")
		for _, why := range st.Waiting {
			fmt.Fprintf(w, "  %s\n", why)
		}
	}
	for _, n := range st.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PARTITION\tASKED\tHOLDS\tRUNNING\tFAILURES\tUNREPORTED")
	for _, p := range st.Partitions {
		asked := string(p.Requested)
		if p.ViewInstance != "" {
			asked = fmt.Sprintf("%s %s v%d", p.ViewInstance, p.Requested, p.ViewVersion)
		}
		holds := "-"
		if p.InstanceGUID != "" {
			holds = fmt.Sprintf("%s v%d", p.InstanceGUID, p.AppliedVersion)
		}
		unreported := "-"
		if p.Unreported != nil {
			unreported = string(p.Unreported.State)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\n", p.ID, asked, holds, p.Running, p.Failures, unreported)
	}
	tw.Flush()
	for _, sw := range st.Software {
		fmt.Fprintf(w, "software %s: requested %s, installed %v, failures %d, reported %s\n",
			sw.URL, cmp.Or(string(sw.Requested), "-"), sw.Installed, sw.Failures, cmp.Or(string(sw.Reported), "-"))
	}
	if a := st.Agent; a != nil {
		fmt.Fprintf(w, "agent (pid %d) at %s: converged %v, offline %d, next pass %s, %d reports in its outbox\n",
			a.PID, a.At.Format(time.RFC3339), a.Converged, a.Offline, a.NextPass.Format(time.RFC3339), len(a.Outbox))
	}
	fmt.Fprintf(w, "last %d action events (at most %d in progress at once):\n", len(st.Events), st.MaxConcurrent)
	for _, e := range st.Events {
		line := fmt.Sprintf("  %s %-5s %s %s (%s, v%d)", e.At.Format("15:04:05.000"), e.Kind, e.Action, cmp.Or(e.Partition, e.URL), e.Reason, e.Version)
		if e.Error != "" {
			line += ": " + e.Error
		}
		fmt.Fprintln(w, line)
	}
}

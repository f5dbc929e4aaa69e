package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// clientOptions are how a person reaches the master: flags, then the
// SLAPGO_* environment, then the client configuration file.
type clientOptions struct {
	master, cert, key, ca string
	configFile            string
	json                  bool
}

// clientConfig is the YAML client configuration file
// (default ~/.config/slapgo/client.yaml).
type clientConfig struct {
	Master string `yaml:"master"`
	Cert   string `yaml:"cert"`
	Key    string `yaml:"key"`
	CA     string `yaml:"ca"`
}

func defaultClientConfigPath() string {
	if p := os.Getenv("SLAPGO_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "slapgo", "client.yaml")
}

func (o *clientOptions) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&o.master, "master", "", "master URL, https://host:port (env SLAPGO_MASTER)")
	f.StringVar(&o.cert, "cert", "", "your certificate, PEM (env SLAPGO_CERT)")
	f.StringVar(&o.key, "key", "", "your private key, PEM (env SLAPGO_KEY)")
	f.StringVar(&o.ca, "ca", "", "the master's CA certificate, PEM (env SLAPGO_CA)")
	f.StringVar(&o.configFile, "client-config", "", "client configuration file (YAML: master, cert, key, ca; env SLAPGO_CONFIG; default ~/.config/slapgo/client.yaml)")
	f.BoolVar(&o.json, "json", false, "print JSON instead of tables")
}

// resolve fills unset options from the environment and the config file.
func (o *clientOptions) resolve() error {
	env := func(dst *string, name string) {
		if *dst == "" {
			*dst = os.Getenv(name)
		}
	}
	env(&o.master, "SLAPGO_MASTER")
	env(&o.cert, "SLAPGO_CERT")
	env(&o.key, "SLAPGO_KEY")
	env(&o.ca, "SLAPGO_CA")
	path := o.configFile
	explicit := path != ""
	if !explicit {
		path = defaultClientConfigPath()
	}
	if path != "" && (o.master == "" || o.cert == "" || o.key == "" || o.ca == "") {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			var cfg clientConfig
			dec := yaml.NewDecoder(strings.NewReader(string(data)))
			dec.KnownFields(true)
			if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("client configuration %s: %w", path, err)
			}
			rel := func(p string) string {
				if p != "" && !filepath.IsAbs(p) {
					return filepath.Join(filepath.Dir(path), p)
				}
				return p
			}
			def := func(dst *string, v string) {
				if *dst == "" {
					*dst = v
				}
			}
			def(&o.master, cfg.Master)
			def(&o.cert, rel(cfg.Cert))
			def(&o.key, rel(cfg.Key))
			def(&o.ca, rel(cfg.CA))
		case explicit || !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("client configuration: %w", err)
		}
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{o.master, "--master"}, {o.cert, "--cert"}, {o.key, "--key"}, {o.ca, "--ca"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("not set: %s (give the flags, the SLAPGO_* environment or a client configuration file)", strings.Join(missing, ", "))
	}
	return nil
}

func (o *clientOptions) client() (*api.Client, error) {
	if err := o.resolve(); err != nil {
		return nil, err
	}
	return api.NewClient(o.master, o.cert, o.key, o.ca)
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// writeCredentials stores credentials as NAME.crt, NAME.key and ca.crt in dir.
func writeCredentials(dir, name string, c api.Credentials) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	files := []struct {
		name, data string
		mode       os.FileMode
	}{
		{name + ".crt", c.CertificatePEM, 0o644},
		{name + ".key", c.KeyPEM, 0o600},
		{"ca.crt", c.CAPEM, 0o644},
	}
	var out []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if f.name != "ca.crt" {
			if _, err := os.Stat(p); err == nil {
				return nil, fmt.Errorf("%s exists: refusing to overwrite credentials", p)
			}
		}
		if err := os.WriteFile(p, []byte(f.data), f.mode); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func newClientCommands() []*cobra.Command {
	o := &clientOptions{}
	cmds := []*cobra.Command{
		newWhoamiCmd(o), newPersonCmd(o), newComputerCmd(o), newSupplyCmd(o),
		newRequestCmd(o), newInstanceCmd(o), newInvoiceCmd(o), newPendingCmd(o),
	}
	for _, c := range cmds {
		o.register(c)
	}
	return cmds
}

func init() {
	rootCmd.AddCommand(newClientCommands()...)
}

func newWhoamiCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use: "whoami", Short: "Show the identity of your certificate as the master sees it", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			w, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), w)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", w.Identity.Kind, w.Identity.ID)
			return nil
		},
	}
}

func newPersonCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "person", Short: "Manage persons (admin)"}
	var name, email, out string
	add := &cobra.Command{
		Use: "add [ID]", Short: "Add a person and write its certificate and key", Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			req := api.AddPersonRequest{Name: name, Email: email}
			if len(args) == 1 {
				req.ID = args[0]
			}
			res, err := c.AddPerson(cmd.Context(), req)
			if err != nil {
				return err
			}
			files, err := writeCredentials(out, res.Person.ID, res.Credentials)
			if err != nil {
				return fmt.Errorf("person %s was created but its credentials could not be written: %w", res.Person.ID, err)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"person": res.Person, "files": files})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "person %s created; credentials: %s\n", res.Person.ID, strings.Join(files, " "))
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringVar(&email, "email", "", "e-mail address")
	add.Flags().StringVar(&out, "out", ".", "directory for ID.crt, ID.key and ca.crt")
	cmd.AddCommand(add)
	cmd.AddCommand(newPersonPortalCmds(o)...)
	return cmd
}

func parsePrices(words []string) (model.PriceList, error) {
	if len(words) == 0 {
		return nil, nil
	}
	kv, err := model.ParseKeyValues("price", words)
	if err != nil {
		return nil, err
	}
	p := model.PriceList{}
	for k, v := range kv {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("--price %s=%q: expected a non-negative number", k, v)
		}
		p[k] = f
	}
	return p, nil
}

func newComputerCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "computer", Short: "Register and inspect computers"}
	var (
		title, region, network, arch, currency, scope, out string
		cpu, ram, disk                                     int64
		attrs, prices                                      []string
		price                                              float64
		token                                              bool
	)
	add := &cobra.Command{
		Use:   "add ID",
		Short: "Register a computer; write its certificate, or print a one-time token for `slapgo node register`",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			attributes, err := model.ParseKeyValues("attr", attrs)
			if err != nil {
				return err
			}
			pl, err := parsePrices(prices)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("price") {
				if price < 0 {
					return fmt.Errorf("--price %v: expected a non-negative hourly price", price)
				}
				if pl == nil {
					pl = model.PriceList{}
				}
				pl["hosting"] = price
			}
			sc, err := model.ParseScope(scope)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if len(attributes) == 0 {
				attributes = nil
			}
			reg, err := c.RegisterComputer(cmd.Context(), api.RegisterComputerRequest{
				ID: args[0], Title: title, Region: region, Network: network,
				Hardware: model.Hardware{Arch: arch, CPU: cpu, RAM: ram, Disk: disk}, Attributes: attributes,
				Prices: pl, Currency: currency, Scope: sc, Token: token})
			if err != nil {
				return err
			}
			if token {
				if o.json {
					return printJSON(cmd.OutOrStdout(), reg)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "computer %s registered; one-time token (valid 24h):\n%s\n", reg.Computer.ID, reg.Token)
				return nil
			}
			if reg.Credentials == nil {
				return fmt.Errorf("computer %s registered but the master sent no credentials", reg.Computer.ID)
			}
			files, err := writeCredentials(out, reg.Computer.ID, *reg.Credentials)
			if err != nil {
				return fmt.Errorf("computer %s registered but its credentials could not be written: %w", reg.Computer.ID, err)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{"computer": reg.Computer, "files": files})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "computer %s registered; credentials: %s\n", reg.Computer.ID, strings.Join(files, " "))
			return nil
		},
	}
	fl := add.Flags()
	fl.StringVar(&title, "title", "", "human title (default: the id)")
	fl.StringVar(&region, "region", "", "region, matched by SLA region=")
	fl.StringVar(&network, "network", "", "network, matched by SLA network= and unique_by_network")
	fl.StringVar(&arch, "arch", "", "architecture, e.g. x86_64")
	fl.Int64Var(&cpu, "cpu", 0, "CPU cores")
	fl.Int64Var(&ram, "ram", 0, "RAM in MiB")
	fl.Int64Var(&disk, "disk", 0, "disk in GiB")
	fl.StringArrayVar(&attrs, "attr", nil, "free-form attribute k=v (matched by SLA attr.k=v); repeatable")
	fl.Float64Var(&price, "price", 0, "hourly hosting price of a partition")
	fl.StringArrayVar(&prices, "resource-price", nil, "price of a resource, k=v (cpu_time=0.001); repeatable")
	fl.StringVar(&currency, "currency", "EUR", "currency of the prices")
	fl.StringVar(&scope, "scope", "open", "allocation scope: open (marketplace) or closed (owner only)")
	fl.StringVar(&out, "out", ".", "directory for ID.crt, ID.key and ca.crt")
	fl.BoolVar(&token, "token", false, "print a one-time registration token instead of writing credentials")

	list := &cobra.Command{
		Use: "list", Short: "List the computers you may see", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			cs, err := c.Computers(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), cs)
			}
			var rows [][]string
			for _, x := range cs {
				rows = append(rows, []string{x.ID, x.Region, string(x.Scope), strconv.FormatFloat(x.HourlyPrice(), 'g', -1, 64), lastContact(x.LastContact)})
			}
			return table(cmd.OutOrStdout(), []string{"ID", "REGION", "SCOPE", "PRICE/H", "LAST CONTACT"}, rows)
		},
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show a computer, its partitions and software", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			d, err := c.ComputerDetails(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "computer %s (%s) region=%s network=%s scope=%s last contact %s\n",
				d.Computer.ID, d.Computer.Title, d.Computer.Region, d.Computer.Network, d.Computer.Scope, lastContact(d.Computer.LastContact))
			var sw [][]string
			for _, s := range d.Software {
				sw = append(sw, []string{s.URL, string(s.Requested), string(s.Reported)})
			}
			if err := table(w, []string{"SOFTWARE", "REQUESTED", "REPORTED"}, sw); err != nil {
				return err
			}
			var parts [][]string
			for _, p := range d.Partitions {
				var addrs []string
				for _, a := range p.Addresses {
					addrs = append(addrs, a.Addr)
				}
				parts = append(parts, []string{p.ID, string(p.Status), p.InstanceGUID, string(p.ReportedState), strings.Join(addrs, " ")})
			}
			return table(w, []string{"PARTITION", "STATUS", "INSTANCE", "REPORTED", "ADDRESSES"}, parts)
		},
	}
	set := newComputerSetCmd(o)
	cmd.AddCommand(add, list, show, set)
	return cmd
}

// newComputerSetCmd builds `slapgo computer set`: what it is given changes,
// the rest stays.
func newComputerSetCmd(o *clientOptions) *cobra.Command {
	var (
		region, network, scope string
		attrs, prices          []string
		price                  float64
	)
	set := &cobra.Command{
		Use:   "set ID [--region R] [--network N] [--scope open|closed] [--attr k=v]... [--price P] [--resource-price k=v]...",
		Short: "Change a computer's region, network, scope, attributes or prices; what is not given stays",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.UpdateComputerRequest
			fl := cmd.Flags()
			if fl.Changed("region") {
				req.Region = &region
			}
			if fl.Changed("network") {
				req.Network = &network
			}
			if fl.Changed("scope") {
				sc, err := model.ParseScope(scope)
				if err != nil {
					return err
				}
				req.Scope = &sc
			}
			attributes, err := model.ParseKeyValues("attr", attrs)
			if err != nil {
				return err
			}
			if len(attributes) > 0 {
				req.Attributes = attributes
			}
			if req.Prices, err = parsePrices(prices); err != nil {
				return err
			}
			if fl.Changed("price") {
				if price < 0 {
					return fmt.Errorf("--price %v: expected a non-negative hourly price", price)
				}
				if req.Prices == nil {
					req.Prices = model.PriceList{}
				}
				req.Prices["hosting"] = price
			}
			if req.Region == nil && req.Network == nil && req.Scope == nil && req.Attributes == nil && req.Prices == nil {
				return errors.New("nothing to change: give --region, --network, --scope, --attr, --price or --resource-price")
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			comp, err := c.UpdateComputer(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), comp)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "computer %s: region=%s network=%s scope=%s\n", comp.ID, comp.Region, comp.Network, comp.Scope)
			return nil
		},
	}
	fl := set.Flags()
	fl.StringVar(&region, "region", "", "region, matched by SLA region=")
	fl.StringVar(&network, "network", "", "network, matched by SLA network= and unique_by_network")
	fl.StringVar(&scope, "scope", "", "allocation scope: open (marketplace) or closed (owner only)")
	fl.StringArrayVar(&attrs, "attr", nil, "free-form attribute k=v (matched by SLA attr.k=v); repeatable")
	fl.Float64Var(&price, "price", 0, "hourly hosting price of a partition")
	fl.StringArrayVar(&prices, "resource-price", nil, "price of a resource, k=v (cpu_time=0.001); repeatable")
	return set
}

func lastContact(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func newSupplyCmd(o *clientOptions) *cobra.Command {
	var computer string
	var destroy bool
	cmd := &cobra.Command{
		Use: "supply URL --computer ID", Short: "Ask a computer to install (or, with --destroy, remove) a software release",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := model.ValidateSoftwareURL(args[0]); err != nil {
				return err
			}
			state := model.SoftwareAvailable
			if destroy {
				state = model.SoftwareDestroyed
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			sw, err := c.Supply(cmd.Context(), computer, api.SupplyRequest{URL: args[0], State: state})
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), sw)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s on %s: requested %s\n", sw.URL, computer, sw.Requested)
			return nil
		},
	}
	cmd.Flags().StringVar(&computer, "computer", "", "computer id (required)")
	cmd.Flags().BoolVar(&destroy, "destroy", false, "remove the software release instead")
	cmd.MarkFlagRequired("computer")
	return cmd
}

func newRequestCmd(o *clientOptions) *cobra.Command {
	var stype, state string
	var params, sla []string
	var shared bool
	cmd := &cobra.Command{
		Use:   "request TITLE URL",
		Short: "Request an instance (idempotent: the same request again changes nothing); prints it as JSON",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := model.ParseKeyValues("--param", params)
			if err != nil {
				return err
			}
			s, err := model.ParseKeyValues("--sla", sla)
			if err != nil {
				return err
			}
			if _, err := model.ParseSLA(s); err != nil {
				return err
			}
			st, err := model.ParseRequestedState(state)
			if err != nil {
				return err
			}
			if err := model.ValidateSoftwareURL(args[1]); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			if len(p) == 0 {
				p = nil
			}
			if len(s) == 0 {
				s = nil
			}
			inst, err := c.Request(cmd.Context(), api.InstanceRequest{Title: args[0], SoftwareRelease: args[1],
				SoftwareType: stype, Parameters: p, SLA: s, Shared: shared, State: st})
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), inst)
		},
	}
	f := cmd.Flags()
	f.StringVar(&stype, "type", "", "software type (default: default)")
	f.StringArrayVar(&params, "param", nil, "instance parameter k=v; repeatable")
	f.StringArrayVar(&sla, "sla", nil, "SLA condition k=v (region, computer_guid, max_price, …); repeatable")
	f.BoolVar(&shared, "shared", false, "request a shared instance, hosted by an instance of the same software")
	f.StringVar(&state, "state", "", "started, stopped or destroyed (default: keep; started for a new instance)")
	return cmd
}

func instanceRows(is []api.Instance) [][]string {
	var rows [][]string
	for _, i := range is {
		where := i.ComputerID + "/" + i.PartitionID
		if i.Shared {
			where = "shared in " + i.HostGUID
		}
		if i.Status == api.StatusPending {
			where = i.PendingReason
		}
		rows = append(rows, []string{i.GUID, i.Title, string(i.RequestedState), i.Status, string(i.ReportedState), where})
	}
	return rows
}

func newInstanceCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "instance", Short: "Inspect and act on your instances"}
	list := &cobra.Command{
		Use: "list", Short: "List your instances", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			is, err := c.Instances(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), is)
			}
			return table(cmd.OutOrStdout(), []string{"GUID", "TITLE", "REQUESTED", "STATUS", "REPORTED", "WHERE"}, instanceRows(is))
		},
	}
	show := &cobra.Command{
		Use: "show GUID", Short: "Show an instance with its connection parameters", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			i, err := c.Instance(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), i)
			}
			w := cmd.OutOrStdout()
			if err := table(w, []string{"GUID", "TITLE", "REQUESTED", "STATUS", "REPORTED", "WHERE"}, instanceRows([]api.Instance{i})); err != nil {
				return err
			}
			if i.ReportedError != "" {
				fmt.Fprintf(w, "error: %s\n", i.ReportedError)
			}
			for _, k := range slices.Sorted(maps.Keys(i.Connection)) {
				fmt.Fprintf(w, "connection %s = %s\n", k, i.Connection[k])
			}
			return nil
		},
	}
	var message string
	bang := &cobra.Command{
		Use: "bang GUID", Short: "Ask for the instance's whole tree to be processed again", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			i, err := c.Bang(cmd.Context(), args[0], message)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), i)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s banged: its tree will be processed again\n", i.GUID)
			return nil
		},
	}
	bang.Flags().StringVar(&message, "message", "", "why")
	rename := &cobra.Command{
		Use: "rename GUID TITLE", Short: "Give an instance a new title (its requester then requests it by that title)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			i, err := c.Rename(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), i)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s renamed %q\n", i.GUID, i.Title)
			return nil
		},
	}
	cmd.AddCommand(list, show, bang, rename)
	return cmd
}

func newInvoiceCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "invoice", Short: "Invoices from usage and hosting"}
	var from, to, person string
	list := &cobra.Command{
		Use: "list", Short: "List invoices of a period (default: this month so far)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now().UTC()
			start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
			end := now
			var err error
			if from != "" {
				if start, err = parseDay(from); err != nil {
					return fmt.Errorf("--from: %w", err)
				}
			}
			if to != "" {
				if end, err = parseDay(to); err != nil {
					return fmt.Errorf("--to: %w", err)
				}
			}
			if !end.After(start) {
				return fmt.Errorf("--to %s is not after --from %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			invs, err := c.Invoices(cmd.Context(), start, end, person)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), invs)
			}
			var rows [][]string
			for _, inv := range invs {
				for _, l := range inv.Lines {
					rows = append(rows, []string{inv.Person, l.Resource, strconv.FormatFloat(l.Quantity, 'f', 3, 64) + " " + l.Unit,
						strconv.FormatFloat(l.Amount, 'f', 2, 64) + " " + inv.Currency})
				}
				rows = append(rows, []string{inv.Person, "TOTAL", "", strconv.FormatFloat(inv.Total, 'f', 2, 64) + " " + inv.Currency})
			}
			return table(cmd.OutOrStdout(), []string{"PERSON", "RESOURCE", "QUANTITY", "AMOUNT"}, rows)
		},
	}
	list.Flags().StringVar(&from, "from", "", "period start, 2006-01-02 or RFC 3339")
	list.Flags().StringVar(&to, "to", "", "period end (exclusive), 2006-01-02 or RFC 3339")
	list.Flags().StringVar(&person, "person", "", "person (admin only; default: yourself, or everyone for the admin)")
	cmd.AddCommand(list)
	return cmd
}

func parseDay(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: expected 2006-01-02 or RFC 3339", s)
	}
	return t, nil
}

func newPendingCmd(o *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use: "pending", Short: "List requests waiting for a home, with the reason (admin)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ps, err := c.Pending(cmd.Context())
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), ps)
			}
			var rows [][]string
			for _, p := range ps {
				rows = append(rows, []string{p.GUID, p.Owner, p.Title, p.Reason})
			}
			return table(cmd.OutOrStdout(), []string{"GUID", "OWNER", "TITLE", "REASON"}, rows)
		},
	}
}

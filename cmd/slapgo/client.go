package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// clientOptions are how a person reaches the master: flags, then the
// SLAPGO_* environment, then the client configuration file.
type clientOptions struct {
	master, cert, key, ca string
	configFile            string
	json                  bool
	output                string
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
	f.StringVar(&o.master, "master", "", "master `URL`, https://host:port (env SLAPGO_MASTER)")
	f.StringVar(&o.cert, "cert", "", "your certificate, a PEM `FILE` (env SLAPGO_CERT)")
	f.StringVar(&o.key, "key", "", "your private key, a PEM `FILE` (env SLAPGO_KEY)")
	f.StringVar(&o.ca, "ca", "", "the master's CA certificate, a PEM `FILE` (env SLAPGO_CA)")
	f.StringVar(&o.configFile, "client-config", "", "client configuration `FILE` (YAML: master, cert, key, ca; env SLAPGO_CONFIG; default ~/.config/slapgo/client.yaml)")
	f.BoolVar(&o.json, "json", false, "print JSON instead of tables (same as -o json)")
	f.StringVarP(&o.output, "output", "o", outputTable, "output `FORMAT`: table, wide (more columns), json or yaml")
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

// listCommand is a command without arguments that lists what fetch
// answers: as a table of header and row, or structured (-o json|yaml).
func listCommand[T any](o *clientOptions, use, short string, fetch func(*api.Client, context.Context) ([]T, error),
	header []string, row func(T) []string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			items, err := fetch(c, cmd.Context())
			if err != nil {
				return err
			}
			if done, err := o.structured(cmd.OutOrStdout(), items); done {
				return err
			}
			rows := make([][]string, 0, len(items))
			for _, it := range items {
				rows = append(rows, row(it))
			}
			return table(cmd.OutOrStdout(), header, rows)
		},
	}
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
		newRequestCmd(o), newInstanceCmd(o), newInvoiceCmd(o), newPendingCmd(o), newCertCmd(o),
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
			if done, err := o.structured(cmd.OutOrStdout(), w); done {
				return err
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
			if done, err := o.structured(cmd.OutOrStdout(), map[string]any{"person": res.Person, "files": files}); done {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "person %s created; credentials: %s\n", res.Person.ID, strings.Join(files, " "))
			return nil
		},
	}
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringVar(&email, "email", "", "e-mail address")
	add.Flags().StringVar(&out, "out", ".", "`DIR` for ID.crt, ID.key and ca.crt")
	list := listCommand(o, "list", "List every person (admin)", (*api.Client).Persons,
		[]string{"ID", "NAME", "EMAIL"}, func(p model.Person) []string { return []string{p.ID, p.Name, p.Email} })
	destroy := &cobra.Command{
		Use: "destroy ID", Short: "Remove a person who holds no computer and no live instance; their certificates are refused from then on",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.DestroyPerson(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "person %s destroyed; their certificates are refused\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, destroy)
	cmd.AddCommand(newPersonPortalCmds(o)...)
	return cmd
}

func newCertCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Certificates issued by the master"}
	var reason string
	revoke := &cobra.Command{
		Use:   "revoke SERIAL",
		Short: "Refuse a certificate from now on (admin: any; a person: their own)",
		Long: `Refuse the certificate numbered SERIAL (hexadecimal, as "openssl x509 -serial"
prints it) from now on: the master answers 401 to it, and lists it in its
certificate revocation list (GET /crl, DER) for other verifiers.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.RevokeCertificate(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "certificate %s of %s revoked\n", res.Serial, res.Identity)
			return nil
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (recorded, shown to the certificate's holder)")
	cmd.AddCommand(revoke)
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
				if done, err := o.structured(cmd.OutOrStdout(), reg); done {
					return err
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
			if done, err := o.structured(cmd.OutOrStdout(), map[string]any{"computer": reg.Computer, "files": files}); done {
				return err
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
	fl.StringVar(&out, "out", ".", "`DIR` for ID.crt, ID.key and ca.crt")
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
			if done, err := o.structured(cmd.OutOrStdout(), cs); done {
				return err
			}
			header := []string{"ID", "REGION", "SCOPE", "PRICE/H", "LAST CONTACT"}
			if o.wide() {
				header = append(header, "TITLE", "OWNER", "NETWORK", "HARDWARE")
			}
			var rows [][]string
			for _, x := range cs {
				row := []string{x.ID, x.Region, string(x.Scope), hourlyPrice(x.HourlyPrice(), x.Currency), lastContact(x.LastContact)}
				if o.wide() {
					row = append(row, x.Title, x.Owner, x.Network, hardware(x.Hardware))
				}
				rows = append(rows, row)
			}
			return table(cmd.OutOrStdout(), header, rows)
		},
	}
	show := &cobra.Command{
		Use: "show ID", Short: "Show a computer, its partitions and software, with their errors", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			d, err := c.ComputerDetails(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if done, err := o.structured(cmd.OutOrStdout(), d); done {
				return err
			}
			return describeComputer(cmd.OutOrStdout(), d)
		},
	}
	set := newComputerSetCmd(o)
	destroy := &cobra.Command{
		Use: "destroy ID", Short: "Remove a computer hosting no instance; its certificates are refused from then on",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if err := c.DestroyComputer(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "computer %s destroyed; its certificates are refused\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(add, list, show, set, destroy)
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
			if done, err := o.structured(cmd.OutOrStdout(), comp); done {
				return err
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

// hourlyPrice is an hourly price with its currency.
func hourlyPrice(p float64, currency string) string {
	out := strconv.FormatFloat(p, 'g', -1, 64)
	if currency != "" {
		out += " " + currency
	}
	return out
}

// hardware is a one-line summary of what is known of a computer's hardware.
func hardware(h model.Hardware) string {
	var parts []string
	if h.Arch != "" {
		parts = append(parts, h.Arch)
	}
	if h.CPU > 0 {
		parts = append(parts, fmt.Sprintf("%d CPU", h.CPU))
	}
	if h.RAM > 0 {
		parts = append(parts, fmt.Sprintf("%d MiB RAM", h.RAM))
	}
	if h.Disk > 0 {
		parts = append(parts, fmt.Sprintf("%d GiB disk", h.Disk))
	}
	return strings.Join(parts, ", ")
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
			if done, err := o.structured(cmd.OutOrStdout(), sw); done {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s on %s: requested %s\n", sw.URL, computer, sw.Requested)
			return nil
		},
	}
	cmd.Flags().StringVar(&computer, "computer", "", "computer `ID` (required)")
	cmd.Flags().BoolVar(&destroy, "destroy", false, "remove the software release instead")
	cmd.MarkFlagRequired("computer")
	return cmd
}

// Exit statuses of `slapgo request --wait` (1 is any other failure).
const (
	exitInstanceError = 3 // its node reported an error
	exitStillPending  = 4 // still waiting for a home when the time ran out
	exitTimeout       = 5 // placed, but not ready when the time ran out
)

func newRequestCmd(o *clientOptions) *cobra.Command {
	var stype, state string
	var params, sla []string
	var shared, wait bool
	var timeout, interval time.Duration
	cmd := &cobra.Command{
		Use:   "request TITLE URL",
		Short: "Request an instance: the whole desired instance (idempotent: the same request again changes nothing)",
		Long: `Request an instance of the software release URL under TITLE.

As in SlapOS, a request describes the whole desired instance: its software
release, software type, parameters and SLA are what the request gives. Asking
again for an existing TITLE with other values changes the instance; a request
without --param gives it no parameters, one without --sla no SLA. The same
request again changes nothing.

To change only the state, keeping parameters, SLA and type, use
'slapgo instance start|stop|destroy GUID|TITLE'.

With --wait, the command follows the instance until it is what was asked
(started with its connection parameters published, or stopped, or destroyed),
printing a line on stderr at each change, and exits with:
  0  ready
  1  the request failed (bad input, refused by the master, master unreachable)
  3  its node reported an error (the error is printed)
  4  still pending when --timeout ran out (the reason is printed)
  5  placed but not ready when --timeout ran out`,
		Example: `  slapgo request hello https://example.org/hello/software.cfg --param name=Alice --wait
  slapgo request db https://example.org/db/software.cfg --sla region=eu -o yaml`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := o.format(); err != nil {
				return err
			}
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
			if wait && (timeout <= 0 || interval <= 0) {
				return fmt.Errorf("--timeout %s and --interval %s must be positive", timeout, interval)
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
			var waitErr error
			if wait && inst.GUID != "" {
				inst, waitErr = waitInstance(cmd, c, inst, timeout, interval)
			}
			if done, err := o.structured(cmd.OutOrStdout(), inst); done {
				return errors.Join(waitErr, err)
			}
			var events []api.Event
			if inst.GUID != "" {
				if events, err = c.InstanceEvents(cmd.Context(), inst.GUID); err != nil {
					return errors.Join(waitErr, err)
				}
			}
			if err := describeInstance(cmd.OutOrStdout(), inst, events); err != nil {
				return err
			}
			return waitErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&stype, "type", "", "software `type` (default: default)")
	f.StringArrayVar(&params, "param", nil, "instance parameter `key=value`; repeatable")
	f.StringArrayVar(&sla, "sla", nil, "SLA condition `key=value` (region, computer_guid, max_price, …); repeatable")
	f.BoolVar(&shared, "shared", false, "request a shared instance, hosted by an instance of the same software")
	f.StringVar(&state, "state", "", "`state`: started, stopped or destroyed (default: keep; started for a new instance)")
	f.BoolVar(&wait, "wait", false, "wait until the instance is ready, pending past --timeout or in error; the exit status tells which")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "with --wait, how long to wait")
	f.DurationVar(&interval, "interval", 2*time.Second, "with --wait, how often to ask the master")
	return cmd
}

// waitInstance follows an instance until it is ready, in error, or the
// timeout runs out, printing a progress line on stderr at each change of
// its readiness. The error carries the exit status of the outcome.
func waitInstance(cmd *cobra.Command, c *api.Client, inst api.Instance, timeout, interval time.Duration) (api.Instance, error) {
	ctx := cmd.Context()
	deadline := time.Now().Add(timeout)
	progress := cmd.ErrOrStderr()
	last := ""
	for {
		readiness, detail := master.InstanceReadiness(master.InstanceInfo(inst))
		if line := string(readiness) + ": " + detail; line != last {
			fmt.Fprintf(progress, "%s %s (%s) %s\n", time.Now().UTC().Format(time.TimeOnly), inst.GUID, inst.Title, line)
			last = line
		}
		switch readiness {
		case master.ReadyDone:
			return inst, nil
		case master.ReadyError:
			return inst, &exitError{exitInstanceError, fmt.Errorf("instance %s (%s) is in error: %s", inst.GUID, inst.Title, detail)}
		}
		left := time.Until(deadline)
		if left <= 0 {
			if readiness == master.ReadyPending {
				return inst, &exitError{exitStillPending, fmt.Errorf("instance %s (%s) still pending after %s: %s", inst.GUID, inst.Title, timeout, detail)}
			}
			return inst, &exitError{exitTimeout, fmt.Errorf("instance %s (%s) not ready after %s: %s", inst.GUID, inst.Title, timeout, detail)}
		}
		t := time.NewTimer(min(interval, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return inst, ctx.Err()
		case <-t.C:
		}
		next, err := c.Instance(ctx, inst.GUID)
		if err != nil {
			return inst, fmt.Errorf("waiting for instance %s: %w", inst.GUID, err)
		}
		inst = next
	}
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

// resolveInstance finds the instance ref names: a GUID (SOFTINST-…) or the
// title of one of the caller's instances. A title names a root the caller
// requested first, then any instance of the caller's trees if only one
// bears it.
func resolveInstance(ctx context.Context, c *api.Client, ref string) (api.Instance, error) {
	if strings.HasPrefix(ref, "SOFTINST-") {
		return c.Instance(ctx, ref)
	}
	is, err := c.Instances(ctx)
	if err != nil {
		return api.Instance{}, err
	}
	// Live roots first, then live members of the caller's trees, then the
	// destroyed ones (still listed until their partition is wiped).
	var roots, others, destroyed []api.Instance
	for _, i := range is {
		switch {
		case i.Title != ref:
		case i.Status == api.StatusDestroyed:
			destroyed = append(destroyed, i)
		case i.RootTitle == "":
			roots = append(roots, i)
		default:
			others = append(others, i)
		}
	}
	for _, found := range [][]api.Instance{roots, others, destroyed} {
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0], nil
		}
		var guids []string
		for _, i := range found {
			guids = append(guids, fmt.Sprintf("%s (owner %s, tree %s)", i.GUID, i.Owner, treeTitle(i)))
		}
		return api.Instance{}, fmt.Errorf("%d instances are titled %q: %s; give the GUID", len(found), ref, strings.Join(guids, ", "))
	}
	return api.Instance{}, fmt.Errorf("no instance titled %q: give the GUID (SOFTINST-…) or the title of one of your instances (slapgo instance list)", ref)
}

func treeTitle(i api.Instance) string {
	if i.RootTitle == "" {
		return i.Title
	}
	return i.RootTitle
}

// instanceFilter is what `slapgo instance list` keeps.
type instanceFilter struct{ state, computer, software string }

func (f instanceFilter) check() error {
	switch f.state {
	case "", string(model.StateStarted), string(model.StateStopped), api.StatusDestroyed, api.StatusPending, api.StatusAllocated, string(model.ReportedError):
		return nil
	}
	return fmt.Errorf("--state %q: expected started, stopped, destroyed, pending, allocated or error", f.state)
}

func (f instanceFilter) apply(is []api.Instance) []api.Instance {
	out := []api.Instance{}
	for _, i := range is {
		switch {
		case f.computer != "" && i.ComputerID != f.computer:
		case f.software != "" && !strings.Contains(i.SoftwareRelease, f.software):
		case f.state == string(model.StateStarted) || f.state == string(model.StateStopped):
			if string(i.RequestedState) == f.state && i.Status != api.StatusDestroyed {
				out = append(out, i)
			}
		case f.state == string(model.ReportedError):
			if i.ReportedState == model.ReportedError {
				out = append(out, i)
			}
		case f.state != "" && i.Status != f.state:
		default:
			out = append(out, i)
		}
	}
	return out
}

func newInstanceCmd(o *clientOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "instance", Short: "Inspect and act on your instances"}
	var all bool
	var filter instanceFilter
	list := &cobra.Command{
		Use: "list", Short: "List your instances (with --all, the destroyed ones too)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := filter.check(); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			var is []api.Instance
			if all || filter.state == api.StatusDestroyed {
				is, err = c.AllInstances(cmd.Context())
			} else {
				is, err = c.Instances(cmd.Context())
			}
			if err != nil {
				return err
			}
			is = filter.apply(is)
			if done, err := o.structured(cmd.OutOrStdout(), is); done {
				return err
			}
			header := []string{"GUID", "TITLE", "REQUESTED", "STATUS", "REPORTED", "WHERE"}
			rows := instanceRows(is)
			if o.wide() {
				header = append(header, "SOFTWARE", "TYPE", "TREE", "CREATED")
				for n, i := range is {
					rows[n] = append(rows[n], i.SoftwareRelease, i.SoftwareType, treeTitle(i), i.CreatedAt.UTC().Format(time.RFC3339))
				}
			}
			return table(cmd.OutOrStdout(), header, rows)
		},
	}
	lf := list.Flags()
	lf.BoolVar(&all, "all", false, "include the destroyed instances the master still keeps")
	lf.StringVar(&filter.state, "state", "", "only instances in `state`: started, stopped, destroyed (requested), pending, allocated (placement) or error (reported)")
	lf.StringVar(&filter.computer, "computer", "", "only instances on computer `ID`")
	lf.StringVar(&filter.software, "software", "", "only instances of software releases whose URL contains `text`")
	show := &cobra.Command{
		Use: "show GUID|TITLE", Short: "Describe an instance: software, type, parameters, SLA, placement, errors, connection parameters, recent events", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			i, err := resolveInstance(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			events, err := c.InstanceEvents(cmd.Context(), i.GUID)
			if err != nil {
				return err
			}
			if done, err := o.structured(cmd.OutOrStdout(), describedInstance{Instance: i, Events: events}); done {
				return err
			}
			return describeInstance(cmd.OutOrStdout(), i, events)
		},
	}
	var message string
	bang := instanceAction(o, "bang GUID|TITLE", "Ask for the instance's whole tree to be processed again", 1,
		func(ctx context.Context, c *api.Client, guid string, _ []string) (api.Instance, error) {
			return c.Bang(ctx, guid, message)
		},
		func(i api.Instance) string { return fmt.Sprintf("%s banged: its tree will be processed again", i.GUID) })
	bang.Flags().StringVar(&message, "message", "", "why")
	rename := instanceAction(o, "rename GUID|TITLE NEW-TITLE", "Give an instance a new title (its requester then requests it by that title)", 2,
		func(ctx context.Context, c *api.Client, guid string, args []string) (api.Instance, error) {
			return c.Rename(ctx, guid, args[1])
		},
		func(i api.Instance) string { return fmt.Sprintf("%s renamed %q", i.GUID, i.Title) })
	cmd.AddCommand(list, show, bang, rename,
		newInstanceStateCmd(o, "start", model.StateStarted, "Start an instance; its parameters, SLA and software type stay"),
		newInstanceStateCmd(o, "stop", model.StateStopped, "Stop an instance; its parameters, SLA and software type stay"),
		newInstanceStateCmd(o, "destroy", model.StateDestroyed, "Destroy an instance (and, for a root, its whole tree)"))
	return cmd
}

// newInstanceStateCmd builds `slapgo instance start|stop|destroy`: they
// change only the requested state, unlike `slapgo request`, which sends the
// whole desired instance.
func newInstanceStateCmd(o *clientOptions, verb string, state model.RequestedState, short string) *cobra.Command {
	return instanceAction(o, verb+" GUID|TITLE", short, 1,
		func(ctx context.Context, c *api.Client, guid string, _ []string) (api.Instance, error) {
			return c.SetState(ctx, guid, state)
		},
		func(i api.Instance) string {
			return fmt.Sprintf("%s (%s): requested %s", i.GUID, i.Title, i.RequestedState)
		})
}

// instanceAction builds a command acting on one instance named by its
// first argument (GUID or title) and taking nargs arguments in all: act
// changes it, and the answer is printed structured (-o json|yaml) or as
// the line say makes.
func instanceAction(o *clientOptions, use, short string, nargs int,
	act func(ctx context.Context, c *api.Client, guid string, args []string) (api.Instance, error),
	say func(api.Instance) string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(nargs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			target, err := resolveInstance(cmd.Context(), c, args[0])
			if err != nil {
				return err
			}
			i, err := act(cmd.Context(), c, target.GUID, args)
			if err != nil {
				return err
			}
			if done, err := o.structured(cmd.OutOrStdout(), i); done {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), say(i))
			return nil
		},
	}
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
			if done, err := o.structured(cmd.OutOrStdout(), invs); done {
				return err
			}
			var rows [][]string
			for _, inv := range invs {
				cur := inv.Currency
				if cur == "" {
					cur = "(unpriced)"
				}
				for _, l := range inv.Lines {
					rows = append(rows, []string{inv.Person, l.Resource, strconv.FormatFloat(l.Quantity, 'f', 3, 64) + " " + l.Unit,
						strconv.FormatFloat(l.Amount, 'f', 2, 64), cur})
				}
				rows = append(rows, []string{inv.Person, "TOTAL", "", strconv.FormatFloat(inv.Total, 'f', 2, 64), cur})
			}
			return table(cmd.OutOrStdout(), []string{"PERSON", "RESOURCE", "QUANTITY", "AMOUNT", "CURRENCY"}, rows)
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
	return listCommand(o, "pending", "List requests waiting for a home, with the reason (admin)", (*api.Client).Pending,
		[]string{"GUID", "OWNER", "TITLE", "REASON"}, func(p api.Pending) []string { return []string{p.GUID, p.Owner, p.Title, p.Reason} })
}

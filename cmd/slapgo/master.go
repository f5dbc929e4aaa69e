package main

import (
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/master/server"
)

func init() {
	rootCmd.AddCommand(newMasterCmd())
}

// newMasterCmd builds `slapgo master init|serve`.
func newMasterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Create and run the master (marketplace, API, certificate authority)",
	}
	cmd.AddCommand(newMasterInitCmd(), newMasterServeCmd())
	return cmd
}

func newMasterInitCmd() *cobra.Command {
	var dataDir string
	var hostnames []string
	cmd := &cobra.Command{
		Use:   "init --data DIR [--hostname H]...",
		Short: "Create a master's data directory: database, CA, server certificate, admin credentials",
		Long: `Create a master's data directory: the SQLite database, a certificate authority
(ca.crt, ca.key), the server certificate (valid for localhost, 127.0.0.1, ::1
and every --hostname) and the admin credentials (admin.crt, admin.key), which
the client commands take with --cert, --key and --ca.

It refuses a directory that exists and is not empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := server.InitDataDir(dataDir, hostnames, time.Now().UTC())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "master data directory %s created\n", res.DataDir)
			fmt.Fprintf(out, "  database:     %s\n", res.Database)
			fmt.Fprintf(out, "  CA:           %s\n", res.CACert)
			fmt.Fprintf(out, "  server cert:  %s\n", res.ServerCert)
			fmt.Fprintf(out, "  admin:        --cert %s --key %s --ca %s\n", res.AdminCert, res.AdminKey, res.CACert)
			fmt.Fprintf(out, "start it with: slapgo master serve --data %s --listen 127.0.0.1:8443\n", res.DataDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory to create (must not exist or be empty)")
	cmd.Flags().StringArrayVar(&hostnames, "hostname", nil, "extra DNS name or IP address of the master in its server certificate (repeatable)")
	cmd.MarkFlagRequired("data")
	return cmd
}

func newMasterServeCmd() *cobra.Command {
	var dataDir, listen, metricsListen, policy string
	var onlineWithin, retryEvery, grace time.Duration
	var sessionIdle, sessionMax time.Duration
	var allowLocal bool
	limits := master.DefaultLimits()
	var quotas master.Quotas
	cmd := &cobra.Command{
		Use:   "serve --data DIR --listen ADDR",
		Short: "Run the master: HTTPS API with mutual TLS, /metrics, /healthz",
		Long: `Run the master of a data directory made by "slapgo master init".

The API is served over HTTPS (TLS 1.3) with client certificates from the
master's CA; /healthz and /metrics need none, and are also served in plain
HTTP on --metrics-listen when given. With port 0 the real port is printed:
"listening on https://HOST:PORT". SIGTERM or SIGINT drains the requests in
flight, flushes the database and exits 0.

Limits bound what one request may carry (0: no limit); a request over one
is refused with 400 naming the field and the limit. Quotas bound what each
person holds (0, the default: no quota); a request over one is refused with
403 "quota_exceeded" naming the quota, the usage and the limit (as
Kubernetes' ResourceQuota does: waiting would not make it pass). Usage is
counted from the stored instances at start, never kept as a counter.

Software release URLs must be http:// or https:// (a node elsewhere fetches
them) unless --allow-local-software-urls accepts file:// too, for a grid on
one machine ("slapgo demo") and test harnesses.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := alloc.ParsePolicy(policy)
			if err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if onlineWithin < 0 {
				return fmt.Errorf("--online-within %s: expected a duration >= 0", onlineWithin)
			}
			for _, f := range []struct {
				name string
				v    int64
			}{
				{"max-parameters", int64(limits.MaxParameters)}, {"max-parameter-key-bytes", int64(limits.MaxParameterKeyBytes)},
				{"max-parameter-value-bytes", int64(limits.MaxParameterValueBytes)}, {"max-sla-entries", int64(limits.MaxSLAEntries)},
				{"max-partitions", int64(limits.MaxPartitions)}, {"max-addresses-per-partition", int64(limits.MaxAddressesPerPartition)},
				{"max-tree-instances", int64(limits.MaxTreeInstances)}, {"max-shared-per-host", int64(limits.MaxSharedPerHost)},
				{"quota-instances", int64(quotas.MaxInstances)}, {"quota-parameter-bytes", quotas.MaxParameterBytes},
			} {
				if f.v < 0 {
					return fmt.Errorf("--%s %d: expected a number >= 0 (0: no limit)", f.name, f.v)
				}
			}
			if sessionIdle <= 0 || sessionMax <= 0 {
				return fmt.Errorf("--session-idle %s, --session-max %s: expected durations > 0", sessionIdle, sessionMax)
			}
			srv, err := server.Open(server.Options{DataDir: dataDir, Policy: pol, OnlineWithin: onlineWithin,
				SessionIdle: sessionIdle, SessionMax: sessionMax,
				RetryEvery: retryEvery, ShutdownGrace: grace, Logger: slog.Default(),
				Limits: &limits, Quotas: quotas, AllowLocalSoftwareURLs: allowLocal})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				srv.Close()
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			var mln net.Listener
			if metricsListen != "" {
				if mln, err = net.Listen("tcp", metricsListen); err != nil {
					ln.Close()
					srv.Close()
					return fmt.Errorf("--metrics-listen %s: %w", metricsListen, err)
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "listening on https://%s\n", ln.Addr())
			if mln != nil {
				fmt.Fprintf(out, "metrics on http://%s/metrics\n", mln.Addr())
			}
			fmt.Fprintf(out, "portal on https://%s%s\n", ln.Addr(), server.PortalPath)
			slog.Info("master serving", "api", "https://"+ln.Addr().String(), "data", dataDir, "policy", pol, "online_within", onlineWithin,
				"quota_instances", quotas.MaxInstances, "quota_parameter_bytes", quotas.MaxParameterBytes, "allow_local_software_urls", allowLocal)
			serveErr := srv.Serve(cmd.Context(), ln, mln)
			closeErr := srv.Close()
			if serveErr != nil {
				return serveErr
			}
			if closeErr != nil {
				return closeErr
			}
			slog.Info("master stopped cleanly")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dataDir, "data", "", "data directory made by `slapgo master init`")
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "address of the HTTPS API (port 0: any free port)")
	f.StringVar(&metricsListen, "metrics-listen", "", "also serve /metrics and /healthz in plain HTTP on this address")
	f.StringVar(&policy, "policy", string(alloc.PolicyFirstFit), "allocation policy: first-fit, cheapest, pack, spread or random")
	f.DurationVar(&onlineWithin, "online-within", 0, "allocate only on computers seen within this duration (0: no condition)")
	f.DurationVar(&retryEvery, "retry-every", server.DefaultRetryEvery, "how often pending requests are retried")
	f.DurationVar(&sessionIdle, "session-idle", server.DefaultSessionIdle, "a portal session unused this long ends")
	f.DurationVar(&sessionMax, "session-max", server.DefaultSessionMax, "a portal session ends this long after sign-in, used or not")
	f.DurationVar(&grace, "shutdown-grace", server.DefaultShutdownGrace, "how long in-flight requests may take to finish on shutdown")
	f.BoolVar(&allowLocal, "allow-local-software-urls", false, "accept file:// software release URLs (a grid on one machine; nodes elsewhere cannot fetch them)")
	f.IntVar(&limits.MaxParameters, "max-parameters", limits.MaxParameters, "limit: entries of one parameter map (instance or connection parameters, computer attributes)")
	f.IntVar(&limits.MaxParameterKeyBytes, "max-parameter-key-bytes", limits.MaxParameterKeyBytes, "limit: bytes of one parameter key")
	f.IntVar(&limits.MaxParameterValueBytes, "max-parameter-value-bytes", limits.MaxParameterValueBytes, "limit: bytes of one parameter value")
	f.IntVar(&limits.MaxSLAEntries, "max-sla-entries", limits.MaxSLAEntries, "limit: conditions of one request's SLA")
	f.IntVar(&limits.MaxPartitions, "max-partitions", limits.MaxPartitions, "limit: partitions of one capacity announcement")
	f.IntVar(&limits.MaxAddressesPerPartition, "max-addresses-per-partition", limits.MaxAddressesPerPartition, "limit: addresses of one announced partition")
	f.IntVar(&limits.MaxTreeInstances, "max-tree-instances", limits.MaxTreeInstances, "limit: instances of one instance tree")
	f.IntVar(&limits.MaxSharedPerHost, "max-shared-per-host", limits.MaxSharedPerHost, "limit: shared instances one host instance holds (more wait for another host)")
	f.IntVar(&quotas.MaxInstances, "quota-instances", 0, "quota: live instances per person (0: no quota)")
	f.Int64Var(&quotas.MaxParameterBytes, "quota-parameter-bytes", 0, "quota: bytes of parameter keys and values over a person's live instances (0: no quota)")
	cmd.MarkFlagRequired("data")
	return cmd
}

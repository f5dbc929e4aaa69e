package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/master/server"
	"github.com/slapgo/slapgo/master/store"
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
	cmd.AddCommand(newMasterInitCmd(), newMasterServeCmd(), newMasterBackupCmd(), newMasterRestoreCmd())
	return cmd
}

func newMasterInitCmd() *cobra.Command {
	var dataDir, storeSpec string
	var hostnames []string
	cmd := &cobra.Command{
		Use:   "init --data DIR [--store postgres://…] [--hostname H]...",
		Short: "Create a master's data directory: database, CA, server certificate, admin credentials",
		Long: `Create a master's data directory: the SQLite database, a certificate authority
(ca.crt, ca.key), the server certificate (valid for localhost, 127.0.0.1, ::1
and every --hostname) and the admin credentials (admin.crt, admin.key), which
the client commands take with --cert, --key and --ca.

With --store postgres://… the state is kept in that PostgreSQL database
(which must hold no master yet) instead of the SQLite file; the directory
keeps the CA and the certificates.

It refuses a directory that exists and is not empty.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := server.InitDataDir(dataDir, storeSpec, hostnames, time.Now().UTC())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "master data directory %s created\n", res.DataDir)
			fmt.Fprintf(out, "  database:     %s\n", res.Database)
			fmt.Fprintf(out, "  CA:           %s\n", res.CACert)
			fmt.Fprintf(out, "  server cert:  %s\n", res.ServerCert)
			fmt.Fprintf(out, "  admin:        --cert %s --key %s --ca %s\n", res.AdminCert, res.AdminKey, res.CACert)
			storeFlag := ""
			if storeSpec != "" {
				storeFlag = " --store " + res.Database
			}
			fmt.Fprintf(out, "start it with: slapgo master serve --data %s%s --listen 127.0.0.1:8443\n", res.DataDir, storeFlag)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory `DIR` to create (must not exist or be empty)")
	cmd.Flags().StringVar(&storeSpec, "store", "", "database `URL`: empty for a SQLite file in the data directory, or postgres://USER@HOST/DB (an empty database)")
	cmd.Flags().StringArrayVar(&hostnames, "hostname", nil, "extra DNS name or IP address of the master in its server certificate (repeatable)")
	cmd.MarkFlagRequired("data")
	return cmd
}

func newMasterServeCmd() *cobra.Command {
	var dataDir, storeSpec, listen, metricsListen, policy, pricePolicy, advertise, loopbackPerson, loopbackListen string
	var onlineWithin, retryEvery, grace time.Duration
	var sessionIdle, sessionMax time.Duration
	var allowLocal, profiling bool
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
flight, flushes the database and exits 0. SIGHUP reads the server
certificate and key (server.crt, server.key) again: new connections get the
new certificate, open ones keep theirs (a rotation without downtime); a
pair that does not verify against the CA is refused and the old one kept.

--store postgres://… keeps the state in PostgreSQL. Several masters may
serve the same database: one leads (it holds the database's leader lock and
applies every command), the others follow its commits, answer reads, and
redirect writes to it (307 to its --advertise URL); when the leader dies, one
of them takes over. /healthz says "role": "leader" or "follower".

Limits bound what one request may carry (0: no limit); a request over one
is refused with 400 naming the field and the limit. Quotas bound what each
person holds (0, the default: no quota); a request over one is refused with
403 "quota_exceeded" naming the quota, the usage and the limit (as
Kubernetes' ResourceQuota does: waiting would not make it pass). Usage is
counted from the stored instances at start, never kept as a counter.

Software release URLs must be http:// or https:// (a node elsewhere fetches
them) unless --allow-local-software-urls accepts file:// too, for a grid on
one machine ("slapgo demo") and test harnesses.

SLAP, the protocol of SlapOS's own programs (slapos node, slapos request,
the slap library), is served on the same HTTPS listener, with the same
certificates. For work on one machine, as with "slapos proxy",
--insecure-slap-loopback-as PERSON also serves SLAP in plain HTTP without
certificates on --insecure-slap-loopback-listen (a loopback address only;
anything else is refused), every call acting for that person.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pol, err := alloc.ParsePolicy(policy)
			if err != nil {
				return fmt.Errorf("--policy: %w", err)
			}
			if profiling && metricsListen == "" {
				return errors.New("--pprof serves profiles on the metrics listener: give --metrics-listen too")
			}
			if onlineWithin < 0 {
				return fmt.Errorf("--online-within %s: expected a duration >= 0", onlineWithin)
			}
			var pricing *market.Curve
			if pricePolicy != "list" {
				c, err := market.ParseCurve(pricePolicy)
				if err != nil {
					return fmt.Errorf("--price-policy: %w (or \"list\": the list price)", err)
				}
				pricing = &c
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
			srv, err := server.Open(server.Options{DataDir: dataDir, Store: storeSpec, Policy: pol, OnlineWithin: onlineWithin, Pricing: pricing,
				SessionIdle: sessionIdle, SessionMax: sessionMax,
				RetryEvery: retryEvery, ShutdownGrace: grace, Logger: slog.Default(),
				Limits: &limits, Quotas: quotas, AllowLocalSoftwareURLs: allowLocal, Profiling: profiling})
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
			var loopLn net.Listener
			if loopbackPerson != "" {
				if err := checkLoopbackAddress(loopbackListen); err != nil {
					closeAll(ln, mln, srv)
					return fmt.Errorf("--insecure-slap-loopback-listen %s: %w", loopbackListen, err)
				}
				if loopLn, err = net.Listen("tcp", loopbackListen); err == nil {
					err = srv.EnableSLAPLoopback(loopLn, loopbackPerson)
				}
				if err != nil {
					closeAll(ln, mln, loopLn, srv)
					return fmt.Errorf("--insecure-slap-loopback-as %s: %w", loopbackPerson, err)
				}
			}
			if advertise == "" {
				advertise = "https://" + ln.Addr().String()
			}
			srv.SetAdvertiseURL(advertise)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "listening on https://%s\n", ln.Addr())
			if loopLn != nil {
				fmt.Fprintf(out, "insecure SLAP for %s on http://%s\n", loopbackPerson, loopLn.Addr())
			}
			if mln != nil {
				fmt.Fprintf(out, "metrics on http://%s/metrics\n", mln.Addr())
				if profiling {
					fmt.Fprintf(out, "profiles on http://%s/debug/pprof/\n", mln.Addr())
				}
			}
			fmt.Fprintf(out, "portal on https://%s%s\n", ln.Addr(), server.PortalPath)
			slog.Info("master serving", "api", "https://"+ln.Addr().String(), "data", dataDir, "policy", pol, "price_policy", pricePolicy, "online_within", onlineWithin,
				"quota_instances", quotas.MaxInstances, "quota_parameter_bytes", quotas.MaxParameterBytes, "allow_local_software_urls", allowLocal)
			// SIGHUP: the server certificate files are read again (a
			// rotation without downtime).
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for range hup {
					if err := srv.ReloadServerCertificate(); err != nil {
						slog.Error("SIGHUP: server certificate not reloaded", "error", err)
					}
				}
			}()
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
	f.StringVar(&dataDir, "data", "", "data directory `DIR` made by slapgo master init")
	f.StringVar(&storeSpec, "store", "", "database `URL`: empty for the data directory's SQLite file, sqlite:PATH, or postgres://USER@HOST/DB")
	f.StringVar(&listen, "listen", "127.0.0.1:8443", "`ADDRESS:PORT` of the HTTPS API (port 0: any free port)")
	f.StringVar(&advertise, "advertise", "", "`URL` under which the other masters redirect writes to this one when it leads (PostgreSQL; default https://LISTEN-ADDRESS)")
	f.StringVar(&metricsListen, "metrics-listen", "", "also serve /metrics and /healthz in plain HTTP on this `ADDRESS:PORT`")
	f.BoolVar(&profiling, "pprof", false, "also serve Go's profiles (/debug/pprof/) on --metrics-listen (never on the API)")
	f.StringVar(&policy, "policy", string(alloc.PolicyFirstFit), "allocation `POLICY`: first-fit, cheapest, pack, spread or random")
	f.DurationVar(&onlineWithin, "online-within", 0, "allocate only on computers seen within this duration (0: no condition)")
	f.StringVar(&pricePolicy, "price-policy", "list", "price `POLICY` quoted when an instance is placed and invoiced for its hosting, as a factor of the computer's list price: list, or a core/market curve such as auction,base=1,gain=2,max=4,horizon=1h (see README)")
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
	f.StringVar(&loopbackPerson, "insecure-slap-loopback-as", "", "also serve SLAP without certificates on a loopback address, every call acting for this person (like slapos proxy; off unless given)")
	f.StringVar(&loopbackListen, "insecure-slap-loopback-listen", "127.0.0.1:8080", "loopback address of the insecure SLAP listener")
	cmd.MarkFlagRequired("data")
	return cmd
}

// checkLoopbackAddress refuses an address whose host is not a loopback IP
// literal or "localhost" (an empty host would listen everywhere).
func checkLoopbackAddress(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address (127.0.0.1, ::1, localhost): the insecure SLAP listener has no authentication", host)
	}
	return nil
}

// closeAll closes what a failed start opened (nil entries skipped).
func closeAll(closers ...io.Closer) {
	for _, c := range closers {
		if c != nil {
			c.Close()
		}
	}
}

// storeOf is the database a master command names: --store, or the data
// directory's SQLite file.
func storeOf(dataDir, storeSpec string) (string, error) {
	if storeSpec != "" {
		return storeSpec, nil
	}
	if dataDir == "" {
		return "", fmt.Errorf("give --data DIR (its %s) or --store", server.FileDatabase)
	}
	return filepath.Join(dataDir, server.FileDatabase), nil
}

func newMasterBackupCmd() *cobra.Command {
	var dataDir, storeSpec, to string
	cmd := &cobra.Command{
		Use:   "backup (--data DIR | --store URL) --to FILE",
		Short: "Copy the master's database into a backup file, while the master serves",
		Long: `Copy the master's database into FILE (a new file), while the master serves.

SQLite: SQLite's online backup API, from a connection of its own, in one read
transaction: the copy holds every write acknowledged before it started and
the master keeps writing meanwhile.

PostgreSQL: a logical export in one REPEATABLE READ transaction into the
same file format (a SQLite file of the master's schema), restorable into
either store. For the whole cluster use PostgreSQL's own tools as well
(pg_basebackup and WAL archiving for point-in-time recovery, or pg_dump).

The backup holds the state, the registration tokens and the records of the
certificates issued; never the CA key, which stays in the data directory:
keep a copy of the data directory's ca.key apart, encrypted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := storeOf(dataDir, storeSpec)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if store.IsPostgres(spec) {
				pg, err := store.OpenPostgres(ctx, spec, store.Options{})
				if err != nil {
					return err
				}
				err = pg.Backup(ctx, to)
				if cerr := pg.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
			} else if err := store.BackupSQLiteFile(ctx, strings.TrimPrefix(spec, "sqlite:"), to); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup of %s written to %s\n", spec, to)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory `DIR` of the master (its SQLite database)")
	cmd.Flags().StringVar(&storeSpec, "store", "", "database `URL` instead: sqlite:PATH or postgres://USER@HOST/DB")
	cmd.Flags().StringVar(&to, "to", "", "backup `FILE` to create (must not exist)")
	cmd.MarkFlagRequired("to")
	return cmd
}

func newMasterRestoreCmd() *cobra.Command {
	var dataDir, storeSpec, from string
	cmd := &cobra.Command{
		Use:   "restore --from FILE (--data DIR | --store URL)",
		Short: "Restore a backup into a new database (the master stopped)",
		Long: `Restore a backup made by "slapgo master backup" into the data directory's
SQLite file (which must not exist: move the old one away first) or into an
empty PostgreSQL database (--store postgres://…). The backup is checked
first (a slapgo master database whose state rebuilds) and upgraded in a
copy when an older slapgo wrote it; the backup file is never changed.

A restore into PostgreSQL starts a new leader epoch: a master still
running on that database can no longer write.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := storeOf(dataDir, storeSpec)
			if err != nil {
				return err
			}
			if err := store.Restore(cmd.Context(), from, spec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backup %s restored into %s\n", from, spec)
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data", "", "data directory `DIR` of the master (restores its SQLite database)")
	cmd.Flags().StringVar(&storeSpec, "store", "", "database `URL` instead: sqlite:PATH or postgres://USER@HOST/DB (empty)")
	cmd.Flags().StringVar(&from, "from", "", "backup `FILE` made by slapgo master backup")
	cmd.MarkFlagRequired("from")
	return cmd
}

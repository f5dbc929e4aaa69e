package localgrid

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// Options tunes Up.
type Options struct {
	// Dir is the grid folder, made if missing.
	Dir string
	// Binary is the slapgo executable run in the background.
	Binary string
	// Software is the URL of the software release deployed.
	Software string
	// Port is the master's port when the folder records none free
	// (DefaultPort normally); 0 picks any free port.
	Port int
	// PollInterval is the node agent's poll_interval (DefaultPollInterval
	// when zero).
	PollInterval time.Duration
	// Timeout bounds the wait for the instance (DefaultTimeout when zero).
	Timeout time.Duration
	// Expect, when set, must be in what the instance's URL answers: an
	// instance that still serves older parameters is not done. (The sample
	// software greets its name parameter.)
	Expect string
	// Reset stops the grid and wipes the folder first.
	Reset bool
	// Out receives one line per step.
	Out io.Writer
	// Live rewrites the waiting line in place (Out is a terminal) rather
	// than printing a line per change.
	Live bool
	// MasterArgs are added to the master's command line (slapgo master
	// serve) when Up starts it.
	MasterArgs []string
}

// InstanceParameters are the parameters of the instance requested.
var InstanceParameters = map[string]string{"name": "world"}

// Result is the running grid.
type Result struct {
	Layout       Layout
	MasterURL    string
	MasterPID    int
	NodePID      int
	InstanceGUID string
	PartitionID  string
	InstanceURL  string // published by the instance
	Answer       string // what InstanceURL answered
	PortalURL    string // the master's web portal
	SignInLink   string // a one-time link signing a browser in as PersonID
}

// stepper prints one line of progress per step.
type stepper struct {
	out io.Writer
}

func (s stepper) printf(what, format string, args ...any) {
	fmt.Fprintf(s.out, "%-12s %s\n", what, fmt.Sprintf(format, args...))
}

// Up starts the local grid of o.Dir and deploys o.Software (see doc.go).
// On error the processes already started keep running: Stop stops them.
func Up(ctx context.Context, o Options) (Result, error) {
	o.PollInterval = cmp.Or(o.PollInterval, DefaultPollInterval)
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Binary == "" || o.Software == "" {
		return Result{}, errors.New("localgrid: Options.Binary and Options.Software are required")
	}
	l, err := NewLayout(o.Dir)
	if err != nil {
		return Result{}, err
	}
	st := stepper{o.Out}
	if o.Reset {
		if err := Reset(l.Dir, o.Out); err != nil {
			return Result{}, err
		}
	}
	if err := l.ensure(); err != nil {
		return Result{}, err
	}
	release, err := lockFolder(l.Dir)
	if err != nil {
		return Result{}, err
	}
	st.printf("grid", "%s (slapgo demo stop stops it, slapgo demo --reset wipes it)", Show(l.Dir))
	u := &upper{o: o, l: l, st: st, res: Result{Layout: l}}
	for _, step := range []func(context.Context) error{
		u.initMaster, u.startMaster, u.person, u.portal, u.computer, u.startNode, u.deploy,
	} {
		if err := step(ctx); err != nil {
			release()
			return u.res, err
		}
	}
	// Waiting changes nothing: Stop may run meanwhile.
	release()
	return u.res, u.wait(ctx)
}

// upper carries Up's state from step to step.
type upper struct {
	o      Options
	l      Layout
	st     stepper
	res    Result
	admin  *api.Client
	client *api.Client // as the person
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func (u *upper) initMaster(ctx context.Context) error {
	l := u.l
	if exists(l.AdminCert()) && exists(l.CA()) {
		u.st.printf("master", "data directory %s: reused", Show(l.MasterDir()))
		return nil
	}
	for _, p := range []string{l.MasterDir(), l.PersonDir(), l.NodeCredDir(), l.InstanceRoot()} {
		if entries, err := os.ReadDir(p); err == nil && len(entries) > 0 {
			return fmt.Errorf("%w: %s has no master credentials (%s) but holds %s, made for another master: run slapgo demo --reset",
				ErrStale, l.Dir, filepath.Base(l.AdminCert()), p)
		}
	}
	out, err := exec.CommandContext(ctx, u.o.Binary, "master", "init", "--data", l.MasterDir()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("localgrid: slapgo master init --data %s: %w\n%s", l.MasterDir(), err, out)
	}
	u.st.printf("master", "data directory %s initialised: database, CA, server certificate, admin credentials", Show(l.MasterDir()))
	return nil
}

// healthy checks the master's /healthz, trusting the folder's CA.
func healthy(ctx context.Context, masterURL, caFile string) error {
	cfg, err := api.TLSConfig("", "", caFile)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, masterURL+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/healthz answered %s", masterURL, resp.Status)
	}
	return nil
}

// freePort returns the first of the ports that 127.0.0.1 can listen on,
// or any free port (when none can, or for port 0).
func freePort(ports ...int) (int, error) {
	for _, p := range ports {
		if p <= 0 {
			continue
		}
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			ln.Close()
			return p, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("localgrid: no free port on 127.0.0.1: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (u *upper) startMaster(ctx context.Context) error {
	l := u.l
	data, _ := os.ReadFile(l.MasterURLFile())
	recorded := strings.TrimSpace(string(data))
	running, ok := runningProcess(l.MasterPID(), l.MasterDir())
	switch {
	case ok && !running.sameBinary(u.o.Binary):
		u.st.printf("master", "running (pid %d) from another slapgo binary: restarting it", running.PID)
		terminate(running, 15*time.Second)
	case ok && recorded != "" && healthy(ctx, recorded, l.CA()) == nil:
		u.st.printf("master", "already serving %s (pid %d): reused", recorded, running.PID)
		u.res.MasterURL, u.res.MasterPID = recorded, running.PID
		return u.clients()
	case ok:
		u.st.printf("master", "running (pid %d) but not answering on %q: restarting it", running.PID, recorded)
		terminate(running, 15*time.Second)
	}
	// The port recorded first, so that the node's configuration stays.
	var prev int
	if pu, err := url.Parse(recorded); err == nil && recorded != "" {
		prev, _ = strconv.Atoi(pu.Port())
	}
	port, err := freePort(prev, u.o.Port)
	if err != nil {
		return err
	}
	if want := cmp.Or(prev, u.o.Port); want != 0 && port != want {
		u.st.printf("master", "port %d is busy: using %d", want, port)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	masterURL := "https://" + addr
	// The sample software is a file of this checkout, read by the node of
	// this machine: the one case where a file:// URL can be fetched.
	args := append([]string{"master", "serve", "--data", l.MasterDir(), "--listen", addr, "--allow-local-software-urls"}, u.o.MasterArgs...)
	b, err := startBackground(u.o.Binary, args,
		l.Dir, l.MasterLog(), l.MasterPID())
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := healthy(ctx, masterURL, l.CA())
		if err == nil {
			break
		}
		select {
		case werr := <-b.exited:
			return fmt.Errorf("localgrid: the master exited (%v) before answering on %s; %s ends with:%s",
				werr, masterURL, Show(l.MasterLog()), tail(l.MasterLog(), 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the master (pid %d) did not answer on %s/healthz within 30s (%v); see %s",
				ErrTimeout, b.cmd.Process.Pid, masterURL, err, Show(l.MasterLog()))
		}
	}
	if err := writeFileAtomic(l.MasterURLFile(), []byte(masterURL+"\n"), 0o644); err != nil {
		return err
	}
	u.res.MasterURL, u.res.MasterPID = masterURL, b.cmd.Process.Pid
	u.st.printf("master", "serving %s (pid %d), log %s", masterURL, b.cmd.Process.Pid, Show(l.MasterLog()))
	return u.clients()
}

// clients makes the admin's client, and the person's once it has
// credentials.
func (u *upper) clients() error {
	var err error
	u.admin, err = api.NewClient(u.res.MasterURL, u.l.AdminCert(), u.l.AdminKey(), u.l.CA())
	if err != nil {
		return err
	}
	if exists(u.l.PersonCert()) {
		u.client, err = api.NewClient(u.res.MasterURL, u.l.PersonCert(), u.l.PersonKey(), u.l.PersonCA())
	}
	return err
}

// writeCredentials writes a certificate, its key and the CA into dir.
func writeCredentials(dir, certFile, keyFile string, c api.Credentials) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("localgrid: %w", err)
	}
	for _, f := range []struct {
		name, data string
		mode       os.FileMode
	}{{"ca.crt", c.CAPEM, 0o644}, {keyFile, c.KeyPEM, 0o600}, {certFile, c.CertificatePEM, 0o644}} {
		if err := writeFileAtomic(filepath.Join(dir, f.name), []byte(f.data), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func (u *upper) person(ctx context.Context) error {
	l := u.l
	if u.client != nil {
		u.st.printf("person", "%s: credentials in %s reused", PersonID, Show(l.PersonDir())+"/")
	} else {
		res, err := u.admin.AddPerson(ctx, api.AddPersonRequest{ID: PersonID, Name: "Demo user"})
		if api.IsStatus(err, http.StatusConflict) {
			return fmt.Errorf("%w: person %s exists in the master but its credentials are not in %s: run slapgo demo --reset",
				ErrStale, PersonID, l.PersonDir())
		}
		if err != nil {
			return fmt.Errorf("localgrid: adding person %s: %w", PersonID, err)
		}
		if err := writeCredentials(l.PersonDir(), filepath.Base(l.PersonCert()), filepath.Base(l.PersonKey()), res.Credentials); err != nil {
			return err
		}
		if err := u.clients(); err != nil {
			return err
		}
		u.st.printf("person", "%s created, credentials in %s", PersonID, Show(l.PersonDir())+"/")
	}
	// The master's URL may have changed: these are written on every run.
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
	env := fmt.Sprintf("# Source me (. %s): slapgo commands then act as person %s on the local grid.\n"+
		"export SLAPGO_MASTER=%s\nexport SLAPGO_CERT=%s\nexport SLAPGO_KEY=%s\nexport SLAPGO_CA=%s\n",
		l.EnvFile(), PersonID, q(u.res.MasterURL), q(l.PersonCert()), q(l.PersonKey()), q(l.PersonCA()))
	if err := writeFileAtomic(l.EnvFile(), []byte(env), 0o644); err != nil {
		return err
	}
	yaml := fmt.Sprintf("# slapgo --client-config %s (or SLAPGO_CONFIG=…): person %s on the local grid.\n"+
		"master: %s\ncert: %s\nkey: %s\nca: ca.crt\n",
		l.ClientConfig(), PersonID, u.res.MasterURL, filepath.Base(l.PersonCert()), filepath.Base(l.PersonKey()))
	return writeFileAtomic(l.ClientConfig(), []byte(yaml), 0o644)
}

// portal issues a one-time sign-in link for the person: a newcomer opens
// the grid in a browser without a password.
func (u *upper) portal(ctx context.Context) error {
	link, err := u.admin.SignInLink(ctx, PersonID)
	if err != nil {
		return fmt.Errorf("localgrid: issuing a sign-in link for %s: %w", PersonID, err)
	}
	u.res.PortalURL = u.res.MasterURL + "/portal/"
	u.res.SignInLink = u.res.MasterURL + link.Path
	u.st.printf("portal", "%s (sign-in link for %s below)", u.res.PortalURL, PersonID)
	return nil
}

func (u *upper) computer(ctx context.Context) error {
	l := u.l
	dir := l.NodeCredDir()
	if exists(filepath.Join(dir, "computer.crt")) && exists(filepath.Join(dir, "computer.key")) {
		u.st.printf("computer", "%s: credentials in %s reused", ComputerID, Show(dir)+"/")
		return nil
	}
	reg, err := u.client.RegisterComputer(ctx, api.RegisterComputerRequest{ID: ComputerID, Title: "local grid computer",
		Region: "local", Scope: model.ScopeOpen})
	if api.IsStatus(err, http.StatusConflict) {
		return fmt.Errorf("%w: computer %s exists in the master but its credentials are not in %s: run slapgo demo --reset",
			ErrStale, ComputerID, dir)
	}
	if err != nil {
		return fmt.Errorf("localgrid: registering computer %s: %w", ComputerID, err)
	}
	if reg.Credentials == nil {
		return fmt.Errorf("localgrid: computer %s registered but the master sent no credentials", ComputerID)
	}
	if err := writeCredentials(dir, "computer.crt", "computer.key", *reg.Credentials); err != nil {
		return err
	}
	u.st.printf("computer", "%s registered by %s, credentials for the node in %s", ComputerID, PersonID, Show(dir)+"/")
	return nil
}

func (u *upper) startNode(ctx context.Context) error {
	l := u.l
	subnet := l.subnet()
	cfg := nodeConfig(u.res.MasterURL, subnet, u.o.PollInterval)
	old, _ := os.ReadFile(l.NodeConfig())
	changed := !bytes.Equal(old, cfg)
	if changed {
		if err := writeFileAtomic(l.NodeConfig(), cfg, 0o644); err != nil {
			return err
		}
	}
	u.st.printf("node config", "%s: %d partitions on %s, polls every %s", Show(l.NodeConfig()), PartitionAmount,
		partitionRange(subnet), u.o.PollInterval)

	running, ok := runningProcess(l.NodePID(), l.NodeConfig())
	switch {
	case ok && running.sameBinary(u.o.Binary) && !changed:
		u.st.printf("node format", "skipped: the running agent formats at its start and every capacity_interval")
		u.st.printf("node agent", "already running (pid %d): reused", running.PID)
		u.res.NodePID = running.PID
		return nil
	case ok:
		why := "its configuration changed"
		if !running.sameBinary(u.o.Binary) {
			why = "it runs another slapgo binary"
		}
		u.st.printf("node agent", "running (pid %d) but %s: restarting it", running.PID, why)
		if _, gone := terminate(running, 30*time.Second); !gone {
			return fmt.Errorf("localgrid: the node agent (pid %d) does not stop: stop it and run again", running.PID)
		}
	}

	// Unprivileged, even as root: a local grid changes nothing of the
	// machine (no user, no address, no tap).
	out, err := exec.CommandContext(ctx, u.o.Binary, "node", "format", "--config", l.NodeConfig(), "--unprivileged").CombinedOutput()
	appendLog(l.NodeLog(), "slapgo node format --unprivileged", out)
	if err != nil {
		return fmt.Errorf("localgrid: slapgo node format --config %s: %w\n%s", l.NodeConfig(), err, out)
	}
	mode := "unprivileged: partitions run as " + currentUser()
	if os.Geteuid() == 0 {
		mode = "unprivileged although running as root: a local grid adds no user, address or tap to this system"
	}
	u.st.printf("node format", "%d partitions in %s, capacity announced (%s)", PartitionAmount, Show(l.InstanceRoot())+"/", mode)

	b, err := startBackground(u.o.Binary, []string{"node", "run", "--config", l.NodeConfig(), "--unprivileged"},
		l.Dir, l.NodeLog(), l.NodePID())
	if err != nil {
		return err
	}
	select {
	case werr := <-b.exited:
		return fmt.Errorf("localgrid: the node agent exited at once (%v); %s ends with:%s", werr, Show(l.NodeLog()), tail(l.NodeLog(), 15))
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
	}
	u.res.NodePID = b.cmd.Process.Pid
	u.st.printf("node agent", "running (pid %d), log %s", u.res.NodePID, Show(l.NodeLog()))
	return nil
}

// appendLog adds the output of a one-shot command to a log.
func appendLog(path, what string, out []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "\n=== %s: %s\n%s", time.Now().UTC().Format(time.RFC3339), what, out)
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

func (u *upper) deploy(ctx context.Context) error {
	if _, err := u.client.Supply(ctx, ComputerID, api.SupplyRequest{URL: u.o.Software, State: model.SoftwareAvailable}); err != nil {
		return fmt.Errorf("localgrid: supplying %s to %s: %w", u.o.Software, ComputerID, err)
	}
	u.st.printf("supply", "%s on %s", u.o.Software, ComputerID)
	inst, err := u.client.Request(ctx, api.InstanceRequest{Title: InstanceTitle, SoftwareRelease: u.o.Software,
		Parameters: InstanceParameters, SLA: map[string]string{"computer_guid": ComputerID}, State: model.StateStarted})
	if err != nil {
		return fmt.Errorf("localgrid: requesting %s: %w", InstanceTitle, err)
	}
	u.res.InstanceGUID, u.res.PartitionID = inst.GUID, inst.PartitionID
	where := inst.ComputerID + "/" + inst.PartitionID
	if inst.PartitionID == "" {
		where = "pending: " + inst.PendingReason
	}
	var params []string
	for k, v := range InstanceParameters {
		params = append(params, k+"="+v)
	}
	u.st.printf("request", "%s (%s) as %s: %s, instance %s", InstanceTitle, strings.Join(params, " "), PersonID, where, inst.GUID)
	return nil
}

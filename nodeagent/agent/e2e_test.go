package agent_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/agent"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// grid is a real master and a real node agent, both the slapgo binary, on
// loopback, in a temporary directory.
type grid struct {
	t          testing.TB
	privileged bool   // partitions have users (root only)
	userBase   string // their user_base_name
	// netns, when set, is the network namespace the master, the node and
	// the test's HTTP clients work in (privileged grids).
	netns     string
	stopServe func()
	bin       string
	dir       string
	url       string
	person    *api.Client
	cfgFile   string
	comp      string
	subnet    string // 127.X.Y
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// slapgoBinary builds cmd/slapgo once per test binary.
func slapgoBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "slapgo-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		// Promise scripts run it as the partition users.
		os.Chmod(dir, 0o755)
		builtBin = filepath.Join(dir, "slapgo")
		cmd := exec.Command("go", "build", "-o", builtBin, "github.com/slapgo/slapgo/cmd/slapgo")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// slapgo is the command running the slapgo binary, in the grid's network
// namespace if it has one.
func (g *grid) slapgo(ctx context.Context, args ...string) *exec.Cmd {
	if g.netns != "" {
		return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", g.netns, g.bin}, args...)...)
	}
	return exec.CommandContext(ctx, g.bin, args...)
}

// dial connects in the grid's network namespace: the socket is made by a
// thread moved there (a connected socket keeps its namespace).
func (g *grid) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if g.netns == "" {
		return d.DialContext(ctx, network, addr)
	}
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(g.netns)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			ch <- result{nil, err}
			return
		}
		c, err := d.DialContext(ctx, network, addr)
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread() // else the thread dies with the goroutine
		}
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}

// get fetches a URL from the grid's network.
func (g *grid) get(url string) (string, error) {
	c := http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: g.dial, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (g *grid) run(args ...string) string {
	g.t.Helper()
	cmd := g.slapgo(context.Background(), args...)
	cmd.Dir = g.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("slapgo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// gridOptions shape a test grid.
type gridOptions struct {
	partitions int
	slapgrid   []string // lines added to the node's [slapgrid] section
	// privileged formats as root: users named for this run only (removed
	// at the end), addresses added to lo (removed at the end).
	privileged bool
	// protocol is the node's master_protocol ("" for the default).
	protocol string
}

// startMaster runs `slapgo master init` and `serve` on a free port, with
// everything in dir, and registers and formats a computer (addresses in
// 127.0.0.0/8).
func startMaster(t testing.TB, dir string, o gridOptions) *grid {
	t.Helper()
	partitions := o.partitions
	g := &grid{t: t, bin: slapgoBinary(t), dir: dir, comp: "COMP-E2E", privileged: o.privileged}
	if o.privileged {
		tag := fmt.Sprintf("%05d", rand.IntN(100000))
		g.userBase = "sge" + tag + "u"
		g.netns = "slapgo-e2e-" + tag
		for _, args := range [][]string{{"netns", "add", g.netns}, {"-n", g.netns, "link", "set", "lo", "up"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", g.netns).Run() })
	}
	network := ""
	if partitions <= 250 {
		g.subnet = fmt.Sprintf("127.%d.%d", 100+rand.IntN(100), rand.IntN(250))
		network = g.subnet + ".0/24"
	} else {
		g.subnet = fmt.Sprintf("127.%d", 100+rand.IntN(100))
		network = g.subnet + ".0.0/16"
	}
	g.run("master", "init", "--data", filepath.Join(g.dir, "master"))
	g.serve("127.0.0.1:0")
	t.Cleanup(g.stopMaster)

	m := filepath.Join(g.dir, "master")
	admin := []string{"--master", g.url, "--cert", filepath.Join(m, "admin.crt"), "--key", filepath.Join(m, "admin.key"), "--ca", filepath.Join(m, "ca.crt")}
	g.run(append([]string{"person", "add", "PERSON-E2E", "--out", "person"}, admin...)...)
	pc := filepath.Join(g.dir, "person")
	var err error
	g.person, err = api.NewClient(g.url, filepath.Join(pc, "PERSON-E2E.crt"), filepath.Join(pc, "PERSON-E2E.key"), filepath.Join(m, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	g.person.HTTP.Transport.(*http.Transport).DialContext = g.dial
	asPerson := []string{"--master", g.url, "--cert", filepath.Join(pc, "PERSON-E2E.crt"), "--key", filepath.Join(pc, "PERSON-E2E.key"), "--ca", filepath.Join(m, "ca.crt")}
	g.run(append([]string{"computer", "add", g.comp, "--out", "computer"}, asPerson...)...)

	g.cfgFile = filepath.Join(g.dir, "node.cfg")
	cfg := fmt.Sprintf(`[slapos]
computer_id = %s
master_url = %s
software_root = soft
instance_root = inst
key_file = node/computer.key
cert_file = node/computer.crt
ca_file = node/ca.crt
%s
[slapformat]
partition_amount = %d
interface_name = lo
ipv6_interface =
ipv4_local_network = %s
user_base_name = %s

[slapgrid]
poll_interval = 1s
retry_base = 1s
retry_max = 5s
promise_timeout = 10s
stop_grace = 2s
`, g.comp, g.url, protocolLine(o.protocol), partitions, network, cmp.Or(g.userBase, "slapuser")) + strings.Join(o.slapgrid, "\n") + "\n"
	if err := os.WriteFile(g.cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	g.run("node", "register", "--config", g.cfgFile, "--from", filepath.Join(g.dir, "computer"))
	if o.privileged {
		// Partition users must reach their directories and the software.
		for d := g.dir; d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o005 != 0o005 {
				os.Chmod(d, fi.Mode().Perm()|0o055)
			}
		}
		t.Cleanup(func() {
			for n := range partitions {
				name := g.userBase + strconv.Itoa(n)
				exec.Command("userdel", name).Run()
				exec.Command("groupdel", name).Run()
			}
		})
		g.run("node", "format", "--config", g.cfgFile)
	} else {
		g.run("node", "format", "--config", g.cfgFile, "--unprivileged")
	}
	return g
}

func protocolLine(p string) string {
	if p == "" {
		return ""
	}
	return "master_protocol = " + p + "\n"
}

// serve starts `slapgo master serve` on listen and sets g.url.
func (g *grid) serve(listen string) {
	t := g.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serve := g.slapgo(ctx, "master", "serve", "--data", filepath.Join(g.dir, "master"), "--listen", listen, "--allow-local-software-urls")
	serve.Cancel = func() error { return serve.Process.Signal(syscall.SIGTERM) }
	serve.WaitDelay = 10 * time.Second
	stdout, _ := serve.StdoutPipe()
	serveLog, _ := os.OpenFile(filepath.Join(g.dir, "master.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	serve.Stderr = serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	g.stopServe = func() { cancel(); serve.Wait(); serveLog.Close() }
	sc := bufio.NewScanner(stdout)
	url := ""
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			url = u
			break
		}
	}
	if url == "" {
		g.stopMaster()
		t.Fatal("master did not say where it listens")
	}
	g.url = url
	go io.Copy(io.Discard, stdout)
}

// stopMaster stops the master with SIGTERM (if it runs).
func (g *grid) stopMaster() {
	if g.stopServe != nil {
		g.stopServe()
		g.stopServe = nil
	}
}

// node is a running `slapgo node run`.
type node struct {
	g       *grid
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	done    bool
}

// startNode runs `slapgo node run`; the test's end stops it if need be.
func (g *grid) startNode(extra ...string) *node {
	g.t.Helper()
	n := &node{g: g, logPath: filepath.Join(g.dir, fmt.Sprintf("node-%d.log", time.Now().UnixNano()))}
	n.log, _ = os.Create(n.logPath)
	args := []string{"node", "run", "--config", g.cfgFile}
	if !g.privileged {
		args = append(args, "--unprivileged")
	}
	n.cmd = g.slapgo(context.Background(), append(args, extra...)...)
	n.cmd.Dir = g.dir
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() {
		n.stop()
		g.killLeftovers()
	})
	return n
}

// stop sends SIGTERM, waits for the daemon and returns its log.
func (n *node) stop() string { return n.end(syscall.SIGTERM) }

// kill sends SIGKILL: the daemon dies without stopping anything.
func (n *node) kill() string { return n.end(syscall.SIGKILL) }

func (n *node) end(sig syscall.Signal) string {
	if !n.done {
		n.done = true
		n.cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- n.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil && sig == syscall.SIGTERM {
				n.g.t.Errorf("node run exited with %v", err)
			}
		case <-time.After(30 * time.Second):
			n.cmd.Process.Kill()
			n.g.t.Errorf("node run did not end within 30s of %s", sig)
		}
		n.log.Close()
	}
	data, _ := os.ReadFile(n.logPath)
	return string(data)
}

// killLeftovers kills what a failed test left running in the partitions.
func (g *grid) killLeftovers() {
	dirs, _ := filepath.Glob(filepath.Join(g.dir, "inst", "slappart*"))
	for _, d := range dirs {
		supervisor.KillStale(d, time.Second)
	}
}

// eventually polls cond every 100ms until it returns "" or timeout passes.
func eventually(t testing.TB, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	began := time.Now()
	deadline := began.Add(timeout)
	last := ""
	for {
		if last = cond(); last == "" {
			t.Logf("%s: after %s", what, time.Since(began).Round(10*time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestEndToEnd supplies the hello software, requests an instance, and
// follows it through a parameter change, stop, start and destruction, with
// the real master and the real node agent daemon: unprivileged, and as
// root with partition users made for the run.
func TestEndToEnd(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	t.Run("unprivileged", func(t *testing.T) { endToEnd(t, false) })
	t.Run("privileged", func(t *testing.T) {
		testenv.RequireRoot(t, "partition users and addresses need root")
		testenv.RequireCommands(t, "partition users and addresses are made with them (Debian: iproute2, passwd)", "ip", "useradd", "userdel", "groupdel")
		endToEnd(t, true)
	})
}

func endToEnd(t *testing.T, privileged bool) {
	began := time.Now()
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 2, privileged: privileged})
	ctx := context.Background()
	hello, err := filepath.Abs("../../fixtures/software/hello/software.cfg")
	if err != nil {
		t.Fatal(err)
	}
	sr := "file://" + hello
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: sr, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	daemon := g.startNode()
	req := api.InstanceRequest{Title: "hello-e2e", SoftwareRelease: sr, Parameters: map[string]string{"name": "alice"},
		SLA: map[string]string{"computer_guid": g.comp}}
	inst, err := g.person.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if inst.PartitionID == "" {
		t.Fatalf("instance not allocated: %+v", inst)
	}
	partDir := filepath.Join(g.dir, "inst", inst.PartitionID)

	answers := func(want string) func() string {
		return func() string {
			cur, err := g.person.Instance(ctx, inst.GUID)
			if err != nil {
				return err.Error()
			}
			url := cur.Connection["url"]
			if url == "" {
				return fmt.Sprintf("no url published yet (reported %q %s)", cur.ReportedState, cur.ReportedError)
			}
			body, err := g.get(url)
			if err != nil {
				return err.Error()
			}
			if !strings.Contains(body, want) {
				return fmt.Sprintf("%s answered %q, want %q", url, body, want)
			}
			return ""
		}
	}
	reported := func(want model.ReportedState) func() string {
		return func() string {
			cur, err := g.person.Instance(ctx, inst.GUID)
			if err != nil {
				return err.Error()
			}
			if cur.ReportedState != want {
				return fmt.Sprintf("reported %q (%s), want %q", cur.ReportedState, cur.ReportedError, want)
			}
			return ""
		}
	}
	eventually(t, "the published URL answers", 40*time.Second, answers("alice from "+inst.PartitionID))
	eventually(t, "the instance is reported started", 20*time.Second, reported(model.ReportedStarted))
	// `slapgo node status` tells the same, from the node's side.
	var st agent.NodeStatus
	eventually(t, "node status says converged", 20*time.Second, func() string {
		if st = g.nodeStatus(); !st.Converged {
			return fmt.Sprintf("not converged: %q", st.Waiting)
		}
		return ""
	})
	if i := slices.IndexFunc(st.Partitions, func(p agent.PartitionStatus) bool { return p.ID == inst.PartitionID }); i < 0 ||
		!st.Partitions[i].Running || st.Partitions[i].InstanceGUID != inst.GUID || st.Partitions[i].Unreported != nil {
		t.Errorf("node status partitions = %+v, want %s running %s, its report delivered", st.Partitions, inst.PartitionID, inst.GUID)
	}
	if len(st.Plan) != 0 || st.MaxConcurrent != 1 || !hasEvent(st.Events, "end", "configure-partition", inst.PartitionID) {
		t.Errorf("node status: plan %+v, at most %d actions at once, events %+v; want no plan, 1, a configuration of %s",
			st.Plan, st.MaxConcurrent, st.Events, inst.PartitionID)
	}
	if !strings.HasPrefix(inst.Addresses[0].Addr, g.subnet+".") {
		t.Errorf("partition address %v outside %s.0/24", inst.Addresses, g.subnet)
	}
	if privileged {
		// The service runs as the partition's user, who owns its files.
		pfs, err := supervisor.ReadPidFiles(partDir)
		if err != nil || len(pfs) == 0 {
			t.Fatalf("pid files: %v %v", pfs, err)
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pfs[0].PID))
		u, err := user.Lookup(g.userBase + strings.TrimPrefix(inst.PartitionID, "slappart"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(status), "\nUid:\t"+u.Uid+"\t") {
			t.Errorf("service of %s does not run as %s (uid %s):\n%s", inst.PartitionID, u.Username, u.Uid, status)
		}
		var st syscall.Stat_t
		syscall.Stat(filepath.Join(partDir, "var", "log", "hello.log"), &st)
		if strconv.Itoa(int(st.Uid)) != u.Uid {
			t.Errorf("hello.log owned by uid %d, want %s", st.Uid, u.Uid)
		}
	}

	req.Parameters = map[string]string{"name": "bob"}
	if _, err := g.person.Request(ctx, req); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new parameter is served", 20*time.Second, answers("bob from "+inst.PartitionID))
	eventually(t, "the instance is reported started again", 20*time.Second, reported(model.ReportedStarted))

	req.State = model.StateStopped
	if _, err := g.person.Request(ctx, req); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the instance is reported stopped", 20*time.Second, reported(model.ReportedStopped))
	cur, _ := g.person.Instance(ctx, inst.GUID)
	if _, err := g.get(cur.Connection["url"]); err == nil {
		t.Fatal("the stopped instance still answers")
	}

	req.State = model.StateStarted
	if _, err := g.person.Request(ctx, req); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the restarted instance answers", 20*time.Second, answers("bob from "+inst.PartitionID))
	eventually(t, "the restarted instance is reported started", 20*time.Second, reported(model.ReportedStarted))

	req.State = model.StateDestroyed
	if _, err := g.person.Request(ctx, req); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the partition is free and wiped", 20*time.Second, func() string {
		d, err := g.person.ComputerDetails(ctx, g.comp)
		if err != nil {
			return err.Error()
		}
		for _, p := range d.Partitions {
			if p.ID == inst.PartitionID && p.Status != model.PartitionFree {
				return fmt.Sprintf("%s is %s", p.ID, p.Status)
			}
		}
		entries, err := os.ReadDir(partDir)
		if err != nil {
			return err.Error()
		}
		if len(entries) != 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return fmt.Sprintf("%s still holds %v", partDir, names)
		}
		return ""
	})
	fi, err := os.Stat(partDir)
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("wiped partition directory: %v %v, want kept with mode 0750", fi.Mode(), err)
	}

	// A profile that cannot build is reported in error with its log's
	// tail; a release no longer supplied is removed.
	bad, _ := filepath.Abs("../../fixtures/software/bad/missing-checksum.cfg")
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: "file://" + bad, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: sr, State: model.SoftwareDestroyed}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the bad release is reported in error and hello removed", 20*time.Second, func() string {
		d, err := g.person.ComputerDetails(ctx, g.comp)
		if err != nil {
			return err.Error()
		}
		var msgs []string
		for _, sw := range d.Software {
			switch {
			case sw.URL == sr && sw.Reported != model.SoftwareRemoved:
				msgs = append(msgs, fmt.Sprintf("hello reported %q", sw.Reported))
			case sw.URL != sr && (sw.Reported != model.SoftwareError || !strings.Contains(sw.ReportedError, "missing-checksum.cfg")):
				msgs = append(msgs, fmt.Sprintf("bad release reported %q: %q", sw.Reported, sw.ReportedError))
			}
		}
		if _, err := os.Stat(filepath.Join(g.dir, "soft", agent.SoftwareDirName(sr))); err == nil {
			msgs = append(msgs, "hello's software directory is still there")
		}
		return strings.Join(msgs, "; ")
	})
	log := daemon.stop()
	if os.Getenv("SLAPGO_E2E_LOG") != "" {
		t.Log(log)
	}
	if !strings.Contains(log, "node agent stopped") {
		t.Errorf("the agent did not stop cleanly:\n%s", log)
	}
	t.Logf("end to end in %s", time.Since(began).Round(time.Millisecond))
}

// TestDaemonBangOfflineRestartUsage follows the daemon through what a
// production node lives: a service that dies (restarted, its instance
// banged), the master going away (services keep running) and coming back
// (the agent catches up), usage journals posted, and a daemon killed and
// started again (the programs it left are killed and restarted).
func TestDaemonBangOfflineRestartUsage(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 1, slapgrid: []string{"usage_interval = 3s", "destruction_interval = 2s"}})
	ctx := context.Background()
	hello, _ := filepath.Abs("../../fixtures/software/hello/software.cfg")
	sr := "file://" + hello
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: sr, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	daemon := g.startNode()
	req := api.InstanceRequest{Title: "daemon", SoftwareRelease: sr, Parameters: map[string]string{"name": "carol"},
		SLA: map[string]string{"computer_guid": g.comp}}
	inst, err := g.person.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	partDir := filepath.Join(g.dir, "inst", inst.PartitionID)
	var url string
	answers := func(want string) func() string {
		return func() string {
			if url == "" {
				cur, err := g.person.Instance(ctx, inst.GUID)
				if err != nil || cur.Connection["url"] == "" {
					return fmt.Sprintf("no url yet (%v)", err)
				}
				url = cur.Connection["url"]
			}
			body, err := g.get(url)
			if err != nil {
				return err.Error()
			}
			if !strings.Contains(body, want) {
				return fmt.Sprintf("answered %q, want %q", body, want)
			}
			return ""
		}
	}
	eventually(t, "the instance answers", 40*time.Second, answers("carol"))

	// The instance reports usage of its own.
	report, err := os.ReadFile("../../fixtures/usage/consumption.xml")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(partDir, "var", "xml_report"), 0o755)
	os.WriteFile(filepath.Join(partDir, "var", "xml_report", "daily.xml"), report, 0o644)

	// A service that dies is restarted and bangs its instance.
	servicePID := func() int {
		pfs, _ := supervisor.ReadPidFiles(partDir)
		for _, pf := range pfs {
			if pf.Program == "hello" && pf.Alive() {
				return pf.PID
			}
		}
		return 0
	}
	before, _ := g.person.Instance(ctx, inst.GUID)
	first := servicePID()
	if first == 0 {
		t.Fatal("no live pid file for the hello service")
	}
	syscall.Kill(first, syscall.SIGKILL)
	eventually(t, "the service is restarted and the instance banged", 20*time.Second, func() string {
		cur, err := g.person.Instance(ctx, inst.GUID)
		if err != nil {
			return err.Error()
		}
		if cur.Version <= before.Version {
			return fmt.Sprintf("version still %d", cur.Version)
		}
		if pid := servicePID(); pid == 0 || pid == first {
			return fmt.Sprintf("service pid %d (killed %d)", pid, first)
		}
		return answers("carol")()
	})

	// The master goes away: the service keeps running.
	g.stopMaster()
	eventually(t, "the daemon finds the master away", 30*time.Second, func() string {
		if data, _ := os.ReadFile(daemon.logPath); !strings.Contains(string(data), "master unreachable: programs keep running") {
			return "the daemon's log does not say the master is unreachable yet"
		}
		return ""
	})
	if msg := answers("carol")(); msg != "" {
		t.Fatalf("with the master away the service stopped: %s", msg)
	}
	// It comes back on the same address: the agent catches up.
	listen := strings.TrimPrefix(g.url, "https://")
	g.serve(listen)
	req.Parameters = map[string]string{"name": "dave"}
	eventually(t, "the master answers again", 20*time.Second, func() string {
		if _, err := g.person.Request(ctx, req); err != nil {
			return err.Error()
		}
		return ""
	})
	eventually(t, "the agent catches up", 30*time.Second, answers("dave"))

	// Usage journals reached the master, with the instance's report.
	eventually(t, "a usage journal with the instance's report is accepted", 20*time.Second, func() string {
		sent, _ := filepath.Glob(filepath.Join(g.dir, "inst", ".slapgo", "usage", "sent", "*.xml"))
		for _, f := range sent {
			if data, _ := os.ReadFile(f); strings.Contains(string(data), "requests_served") {
				return ""
			}
		}
		return fmt.Sprintf("%d journals sent, none with requests_served", len(sent))
	})

	// The daemon dies hard; its programs outlive it. A new daemon kills
	// them and starts them again.
	log := daemon.kill()
	if !strings.Contains(log, "master unreachable: programs keep running") {
		t.Errorf("the daemon did not say the master was away:\n%s", log)
	}
	orphan := servicePID()
	if orphan == 0 {
		t.Fatalf("the service died with the daemon:\n%s", log)
	}
	daemon2 := g.startNode()
	eventually(t, "the new daemon restarted the service", 20*time.Second, func() string {
		if pid := servicePID(); pid == 0 || pid == orphan {
			return fmt.Sprintf("service pid %d (orphan %d)", pid, orphan)
		}
		return answers("dave")()
	})
	if log := daemon2.stop(); !strings.Contains(log, "partition programs restarted") || !strings.Contains(log, "node agent stopped") {
		t.Errorf("the second daemon did not restart the programs and stop cleanly:\n%s", log)
	}
	if msg := answers("dave")(); msg == "" {
		t.Fatal("SIGTERM without --keep-services left the service running")
	}
}

// TestRegister installs a computer's credentials from a one-time token and
// refuses credentials that are not the configured computer's.
func TestRegister(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 1})
	m := filepath.Join(g.dir, "master")
	pc := filepath.Join(g.dir, "person")
	out := g.run("computer", "add", "COMP-TOKEN", "--token", "--master", g.url, "--cert", filepath.Join(pc, "PERSON-E2E.crt"),
		"--key", filepath.Join(pc, "PERSON-E2E.key"), "--ca", filepath.Join(m, "ca.crt"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := strings.TrimSpace(lines[len(lines)-1])
	cfg := filepath.Join(g.dir, "token.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[slapos]\ncomputer_id = COMP-TOKEN\nmaster_url = %s\ninstance_root = inst2\nsoftware_root = soft2\n"+
		"key_file = tok/computer.key\ncert_file = tok/computer.crt\nca_file = tok/ca.crt\n", g.url)), 0o644)

	fail := func(args ...string) string {
		t.Helper()
		cmd := g.slapgo(context.Background(), args...)
		cmd.Dir = g.dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("slapgo %s succeeded:\n%s", strings.Join(args, " "), out)
		}
		return string(out)
	}
	if out := fail("node", "register", "--config", cfg, "--token", token); !strings.Contains(out, "give --ca") {
		t.Errorf("token without the master's CA: %s", out)
	}
	if out := fail("node", "register", "--config", cfg, "--from", filepath.Join(g.dir, "computer")); !strings.Contains(out, "COMP-TOKEN") {
		t.Errorf("another computer's credentials: %s", out)
	}
	g.run("node", "register", "--config", cfg, "--token", token, "--ca", filepath.Join(m, "ca.crt"))
	fi, err := os.Stat(filepath.Join(g.dir, "tok", "computer.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if out := fail("node", "register", "--config", cfg, "--token", token, "--ca", filepath.Join(m, "ca.crt")); !strings.Contains(out, "--force") {
		t.Errorf("registering twice: %s", out)
	}
	// The credentials work: the computer announces its capacity.
	g.run("node", "format", "--config", cfg, "--unprivileged")
}

// TestSharedInstance hosts a shared instance in a frontend: the host
// publishes connection parameters for it.
func TestSharedInstance(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 1})
	ctx := context.Background()
	fe, _ := filepath.Abs("../../fixtures/software/frontend/software.cfg")
	sr := "file://" + fe
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: sr, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	g.startNode()
	host, err := g.person.Request(ctx, api.InstanceRequest{Title: "frontend", SoftwareRelease: sr, SLA: map[string]string{"computer_guid": g.comp}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the host is started", 40*time.Second, func() string {
		h, err := g.person.Instance(ctx, host.GUID)
		if err != nil || h.ReportedState != model.ReportedStarted {
			return fmt.Sprintf("host reported %q %s (%v)", h.ReportedState, h.ReportedError, err)
		}
		return ""
	})
	var shared api.Instance
	eventually(t, "the shared instance is placed", 20*time.Second, func() string {
		shared, err = g.person.Request(ctx, api.InstanceRequest{Title: "site-1", SoftwareRelease: sr, Shared: true})
		if err != nil {
			return err.Error()
		}
		if shared.HostGUID == "" {
			return "pending: " + shared.PendingReason
		}
		return ""
	})
	eventually(t, "the host publishes for the shared instance", 20*time.Second, func() string {
		s, err := g.person.Instance(ctx, shared.GUID)
		if err != nil {
			return err.Error()
		}
		if url := s.Connection["site-url"]; !strings.HasSuffix(url, "/"+shared.GUID) {
			return fmt.Sprintf("site-url %q, connection %v", url, s.Connection)
		}
		return ""
	})
}

// TestRunInProcess runs the daemon's loops inside the test process (so
// that -race sees them together) against the real master, then cancels it:
// the programs stop with it.
func TestRunInProcess(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 2, slapgrid: []string{"usage_interval = 2s", "destruction_interval = 1s"}})
	cfg, err := config.Load(g.cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	passes := &passRecords{}
	a, err := agent.New(cfg, agent.Options{Unprivileged: true, SlapgoBinary: g.bin, Logger: slog.New(passes)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var runErr error
	stopped := make(chan struct{})
	go func() { runErr = a.Run(ctx, agent.RunOptions{}); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	// A release whose build takes a minute must not delay the instances.
	slow := filepath.Join(g.dir, "slow.cfg")
	os.WriteFile(slow, []byte("[buildout]\nparts = slow\n\n[slow]\nrecipe = shell\ncommand = sleep 60\n"), 0o644)
	hello, _ := filepath.Abs("../../fixtures/software/hello/software.cfg")
	sr := "file://" + hello
	for _, u := range []string{"file://" + slow, sr} {
		if _, err := g.person.Supply(context.Background(), g.comp, api.SupplyRequest{URL: u, State: model.SoftwareAvailable}); err != nil {
			t.Fatal(err)
		}
	}
	var guids []string
	for i := range 2 {
		inst, err := g.person.Request(context.Background(), api.InstanceRequest{Title: fmt.Sprintf("inproc-%d", i), SoftwareRelease: sr,
			SLA: map[string]string{"computer_guid": g.comp}})
		if err != nil {
			t.Fatal(err)
		}
		guids = append(guids, inst.GUID)
	}
	eventually(t, "both instances run", 40*time.Second, func() string {
		for _, guid := range guids {
			inst, err := g.person.Instance(context.Background(), guid)
			if err != nil {
				return err.Error()
			}
			if inst.ReportedState != model.ReportedStarted {
				return fmt.Sprintf("%s reported %q %s", guid, inst.ReportedState, inst.ReportedError)
			}
			if _, err := g.get(inst.Connection["url"]); err != nil {
				return err.Error()
			}
		}
		return ""
	})
	d, err := g.person.ComputerDetails(context.Background(), g.comp)
	if err != nil {
		t.Fatal(err)
	}
	var running []string
	for _, p := range d.Partitions {
		if a.Supervisor().Running(p.ID) {
			running = append(running, p.ID)
		}
	}
	if len(running) != 2 {
		t.Fatalf("supervised partitions: %v", running)
	}
	for _, sw := range d.Software {
		if sw.URL == "file://"+slow && sw.Reported != model.SoftwareBuilding {
			t.Errorf("the slow release is %q: the instances did not run while it built", sw.Reported)
		}
	}
	// Let the usage and destruction loops run at least once.
	eventually(t, "a usage journal is sent", 20*time.Second, func() string {
		sent, _ := filepath.Glob(filepath.Join(g.dir, "inst", ".slapgo", "usage", "sent", "*.xml"))
		if len(sent) == 0 {
			return "none yet"
		}
		return ""
	})
	cancel()
	<-stopped
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	// Every pass logged when it polled; the instances came from passes
	// that ran actions.
	passes.mu.Lock()
	if passes.records == 0 || passes.unpolled > 0 || passes.withWork == 0 {
		t.Errorf("%q records: %d, %d without their poll, %d that ran actions", agent.LogInstancePass,
			passes.records, passes.unpolled, passes.withWork)
	}
	passes.mu.Unlock()
	for _, guid := range guids {
		inst, _ := g.person.Instance(context.Background(), guid)
		if _, err := g.get(inst.Connection["url"]); err == nil {
			t.Errorf("%s still answers after Run returned", guid)
		}
	}
}

// passRecords counts the daemon's LogInstancePass records: all of them,
// those without the time of their poll, those that ran partition actions.
type passRecords struct {
	mu                          sync.Mutex
	records, unpolled, withWork int
}

func (p *passRecords) Enabled(context.Context, slog.Level) bool { return true }
func (p *passRecords) WithAttrs([]slog.Attr) slog.Handler       { return p }
func (p *passRecords) WithGroup(string) slog.Handler            { return p }
func (p *passRecords) Handle(_ context.Context, r slog.Record) error {
	if r.Message != agent.LogInstancePass {
		return nil
	}
	var polled time.Time
	actions := int64(0)
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "polled":
			polled, _ = a.Value.Any().(time.Time)
		case "actions":
			actions = a.Value.Int64()
		}
		return true
	})
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records++
	if polled.IsZero() {
		p.unpolled++
	}
	if actions > 0 {
		p.withWork++
	}
	return nil
}

// nodeStatus runs `slapgo node status --json`.
func (g *grid) nodeStatus() agent.NodeStatus {
	g.t.Helper()
	cmd := g.slapgo(context.Background(), "node", "status", "--json", "--config", g.cfgFile)
	out, err := cmd.Output()
	if err != nil {
		g.t.Fatalf("slapgo node status: %v\n%s", err, out)
	}
	var st agent.NodeStatus
	if err := json.Unmarshal(out, &st); err != nil {
		g.t.Fatalf("slapgo node status --json: %v\n%s", err, out)
	}
	return st
}

func hasEvent(events []agent.ActionEvent, kind, action, partition string) bool {
	return slices.ContainsFunc(events, func(e agent.ActionEvent) bool {
		return e.Kind == kind && e.Action == action && e.Partition == partition
	})
}

// TestNodeOverSLAP: a node configured with master_protocol = slap formats,
// installs, configures, publishes, reports and destroys over SLAP only,
// against slapgo's own SLAP endpoint; the person drives it over /api/v1.
func TestNodeOverSLAP(t *testing.T) {
	testenv.Short(t, "builds and runs the slapgo binary")
	g := startMaster(t, t.TempDir(), gridOptions{partitions: 2, protocol: "slap",
		slapgrid: []string{"usage_interval = 2s", "destruction_interval = 1s"}})
	ctx := context.Background()
	d, err := g.person.ComputerDetails(ctx, g.comp)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Partitions) != 2 || len(d.Partitions[0].Addresses) == 0 {
		t.Fatalf("format over SLAP announced %+v", d.Partitions)
	}
	hello, _ := filepath.Abs("../../fixtures/software/hello/software.cfg")
	sr := "file://" + hello
	if _, err := g.person.Supply(ctx, g.comp, api.SupplyRequest{URL: sr, State: model.SoftwareAvailable}); err != nil {
		t.Fatal(err)
	}
	n := g.startNode()
	var guids []string
	for i := range 2 {
		inst, err := g.person.Request(ctx, api.InstanceRequest{Title: fmt.Sprintf("slap-%d", i), SoftwareRelease: sr,
			SLA: map[string]string{"computer_guid": g.comp}})
		if err != nil {
			t.Fatal(err)
		}
		guids = append(guids, inst.GUID)
	}
	eventually(t, "both instances run and publish", 60*time.Second, func() string {
		for _, guid := range guids {
			inst, err := g.person.Instance(ctx, guid)
			if err != nil {
				return err.Error()
			}
			if inst.ReportedState != model.ReportedStarted {
				return fmt.Sprintf("%s reported %q %s", guid, inst.ReportedState, inst.ReportedError)
			}
			if _, err := g.get(inst.Connection["url"]); err != nil {
				return err.Error()
			}
		}
		return ""
	})
	d, err = g.person.ComputerDetails(ctx, g.comp)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Software) != 1 || d.Software[0].Reported != model.SoftwareReadyAvailable {
		t.Errorf("software reported over SLAP: %+v", d.Software)
	}
	// Destroying one frees its partition through the node's SLAP reports.
	if _, err := g.person.Request(ctx, api.InstanceRequest{Title: "slap-0", SoftwareRelease: sr, State: model.StateDestroyed}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the destroyed instance's partition is freed", 40*time.Second, func() string {
		d, err := g.person.ComputerDetails(ctx, g.comp)
		if err != nil {
			return err.Error()
		}
		for _, p := range d.Partitions {
			if p.InstanceGUID == guids[0] {
				return fmt.Sprintf("%s still holds %s (%s)", p.ID, p.InstanceGUID, p.Status)
			}
		}
		return ""
	})
	eventually(t, "a usage journal is sent", 20*time.Second, func() string {
		sent, _ := filepath.Glob(filepath.Join(g.dir, "inst", ".slapgo", "usage", "sent", "*.xml"))
		if len(sent) == 0 {
			return "none yet"
		}
		return ""
	})
	n.stop()
	// The master counts requests by route: the node used SLAP's, never
	// /api/v1's node routes.
	resp, err := g.person.HTTP.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var counted []string
	for _, line := range strings.Split(string(all), "\n") {
		if strings.HasPrefix(line, "slapgo_master_http_requests_total{") {
			counted = append(counted, line)
		}
	}
	metrics := strings.Join(counted, "\n")
	for _, route := range []string{"GET /getFullComputerInformation", "POST /loadComputerConfigurationFromXML", "POST /availableSoftwareRelease",
		"POST /startedComputerPartition", "POST /setComputerPartitionConnectionXml", "POST /destroyedComputerPartition", "POST /useComputer"} {
		if !strings.Contains(metrics, `route="`+route+`"`) {
			t.Errorf("the master saw no %s", route)
		}
	}
	for _, route := range []string{"/computers/{id}\"", "/computers/{id}/capacity", "/partitions/{pid}/state", "/usage"} {
		if strings.Contains(metrics, route) {
			t.Errorf("the node used the /api/v1 route %s although configured for SLAP", route)
		}
	}
}

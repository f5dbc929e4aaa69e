package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// Ports and paths of the cluster's containers.
const (
	MasterPort        = 8443
	MasterMetricsPort = 9090
	masterDataMount   = "/var/lib/slapgo"
	masterDataDir     = masterDataMount + "/master"
	nodeConfigDir     = "/etc/slapgo"
)

// SoftwareURL is the URL, valid in every node container, of a release
// of the repository's fixtures/software copied into the image.
func SoftwareURL(name string) string {
	return "file://" + ImageFixtures + "/software/" + name + "/software.cfg"
}

// Grid is the node agents' rhythm ([slapgrid] of their configuration):
// seconds rather than SlapOS's minutes, so that a scenario converges in
// well under a minute.
type Grid struct {
	PollInterval     time.Duration
	RetryBase        time.Duration
	RetryMax         time.Duration
	PromiseTimeout   time.Duration
	UsageInterval    time.Duration
	CapacityInterval time.Duration
	StopGrace        time.Duration
}

// DefaultGrid polls every 2 s, retries from 2 s up to 10 s, reports usage
// every 10 s and formats every 15 s.
func DefaultGrid() Grid {
	return Grid{
		PollInterval:     2 * time.Second,
		RetryBase:        2 * time.Second,
		RetryMax:         10 * time.Second,
		PromiseTimeout:   5 * time.Second,
		UsageInterval:    10 * time.Second,
		CapacityInterval: 15 * time.Second,
		StopGrace:        3 * time.Second,
	}
}

// Config describes a cluster: its image, the master's settings and the
// node agents' rhythm. Zero fields take the defaults.
type Config struct {
	// Image is the reference Engine.BuildImage returned.
	Image string
	// Policy is the master's allocation policy (default spread).
	Policy string
	// OnlineWithin: the master allocates only on computers seen within
	// this duration (default 10 s): a node that stops polling is marked
	// offline.
	OnlineWithin time.Duration
	// RetryEvery is how often the master retries pending requests
	// (default 2 s).
	RetryEvery time.Duration
	// Grid is the node agents' rhythm (default DefaultGrid).
	Grid Grid
	// Partitions is the number of partitions of a node whose NodeSpec
	// sets none (default 6).
	Partitions int
	// LogLevel is the --log-level of the master and the node agents
	// (default info), LogFormat their --log-format (default text).
	LogLevel  string
	LogFormat string
	// Logf receives progress lines (nil discards them).
	Logf func(format string, args ...any)
}

func (c Config) withDefaults() Config {
	if c.Policy == "" {
		c.Policy = "spread"
	}
	if c.OnlineWithin == 0 {
		c.OnlineWithin = 10 * time.Second
	}
	if c.RetryEvery == 0 {
		c.RetryEvery = 2 * time.Second
	}
	if c.Grid == (Grid{}) {
		c.Grid = DefaultGrid()
	}
	if c.Partitions == 0 {
		c.Partitions = 6
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return c
}

// Cluster is a master and node agents in containers on two private
// networks: "ctl", where the nodes reach the master, and "svc", where the
// partitions' addresses live (each node adds its partitions' addresses,
// one /24 block per node, on its interface there). The test process
// reaches both, as the host of the bridges. Cutting a node from ctl is a
// network partition between it and the master that leaves its instances
// reachable.
type Cluster struct {
	Engine *Engine
	Config Config
	Ctl    *Network
	Svc    *Network
	Master *Master
	// Admin is a client with the master's admin certificate.
	Admin *api.Client

	dir string // host directory with the credentials

	mu     sync.Mutex
	nodes  map[string]*Node
	order  []string
	people map[string]*api.Client
	extra  []File // files every node container gets (DefineFile)
}

// Start creates the networks and the master, and waits until the master
// answers its admin. Close (or the engine's Close) removes everything.
func Start(ctx context.Context, e *Engine, cfg Config) (c *Cluster, err error) {
	cfg = cfg.withDefaults()
	if cfg.Image == "" {
		return nil, errors.New("cluster: Config.Image is empty: build the image first (Engine.BuildImage)")
	}
	dir, err := os.MkdirTemp("", "slapgo-cluster-")
	if err != nil {
		return nil, err
	}
	c = &Cluster{Engine: e, Config: cfg, dir: dir, nodes: map[string]*Node{}, people: map[string]*api.Client{}}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if c.Ctl, err = e.CreateNetwork(ctx, "ctl", 24); err != nil {
		return nil, err
	}
	if c.Svc, err = e.CreateNetwork(ctx, "svc", 16); err != nil {
		return nil, err
	}
	vol, err := e.CreateVolume(ctx, "master-data")
	if err != nil {
		return nil, err
	}
	m := &Master{c: c, Volume: vol, IP: c.Ctl.Allocate()}
	m.URL = fmt.Sprintf("https://%s", netip.AddrPortFrom(m.IP, MasterPort))
	m.MetricsURL = fmt.Sprintf("http://%s/metrics", netip.AddrPortFrom(m.IP, MasterMetricsPort))
	c.Master = m
	script := fmt.Sprintf(`set -e
if [ ! -e %[1]s/admin.key ]; then
	slapgo master init --data %[1]s --hostname master --hostname %[2]s
fi
exec slapgo --log-level %[8]s --log-format %[9]s master serve --data %[1]s --listen 0.0.0.0:%[3]d --metrics-listen 0.0.0.0:%[4]d --policy %[5]s --online-within %[6]s --retry-every %[7]s --allow-local-software-urls
`, masterDataDir, m.IP, MasterPort, MasterMetricsPort, cfg.Policy, cfg.OnlineWithin, cfg.RetryEvery, cfg.LogLevel, cfg.LogFormat)
	m.Container, err = e.StartContainer(ctx, ContainerSpec{
		What:     "master",
		Image:    cfg.Image,
		Cmd:      []string{"/bin/sh", "-c", script},
		Networks: []Attachment{{Network: c.Ctl, IP: m.IP, Aliases: []string{"master"}}},
		Volumes:  map[string]string{vol: masterDataMount},
		Init:     true,
	})
	if err != nil {
		return nil, err
	}
	if err := c.fetchAdmin(ctx); err != nil {
		return nil, err
	}
	if err := m.WaitReady(ctx, time.Minute); err != nil {
		return nil, err
	}
	cfg.Logf("master ready at %s", m.URL)
	return c, nil
}

// fetchAdmin copies the admin credentials and the CA out of the master's
// volume (written by master init in the container) and makes Admin.
func (c *Cluster) fetchAdmin(ctx context.Context) error {
	files := []string{"admin.crt", "admin.key", "ca.crt"}
	err := Eventually(ctx, 30*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
		for _, f := range files {
			data, err := c.Master.Container.ReadFile(ctx, masterDataDir+"/"+f)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(c.dir, f), data, 0o600); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cluster: the master wrote no admin credentials: %w", err)
	}
	c.Admin, err = api.NewClient(c.Master.URL, filepath.Join(c.dir, "admin.crt"), filepath.Join(c.dir, "admin.key"), filepath.Join(c.dir, "ca.crt"))
	if err != nil {
		return err
	}
	c.Admin.HTTP.Timeout = 10 * time.Second
	return nil
}

// Close stops and removes every container, network and volume of the
// cluster's engine, and the credentials on the host.
func (c *Cluster) Close(ctx context.Context) error {
	err := c.Engine.Close(ctx)
	os.RemoveAll(c.dir)
	return err
}

// Client is a client of the master with these credentials.
func (c *Cluster) Client(creds api.Credentials) (*api.Client, error) {
	cfg, err := credentialsTLS(creds)
	if err != nil {
		return nil, err
	}
	cl, err := api.NewClientTLS(c.Master.URL, cfg)
	if err != nil {
		return nil, err
	}
	cl.HTTP.Timeout = 10 * time.Second
	return cl, nil
}

// AddPerson creates a person (as the admin) and returns its client.
func (c *Cluster) AddPerson(ctx context.Context, id string) (*api.Client, error) {
	res, err := c.Admin.AddPerson(ctx, api.AddPersonRequest{ID: id, Name: id})
	if err != nil {
		return nil, fmt.Errorf("cluster: adding person %s: %w", id, err)
	}
	cl, err := c.Client(res.Credentials)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.people[id] = cl
	c.mu.Unlock()
	return cl, nil
}

// Person is the client of a person AddPerson made, or nil.
func (c *Cluster) Person(id string) *api.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.people[id]
}

// NodeSpec is a computer a person registers, and its node container.
type NodeSpec struct {
	ID         string
	Region     string
	Network    string // the computer's network (SLA network), not Docker's
	Attributes map[string]string
	Prices     model.PriceList
	Currency   string
	Scope      model.Scope
	Partitions int // default Config.Partitions
}

// AddNode registers a computer as owner and starts its node container
// (StartNode).
func (c *Cluster) AddNode(ctx context.Context, owner *api.Client, spec NodeSpec) (*Node, error) {
	reg, err := owner.RegisterComputer(ctx, api.RegisterComputerRequest{
		ID: spec.ID, Title: spec.ID, Region: spec.Region, Network: spec.Network,
		Attributes: spec.Attributes, Prices: spec.Prices, Currency: spec.Currency, Scope: spec.Scope,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: registering computer %s: %w", spec.ID, err)
	}
	if reg.Credentials == nil {
		return nil, fmt.Errorf("cluster: registering computer %s: the master answered no credentials", spec.ID)
	}
	return c.StartNode(ctx, spec, *reg.Credentials)
}

// StartNode starts the node container of a registered computer, with its
// credentials: it formats its partitions and announces them. It does not
// wait for the announcement.
func (c *Cluster) StartNode(ctx context.Context, spec NodeSpec, creds api.Credentials) (*Node, error) {
	if spec.Partitions == 0 {
		spec.Partitions = c.Config.Partitions
	}
	if err := model.ValidateID("computer id", spec.ID); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if _, dup := c.nodes[spec.ID]; dup {
		c.mu.Unlock()
		return nil, fmt.Errorf("cluster: node %s exists already", spec.ID)
	}
	k := len(c.order) + 1
	c.mu.Unlock()
	block := c.Svc.Block(k)
	if !block.IsValid() || spec.Partitions > 250 {
		return nil, fmt.Errorf("cluster: node %s: no address block left for %d partitions", spec.ID, spec.Partitions)
	}
	n := &Node{c: c, ID: spec.ID, Spec: spec, creds: creds,
		CtlIP: c.Ctl.Allocate(), SvcIP: c.Svc.Allocate(), Block: block}
	c.mu.Lock()
	c.nodes[spec.ID] = n
	c.order = append(c.order, spec.ID)
	c.mu.Unlock()
	if err := n.create(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// Node is the node of a computer, or nil.
func (c *Cluster) Node(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id]
}

// Nodes are the cluster's nodes in the order they were added.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Node, 0, len(c.order))
	for _, id := range c.order {
		out = append(out, c.nodes[id])
	}
	return out
}

// AddFile puts a file into every node container, now and in those
// created later (a software release a scenario defines, say).
func (c *Cluster) AddFile(ctx context.Context, f File) error {
	c.mu.Lock()
	c.extra = append(c.extra, f)
	nodes := slices.Collect(func(yield func(*Node) bool) {
		for _, n := range c.nodes {
			if !yield(n) {
				return
			}
		}
	})
	c.mu.Unlock()
	for _, n := range nodes {
		if err := n.Container.CopyTo(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// Logs is the last lines of every container's output, for a failure
// report.
func (c *Cluster) Logs(ctx context.Context, lines int) string {
	var b strings.Builder
	conts := []*Container{c.Master.Container}
	for _, n := range c.Nodes() {
		if n.Container != nil {
			conts = append(conts, n.Container)
		}
	}
	for _, ct := range conts {
		logs, err := ct.Logs(ctx)
		if err != nil {
			fmt.Fprintf(&b, "=== %s: %v\n", ct.Name, err)
			continue
		}
		fmt.Fprintf(&b, "=== %s (last %d lines)\n%s\n", ct.Name, lines, tail(logs, lines))
	}
	for _, n := range c.Nodes() {
		if running, err := n.Container.Running(ctx); err != nil || !running {
			continue
		}
		_, out, err := n.Container.Exec(ctx, "sh", "-c", "tail -n 5 /srv/slapgrid/slappart*/var/log/*.log")
		if err == nil {
			fmt.Fprintf(&b, "=== %s: partitions' logs\n%s\n", n.Container.Name, out)
		}
	}
	return b.String()
}

// MasterUsage sums the usage quantities (every resource but hosting)
// of the master's invoices of everyone, by resource.
func (c *Cluster) MasterUsage(ctx context.Context) (map[string]float64, error) {
	now := time.Now().UTC()
	invs, err := c.Admin.Invoices(ctx, now.Add(-24*time.Hour), now.Add(time.Hour), "")
	if err != nil {
		return nil, fmt.Errorf("cluster: reading the invoices: %w", err)
	}
	out := map[string]float64{}
	for _, inv := range invs {
		for _, l := range inv.Lines {
			if l.Resource != account.ResourceHosting {
				out[l.Resource] += l.Quantity
			}
		}
	}
	return out, nil
}

// CheckUsage compares the usage the nodes reported with what the master
// counted: the journals of each node's container are contiguous (none
// lost, none overlapping), none is pending, and the master's quantities
// equal the sum of the accepted journals (none counted twice). It
// returns how many journals it compared.
func (c *Cluster) CheckUsage(ctx context.Context) (int, error) {
	nodes := map[string]float64{}
	journals := 0
	for _, n := range c.Nodes() {
		hist, err := n.UsageHistory(ctx)
		if err != nil {
			return 0, err
		}
		for i, u := range hist {
			if err := u.CheckContiguous(); err != nil {
				return 0, err
			}
			if i == len(hist)-1 && u.Pending() > 0 {
				return 0, fmt.Errorf("%s has %d usage journals pending", n.ID, u.Pending())
			}
			for r, q := range u.SentTotals() {
				nodes[r] += q
			}
			journals += len(u.Journals)
		}
	}
	master, err := c.MasterUsage(ctx)
	if err != nil {
		return 0, err
	}
	return journals, CompareTotals(master, nodes)
}

// Master is the master's container and its volume.
type Master struct {
	c          *Cluster
	Container  *Container
	Volume     string
	IP         netip.Addr
	URL        string // https://IP:8443
	MetricsURL string // http://IP:9090/metrics
}

// WaitReady waits until the master answers its admin.
func (m *Master) WaitReady(ctx context.Context, within time.Duration) error {
	err := Eventually(ctx, within, 200*time.Millisecond, func(ctx context.Context) error {
		_, err := m.c.Admin.WhoAmI(ctx)
		return err
	})
	if err != nil {
		return fmt.Errorf("cluster: the master at %s does not answer: %w", m.URL, err)
	}
	return nil
}

// Kill kills the master with SIGKILL: no shutdown, no flush.
func (m *Master) Kill(ctx context.Context) error { return m.Container.Kill(ctx, "KILL") }

// Restart starts the master's container again, on its volume, and waits
// until it answers.
func (m *Master) Restart(ctx context.Context, within time.Duration) error {
	if err := m.Container.Start(ctx); err != nil {
		return err
	}
	return m.WaitReady(ctx, within)
}

// Node is a computer's node container. Its identity (certificate, key,
// configuration) lives on the host, so a fresh container can take the
// place of a dead one.
type Node struct {
	c     *Cluster
	ID    string
	Spec  NodeSpec
	creds api.Credentials
	// CtlIP is its address on ctl, SvcIP on svc; Block is the /24 of svc
	// its partitions take their addresses from.
	CtlIP netip.Addr
	SvcIP netip.Addr
	Block netip.Prefix

	mu         sync.Mutex
	Container  *Container
	generation int
	retired    []NodeUsage // the usage spools of the containers Replace removed
	retireErr  error
	cut        bool
}

// Generation counts the containers the node has had (1 for the first).
func (n *Node) Generation() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.generation
}

// Client is a client of the master with the computer's certificate.
func (n *Node) Client() (*api.Client, error) { return n.c.Client(n.creds) }

// PartitionAddress is the address format gives partition slappartN.
func (n *Node) PartitionAddress(index int) netip.Addr {
	a := n.Block.Addr()
	for range index + 1 {
		a = a.Next()
	}
	return a
}

func (n *Node) config() string {
	g := n.c.Config.Grid
	secs := func(d time.Duration) string { return d.String() }
	return fmt.Sprintf(`# Written by the cluster harness for computer %[1]s.
[slapos]
computer_id = %[1]s
master_url = %[2]s
software_root = /opt/slapgrid
instance_root = /srv/slapgrid
key_file = %[3]s/computer.key
cert_file = %[3]s/computer.crt
ca_file = %[3]s/ca.crt

[slapformat]
partition_amount = %[4]d
interface_name = @IFACE@
ipv4_local_network = %[5]s

[slapgrid]
poll_interval = %[6]s
retry_base = %[7]s
retry_max = %[8]s
promise_timeout = %[9]s
usage_interval = %[10]s
capacity_interval = %[11]s
stop_grace = %[12]s
`, n.ID, n.c.Master.URL, nodeConfigDir, n.Spec.Partitions, n.Block,
		secs(g.PollInterval), secs(g.RetryBase), secs(g.RetryMax), secs(g.PromiseTimeout),
		secs(g.UsageInterval), secs(g.CapacityInterval), secs(g.StopGrace))
}

// startScript finds the interface on svc (its name depends on the order
// Docker attached the networks), writes it into the configuration, and
// runs the node agent.
func (n *Node) startScript() string {
	return fmt.Sprintf(`set -e
iface=$(ip -o -4 addr show | awk '$4 ~ /^%[1]s\// {print $2; exit}')
iface=${iface%%%%@*}
if [ -z "$iface" ]; then echo "no interface with address %[1]s" >&2; ip -o -4 addr show >&2; exit 1; fi
sed "s/@IFACE@/$iface/" %[2]s/node.cfg.in > %[2]s/node.cfg
exec slapgo --log-level %[3]s --log-format %[4]s node run --config %[2]s/node.cfg
`, strings.ReplaceAll(n.SvcIP.String(), ".", `\.`), nodeConfigDir, n.c.Config.LogLevel, n.c.Config.LogFormat)
}

// create starts a new container for the node: an empty disk, the
// computer's identity and configuration.
func (n *Node) create(ctx context.Context) error {
	n.mu.Lock()
	n.generation++
	gen := n.generation
	n.mu.Unlock()
	files := []File{
		{Path: nodeConfigDir + "/node.cfg.in", Content: []byte(n.config())},
		{Path: nodeConfigDir + "/computer.crt", Content: []byte(n.creds.CertificatePEM)},
		{Path: nodeConfigDir + "/computer.key", Content: []byte(n.creds.KeyPEM), Mode: 0o600},
		{Path: nodeConfigDir + "/ca.crt", Content: []byte(n.creds.CAPEM)},
	}
	n.c.mu.Lock()
	files = append(files, n.c.extra...)
	n.c.mu.Unlock()
	ct, err := n.c.Engine.StartContainer(ctx, ContainerSpec{
		What:  fmt.Sprintf("node-%s-%d", n.ID, gen),
		Image: n.c.Config.Image,
		Cmd:   []string{"/bin/sh", "-c", n.startScript()},
		Files: files,
		Networks: []Attachment{
			{Network: n.c.Ctl, IP: n.CtlIP, Aliases: []string{strings.ToLower(n.ID)}},
			{Network: n.c.Svc, IP: n.SvcIP},
		},
		Init:   true,
		CapAdd: []string{"NET_ADMIN"},
	})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.Container = ct
	n.cut = false
	n.mu.Unlock()
	return nil
}

// Kill kills the node's container with SIGKILL: every process dies at
// once, the disk stays (Start brings it back as a reboot would).
func (n *Node) Kill(ctx context.Context) error { return n.Container.Kill(ctx, "KILL") }

// Start starts the node's stopped container again (a reboot).
func (n *Node) Start(ctx context.Context) error { return n.Container.Start(ctx) }

// Restart stops the node agent with SIGTERM (it stops its partitions'
// programs within grace) and starts the same container again.
func (n *Node) Restart(ctx context.Context, grace time.Duration) error {
	if err := n.Container.Stop(ctx, grace); err != nil {
		return err
	}
	return n.Container.Start(ctx)
}

// Replace removes the node's container and starts a fresh one with the
// same identity and addresses, and an empty disk.
func (n *Node) Replace(ctx context.Context) error {
	u, err := readUsage(ctx, n.ID, n.Container)
	n.mu.Lock()
	n.retired = append(n.retired, u)
	n.retireErr = errors.Join(n.retireErr, err)
	n.mu.Unlock()
	if err := n.Container.Remove(ctx); err != nil {
		return err
	}
	return n.create(ctx)
}

// UsageHistory is the usage spool of every container the node had, the
// current one last.
func (n *Node) UsageHistory(ctx context.Context) ([]NodeUsage, error) {
	cur, err := n.Usage(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	return append(slices.Clone(n.retired), cur), errors.Join(n.retireErr, err)
}

// Cut disconnects the node from ctl: it cannot reach the master, and
// its partitions stay reachable on svc. Heal reconnects it.
func (n *Node) Cut(ctx context.Context) error {
	if err := n.Container.Disconnect(ctx, n.c.Ctl); err != nil {
		return err
	}
	n.mu.Lock()
	n.cut = true
	n.mu.Unlock()
	return nil
}

// Heal reconnects the node to ctl with its address.
func (n *Node) Heal(ctx context.Context) error {
	if err := n.Container.Reconnect(ctx, n.c.Ctl); err != nil {
		return err
	}
	n.mu.Lock()
	n.cut = false
	n.mu.Unlock()
	return nil
}

// IsCut reports whether the node is cut off ctl (Cut without Heal).
func (n *Node) IsCut() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cut
}

// Process is a process running in a node container.
type Process struct {
	PID  int
	User string
	Args string
}

// Processes lists the processes of the node's container whose command
// line contains match ("" for all).
func (n *Node) Processes(ctx context.Context, match string) ([]Process, error) {
	code, out, err := n.Container.Exec(ctx, "ps", "-o", "pid,user,args")
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("cluster: ps in %s exited %d: %s", n.Container.Name, code, out)
	}
	var ps []Process
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 3 {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil {
			continue
		}
		args := strings.Join(f[2:], " ")
		if match != "" && !strings.Contains(args, match) {
			continue
		}
		ps = append(ps, Process{PID: pid, User: f[1], Args: args})
	}
	return ps, nil
}

// Fetch GETs url from the test process and returns the body of a 200.
func Fetch(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), nil
}

// Eventually calls check every interval until it returns nil, and fails
// with check's last error after within.
func Eventually(ctx context.Context, within, every time.Duration, check func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var last error
	for {
		if last = check(ctx); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(last, context.DeadlineExceeded) || errors.Is(last, context.Canceled) || last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("still not so after %v: %w", within, last)
		case <-time.After(every):
		}
	}
}

// credentialsTLS is the client TLS configuration of credentials the
// master issued.
func credentialsTLS(creds api.Credentials) (*tls.Config, error) {
	cert, err := tls.X509KeyPair([]byte(creds.CertificatePEM), []byte(creds.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("cluster: credentials of %s: %w", creds.Identity, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(creds.CAPEM)) {
		return nil, fmt.Errorf("cluster: credentials of %s hold no CA certificate", creds.Identity)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

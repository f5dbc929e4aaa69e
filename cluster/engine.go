package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// ErrNoDocker is wrapped by Connect's error when no Docker engine answers.
var ErrNoDocker = errors.New("cluster: no Docker engine answers")

// Labels put on every resource an Engine makes, so that Sweep can find
// what a run that died before its clean-up left behind.
const (
	LabelRun     = "org.slapgo.cluster.run"     // the Engine's run id
	LabelCreated = "org.slapgo.cluster.created" // Unix seconds at creation
	LabelScope   = "org.slapgo.cluster.scope"   // the name prefix of the Engine or Sub that made it
)

// Engine is a Docker engine reached through testcontainers-go, and the
// ledger of every container, network, volume and image made through it:
// Close removes them all, newest first.
//
// NB: Connect sets TESTCONTAINERS_RYUK_DISABLED=true in the process
// environment when it is unset: the reaper image cannot be pulled where
// there is no registry, and the Engine removes what it makes itself. It
// also silences testcontainers' default logger (a banner per process);
// the Engine reports what it does through its own logf.
type Engine struct {
	provider *testcontainers.DockerProvider
	docker   client.APIClient
	run      string
	scope    string // "" for the root engine, else "<what>-" prefixes of Sub
	root     bool
	logf     func(format string, args ...any)

	mu       sync.Mutex
	cleanups []cleanup
}

type cleanup struct {
	what   string
	remove func(ctx context.Context) error
}

// Connect reaches the Docker engine of the environment (DOCKER_HOST or the
// local socket) and checks that it answers. logf receives progress lines
// (nil discards them).
func Connect(ctx context.Context, logf func(format string, args ...any)) (*Engine, error) {
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	tclog.SetDefault(quietLogger{})
	provider, err := newProvider()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDocker, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := provider.Client().Ping(pingCtx, client.PingOptions{}); err != nil {
		provider.Close()
		return nil, fmt.Errorf("%w: ping: %w", ErrNoDocker, err)
	}
	run := fmt.Sprintf("%s%04x", time.Now().UTC().Format("0102150405"), rand.Uint32N(1<<16))
	return &Engine{provider: provider, docker: provider.Client(), run: run, root: true, logf: logf}, nil
}

// newProvider builds the testcontainers provider without letting a panic
// of its environment probing escape (it panics on some malformed
// DOCKER_HOST values).
func newProvider() (p *testcontainers.DockerProvider, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("docker provider: %v", r)
		}
	}()
	return testcontainers.NewDockerProvider()
}

// Run is the engine's run id, part of every name it gives.
func (e *Engine) Run() string { return e.run }

// Name is a name unique to this run: "slapgo-<run>-<scope><what>".
func (e *Engine) Name(what string) string { return "slapgo-" + e.run + "-" + e.scope + what }

// Scope is the prefix of the names this engine gives, as in LabelScope.
func (e *Engine) Scope() string { return "slapgo-" + e.run + "-" + e.scope }

// Sub is an engine on the same Docker client with a ledger of its own:
// its names start with what, and its Close removes only what it made.
// A test makes one Sub per scenario and the run's image on the root.
func (e *Engine) Sub(what string, logf func(format string, args ...any)) *Engine {
	if logf == nil {
		logf = e.logf
	}
	return &Engine{provider: e.provider, docker: e.docker, run: e.run, scope: e.scope + what + "-", logf: logf}
}

// Docker is the Docker client of the testcontainers provider, for the
// operations testcontainers-go does not offer (kill with a signal,
// network disconnect and connect, volumes).
func (e *Engine) Docker() client.APIClient { return e.docker }

func (e *Engine) labels() map[string]string {
	return map[string]string{LabelRun: e.run, LabelScope: e.Scope(), LabelCreated: strconv.FormatInt(time.Now().Unix(), 10)}
}

// track records how to remove something; Close runs it.
func (e *Engine) track(what string, remove func(ctx context.Context) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, cleanup{what: what, remove: remove})
}

// Close removes every container, network, volume and image this engine
// made, newest first, and reports every removal that failed. The root
// engine also closes its Docker client: close every Sub first. It is safe
// to call twice.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	todo := slices.Clone(e.cleanups)
	e.cleanups = nil
	e.mu.Unlock()
	var errs []error
	for i := len(todo) - 1; i >= 0; i-- {
		// Each removal has its own minute, even when ctx is done: one
		// slow removal must not leave the others undone.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := todo[i].remove(rctx)
		cancel()
		if err != nil && !isNotFound(err) {
			errs = append(errs, fmt.Errorf("cluster: removing %s: %w", todo[i].what, err))
		}
	}
	if e.root && e.provider != nil {
		e.provider.Close()
	}
	return errors.Join(errs...)
}

func isNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// Sweep removes the containers, networks, volumes and images of earlier
// runs (any run but this one) labelled more than olderThan ago: what a
// test binary killed by its timeout could not clean up. It returns how
// many resources it removed.
func (e *Engine) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	stale := func(labels map[string]string) bool {
		run, ok := labels[LabelRun]
		if !ok || run == e.run {
			return false
		}
		sec, err := strconv.ParseInt(labels[LabelCreated], 10, 64)
		return err == nil && time.Since(time.Unix(sec, 0)) > olderThan
	}
	f := make(client.Filters).Add("label", LabelRun)
	removed := 0
	var errs []error
	cs, err := e.docker.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("cluster: listing containers: %w", err)
	}
	for _, c := range cs.Items {
		if stale(c.Labels) {
			_, err := e.docker.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			errs = append(errs, err)
			removed++
		}
	}
	ns, err := e.docker.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("cluster: listing networks: %w", err)
	}
	for _, n := range ns.Items {
		if stale(n.Labels) {
			_, err := e.docker.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
			errs = append(errs, err)
			removed++
		}
	}
	vs, err := e.docker.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("cluster: listing volumes: %w", err)
	}
	for _, v := range vs.Items {
		if stale(v.Labels) {
			_, err := e.docker.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
			errs = append(errs, err)
			removed++
		}
	}
	is, err := e.docker.ImageList(ctx, client.ImageListOptions{Filters: f})
	if err != nil {
		return removed, fmt.Errorf("cluster: listing images: %w", err)
	}
	for _, im := range is.Items {
		if stale(im.Labels) {
			_, err := e.docker.ImageRemove(ctx, im.ID, client.ImageRemoveOptions{Force: true, PruneChildren: true})
			errs = append(errs, err)
			removed++
		}
	}
	return removed, errors.Join(errs...)
}

// Network is a private bridge network with a subnet of its own, so that
// containers keep their address when they are disconnected and
// reconnected, or stopped and started again.
type Network struct {
	Name    string
	ID      string
	Subnet  netip.Prefix
	Gateway netip.Addr // the host's address on the network

	mu   sync.Mutex
	next netip.Addr
}

// CreateNetwork creates a bridge network on a free subnet of 10.0.0.0/8
// of the given size (/16 to /24), trying other subnets while the engine
// reports an overlap. Containers get addresses from its first /24 only
// (Allocate); with a larger subnet, the other /24 blocks (Block) are free
// for addresses the containers add themselves, such as partitions'.
func (e *Engine) CreateNetwork(ctx context.Context, what string, bits int) (*Network, error) {
	if bits < 16 || bits > 24 {
		return nil, fmt.Errorf("cluster: network %s: /%d: expected a size from /16 to /24", what, bits)
	}
	name := e.Name(what)
	var lastErr error
	for range 20 {
		base := netip.AddrFrom4([4]byte{10, byte(100 + rand.IntN(150)), byte(rand.IntN(256)), 0})
		subnet := netip.PrefixFrom(base, bits).Masked()
		containers := netip.PrefixFrom(subnet.Addr(), 24)
		gateway := subnet.Addr().Next()
		res, err := e.docker.NetworkCreate(ctx, name, client.NetworkCreateOptions{
			Driver: "bridge",
			Labels: e.labels(),
			IPAM: &network.IPAM{Config: []network.IPAMConfig{{
				Subnet: subnet, IPRange: containers, Gateway: gateway,
			}}},
		})
		if err != nil {
			lastErr = err
			if strings.Contains(err.Error(), "overlap") {
				continue
			}
			return nil, fmt.Errorf("cluster: creating network %s on %s: %w", name, subnet, err)
		}
		e.track("network "+name, func(ctx context.Context) error {
			_, err := e.docker.NetworkRemove(ctx, res.ID, client.NetworkRemoveOptions{})
			return err
		})
		e.logf("network %s on %s", name, subnet)
		return &Network{Name: name, ID: res.ID, Subnet: subnet, Gateway: gateway, next: gateway.Next()}, nil
	}
	return nil, fmt.Errorf("cluster: no free subnet for network %s: %w", name, lastErr)
}

// Block is the k-th /24 of the network's subnet (k >= 1; block 0 is the
// containers'), or an invalid prefix when the subnet has no such block.
func (n *Network) Block(k int) netip.Prefix {
	b := n.Subnet.Addr().As4()
	size := 1 << (24 - n.Subnet.Bits())
	if k < 1 || k >= size {
		return netip.Prefix{}
	}
	v := uint32(b[1])<<8 | uint32(b[2])
	v += uint32(k)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{b[0], byte(v >> 8), byte(v), 0}), 24)
}

// Allocate hands out the next free address of the network.
func (n *Network) Allocate() netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	a := n.next
	n.next = n.next.Next()
	return a
}

// CreateVolume creates a named volume that outlives the containers that
// mount it (until Close).
func (e *Engine) CreateVolume(ctx context.Context, what string) (string, error) {
	name := e.Name(what)
	if _, err := e.docker.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: e.labels()}); err != nil {
		return "", fmt.Errorf("cluster: creating volume %s: %w", name, err)
	}
	e.track("volume "+name, func(ctx context.Context) error {
		_, err := e.docker.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: true})
		return err
	})
	return name, nil
}

// File is a file put into a container before it starts.
type File struct {
	Path    string // absolute path in the container
	Content []byte
	Mode    int64
}

// Attachment is a container's place on a network.
type Attachment struct {
	Network *Network
	IP      netip.Addr // fixed address on Network (Network.Allocate)
	Aliases []string   // DNS names on Network
}

// ContainerSpec is a container to create and start.
type ContainerSpec struct {
	What     string // short name, unique in the engine: "master", "node-COMP-1-1"
	Image    string
	Cmd      []string
	Env      map[string]string
	Files    []File
	Networks []Attachment      // the first is the primary one
	Volumes  map[string]string // volume name -> mount point
	// Init runs Docker's init as PID 1, which forwards signals and reaps
	// the orphans of the container's process tree.
	Init bool
	// CapAdd adds Linux capabilities ("NET_ADMIN" to add addresses).
	CapAdd []string
}

// Container is a running (or stopped) container the engine made.
type Container struct {
	Spec ContainerSpec
	Name string
	e    *Engine
	tc   *testcontainers.DockerContainer
}

// StartContainer creates and starts a container. It is removed by Close
// (or earlier by Remove).
func (e *Engine) StartContainer(ctx context.Context, spec ContainerSpec) (*Container, error) {
	name := e.Name(spec.What)
	var files []testcontainers.ContainerFile
	for _, f := range spec.Files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		files = append(files, testcontainers.ContainerFile{
			Reader: bytes.NewReader(f.Content), ContainerFilePath: f.Path, FileMode: mode,
		})
	}
	var mounts testcontainers.ContainerMounts
	for _, vol := range slices.Sorted(maps.Keys(spec.Volumes)) {
		mounts = append(mounts, testcontainers.VolumeMount(vol, testcontainers.ContainerMountTarget(spec.Volumes[vol])))
	}
	req := testcontainers.ContainerRequest{
		Name:   name,
		Image:  spec.Image,
		Cmd:    spec.Cmd,
		Env:    spec.Env,
		Files:  files,
		Labels: e.labels(),
		Mounts: mounts,
		HostConfigModifier: func(hc *container.HostConfig) {
			if spec.Init {
				yes := true
				hc.Init = &yes
			}
			hc.CapAdd = append(hc.CapAdd, spec.CapAdd...)
		},
	}
	if len(spec.Networks) > 0 {
		req.NetworkAliases = map[string][]string{}
		byName := map[string]Attachment{}
		for _, a := range spec.Networks {
			req.Networks = append(req.Networks, a.Network.Name)
			req.NetworkAliases[a.Network.Name] = a.Aliases
			byName[a.Network.Name] = a
		}
		req.EndpointSettingsModifier = func(m map[string]*network.EndpointSettings) {
			for name, es := range m {
				if a, ok := byName[name]; ok && a.IP.IsValid() {
					es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.IP}
				}
			}
		}
	}
	// Register the removal before creation: a container created but not
	// started (a failing start) must go too.
	e.track("container "+name, func(ctx context.Context) error {
		_, err := e.docker.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		return err
	})
	gc, err := testcontainers.GenericContainer(ctx, testcontainers.GenericContainerRequest{
		ContainerRequest: req,
		Started:          false,
		Logger:           quietLogger{},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: creating container %s: %w", name, err)
	}
	dc, ok := gc.(*testcontainers.DockerContainer)
	if !ok {
		return nil, fmt.Errorf("cluster: container %s: testcontainers returned a %T, expected a Docker container", name, gc)
	}
	c := &Container{Spec: spec, Name: name, e: e, tc: dc}
	// testcontainers joins the networks after the first with no fixed
	// address: join them again with theirs before the start.
	for _, a := range spec.Networks[min(1, len(spec.Networks)):] {
		if _, err := e.docker.NetworkDisconnect(ctx, a.Network.ID, client.NetworkDisconnectOptions{Container: dc.GetContainerID(), Force: true}); err != nil && !isNotFound(err) {
			return nil, fmt.Errorf("cluster: container %s: %w", name, err)
		}
		if err := c.connect(ctx, a); err != nil {
			return nil, err
		}
	}
	if err := dc.Start(ctx); err != nil {
		return nil, fmt.Errorf("cluster: starting container %s: %w", name, err)
	}
	var ips []string
	for _, a := range spec.Networks {
		ips = append(ips, a.IP.String())
	}
	e.logf("container %s started (%s)", name, strings.Join(ips, ", "))
	return c, nil
}

// quietLogger drops testcontainers' chatter; the harness logs what it does.
type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// ID is the container's Docker id.
func (c *Container) ID() string { return c.tc.GetContainerID() }

// Kill sends a signal ("KILL", "TERM") to the container's first process.
// With KILL the container stops at once, its file system stays.
func (c *Container) Kill(ctx context.Context, signal string) error {
	if _, err := c.e.docker.ContainerKill(ctx, c.ID(), client.ContainerKillOptions{Signal: signal}); err != nil {
		return fmt.Errorf("cluster: kill -%s %s: %w", signal, c.Name, err)
	}
	c.e.logf("container %s: sent SIG%s", c.Name, signal)
	return nil
}

// Stop stops the container: SIGTERM, then SIGKILL after grace.
func (c *Container) Stop(ctx context.Context, grace time.Duration) error {
	if err := c.tc.Stop(ctx, &grace); err != nil {
		return fmt.Errorf("cluster: stopping %s: %w", c.Name, err)
	}
	c.e.logf("container %s stopped", c.Name)
	return nil
}

// Start starts a stopped container again, with its file system, volumes
// and address as they were.
func (c *Container) Start(ctx context.Context) error {
	if err := c.tc.Start(ctx); err != nil {
		return fmt.Errorf("cluster: starting %s again: %w", c.Name, err)
	}
	c.e.logf("container %s started again", c.Name)
	return nil
}

// Running reports whether the container's process runs.
func (c *Container) Running(ctx context.Context) (bool, error) {
	st, err := c.tc.State(ctx)
	if err != nil {
		return false, fmt.Errorf("cluster: state of %s: %w", c.Name, err)
	}
	return st.Running, nil
}

// Disconnect cuts the container from a network (a network partition):
// it keeps running, with no route to whoever is only on that network.
func (c *Container) Disconnect(ctx context.Context, n *Network) error {
	if _, err := c.e.docker.NetworkDisconnect(ctx, n.ID, client.NetworkDisconnectOptions{Container: c.ID(), Force: true}); err != nil {
		return fmt.Errorf("cluster: disconnecting %s from %s: %w", c.Name, n.Name, err)
	}
	c.e.logf("container %s disconnected from %s", c.Name, n.Name)
	return nil
}

// Reconnect heals Disconnect: the container is back on the network with
// the address and aliases of its spec.
func (c *Container) Reconnect(ctx context.Context, n *Network) error {
	for _, a := range c.Spec.Networks {
		if a.Network == n {
			if err := c.connect(ctx, a); err != nil {
				return err
			}
			c.e.logf("container %s reconnected to %s", c.Name, n.Name)
			return nil
		}
	}
	return fmt.Errorf("cluster: container %s was never attached to network %s", c.Name, n.Name)
}

func (c *Container) connect(ctx context.Context, a Attachment) error {
	es := &network.EndpointSettings{Aliases: a.Aliases}
	if a.IP.IsValid() {
		es.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.IP}
	}
	if _, err := c.e.docker.NetworkConnect(ctx, a.Network.ID, client.NetworkConnectOptions{Container: c.ID(), EndpointConfig: es}); err != nil {
		return fmt.Errorf("cluster: connecting %s to %s: %w", c.Name, a.Network.Name, err)
	}
	return nil
}

// Exec runs a command in the running container and returns its exit
// status and its output (stdout and stderr together).
func (c *Container) Exec(ctx context.Context, cmd ...string) (int, string, error) {
	code, r, err := c.tc.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return 0, "", fmt.Errorf("cluster: exec %q in %s: %w", cmd, c.Name, err)
	}
	out, _ := io.ReadAll(r)
	return code, string(out), nil
}

// CopyTo writes a file into the container (running or not).
func (c *Container) CopyTo(ctx context.Context, f File) error {
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	if err := c.tc.CopyToContainer(ctx, f.Content, f.Path, mode); err != nil {
		return fmt.Errorf("cluster: writing %s into %s: %w", f.Path, c.Name, err)
	}
	return nil
}

// ReadFile copies a file out of the container (running or stopped).
func (c *Container) ReadFile(ctx context.Context, path string) ([]byte, error) {
	r, err := c.tc.CopyFileFromContainer(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("cluster: reading %s from %s: %w", path, c.Name, err)
	}
	defer r.Close()
	return io.ReadAll(r)
}

// ReadDir copies the regular files under dir out of the container
// (running or stopped), by path relative to dir.
func (c *Container) ReadDir(ctx context.Context, dir string) (map[string][]byte, error) {
	res, err := c.e.docker.CopyFromContainer(ctx, c.ID(), client.CopyFromContainerOptions{SourcePath: dir})
	if err != nil {
		return nil, fmt.Errorf("cluster: reading %s from %s: %w", dir, c.Name, err)
	}
	defer res.Content.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(res.Content)
	base := path.Base(dir)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cluster: reading %s from %s: %w", dir, c.Name, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(h.Name, base), "/")
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("cluster: reading %s from %s: %w", h.Name, c.Name, err)
		}
		out[rel] = data
	}
}

// Logs is everything the container's process wrote (stdout and stderr),
// across its restarts.
func (c *Container) Logs(ctx context.Context) (string, error) {
	r, err := c.tc.Logs(ctx)
	if err != nil {
		return "", fmt.Errorf("cluster: logs of %s: %w", c.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

// Remove removes the container and its anonymous volumes now (named
// volumes stay until Close).
func (c *Container) Remove(ctx context.Context) error {
	if _, err := c.e.docker.ContainerRemove(ctx, c.ID(), client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !isNotFound(err) {
		return fmt.Errorf("cluster: removing %s: %w", c.Name, err)
	}
	c.e.logf("container %s removed", c.Name)
	return nil
}

// SkipLine is the one line the cluster tests print when they do not run.
func SkipLine(reason string) string {
	return "cluster tests SKIPPED (only TestOffline* ran): " + strings.Join(strings.Fields(reason), " ")
}

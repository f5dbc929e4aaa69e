package localgrid

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slapgo/slapgo/nodeagent/config"
)

// Names of the local grid.
const (
	// ComputerID is the computer the node agent runs as.
	ComputerID = "COMP-LOCAL"
	// PersonID is the person who supplies and requests.
	PersonID = "demo"
	// InstanceTitle is the title of the instance requested.
	InstanceTitle = "hello-demo"
	// PartitionAmount is the number of partitions of the node.
	PartitionAmount = 5
	// DefaultPort is the master's port when it is free.
	DefaultPort = 8443
	// DefaultPollInterval is how often the node agent polls the master.
	DefaultPollInterval = 5 * time.Second
	// DefaultTimeout bounds the wait for the instance (the first build of
	// the software included).
	DefaultTimeout = 5 * time.Minute
)

// markerFile marks a folder made by this package: Reset wipes no other.
const markerFile = ".slapgo-local-grid"

var (
	// ErrNotGrid is returned for a folder that holds files but no local
	// grid: it is neither used nor wiped.
	ErrNotGrid = errors.New("localgrid: not a local grid folder")
	// ErrBusy is returned when another command holds the folder's lock.
	ErrBusy = errors.New("localgrid: folder in use")
	// ErrBuildTools is returned by CheckBuildTools when the sample
	// software cannot be built here.
	ErrBuildTools = errors.New("localgrid: build tools missing")
	// ErrStale is returned when parts of the folder belong to a master
	// that is gone (its data directory was removed).
	ErrStale = errors.New("localgrid: stale local grid")
	// ErrTimeout is returned when the instance does not answer in time.
	ErrTimeout = errors.New("localgrid: timed out")
)

// Layout names the files of a local grid folder (see doc.go).
type Layout struct {
	Dir string // absolute
}

// NewLayout returns the layout of the folder dir, made absolute.
func NewLayout(dir string) (Layout, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Layout{}, fmt.Errorf("localgrid: %w", err)
	}
	return Layout{Dir: abs}, nil
}

func (l Layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir}, elem...)...)
}

// MasterDir is the master's data directory.
func (l Layout) MasterDir() string { return l.path("master") }

// MasterLog is where the master writes.
func (l Layout) MasterLog() string { return l.path("master.log") }

// MasterPID is the master's pid file.
func (l Layout) MasterPID() string { return l.path("master.pid") }

// MasterURLFile holds the URL the master serves on.
func (l Layout) MasterURLFile() string { return l.path("master.url") }

// AdminCert is the admin's certificate, made by master init.
func (l Layout) AdminCert() string { return l.path("master", "admin.crt") }

// AdminKey is the admin's private key.
func (l Layout) AdminKey() string { return l.path("master", "admin.key") }

// CA is the master's certificate authority.
func (l Layout) CA() string { return l.path("master", "ca.crt") }

// PersonDir holds the person's credentials, env.sh and client.yaml.
func (l Layout) PersonDir() string { return l.path(PersonID) }

// PersonCert is the person's certificate.
func (l Layout) PersonCert() string { return l.path(PersonID, PersonID+".crt") }

// PersonKey is the person's private key.
func (l Layout) PersonKey() string { return l.path(PersonID, PersonID+".key") }

// PersonCA is the master's CA beside the person's credentials.
func (l Layout) PersonCA() string { return l.path(PersonID, "ca.crt") }

// EnvFile sets SLAPGO_MASTER, SLAPGO_CERT, SLAPGO_KEY and SLAPGO_CA when
// sourced.
func (l Layout) EnvFile() string { return l.path(PersonID, "env.sh") }

// ClientConfig is the person's client configuration (--client-config).
func (l Layout) ClientConfig() string { return l.path(PersonID, "client.yaml") }

// NodeCredDir holds the computer's credentials.
func (l Layout) NodeCredDir() string { return l.path("node") }

// NodeConfig is the node agent's configuration.
func (l Layout) NodeConfig() string { return l.path("node.cfg") }

// NodeLog is where the node agent writes.
func (l Layout) NodeLog() string { return l.path("node.log") }

// NodePID is the node agent's pid file.
func (l Layout) NodePID() string { return l.path("node.pid") }

// InstanceRoot is the node's instance_root.
func (l Layout) InstanceRoot() string { return l.path("instance") }

// isGrid reports whether the folder was made by this package.
func (l Layout) isGrid() bool {
	_, err := os.Stat(l.path(markerFile))
	return err == nil
}

// ensure makes the folder (or checks that an existing one is a local grid
// or empty) and marks it.
func (l Layout) ensure() error {
	entries, err := os.ReadDir(l.Dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(l.Dir, 0o755); err != nil {
			return fmt.Errorf("localgrid: %w", err)
		}
	case err != nil:
		return fmt.Errorf("localgrid: %w", err)
	case len(entries) > 0 && !l.isGrid():
		return fmt.Errorf("%w: %s holds files but no %s: give another --dir", ErrNotGrid, l.Dir, markerFile)
	}
	if l.isGrid() {
		return nil
	}
	return os.WriteFile(l.path(markerFile), []byte("made by slapgo demo: `slapgo demo --reset` wipes this folder\n"), 0o644)
}

// subnet returns the /24 of 127.0.0.0/8 the node's partitions take their
// addresses from: the one of an existing node configuration, else one
// derived from the folder's path (127.20.0.0 to 127.99.249.0), away from
// 127.0.0.1 where the master listens.
func (l Layout) subnet() netip.Prefix {
	if c, err := config.Load(l.NodeConfig()); err == nil {
		if p := c.Format.IPv4LocalNetwork; p.IsValid() && loopback.Contains(p.Addr()) && p.Bits() <= 29 {
			return p
		}
	}
	return subnetFor(l.Dir)
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")

// subnetFor derives a /24 of 127.0.0.0/8 from a folder path.
func subnetFor(dir string) netip.Prefix {
	h := fnv.New32a()
	h.Write([]byte(dir))
	v := h.Sum32()
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(20 + v%80), byte((v / 80) % 250), 0}), 24)
}

// nodeConfig renders the node agent's configuration. Paths are relative to
// the folder, so that it can be moved.
func nodeConfig(masterURL string, subnet netip.Prefix, poll time.Duration) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `# The node agent of the local grid, written by "slapgo demo" on each run.
# See README.md, "Running a grid", for the configuration of a real node.

[slapos]
computer_id = %s
master_url = %s
software_root = software
instance_root = instance
key_file = node/computer.key
cert_file = node/computer.crt
ca_file = node/ca.crt

[slapformat]
partition_amount = %d
interface_name = lo
ipv6_interface =
# Inside 127.0.0.0/8: distinct addresses per partition, without root.
ipv4_local_network = %s

[slapgrid]
poll_interval = %s
retry_base = %s
retry_max = 1m
promise_timeout = 10s
stop_grace = 5s
`, ComputerID, masterURL, PartitionAmount, subnet, poll, poll)
	return b.Bytes()
}

// partitionRange describes the addresses of the partitions of subnet.
func partitionRange(subnet netip.Prefix) string {
	first := subnet.Addr().Next()
	last := first
	for range PartitionAmount - 1 {
		last = last.Next()
	}
	a, z := first.String(), last.String()
	return a + "-" + z[strings.LastIndexByte(z, '.')+1:]
}

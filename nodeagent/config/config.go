package config

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrConfig is wrapped by every error of this package.
var ErrConfig = errors.New("config: invalid node configuration")

// Protocols of master_protocol.
const (
	ProtocolSlapgo = "slapgo"
	ProtocolSLAP   = "slap"
)

// Config is a node agent's whole configuration.
type Config struct {
	// File is the path the configuration was read from ("" when built in
	// code); errors and relative paths refer to it.
	File string

	// [slapos]
	ComputerID   string // computer_id, required
	MasterURL    string // master_url, https://host:port
	SoftwareRoot string // software_root, default /opt/slapgrid
	InstanceRoot string // instance_root, default /srv/slapgrid
	KeyFile      string // key_file: the computer's private key (PEM)
	CertFile     string // cert_file: the computer's certificate (PEM)
	CAFile       string // ca_file: the master's certificate authority (PEM)
	// MasterProtocol is master_protocol: "slapgo" (the default: /api/v1)
	// or "slap" (SlapOS's protocol, for a SlapOS master or slapgo's SLAP
	// endpoint).
	MasterProtocol string

	Format Format
	Grid   Grid
}

// Format is the [slapformat] section: how partitions are laid out.
type Format struct {
	PartitionAmount   int    // partition_amount, default 10; never decreases
	PartitionBaseName string // partition_base_name, default "slappart"
	UserBaseName      string // user_base_name, default "slapuser"
	TapBaseName       string // tap_base_name, default "slaptap"
	InterfaceName     string // interface_name: where addresses go ("" = none)
	// IPv4LocalNetwork (ipv4_local_network) is the range partition N takes
	// its local IPv4 address from: the (N+1)-th host address, as /32.
	IPv4LocalNetwork netip.Prefix
	IPv6Interface    string // ipv6_interface, default InterfaceName
	CreateTap        bool   // create_tap, default false
	// PartitionHasIPv6Range (partition_has_ipv6_range, default false)
	// gives each partition a whole IPv6 range besides its address, cut
	// from ipv6_interface's prefix IPv6PrefixShift (ipv6_prefixshift,
	// default 16, 2 to 126) bits longer, as SlapOS does (see package
	// format).
	PartitionHasIPv6Range bool
	IPv6PrefixShift       int
}

// Grid is the [slapgrid] section: loop timings. Keys beyond SlapOS's are
// marked "slapgo".
type Grid struct {
	MaximumPeriodicity time.Duration // maximum_periodicity, default 24h; 0 never reprocesses unchanged partitions
	PollInterval       time.Duration // poll_interval, default 1m
	RetryBase          time.Duration // retry_base, default 1m
	RetryMax           time.Duration // retry_max, default 1h
	PromiseTimeout     time.Duration // promise_timeout, default 20s
	UsageInterval      time.Duration // usage_interval, default 24h
	// slapgo: destruction_interval (default 1h), capacity_interval
	// (default 24h), stop_grace (SIGTERM to SIGKILL, default 10s),
	// build_workers (concurrent software builds, default 2).
	DestructionInterval time.Duration
	CapacityInterval    time.Duration
	StopGrace           time.Duration
	BuildWorkers        int
}

// Default returns a Config with every default set and no computer.
func Default() Config {
	return Config{
		SoftwareRoot: "/opt/slapgrid",
		InstanceRoot: "/srv/slapgrid",
		Format: Format{
			PartitionAmount:   10,
			PartitionBaseName: "slappart",
			UserBaseName:      "slapuser",
			TapBaseName:       "slaptap",
			IPv6PrefixShift:   16,
		},
		Grid: Grid{
			MaximumPeriodicity:  24 * time.Hour,
			PollInterval:        time.Minute,
			RetryBase:           time.Minute,
			RetryMax:            time.Hour,
			PromiseTimeout:      20 * time.Second,
			UsageInterval:       24 * time.Hour,
			DestructionInterval: time.Hour,
			CapacityInterval:    24 * time.Hour,
			StopGrace:           10 * time.Second,
			BuildWorkers:        2,
		},
	}
}

// setter parses one value into c; dir resolves relative paths.
type setter func(c *Config, value, dir string) error

func str(f func(*Config) *string) setter {
	return func(c *Config, v, _ string) error { *f(c) = v; return nil }
}

func path(f func(*Config) *string) setter {
	return func(c *Config, v, dir string) error {
		switch {
		case v == "":
		case filepath.IsAbs(v) || dir == "":
			v = filepath.Clean(v)
		default:
			v = filepath.Join(dir, v)
		}
		*f(c) = v
		return nil
	}
}

func name(f func(*Config) *string) setter {
	return func(c *Config, v, _ string) error {
		if v == "" || strings.ContainsAny(v, "/ \t\n:") {
			return fmt.Errorf("%q: expected a name without '/', ':' or blanks", v)
		}
		*f(c) = v
		return nil
	}
}

func duration(f func(*Config) *time.Duration) setter {
	return func(c *Config, v, _ string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*f(c) = d
		return nil
	}
}

func count(f func(*Config) *int, least int) setter {
	return func(c *Config, v, _ string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < least {
			return fmt.Errorf("%q: expected an integer >= %d", v, least)
		}
		*f(c) = n
		return nil
	}
}

func boolean(f func(*Config) *bool) setter {
	return func(c *Config, v, _ string) error {
		switch strings.ToLower(v) {
		case "1", "yes", "true", "on":
			*f(c) = true
		case "0", "no", "false", "off":
			*f(c) = false
		default:
			return fmt.Errorf("%q: expected true or false", v)
		}
		return nil
	}
}

// known lists every section and key this package reads.
var known = map[string]map[string]setter{
	"slapos": {
		"computer_id":     str(func(c *Config) *string { return &c.ComputerID }),
		"master_url":      str(func(c *Config) *string { return &c.MasterURL }),
		"software_root":   path(func(c *Config) *string { return &c.SoftwareRoot }),
		"instance_root":   path(func(c *Config) *string { return &c.InstanceRoot }),
		"key_file":        path(func(c *Config) *string { return &c.KeyFile }),
		"cert_file":       path(func(c *Config) *string { return &c.CertFile }),
		"ca_file":         path(func(c *Config) *string { return &c.CAFile }),
		"master_protocol": str(func(c *Config) *string { return &c.MasterProtocol }),
	},
	"slapformat": {
		"partition_amount":         count(func(c *Config) *int { return &c.Format.PartitionAmount }, 0),
		"partition_base_name":      name(func(c *Config) *string { return &c.Format.PartitionBaseName }),
		"user_base_name":           name(func(c *Config) *string { return &c.Format.UserBaseName }),
		"tap_base_name":            name(func(c *Config) *string { return &c.Format.TapBaseName }),
		"interface_name":           str(func(c *Config) *string { return &c.Format.InterfaceName }),
		"ipv6_interface":           str(func(c *Config) *string { return &c.Format.IPv6Interface }),
		"create_tap":               boolean(func(c *Config) *bool { return &c.Format.CreateTap }),
		"partition_has_ipv6_range": boolean(func(c *Config) *bool { return &c.Format.PartitionHasIPv6Range }),
		"ipv6_prefixshift":         count(func(c *Config) *int { return &c.Format.IPv6PrefixShift }, 2),
		"ipv4_local_network": func(c *Config, v, _ string) error {
			if v == "" {
				c.Format.IPv4LocalNetwork = netip.Prefix{}
				return nil
			}
			p, err := netip.ParsePrefix(v)
			if err != nil || !p.Addr().Is4() {
				return fmt.Errorf("%q: expected an IPv4 network such as 10.0.0.0/16", v)
			}
			c.Format.IPv4LocalNetwork = p.Masked()
			return nil
		},
	},
	"slapgrid": {
		"maximum_periodicity":  duration(func(c *Config) *time.Duration { return &c.Grid.MaximumPeriodicity }),
		"poll_interval":        duration(func(c *Config) *time.Duration { return &c.Grid.PollInterval }),
		"retry_base":           duration(func(c *Config) *time.Duration { return &c.Grid.RetryBase }),
		"retry_max":            duration(func(c *Config) *time.Duration { return &c.Grid.RetryMax }),
		"promise_timeout":      duration(func(c *Config) *time.Duration { return &c.Grid.PromiseTimeout }),
		"usage_interval":       duration(func(c *Config) *time.Duration { return &c.Grid.UsageInterval }),
		"destruction_interval": duration(func(c *Config) *time.Duration { return &c.Grid.DestructionInterval }),
		"capacity_interval":    duration(func(c *Config) *time.Duration { return &c.Grid.CapacityInterval }),
		"stop_grace":           duration(func(c *Config) *time.Duration { return &c.Grid.StopGrace }),
		"build_workers":        count(func(c *Config) *int { return &c.Grid.BuildWorkers }, 1),
	},
}

// ParseDuration reads a duration written in Go's syntax ("90s", "1h30m") or
// as a bare number of seconds ("86400", "0.5"). It must not be negative.
func ParseDuration(v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f > float64(1<<62)/float64(time.Second) {
			return 0, fmt.Errorf("%q: expected a duration >= 0", v)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: expected a duration such as 60s, 1h30m or a number of seconds", v)
	}
	return d, nil
}

// Load reads and validates the configuration file at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c, err := Parse(abs, data)
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

// Parse reads and validates a configuration; file names it in errors and
// its directory resolves relative paths ("" leaves them relative).
func Parse(file string, data []byte) (Config, error) {
	secs, err := parseINI(file, data)
	if err != nil {
		return Config{}, err
	}
	c := Default()
	c.File = file
	dir := ""
	if file != "" {
		dir = filepath.Dir(file)
	}
	for _, s := range secs {
		keys, ok := known[s.name]
		if !ok {
			return Config{}, fmt.Errorf("%w: %s:%d: section [%s] is unknown: expected %s",
				ErrConfig, file, s.line, s.name, listSections())
		}
		for _, e := range s.entries {
			set, ok := keys[e.key]
			if !ok {
				return Config{}, fmt.Errorf("%w: %s:%d: [%s] key %q is unknown: expected one of %s",
					ErrConfig, file, e.line, s.name, e.key, strings.Join(slices.Sorted(maps.Keys(keys)), ", "))
			}
			if err := set(&c, e.value, dir); err != nil {
				return Config{}, fmt.Errorf("%w: %s:%d: [%s] %s = %w", ErrConfig, file, e.line, s.name, e.key, err)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

func listSections() string {
	return "[" + strings.Join(slices.Sorted(maps.Keys(known)), "], [") + "]"
}

// Validate checks what single keys cannot: required keys and coherence.
// Defaults fill what Validate does not require.
func (c *Config) Validate() error {
	fail := func(sec, key, format string, args ...any) error {
		return fmt.Errorf("%w: %s: [%s] %s: %s", ErrConfig, c.where(), sec, key, fmt.Sprintf(format, args...))
	}
	if c.ComputerID == "" {
		return fail("slapos", "computer_id", "is not set: expected the computer's id given by the master (COMP-…)")
	}
	if c.MasterURL != "" {
		// Several masters of one grid: separated by commas.
		for _, one := range strings.Split(c.MasterURL, ",") {
			u, err := url.Parse(strings.TrimSpace(one))
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return fail("slapos", "master_url", "%q: expected https://host:port (several masters: separated by commas)", one)
			}
		}
	}
	switch c.MasterProtocol {
	case "", ProtocolSlapgo, ProtocolSLAP:
	default:
		return fail("slapos", "master_protocol", "%q: expected %s (/api/v1, the default) or %s (SlapOS's protocol)", c.MasterProtocol, ProtocolSlapgo, ProtocolSLAP)
	}
	for _, p := range []struct{ key, v string }{{"software_root", c.SoftwareRoot}, {"instance_root", c.InstanceRoot}} {
		if p.v == "" || !filepath.IsAbs(p.v) {
			return fail("slapos", p.key, "%q: expected an absolute directory", p.v)
		}
	}
	if c.SoftwareRoot == c.InstanceRoot {
		return fail("slapos", "software_root", "%q is also instance_root: expected two directories", c.SoftwareRoot)
	}
	if c.Format.IPv6Interface == "" {
		c.Format.IPv6Interface = c.Format.InterfaceName
	}
	if c.Format.IPv4LocalNetwork.IsValid() && c.Format.PartitionAmount > 0 {
		hosts := uint64(1) << (32 - c.Format.IPv4LocalNetwork.Bits())
		if uint64(c.Format.PartitionAmount)+2 > hosts {
			return fail("slapformat", "ipv4_local_network", "%s holds %d addresses: too few for %d partitions",
				c.Format.IPv4LocalNetwork, hosts, c.Format.PartitionAmount)
		}
	}
	if s := c.Format.IPv6PrefixShift; s < 2 || s > 126 {
		return fail("slapformat", "ipv6_prefixshift", "%d: expected 2 to 126 (bits added to the interface's IPv6 prefix for each partition's range)", s)
	}
	g := c.Grid
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"poll_interval", g.PollInterval}, {"retry_base", g.RetryBase}, {"retry_max", g.RetryMax},
		{"promise_timeout", g.PromiseTimeout}, {"usage_interval", g.UsageInterval},
		{"destruction_interval", g.DestructionInterval}, {"capacity_interval", g.CapacityInterval}} {
		if d.v <= 0 {
			return fail("slapgrid", d.key, "must be > 0")
		}
	}
	if g.RetryMax < g.RetryBase {
		return fail("slapgrid", "retry_max", "%s is shorter than retry_base %s", g.RetryMax, g.RetryBase)
	}
	if g.BuildWorkers < 1 {
		return fail("slapgrid", "build_workers", "must be >= 1")
	}
	return nil
}

func (c *Config) where() string {
	if c.File == "" {
		return "configuration"
	}
	return c.File
}

// PartitionID is the id of partition n: partition_base_name + n.
func (c *Config) PartitionID(n int) string {
	return c.Format.PartitionBaseName + strconv.Itoa(n)
}

// PartitionUser is the user of partition n: user_base_name + n.
func (c *Config) PartitionUser(n int) string {
	return c.Format.UserBaseName + strconv.Itoa(n)
}

// PartitionTap is the tap interface of partition n: tap_base_name + n.
func (c *Config) PartitionTap(n int) string {
	return c.Format.TapBaseName + strconv.Itoa(n)
}

// PartitionDir is the directory of the partition with that id.
func (c *Config) PartitionDir(id string) string {
	return filepath.Join(c.InstanceRoot, id)
}

// PartitionIndex returns n for an id partition_base_name+n, or -1.
func (c *Config) PartitionIndex(id string) int {
	s, ok := strings.CutPrefix(id, c.Format.PartitionBaseName)
	if !ok || s == "" || (len(s) > 1 && s[0] == '0') {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

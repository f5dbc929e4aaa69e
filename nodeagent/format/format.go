package format

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/config"
)

// Errors of Run; each is returned before anything is changed.
var (
	// ErrShrink: partition_amount is below what was formatted.
	ErrShrink = errors.New("format: partition_amount can never decrease")
	// ErrInterface: interface_name or ipv6_interface names no interface.
	ErrInterface = errors.New("format: no such network interface")
	// ErrIPv6Range: the partitions' IPv6 ranges cannot be cut as asked.
	ErrIPv6Range = errors.New("format: partition IPv6 ranges do not fit")
)

// StateFile is the name, under instance_root, of the record of what was
// formatted.
const StateFile = ".slapgo-format.json"

// Options tunes Run.
type Options struct {
	// Unprivileged forces the unprivileged mode even as root.
	Unprivileged bool
}

// Result is what Run did and what the computer offers.
type Result struct {
	Privileged bool
	Capacity   api.CapacityRequest
	Done       []string // what was created or changed
	Skipped    []string // what was not done, and why
}

// State is what StateFile records of the last successful Run.
type State struct {
	PartitionAmount int `json:"partition_amount"`
	// Privileged: users were made, partitions run as them.
	Privileged bool `json:"privileged"`
}

// Partition is the layout of one partition.
type Partition struct {
	Index int
	ID    string
	User  string
	Dir   string
	Tap   string
	IPv4  netip.Addr // invalid when no ipv4_local_network
}

// Layout lists the partitions cfg describes.
func Layout(cfg *config.Config) []Partition {
	out := make([]Partition, cfg.Format.PartitionAmount)
	for n := range out {
		p := Partition{Index: n, ID: cfg.PartitionID(n), User: cfg.PartitionUser(n), Dir: cfg.PartitionDir(cfg.PartitionID(n)), Tap: cfg.PartitionTap(n)}
		if net := cfg.Format.IPv4LocalNetwork; net.IsValid() {
			p.IPv4 = nthHost(net.Addr(), uint32(n)+1)
		}
		out[n] = p
	}
	return out
}

func nthHost(base netip.Addr, n uint32) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

var loopback4 = netip.MustParsePrefix("127.0.0.0/8")

// Run formats the computer cfg describes (see doc.go). Everything that can
// be checked is checked before anything is changed: partition_amount, the
// interfaces, the IPv6 prefix and the IPv6 ranges.
func Run(ctx context.Context, cfg *config.Config, opts Options) (Result, error) {
	res := Result{Privileged: os.Geteuid() == 0 && !opts.Unprivileged}
	st, err := ReadState(cfg.InstanceRoot)
	if err != nil {
		return res, err
	}
	if cfg.Format.PartitionAmount < st.PartitionAmount {
		return res, fmt.Errorf("%w: %s: [slapformat] partition_amount = %d, but %d partitions are formatted (%s): set it to %d or more",
			ErrShrink, cfg.File, cfg.Format.PartitionAmount, st.PartitionAmount, filepath.Join(cfg.InstanceRoot, StateFile), st.PartitionAmount)
	}
	layout := Layout(cfg)
	f := &formatter{cfg: cfg, res: &res}
	var np netPlan
	if res.Privileged {
		if np, err = f.planNetwork(len(layout)); err != nil {
			return res, err
		}
	} else if cfg.Format.PartitionHasIPv6Range {
		if err := CheckIPv6Ranges(cfg, -1); err != nil {
			return res, err
		}
	}
	for _, root := range []string{cfg.InstanceRoot, cfg.SoftwareRoot} {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return res, fmt.Errorf("format: %w", err)
		}
	}
	if res.Privileged {
		err = f.privileged(ctx, layout, np)
	} else {
		err = f.unprivileged(layout)
	}
	if err != nil {
		return res, err
	}
	res.Capacity.Hardware = hardware(cfg.InstanceRoot)
	if err := writeState(cfg.InstanceRoot, State{PartitionAmount: cfg.Format.PartitionAmount, Privileged: res.Privileged}); err != nil {
		return res, err
	}
	return res, nil
}

type formatter struct {
	cfg *config.Config
	res *Result
}

func (f *formatter) done(format string, args ...any) {
	f.res.Done = append(f.res.Done, fmt.Sprintf(format, args...))
}

func (f *formatter) skip(format string, args ...any) {
	f.res.Skipped = append(f.res.Skipped, fmt.Sprintf(format, args...))
}

func (f *formatter) unprivileged(layout []Partition) error {
	n := len(layout)
	if n > 0 {
		f.skip("unprivileged mode: users %s..%s not created: partitions run as %s", layout[0].User, layout[n-1].User, currentUser())
	}
	net := f.cfg.Format.IPv4LocalNetwork
	switch {
	case n == 0:
	case !net.IsValid():
		f.skip("no [slapformat] ipv4_local_network: no IPv4 address for the partitions")
	case loopback4.Contains(net.Addr()):
		// Answered by lo without being added.
	default:
		f.skip("unprivileged mode: IPv4 addresses of %s not added to %s (use a range inside 127.0.0.0/8 to have usable addresses without root)", net, f.cfg.Format.InterfaceName)
	}
	if n > 0 {
		f.skip("unprivileged mode: no IPv6 address added")
		if f.cfg.Format.PartitionHasIPv6Range {
			f.skip("unprivileged mode: no IPv6 range routed to the partitions")
		}
		if f.cfg.Format.CreateTap {
			f.skip("unprivileged mode: taps %s..%s not created", layout[0].Tap, layout[n-1].Tap)
		}
	}
	for _, p := range layout {
		if err := f.directory(p, nil); err != nil {
			return err
		}
		pc := api.PartitionCapacity{ID: p.ID}
		if p.IPv4.IsValid() && loopback4.Contains(p.IPv4) {
			pc.Addresses = append(pc.Addresses, model.Address{Iface: "lo", Addr: p.IPv4.String()})
		}
		f.res.Capacity.Partitions = append(f.res.Capacity.Partitions, pc)
	}
	return nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(os.Geteuid())
}

// directory makes a partition's directory 0750, owned by cred if set.
func (f *formatter) directory(p Partition, cred *syscall.Credential) error {
	err := os.Mkdir(p.Dir, 0o750)
	switch {
	case err == nil:
		f.done("directory %s created", p.Dir)
	case errors.Is(err, os.ErrExist):
	default:
		return fmt.Errorf("format: %s: %w", p.ID, err)
	}
	fi, err := os.Lstat(p.Dir)
	if err != nil {
		return fmt.Errorf("format: %s: %w", p.ID, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("format: %s: %s exists and is not a directory", p.ID, p.Dir)
	}
	if fi.Mode().Perm() != 0o750 {
		if err := os.Chmod(p.Dir, 0o750); err != nil {
			return fmt.Errorf("format: %s: %w", p.ID, err)
		}
		f.done("directory %s: mode %o set to 0750", p.Dir, fi.Mode().Perm())
	}
	if cred != nil {
		sys := fi.Sys().(*syscall.Stat_t)
		if sys.Uid != cred.Uid || sys.Gid != cred.Gid {
			if err := os.Lchown(p.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("format: %s: %w", p.ID, err)
			}
			f.done("directory %s: owner set to %s", p.Dir, p.User)
		}
	}
	return nil
}

// netPlan is what planNetwork found, before anything was changed.
type netPlan struct {
	v4link   netlink.Link // where the IPv4 addresses go (nil: none)
	v6link   netlink.Link // where the IPv6 addresses go (nil: none)
	v6prefix netip.Prefix // v6link's global prefix
	lo       netlink.Link // where the IPv6 ranges are routed (nil: no ranges)
}

// planNetwork looks up the interfaces and the IPv6 prefix and checks that
// the partitions' addresses and ranges fit, changing nothing.
func (f *formatter) planNetwork(amount int) (netPlan, error) {
	var np netPlan
	cfg := f.cfg.Format
	if amount == 0 {
		return np, nil
	}
	var link netlink.Link
	var err error
	if cfg.InterfaceName != "" {
		if link, err = lookupLink(f.cfg, "interface_name", cfg.InterfaceName); err != nil {
			return np, err
		}
	}
	switch {
	case !cfg.IPv4LocalNetwork.IsValid():
		f.skip("no [slapformat] ipv4_local_network: no IPv4 address for the partitions")
	case link == nil:
		return np, fmt.Errorf("format: %s: [slapformat] ipv4_local_network is set but interface_name is not: expected the interface that carries the addresses", source(f.cfg))
	default:
		np.v4link = link
	}
	ranges := cfg.PartitionHasIPv6Range
	if cfg.IPv6Interface == "" {
		if ranges {
			return np, fmt.Errorf("%w: %s: [slapformat] partition_has_ipv6_range is set but neither ipv6_interface nor interface_name is: expected the interface whose IPv6 prefix the ranges are cut from",
				ErrIPv6Range, source(f.cfg))
		}
		f.skip("no [slapformat] ipv6_interface nor interface_name: no IPv6 address for the partitions")
		return np, nil
	}
	if link == nil || cfg.IPv6Interface != cfg.InterfaceName {
		if link, err = lookupLink(f.cfg, "ipv6_interface", cfg.IPv6Interface); err != nil {
			return np, err
		}
	}
	prefix, err := globalIPv6Prefix(link)
	if err != nil {
		return np, err
	}
	if !prefix.IsValid() {
		if ranges {
			return np, fmt.Errorf("%w: %s: [slapformat] partition_has_ipv6_range is set but ipv6_interface %s has no global IPv6 address to cut the ranges from: add one (or unset partition_has_ipv6_range)",
				ErrIPv6Range, source(f.cfg), cfg.IPv6Interface)
		}
		f.skip("interface %s has no global IPv6 address: no IPv6 address for the partitions", cfg.IPv6Interface)
		return np, nil
	}
	if _, err := ipv6Host(prefix, uint64(amount)+1); err != nil {
		return np, fmt.Errorf("format: %s: [slapformat] ipv6_interface %s: %w: partition_amount = %d needs host parts up to %d", source(f.cfg), cfg.IPv6Interface, err, amount, amount+1)
	}
	np.v6link, np.v6prefix = link, prefix
	if ranges {
		if err := CheckIPv6Ranges(f.cfg, prefix.Bits()); err != nil {
			return np, err
		}
		if np.lo, err = lookupLink(f.cfg, "", "lo"); err != nil {
			return np, err
		}
	}
	return np, nil
}

// lookupLink finds the interface named name, given by [slapformat] key
// ("" for none); if it does not exist, the error lists those that do.
func lookupLink(cfg *config.Config, key, name string) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	if err == nil {
		return link, nil
	}
	what := fmt.Sprintf("interface %q", name)
	if key != "" {
		what = fmt.Sprintf("[slapformat] %s = %q", key, name)
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		return nil, fmt.Errorf("format: %s: %s: %w", source(cfg), what, err)
	}
	var names []string
	if all, lerr := netlink.LinkList(); lerr == nil {
		for _, l := range all {
			names = append(names, l.Attrs().Name)
		}
	}
	slices.Sort(names)
	return nil, fmt.Errorf("%w: %s: %s: no such interface here (interfaces: %s); nothing was changed",
		ErrInterface, source(cfg), what, strings.Join(names, ", "))
}

func (f *formatter) privileged(ctx context.Context, layout []Partition, np netPlan) error {
	cfg := f.cfg.Format
	if np.lo != nil {
		if err := f.allowNonlocalBind(); err != nil {
			return err
		}
	}
	for _, p := range layout {
		if err := ctx.Err(); err != nil {
			return err
		}
		cred, err := f.user(p)
		if err != nil {
			return err
		}
		if err := f.directory(p, cred); err != nil {
			return err
		}
		pc := api.PartitionCapacity{ID: p.ID}
		if np.v4link != nil {
			a := netip.PrefixFrom(p.IPv4, 32)
			if err := f.address(np.v4link, a); err != nil {
				return fmt.Errorf("format: %s: %w", p.ID, err)
			}
			pc.Addresses = append(pc.Addresses, model.Address{Iface: cfg.InterfaceName, Addr: p.IPv4.String()})
		}
		if np.v6link != nil {
			ip, err := ipv6Host(np.v6prefix, uint64(p.Index)+2)
			if err != nil {
				return fmt.Errorf("format: %s: %w", p.ID, err)
			}
			if err := f.address(np.v6link, netip.PrefixFrom(ip, 128)); err != nil {
				return fmt.Errorf("format: %s: %w", p.ID, err)
			}
			pc.Addresses = append(pc.Addresses, model.Address{Iface: cfg.IPv6Interface, Addr: ip.String()})
		}
		if np.lo != nil {
			r, err := IPv6Range(np.v6prefix, cfg.IPv6PrefixShift, p.Index)
			if err != nil {
				return fmt.Errorf("format: %s: %w", p.ID, err)
			}
			if err := f.localRoute(np.lo, r); err != nil {
				return fmt.Errorf("format: %s: %w", p.ID, err)
			}
			pc.IPv6Range = r.String()
		}
		if cfg.CreateTap {
			if err := f.tap(p, cred); err != nil {
				return err
			}
		}
		f.res.Capacity.Partitions = append(f.res.Capacity.Partitions, pc)
	}
	return nil
}

// Credential returns the credential of a partition's user.
func Credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("format: user %s: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("format: user %s has uid %q gid %q: expected numbers", name, u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// user makes sure the partition's group and user exist.
func (f *formatter) user(p Partition) (*syscall.Credential, error) {
	if _, err := user.LookupGroup(p.User); err != nil {
		var unknown user.UnknownGroupError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("format: group %s: %w", p.User, err)
		}
		if err := run("groupadd", p.User); err != nil {
			return nil, err
		}
		f.done("group %s created", p.User)
	}
	if _, err := user.Lookup(p.User); err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("format: user %s: %w", p.User, err)
		}
		// -p '!': a locked password; -M: the directory is ours to make.
		if err := run("useradd", "-d", p.Dir, "-g", p.User, "-M", "-p", "!", "-s", "/bin/sh", p.User); err != nil {
			return nil, err
		}
		f.done("user %s created (locked, home %s)", p.User, p.Dir)
	}
	return Credential(p.User)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("format: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// address adds a to link unless it is there.
func (f *formatter) address(link netlink.Link, a netip.Prefix) error {
	family := netlink.FAMILY_V4
	if a.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	have, err := netlink.AddrList(link, family)
	if err != nil {
		return fmt.Errorf("listing addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, h := range have {
		if ip, ok := netip.AddrFromSlice(h.IP); ok && ip.Unmap() == a.Addr() {
			return nil
		}
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.Addr().AsSlice(), Mask: net.CIDRMask(a.Bits(), a.Addr().BitLen())}}
	if a.Addr().Is6() {
		addr.Flags = syscall.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("adding %s to %s: %w", a, link.Attrs().Name, err)
	}
	f.done("address %s added to %s", a, link.Attrs().Name)
	return nil
}

// tap makes sure the partition's tap exists, owned by its user, and is up.
func (f *formatter) tap(p Partition, cred *syscall.Credential) error {
	link, err := netlink.LinkByName(p.Tap)
	if err == nil {
		if t, ok := link.(*netlink.Tuntap); ok && t.Mode == netlink.TUNTAP_MODE_TAP && t.Owner == cred.Uid {
			return nil
		}
		return fmt.Errorf("format: %s: interface %s exists but is not a tap owned by %s: remove it or change [slapformat] tap_base_name", p.ID, p.Tap, p.User)
	}
	var notFound netlink.LinkNotFoundError
	if !errors.As(err, &notFound) {
		return fmt.Errorf("format: %s: %w", p.Tap, err)
	}
	t := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: p.Tap}, Mode: netlink.TUNTAP_MODE_TAP, Owner: cred.Uid, Group: cred.Gid}
	if err := netlink.LinkAdd(t); err != nil {
		return fmt.Errorf("format: creating tap %s: %w", p.Tap, err)
	}
	for _, fd := range t.Fds {
		fd.Close()
	}
	if err := netlink.LinkSetUp(t); err != nil {
		return fmt.Errorf("format: setting %s up: %w", p.Tap, err)
	}
	f.done("tap %s created, owned by %s", p.Tap, p.User)
	return nil
}

// globalIPv6Prefix returns the prefix of the first global unicast IPv6
// address of link (invalid if none).
func globalIPv6Prefix(link netlink.Link) (netip.Prefix, error) {
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V6)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("format: listing IPv6 addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		// A /128 is a partition's own address, not the interface's.
		if ok && ip.Is6() && ip.IsGlobalUnicast() && ones < 128 {
			return netip.PrefixFrom(ip, ones).Masked(), nil
		}
	}
	return netip.Prefix{}, nil
}

// ipv6Host is prefix with host part n.
func ipv6Host(prefix netip.Prefix, n uint64) (netip.Addr, error) {
	if prefix.Bits() > 64 && n>>(128-prefix.Bits()) != 0 {
		return netip.Addr{}, fmt.Errorf("IPv6 prefix %s is too small for host %d", prefix, n)
	}
	b := prefix.Addr().As16()
	for i := 15; i >= 8 && n > 0; i-- {
		b[i] |= byte(n)
		n >>= 8
	}
	return netip.AddrFrom16(b), nil
}

func hardware(root string) *model.Hardware {
	h := &model.Hardware{Arch: runtime.GOARCH, CPU: int64(runtime.NumCPU())}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) >= 2 && fields[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
					h.RAM = kb / 1024
				}
				break
			}
		}
		f.Close()
	}
	var st syscall.Statfs_t
	if syscall.Statfs(root, &st) == nil {
		h.Disk = int64(st.Blocks) * st.Bsize >> 30
	}
	return h
}

// ReadState reads what the last Run recorded under root (the zero State
// when nothing was formatted).
func ReadState(root string) (State, error) {
	var st State
	data, err := os.ReadFile(filepath.Join(root, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("format: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("format: %s: %w", filepath.Join(root, StateFile), err)
	}
	return st, nil
}

func writeState(root string, st State) error {
	data, _ := json.MarshalIndent(st, "", "  ")
	path := filepath.Join(root, StateFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("format: %w", err)
	}
	return nil
}

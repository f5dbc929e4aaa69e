package format

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/nodeagent/config"
)

func testConfig(t *testing.T, amount int, network string) *config.Config {
	t.Helper()
	c := config.Default()
	root := t.TempDir()
	c.ComputerID = "COMP-T"
	c.InstanceRoot = filepath.Join(root, "srv")
	c.SoftwareRoot = filepath.Join(root, "opt")
	c.Format.PartitionAmount = amount
	c.Format.InterfaceName = "lo"
	if network != "" {
		c.Format.IPv4LocalNetwork = netip.MustParsePrefix(network)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

func TestUnprivileged(t *testing.T) {
	cfg := testConfig(t, 3, "127.77.0.0/24")
	cfg.Format.CreateTap = true
	os.MkdirAll(cfg.InstanceRoot, 0o755)
	// A partition directory made earlier with a wrong mode is repaired.
	os.Mkdir(filepath.Join(cfg.InstanceRoot, "slappart1"), 0o777)
	os.Chmod(filepath.Join(cfg.InstanceRoot, "slappart1"), 0o777)

	res, err := Run(context.Background(), cfg, Options{Unprivileged: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Privileged {
		t.Fatal("Unprivileged option ignored")
	}
	for n := range 3 {
		fi, err := os.Stat(filepath.Join(cfg.InstanceRoot, fmt.Sprintf("slappart%d", n)))
		if err != nil || fi.Mode().Perm() != 0o750 {
			t.Fatalf("slappart%d: %v %v", n, fi.Mode(), err)
		}
	}
	wantSkipped := []string{"users slapuser0..slapuser2 not created", "no IPv6 address added", "taps slaptap0..slaptap2 not created"}
	for _, w := range wantSkipped {
		if !slices.ContainsFunc(res.Skipped, func(s string) bool { return strings.Contains(s, w) }) {
			t.Errorf("Skipped %q does not say %q", res.Skipped, w)
		}
	}
	if !slices.ContainsFunc(res.Done, func(s string) bool { return strings.Contains(s, "slappart1: mode 777 set to 0750") }) {
		t.Errorf("mode repair not reported: %q", res.Done)
	}
	var got []string
	for _, p := range res.Capacity.Partitions {
		for _, a := range p.Addresses {
			got = append(got, p.ID+"="+a.Iface+"/"+a.Addr)
		}
	}
	if want := []string{"slappart0=lo/127.77.0.1", "slappart1=lo/127.77.0.2", "slappart2=lo/127.77.0.3"}; !slices.Equal(got, want) {
		t.Fatalf("capacity addresses %v, want %v", got, want)
	}
	if h := res.Capacity.Hardware; h == nil || h.CPU < 1 || h.RAM < 1 || h.Arch != runtime.GOARCH {
		t.Fatalf("hardware: %+v", h)
	}

	// Idempotent: a second run changes nothing.
	again, err := Run(context.Background(), cfg, Options{Unprivileged: true})
	if err != nil || len(again.Done) != 0 {
		t.Fatalf("second run did %q (%v)", again.Done, err)
	}
	// Growing is fine, shrinking is refused before anything changes.
	cfg.Format.PartitionAmount = 5
	if _, err := Run(context.Background(), cfg, Options{Unprivileged: true}); err != nil {
		t.Fatal(err)
	}
	cfg.Format.PartitionAmount = 4
	_, err = Run(context.Background(), cfg, Options{Unprivileged: true})
	if !errors.Is(err, ErrShrink) || !strings.Contains(err.Error(), "partition_amount = 4, but 5 partitions are formatted") {
		t.Fatalf("shrink: %v", err)
	}
}

func TestUnprivilegedNonLoopbackNetwork(t *testing.T) {
	cfg := testConfig(t, 2, "10.9.0.0/24")
	res, err := Run(context.Background(), cfg, Options{Unprivileged: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Capacity.Partitions {
		if len(p.Addresses) != 0 {
			t.Fatalf("%s announced %v: addresses that were not added", p.ID, p.Addresses)
		}
	}
	if !slices.ContainsFunc(res.Skipped, func(s string) bool { return strings.Contains(s, "IPv4 addresses of 10.9.0.0/24 not added") }) {
		t.Fatalf("Skipped: %q", res.Skipped)
	}
}

func TestPartitionPathIsAFile(t *testing.T) {
	cfg := testConfig(t, 1, "")
	os.MkdirAll(cfg.InstanceRoot, 0o755)
	os.WriteFile(filepath.Join(cfg.InstanceRoot, "slappart0"), nil, 0o644)
	if _, err := Run(context.Background(), cfg, Options{Unprivileged: true}); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Fatalf("Run: %v", err)
	}
}

func TestIPv6Host(t *testing.T) {
	tests := []struct {
		prefix string
		n      uint64
		want   string
		bad    bool
	}{
		{"2001:db8::/64", 2, "2001:db8::2", false},
		{"2001:db8:1:2::/64", 301, "2001:db8:1:2::12d", false},
		{"2001:db8::/120", 255, "2001:db8::ff", false},
		{"2001:db8::/120", 256, "", true},
	}
	for _, tc := range tests {
		got, err := ipv6Host(netip.MustParsePrefix(tc.prefix), tc.n)
		if tc.bad != (err != nil) || (!tc.bad && got.String() != tc.want) {
			t.Errorf("ipv6Host(%s, %d) = %v, %v; want %s", tc.prefix, tc.n, got, err, tc.want)
		}
	}
}

func TestLayout(t *testing.T) {
	cfg := testConfig(t, 300, "10.0.0.0/16")
	l := Layout(cfg)
	if l[0].IPv4.String() != "10.0.0.1" || l[299].IPv4.String() != "10.0.1.44" || l[299].User != "slapuser299" || l[299].Tap != "slaptap299" {
		t.Fatalf("layout: %+v %+v", l[0], l[299])
	}
}

// TestPrivilegedInNetns formats three partitions as root, inside a network
// namespace made for the test, with users, groups and taps named for this
// run only; everything is removed at the end, even on failure.
func TestPrivilegedInNetns(t *testing.T) {
	testenv.RequireRoot(t, "creating users, addresses and taps needs root")
	testenv.RequireCommands(t, "namespaces, addresses and users are made with them (Debian: iproute2, passwd)", "ip", "useradd", "groupadd", "userdel")
	tag := fmt.Sprintf("sg%05d", rand.IntN(100000))
	ns := "slapgo-test-" + tag
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
	sh("ip", "-n", ns, "link", "set", "br0", "up")
	sh("ip", "-n", ns, "addr", "add", "2001:db8:5::1/64", "dev", "br0", "nodad")

	cfg := testConfig(t, 3, "10.44.0.0/24")
	os.Chmod(filepath.Dir(cfg.InstanceRoot), 0o755)
	cfg.Format.InterfaceName, cfg.Format.IPv6Interface = "br0", "br0"
	cfg.Format.UserBaseName = tag + "u"
	cfg.Format.TapBaseName = tag + "t"
	cfg.Format.CreateTap = true
	t.Cleanup(func() {
		for n := range 3 {
			exec.Command("userdel", cfg.PartitionUser(n)).Run()
			exec.Command("groupdel", cfg.PartitionUser(n)).Run()
		}
	})

	res, err := inNetns(t, ns, func() (Result, error) { return Run(context.Background(), cfg, Options{}) })
	if err != nil {
		t.Fatal(err)
	}
	if !res.Privileged {
		t.Fatal("root run not privileged")
	}
	for n := range 3 {
		name := cfg.PartitionUser(n)
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatalf("user %s: %v", name, err)
		}
		g, err := user.LookupGroup(name)
		if err != nil || g.Gid != u.Gid {
			t.Fatalf("user %s: primary group %s, own group %v (%v)", name, u.Gid, g, err)
		}
		dir := cfg.PartitionDir(cfg.PartitionID(n))
		if u.HomeDir != dir {
			t.Errorf("user %s home %s, want %s", name, u.HomeDir, dir)
		}
		if out, _ := exec.Command("passwd", "-S", name).Output(); len(out) > 0 && !strings.Contains(string(out), " L ") {
			t.Errorf("password of %s not locked: %s", name, out)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil || st.Mode&0o777 != 0o750 || fmt.Sprint(st.Uid) != u.Uid {
			t.Errorf("%s: mode %o uid %d (%v), want 0750 and %s", dir, st.Mode&0o777, st.Uid, err, u.Uid)
		}
	}
	var got []string
	for _, p := range res.Capacity.Partitions {
		for _, a := range p.Addresses {
			got = append(got, p.ID+"="+a.Addr)
		}
	}
	want := []string{"slappart0=10.44.0.1", "slappart0=2001:db8:5::2", "slappart1=10.44.0.2", "slappart1=2001:db8:5::3", "slappart2=10.44.0.3", "slappart2=2001:db8:5::4"}
	if !slices.Equal(got, want) {
		t.Fatalf("capacity %v, want %v", got, want)
	}
	// What the kernel of the namespace holds.
	type link struct {
		addrs []string
		taps  map[string]uint32
	}
	seen, err := inNetns(t, ns, func() (link, error) {
		var l link
		dl, err := netlink.LinkByName("br0")
		if err != nil {
			return l, err
		}
		as, err := netlink.AddrList(dl, netlink.FAMILY_ALL)
		if err != nil {
			return l, err
		}
		for _, a := range as {
			l.addrs = append(l.addrs, a.IPNet.String())
		}
		l.taps = map[string]uint32{}
		for n := range 3 {
			tl, err := netlink.LinkByName(cfg.PartitionTap(n))
			if err != nil {
				return l, err
			}
			if tt, ok := tl.(*netlink.Tuntap); ok && tt.Mode == netlink.TUNTAP_MODE_TAP {
				l.taps[tt.Name] = tt.Owner
			}
		}
		return l, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"10.44.0.1/32", "10.44.0.3/32", "2001:db8:5::2/128", "2001:db8:5::4/128"} {
		if !slices.Contains(seen.addrs, w) {
			t.Errorf("address %s missing on br0: %v", w, seen.addrs)
		}
	}
	for n := range 3 {
		u, _ := user.Lookup(cfg.PartitionUser(n))
		if owner, ok := seen.taps[cfg.PartitionTap(n)]; !ok || fmt.Sprint(owner) != u.Uid {
			t.Errorf("tap %s: owner %d (present %v), want %s", cfg.PartitionTap(n), owner, ok, u.Uid)
		}
	}
	// Idempotent.
	again, err := inNetns(t, ns, func() (Result, error) { return Run(context.Background(), cfg, Options{}) })
	if err != nil || len(again.Done) != 0 {
		t.Fatalf("second privileged run did %q (%v)", again.Done, err)
	}
}

// inNetns runs f on a thread moved into the named network namespace.
func inNetns[T any](t *testing.T, name string, f func() (T, error)) (T, error) {
	t.Helper()
	var zero T
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return zero, err
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return zero, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return zero, err
	}
	defer func() {
		// A thread that cannot go back stays locked: it dies with the
		// goroutine instead of serving others in the wrong namespace.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

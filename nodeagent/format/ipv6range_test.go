package format

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/slapgo/slapgo/internal/testenv"
)

func TestIPv6Range(t *testing.T) {
	tests := []struct {
		prefix string
		shift  int
		n      int
		want   string // "" for an error
	}{
		{"2001:db8::/64", 16, 0, "2001:db8:0:0:4001::/80"},
		{"2001:db8::/64", 16, 5, "2001:db8:0:0:4006::/80"},
		{"2001:db8::/64", 16, 16382, "2001:db8:0:0:7fff::/80"}, // the last of the second quarter
		{"2001:db8::/64", 16, 16383, ""},                       // would be in the third
		{"2001:db8:5::/48", 16, 0, "2001:db8:5:4001::/64"},
		{"2001:db8::/64", 8, 0, "2001:db8:0:0:4100::/72"},
		{"2001:db8::/60", 6, 0, "2001:db8:0:4:4000::/66"}, // across a group
		{"2001:db8::/60", 6, 14, "2001:db8:0:7:c000::/66"},
		{"2001:db8::/60", 6, 15, ""},
		{"2001:db8::/32", 64, 0, "2001:db8:4000::1:0:0/96"}, // across the two halves
		{"2001:db8::/32", 64, 9, "2001:db8:4000::a:0:0/96"},
		{"8000::/1", 126, 0, "a000::2/127"},
		{"2001:db8:ffff:ffff::/64", 4, 2, "2001:db8:ffff:ffff:7000::/68"},
		{"2001:db8::/64", 4, 3, ""},
		{"2001:db8::/112", 16, 0, ""}, // /128 ranges
		{"2001:db8::/64", 1, 0, ""},
		{"2001:db8::/64", 16, -1, ""},
		{"10.0.0.0/8", 16, 0, ""},
		{"::ffff:10.0.0.0/104", 16, 0, ""},
	}
	for _, tc := range tests {
		got, err := IPv6Range(netip.MustParsePrefix(tc.prefix), tc.shift, tc.n)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("IPv6Range(%s, %d, %d) = %s, want an error", tc.prefix, tc.shift, tc.n, got)
		case tc.want == "" && !errors.Is(err, ErrIPv6Range):
			t.Errorf("IPv6Range(%s, %d, %d): error %v does not wrap ErrIPv6Range", tc.prefix, tc.shift, tc.n, err)
		case tc.want != "" && (err != nil || got.String() != tc.want):
			t.Errorf("IPv6Range(%s, %d, %d) = %s, %v; want %s", tc.prefix, tc.shift, tc.n, got, err, tc.want)
		}
	}
	// Ranges of different partitions never overlap, nor hold the
	// partitions' own addresses (host part N+2 of the prefix).
	prefix := netip.MustParsePrefix("2001:db8:7::/64")
	var ranges []netip.Prefix
	for n := range 300 {
		r, err := IPv6Range(prefix, 16, n)
		if err != nil {
			t.Fatal(err)
		}
		own, _ := ipv6Host(prefix, uint64(n)+2)
		if !prefix.Contains(r.Addr()) || r.Contains(own) {
			t.Fatalf("partition %d: range %s outside %s or holding %s", n, r, prefix, own)
		}
		for _, o := range ranges {
			if o.Overlaps(r) {
				t.Fatalf("partition %d: range %s overlaps %s", n, r, o)
			}
		}
		ranges = append(ranges, r)
	}
}

func TestCheckIPv6Ranges(t *testing.T) {
	tests := []struct {
		prefixBits, shift, amount int
		want                      []string // fragments of the error; nil: no error
	}{
		{64, 16, 10, nil},
		{64, 16, 16383, nil}, // 4·16384 = 2^16
		{64, 16, 16384, []string{"ipv6_prefixshift = 16", "partition_amount = 16384", "largest partition_amount allowed is 16383", "ipv6_prefixshift to 17 or more"}},
		{64, 4, 3, nil},
		{64, 4, 4, []string{"ipv6_prefixshift = 4", "partition_amount = 4", "largest partition_amount allowed is 3", "to 5 or more"}},
		{-1, 4, 4, []string{"largest partition_amount allowed is 3"}}, // prefix unknown: the amount is still checked
		{-1, 2, 0, nil},
		{-1, 2, 1, []string{"largest partition_amount allowed is 0", "to 3 or more"}},
		{64, 8, 300, []string{"largest partition_amount allowed is 63", "to 11 or more"}},
		{112, 15, 1, nil},
		{112, 16, 1, []string{"ipv6_prefixshift = 16", "/112", "/128", "ipv6_prefixshift 15 or less"}},
		{120, 8, 100, []string{"ipv6_prefixshift = 8", "largest partition_amount allowed is 63"}},
		{-1, 100, 1 << 40, nil}, // no overflow
		{0, 126, 5, nil},
		{2, 126, 5, []string{"/128", "ipv6_prefixshift 125 or less"}},
		{64, 1, 0, []string{"ipv6_prefixshift = 1", "2 or more"}},
	}
	for _, tc := range tests {
		cfg := testConfig(t, 1, "")
		cfg.Format.IPv6Interface = "eth7"
		cfg.Format.IPv6PrefixShift, cfg.Format.PartitionAmount = tc.shift, tc.amount
		err := CheckIPv6Ranges(cfg, tc.prefixBits)
		name := fmt.Sprintf("/%d shift %d amount %d", tc.prefixBits, tc.shift, tc.amount)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if !errors.Is(err, ErrIPv6Range) {
			t.Errorf("%s: %v, want ErrIPv6Range", name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", name, err, w)
			}
		}
	}
}

// Too many partitions for their ranges is refused before anything is made,
// with or without root.
func TestIPv6RangesTooSmallChangesNothing(t *testing.T) {
	cfg := testConfig(t, 4, "127.78.0.0/24")
	cfg.Format.PartitionHasIPv6Range = true
	cfg.Format.IPv6PrefixShift = 4
	_, err := Run(context.Background(), cfg, Options{Unprivileged: true})
	if !errors.Is(err, ErrIPv6Range) || !strings.Contains(err.Error(), "largest partition_amount allowed is 3") {
		t.Fatalf("Run: %v", err)
	}
	if _, err := os.Stat(cfg.InstanceRoot); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("instance root made although the configuration was refused: %v", err)
	}
	cfg.Format.PartitionAmount = 3
	res, err := Run(context.Background(), cfg, Options{Unprivileged: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Skipped, func(s string) bool { return strings.Contains(s, "no IPv6 range") }) {
		t.Fatalf("unprivileged run does not say it routed no range: %q", res.Skipped)
	}
}

// TestIPv6RangesInNetns formats, as root in a network namespace made for
// the test, two partitions with IPv6 ranges, and checks that a missing
// interface or too small a shift is refused before anything is created.
func TestIPv6RangesInNetns(t *testing.T) {
	testenv.RequireRoot(t, "routing IPv6 ranges and creating users needs root")
	testenv.RequireCommands(t, "namespaces, addresses and users are made with them (Debian: iproute2, passwd)", "ip", "useradd", "groupadd", "userdel", "groupdel")
	tag := fmt.Sprintf("sr%05d", rand.IntN(100000))
	ns := "slapgo-test-" + tag
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	sh("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh("ip", "-n", ns, "link", "set", "lo", "up")
	sh("ip", "-n", ns, "link", "add", "up0", "type", "bridge")
	sh("ip", "-n", ns, "link", "set", "up0", "up")
	sh("ip", "-n", ns, "addr", "add", "2001:db8:77::1/64", "dev", "up0", "nodad")

	const amount = 2
	cfg := testConfig(t, amount, "")
	os.Chmod(filepath.Dir(cfg.InstanceRoot), 0o755)
	cfg.Format.InterfaceName, cfg.Format.IPv6Interface = "up0", "up0"
	cfg.Format.UserBaseName = tag + "u"
	cfg.Format.PartitionHasIPv6Range = true
	t.Cleanup(func() {
		for n := range amount {
			exec.Command("userdel", cfg.PartitionUser(n)).Run()
			exec.Command("groupdel", cfg.PartitionUser(n)).Run()
		}
	})
	format := func() (Result, error) {
		return inNetns(t, ns, func() (Result, error) { return Run(context.Background(), cfg, Options{}) })
	}
	nothingMade := func(what string) {
		t.Helper()
		if _, err := os.Stat(cfg.InstanceRoot); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: instance root %s exists (%v): something was made before the check", what, cfg.InstanceRoot, err)
		}
		if _, err := exec.Command("id", cfg.PartitionUser(0)).Output(); err == nil {
			t.Fatalf("%s: user %s was created before the check", what, cfg.PartitionUser(0))
		}
	}

	// Bad input first: nothing may be created.
	cfg.Format.InterfaceName, cfg.Format.IPv6Interface = "nosuch0", "nosuch0"
	_, err := format()
	if !errors.Is(err, ErrInterface) || !strings.Contains(err.Error(), `interface_name = "nosuch0"`) || !strings.Contains(err.Error(), "up0") {
		t.Fatalf("missing interface: %v (want ErrInterface naming it and listing up0)", err)
	}
	nothingMade("missing interface")
	cfg.Format.InterfaceName, cfg.Format.IPv6Interface = "up0", "nosuch6"
	if _, err = format(); !errors.Is(err, ErrInterface) || !strings.Contains(err.Error(), `ipv6_interface = "nosuch6"`) {
		t.Fatalf("missing ipv6_interface: %v", err)
	}
	nothingMade("missing ipv6_interface")
	cfg.Format.IPv6Interface = "up0"
	cfg.Format.IPv6PrefixShift = 64 // /64 + 64 = /128
	if _, err = format(); !errors.Is(err, ErrIPv6Range) || !strings.Contains(err.Error(), "ipv6_prefixshift 63 or less") {
		t.Fatalf("ranges of /128: %v", err)
	}
	nothingMade("ranges of /128")
	cfg.Format.IPv6PrefixShift = 3 // room for 1 partition
	if _, err = format(); !errors.Is(err, ErrIPv6Range) || !strings.Contains(err.Error(), "largest partition_amount allowed is 1") {
		t.Fatalf("shift too small: %v", err)
	}
	nothingMade("shift too small")

	cfg.Format.IPv6PrefixShift = 16
	res, err := format()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Capacity.Partitions {
		got = append(got, p.ID+"="+p.IPv6Range)
	}
	want := []string{"slappart0=2001:db8:77:0:4001::/80", "slappart1=2001:db8:77:0:4002::/80"}
	if !slices.Equal(got, want) {
		t.Fatalf("announced ranges %v, want %v", got, want)
	}
	type kernel struct {
		local   []string
		bind    string
		binding error
	}
	seen, err := inNetns(t, ns, func() (kernel, error) {
		var k kernel
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_LOCAL}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return k, err
		}
		for _, r := range routes {
			if r.Type == unix.RTN_LOCAL && r.Dst != nil {
				if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
					k.local = append(k.local, r.Dst.String()+" dev "+l.Attrs().Name)
				}
			}
		}
		data, err := os.ReadFile(nonlocalBind)
		if err != nil {
			return k, err
		}
		k.bind = strings.TrimSpace(string(data))
		// A partition binds an address of its range that no interface has.
		ln, err := net.Listen("tcp6", "[2001:db8:77:0:4002::99]:0")
		if err == nil {
			ln.Close()
		}
		k.binding = err
		return k, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"2001:db8:77:0:4001::/80 dev lo", "2001:db8:77:0:4002::/80 dev lo"} {
		if !slices.Contains(seen.local, w) {
			t.Errorf("local route %q missing: %v", w, seen.local)
		}
	}
	if seen.bind != "1" || seen.binding != nil {
		t.Errorf("ip_nonlocal_bind = %q, binding an address of a range: %v", seen.bind, seen.binding)
	}
	// Idempotent.
	again, err := format()
	if err != nil || len(again.Done) != 0 {
		t.Fatalf("second run did %q (%v)", again.Done, err)
	}
}

package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/slapgo/slapgo/nodeagent/config"
)

// IPv6Range returns the IPv6 range of partition n, cut from the
// interface's prefix P/L as SlapOS does: the shift bits after L hold
// 2^(shift-2) + n + 1, and the range is /(L+shift). The first quarter of
// those 2^shift ranges is left to the computer (its own addresses, the
// partitions' /128 among them), the second holds the partitions' ranges,
// the rest is SlapOS's for taps and tuns. It fails when L+shift is not
// below 128 or partition n falls outside the second quarter (see
// CheckIPv6Ranges).
func IPv6Range(prefix netip.Prefix, shift, n int) (netip.Prefix, error) {
	if !prefix.IsValid() || !prefix.Addr().Is6() || prefix.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("%w: %s is not an IPv6 prefix", ErrIPv6Range, prefix)
	}
	l := prefix.Bits()
	switch {
	case shift < 2:
		return netip.Prefix{}, fmt.Errorf("%w: a shift of %d bits: expected 2 or more", ErrIPv6Range, shift)
	case l+shift >= 128:
		return netip.Prefix{}, fmt.Errorf("%w: %s shifted by %d bits gives /%d ranges: expected shorter than /128", ErrIPv6Range, prefix, shift, l+shift)
	case n < 0 || (shift-2 < 63 && uint64(n)+1 >= 1<<(shift-2)):
		return netip.Prefix{}, fmt.Errorf("%w: partition %d: a shift of %d bits has room for partitions 0 to %d", ErrIPv6Range, n, shift, maxRangeAmount(shift)-1)
	}
	index := bit128(shift - 2).add(uint64(n) + 1).shl(128 - l - shift)
	b := prefix.Masked().Addr().As16()
	hi := binary.BigEndian.Uint64(b[:8]) | index.hi
	lo := binary.BigEndian.Uint64(b[8:]) | index.lo
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	return netip.PrefixFrom(netip.AddrFrom16(b), l+shift), nil
}

// maxRangeAmount is the largest partition_amount a shift has ranges for:
// 4·(amount+1) <= 2^shift.
func maxRangeAmount(shift int) uint64 {
	if shift-2 >= 64 {
		return 1<<64 - 1
	}
	return 1<<(shift-2) - 1
}

// CheckIPv6Ranges checks, before anything is changed, that cfg's
// partitions can each have an IPv6 range: 4·(partition_amount+1) <=
// 2^ipv6_prefixshift, and, when the interface's prefix length prefixBits
// is known (>= 0), prefixBits + ipv6_prefixshift < 128. Its errors wrap
// ErrIPv6Range and say what to change.
func CheckIPv6Ranges(cfg *config.Config, prefixBits int) error {
	shift, amount := cfg.Format.IPv6PrefixShift, cfg.Format.PartitionAmount
	if shift < 2 {
		return fmt.Errorf("%w: %s: [slapformat] ipv6_prefixshift = %d: expected 2 or more", ErrIPv6Range, source(cfg), shift)
	}
	if most := maxRangeAmount(shift); amount < 0 || uint64(amount) > most {
		return fmt.Errorf("%w: %s: [slapformat] ipv6_prefixshift = %d has room for the ranges of %d partitions (4·(partition_amount+1) <= 2^ipv6_prefixshift), not partition_amount = %d: the largest partition_amount allowed is %d; or set ipv6_prefixshift to %d or more",
			ErrIPv6Range, source(cfg), shift, most, amount, most, 2+bits.Len(uint(amount)))
	}
	if prefixBits >= 0 && prefixBits+shift >= 128 {
		return fmt.Errorf("%w: %s: [slapformat] ipv6_prefixshift = %d: the IPv6 prefix of %s is /%d, so the ranges would be /%d: expected ipv6_prefixshift %d or less (with partition_amount = %d, at least %d)",
			ErrIPv6Range, source(cfg), shift, cfg.Format.IPv6Interface, prefixBits, prefixBits+shift, 127-prefixBits, amount, 2+bits.Len(uint(amount)))
	}
	return nil
}

// source names the configuration in errors.
func source(cfg *config.Config) string {
	if cfg.File == "" {
		return "configuration"
	}
	return cfg.File
}

// u128 is a 128-bit unsigned integer.
type u128 struct{ hi, lo uint64 }

func bit128(b int) u128 {
	if b >= 64 {
		return u128{hi: 1 << (b - 64)}
	}
	return u128{lo: 1 << b}
}

func (a u128) add(v uint64) u128 {
	lo, carry := bits.Add64(a.lo, v, 0)
	return u128{a.hi + carry, lo}
}

func (a u128) shl(s int) u128 {
	switch {
	case s <= 0:
		return a
	case s >= 128:
		return u128{}
	case s >= 64:
		return u128{hi: a.lo << (s - 64)}
	default:
		return u128{a.hi<<s | a.lo>>(64-s), a.lo << s}
	}
}

// localRoute makes sure the range r is routed to this host (type local,
// table local, on lo), as SlapOS's `ip -6 route add local r dev lo`: the
// partition receives whatever is sent to any address of its range, and
// binds them (net.ipv6.ip_nonlocal_bind, see allowNonlocalBind).
func (f *formatter) localRoute(lo netlink.Link, r netip.Prefix) error {
	dst := &net.IPNet{IP: r.Addr().AsSlice(), Mask: net.CIDRMask(r.Bits(), 128)}
	have, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Table: unix.RT_TABLE_LOCAL, Dst: dst}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_DST)
	if err != nil {
		return fmt.Errorf("listing the local routes of %s: %w", r, err)
	}
	for _, h := range have {
		if h.Type == unix.RTN_LOCAL && h.LinkIndex == lo.Attrs().Index {
			return nil
		}
	}
	if len(have) > 0 {
		return fmt.Errorf("the local routing table already routes %s otherwise (%s): remove that route", r, have[0])
	}
	route := &netlink.Route{LinkIndex: lo.Attrs().Index, Dst: dst, Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL, Scope: netlink.SCOPE_HOST}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("routing %s locally on %s: %w", r, lo.Attrs().Name, err)
	}
	f.done("IPv6 range %s routed to this host (local, on %s)", r, lo.Attrs().Name)
	return nil
}

// nonlocalBind lets processes bind IPv6 addresses that are not on an
// interface, such as those of their range (per network namespace).
const nonlocalBind = "/proc/sys/net/ipv6/ip_nonlocal_bind"

// allowNonlocalBind sets net.ipv6.ip_nonlocal_bind to 1 unless it is, as
// SlapOS does for partitions with IPv6 ranges.
func (f *formatter) allowNonlocalBind() error {
	data, err := os.ReadFile(nonlocalBind)
	if err != nil {
		return fmt.Errorf("format: partition_has_ipv6_range: %w", err)
	}
	if strings.TrimSpace(string(data)) == "1" {
		return nil
	}
	if err := os.WriteFile(nonlocalBind, []byte("1\n"), 0o644); err != nil {
		if errors.Is(err, os.ErrPermission) || errors.Is(err, unix.EROFS) {
			return fmt.Errorf("format: partition_has_ipv6_range: partitions cannot bind the addresses of their ranges: %w (set net.ipv6.ip_nonlocal_bind = 1 on the host)", err)
		}
		return fmt.Errorf("format: partition_has_ipv6_range: %w", err)
	}
	f.done("net.ipv6.ip_nonlocal_bind set to 1: partitions may bind any address of their IPv6 range")
	return nil
}

package netacct

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/slapgo/slapgo/core/model"
)

// ErrOwners is wrapped by every error about the address → partition table.
var ErrOwners = errors.New("netacct: invalid address owners")

// Counts is the traffic of one partition: IP-level bytes and packets
// received (In: the partition's address is the destination) and sent (Out:
// it is the source). See the package documentation for what a byte is.
type Counts struct {
	InBytes    uint64 `json:"in_bytes"`
	OutBytes   uint64 `json:"out_bytes"`
	InPackets  uint64 `json:"in_packets"`
	OutPackets uint64 `json:"out_packets"`
}

// Add returns c + d, field by field.
func (c Counts) Add(d Counts) Counts {
	return Counts{c.InBytes + d.InBytes, c.OutBytes + d.OutBytes, c.InPackets + d.InPackets, c.OutPackets + d.OutPackets}
}

// Sub returns c - d, field by field (d must not exceed c).
func (c Counts) Sub(d Counts) Counts {
	return Counts{c.InBytes - d.InBytes, c.OutBytes - d.OutBytes, c.InPackets - d.InPackets, c.OutPackets - d.OutPackets}
}

// IsZero says whether nothing was counted.
func (c Counts) IsZero() bool { return c == Counts{} }

// counters are the cumulative counts of one partition, updated by any
// number of decoders at once. They only grow. Padded to a cache line so
// that two partitions' counters do not share one.
type counters struct {
	inBytes, outBytes, inPackets, outPackets atomic.Uint64
	_                                        [32]byte
}

func (c *counters) load() Counts {
	return Counts{c.inBytes.Load(), c.outBytes.Load(), c.inPackets.Load(), c.outPackets.Load()}
}

// table maps addresses to counters. It is immutable once published.
type table struct {
	v4     map[[4]byte]*counters
	v6     map[[16]byte]*counters
	nets4  []net4 // ranges, longest prefix first
	nets6  []net6
	owners map[netip.Prefix]string
}

type net4 struct {
	bits int
	m    map[[4]byte]*counters
}

type net6 struct {
	bits int
	m    map[[16]byte]*counters
}

func mask4(a [4]byte, bits int) [4]byte {
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	if bits < 32 {
		v &^= 1<<(32-bits) - 1
	}
	return [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

func mask16(a [16]byte, bits int) [16]byte {
	for i := range a {
		switch {
		case bits >= 8:
			bits -= 8
		case bits > 0:
			a[i] &= ^byte(0) << (8 - bits)
			bits = 0
		default:
			a[i] = 0
		}
	}
	return a
}

// lookup4 returns the counters of the partition owning a, or nil.
func (t *table) lookup4(a [4]byte) *counters {
	if c := t.v4[a]; c != nil {
		return c
	}
	for _, n := range t.nets4 {
		if c := n.m[mask4(a, n.bits)]; c != nil {
			return c
		}
	}
	return nil
}

// lookup6 returns the counters of the partition owning a, or nil.
func (t *table) lookup6(a [16]byte) *counters {
	if c := t.v6[a]; c != nil {
		return c
	}
	for _, n := range t.nets6 {
		if c := n.m[mask16(a, n.bits)]; c != nil {
			return c
		}
	}
	return nil
}

// Stats says what a Counter saw besides the partitions' traffic: packets
// that were not attributed, and why. All fields are cumulative.
type Stats struct {
	// Counted IP packets were attributed to at least one partition (as
	// captured: an offloaded packet counts once here, and as the segments
	// it stands for in the partitions' Counts).
	Counted uint64 `json:"counted"`
	// Unowned IP packets had neither address in the table.
	Unowned uint64 `json:"unowned"`
	// Internal IP packets went from a partition to itself (for instance
	// from its IPv6 bridge to its own IPv4 address): not network usage.
	Internal uint64 `json:"internal"`
	// NotIP frames carried something else (ARP, LLDP…).
	NotIP uint64 `json:"not_ip"`
	// Undecodable frames were truncated or malformed.
	Undecodable uint64 `json:"undecodable"`
	// Duplicates are the sent copies of loopback packets (Linux shows each
	// packet twice on lo: sent, then received) that were skipped: in Linux
	// cooked pcap files, and in live captures should one pass the kernel
	// filter that drops them.
	Duplicates uint64 `json:"duplicates"`
}

// Counter attributes IP traffic to partitions by address and keeps their
// Counts. Any number of Decoders (one per capture) may feed one Counter
// while others read it: every method is safe for concurrent use.
//
// Counts only grow; periods are cut by EndPeriod, which moves a mark
// rather than resetting anything, so that no packet is ever lost between
// two periods nor counted in both.
type Counter struct {
	tab atomic.Pointer[table]

	mu    sync.Mutex
	parts map[string]*counters // every partition that ever owned an address
	base  map[string]Counts    // cumulative counts when the period began

	counted, unowned, internal, notIP, undecodable, duplicates atomic.Uint64
}

// NewCounter returns a Counter attributing traffic by owners (see
// SetOwners).
func NewCounter(owners map[netip.Prefix]string) (*Counter, error) {
	c := &Counter{parts: map[string]*counters{}, base: map[string]Counts{}}
	if err := c.SetOwners(owners); err != nil {
		return nil, err
	}
	return c, nil
}

// SetOwners replaces the address → partition table, atomically for the
// decoders running: a packet is attributed with the old table or the new
// one, never a mix. A prefix /32 (IPv4) or /128 (IPv6) is one address; a
// shorter prefix is a range (SlapOS's IPv6 range per partition), and the
// longest prefix that holds an address wins. Prefixes must be masked
// (2001:db8:0:1::/64, not 2001:db8:0:1::7/64); IPv4-mapped IPv6 prefixes
// are read as IPv4. A partition that loses all its addresses keeps its
// counts until they are reported (EndPeriod).
//
// On error (ErrOwners) the table in use is left unchanged.
func (c *Counter) SetOwners(owners map[netip.Prefix]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &table{v4: map[[4]byte]*counters{}, v6: map[[16]byte]*counters{}, owners: make(map[netip.Prefix]string, len(owners))}
	n4, n6 := map[int]map[[4]byte]*counters{}, map[int]map[[16]byte]*counters{}
	fresh := map[string]*counters{}
	get := func(part string) *counters {
		if pc := c.parts[part]; pc != nil {
			return pc
		}
		if pc := fresh[part]; pc != nil {
			return pc
		}
		pc := &counters{}
		fresh[part] = pc
		return pc
	}
	seen := map[netip.Prefix]string{}
	for _, p := range slices.SortedFunc(maps.Keys(owners), comparePrefix) {
		part := owners[p]
		if strings.TrimSpace(part) == "" {
			return fmt.Errorf("%w: %s is owned by an empty partition id", ErrOwners, p)
		}
		if !p.IsValid() {
			return fmt.Errorf("%w: partition %s: invalid prefix %q", ErrOwners, part, p)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if m := p.Masked(); m != p {
			return fmt.Errorf("%w: partition %s: %s has host bits: write %s for the range or %s for the address",
				ErrOwners, part, p, m, netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
		}
		if other, dup := seen[p]; dup && other != part {
			return fmt.Errorf("%w: %s is owned by both %s and %s", ErrOwners, p, other, part)
		}
		seen[p] = part
		t.owners[p] = part
		pc := get(part)
		switch a := p.Addr(); {
		case a.Is4() && p.Bits() == 32:
			t.v4[a.As4()] = pc
		case a.Is4():
			if n4[p.Bits()] == nil {
				n4[p.Bits()] = map[[4]byte]*counters{}
			}
			n4[p.Bits()][a.As4()] = pc
		case p.Bits() == 128:
			t.v6[a.As16()] = pc
		default:
			if n6[p.Bits()] == nil {
				n6[p.Bits()] = map[[16]byte]*counters{}
			}
			n6[p.Bits()][a.As16()] = pc
		}
	}
	for _, bits := range slices.Backward(slices.Sorted(maps.Keys(n4))) {
		t.nets4 = append(t.nets4, net4{bits, n4[bits]})
	}
	for _, bits := range slices.Backward(slices.Sorted(maps.Keys(n6))) {
		t.nets6 = append(t.nets6, net6{bits, n6[bits]})
	}
	maps.Copy(c.parts, fresh)
	c.tab.Store(t)
	return nil
}

func comparePrefix(a, b netip.Prefix) int {
	return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
}

// Owners returns a copy of the table in use.
func (c *Counter) Owners() map[netip.Prefix]string {
	return maps.Clone(c.tab.Load().owners)
}

// Total returns the cumulative counts of every partition that ever owned
// an address, since the Counter was made.
func (c *Counter) Total() map[string]Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Counts, len(c.parts))
	for id, pc := range c.parts {
		out[id] = pc.load()
	}
	return out
}

// Snapshot returns the counts of the current period so far (since the
// Counter was made or the last EndPeriod), per partition; partitions with
// nothing counted are included when they own an address.
func (c *Counter) Snapshot() map[string]Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.periodLocked(false)
}

// EndPeriod returns the counts of the current period, like Snapshot, and
// starts a new period at the same instant: a packet counted while it runs
// is in exactly one of the two periods. Partitions that no longer own an
// address and counted nothing in the period are forgotten.
func (c *Counter) EndPeriod() map[string]Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.periodLocked(true)
}

func (c *Counter) periodLocked(end bool) map[string]Counts {
	owned := map[string]bool{}
	for _, part := range c.tab.Load().owners {
		owned[part] = true
	}
	out := make(map[string]Counts, len(c.parts))
	for id, pc := range c.parts {
		now := pc.load()
		d := now.Sub(c.base[id])
		if d.IsZero() && !owned[id] {
			if end {
				delete(c.parts, id)
				delete(c.base, id)
			}
			continue
		}
		out[id] = d
		if end {
			c.base[id] = now
		}
	}
	return out
}

// Stats returns what was not attributed, and why (cumulative).
func (c *Counter) Stats() Stats {
	return Stats{
		Counted:     c.counted.Load(),
		Unowned:     c.unowned.Load(),
		Internal:    c.internal.Load(),
		NotIP:       c.notIP.Load(),
		Undecodable: c.undecodable.Load(),
		Duplicates:  c.duplicates.Load(),
	}
}

// OwnersFromAddresses builds an owner table from the addresses of
// partitions (the partition's model.Address list, as format announces it
// and the master returns it): each address is owned alone, whatever
// netmask it is written with ("2001:db8::5/64" owns 2001:db8::5/128, the
// netmask being the interface's). Add the partitions' IPv6 ranges to the
// result as whole prefixes. An address given to two partitions is an error
// naming both.
func OwnersFromAddresses(parts map[string][]model.Address) (map[netip.Prefix]string, error) {
	out := map[netip.Prefix]string{}
	for _, id := range slices.Sorted(maps.Keys(parts)) {
		for _, a := range parts[id] {
			s, _, _ := strings.Cut(strings.TrimSpace(a.Addr), "/")
			ip, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%w: partition %s: address %q (interface %q) is not an IP address", ErrOwners, id, a.Addr, a.Iface)
			}
			ip = ip.Unmap().WithZone("")
			p := netip.PrefixFrom(ip, ip.BitLen())
			if other, dup := out[p]; dup && other != id {
				return nil, fmt.Errorf("%w: address %s is announced by both %s and %s", ErrOwners, ip, other, id)
			}
			out[p] = id
		}
	}
	return out, nil
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/netacct"
)

// netAccounting is the daemon's per-partition traffic accounting (package
// netacct): one Counter fed by one capture per interface.
type netAccounting struct {
	mu       sync.Mutex
	counter  *netacct.Counter // nil until a format succeeded
	captures map[string]*netacct.Capture
	drops    map[*netacct.Capture]uint64 // drops already logged
}

// netCounter returns the traffic counter, nil before the first format.
func (a *Agent) netCounter() *netacct.Counter {
	a.net.mu.Lock()
	defer a.net.mu.Unlock()
	return a.net.counter
}

// setNetOwners keeps the counter's address → partition table in step with
// what format announced, making the counter at the first call. A table
// that cannot be built is logged and the previous one kept: accounting
// never fails a format.
func (a *Agent) setNetOwners(capacity api.CapacityRequest) {
	owners, err := netOwners(capacity)
	if err == nil {
		a.net.mu.Lock()
		if a.net.counter == nil {
			a.net.counter, err = netacct.NewCounter(owners)
		} else {
			err = a.net.counter.SetOwners(owners)
		}
		a.net.mu.Unlock()
	}
	if err != nil {
		a.log.Warn("network accounting: partition addresses not updated", "err", err)
	}
}

// netOwners is the owner table of the announced partitions: each address
// alone, each IPv6 range whole.
func netOwners(capacity api.CapacityRequest) (map[netip.Prefix]string, error) {
	addrs := make(map[string][]model.Address, len(capacity.Partitions))
	for _, p := range capacity.Partitions {
		addrs[p.ID] = append(addrs[p.ID], p.Addresses...)
	}
	owners, err := netacct.OwnersFromAddresses(addrs)
	if err != nil {
		return nil, err
	}
	for _, p := range capacity.Partitions {
		if p.IPv6Range == "" {
			continue
		}
		r, err := netip.ParsePrefix(p.IPv6Range)
		if err != nil || !r.Addr().Is6() {
			return nil, fmt.Errorf("agent: partition %s: IPv6 range %q: expected a prefix such as 2001:db8:0:0:4001::/80", p.ID, p.IPv6Range)
		}
		r = r.Masked()
		if other, dup := owners[r]; dup && other != p.ID {
			return nil, fmt.Errorf("agent: IPv6 range %s is announced by both %s and %s", r, other, p.ID)
		}
		owners[r] = p.ID
	}
	return owners, nil
}

// captureInterfaces are the interfaces the partitions' traffic crosses,
// each once: interface_name, ipv6_interface, and lo for traffic between
// partitions (netacct's caller's duty 1).
func captureInterfaces(cfg *config.Config) []string {
	var out []string
	for _, n := range []string{cfg.Format.InterfaceName, cfg.Format.IPv6Interface, "lo"} {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// capture counts the traffic of iface into the counter until ctx is done
// or the capture ends (the interface went away): core/agent's DutyCapture.
// It fails when the counter is not made yet (no format succeeded) or the
// interface cannot be opened (it does not exist yet); permanent when it
// never can (no permission).
func (a *Agent) capture(ctx context.Context, iface string) (permanent bool, err error) {
	c := a.netCounter()
	if c == nil {
		return false, errors.New("agent: network accounting: no partition address known yet")
	}
	cp, err := netacct.OpenCapture(iface, c, netacct.CaptureOptions{})
	if err != nil {
		return errors.Is(err, netacct.ErrPermission), err
	}
	a.log.Info("network accounting: capturing", "interface", iface, "offloads", cp.Stats().Offloads)
	a.net.mu.Lock()
	a.net.captures[iface] = cp
	a.net.mu.Unlock()
	err = cp.Run(ctx)
	a.logDrops(iface, cp)
	a.net.mu.Lock()
	delete(a.net.captures, iface)
	delete(a.net.drops, cp)
	a.net.mu.Unlock()
	if ctx.Err() != nil {
		return false, nil
	}
	if err == nil {
		err = errors.New("the capture ended")
	}
	return errors.Is(err, netacct.ErrPermission), err
}

// logDrops logs the frames a capture dropped since last logged: traffic
// that was not counted.
func (a *Agent) logDrops(iface string, cp *netacct.Capture) {
	st := cp.Stats()
	a.net.mu.Lock()
	last := a.net.drops[cp]
	if st.Drops > last {
		a.net.drops[cp] = st.Drops
	}
	a.net.mu.Unlock()
	if st.Drops > last {
		a.log.Warn("network accounting: capture dropped frames: traffic undercounted", "interface", iface,
			"dropped", st.Drops-last, "drops_total", st.Drops, "frames", st.Frames)
	}
}

// logCaptureDrops logs the new drops of every running capture.
func (a *Agent) logCaptureDrops() {
	a.net.mu.Lock()
	caps := maps.Clone(a.net.captures)
	a.net.mu.Unlock()
	for _, iface := range slices.Sorted(maps.Keys(caps)) {
		a.logDrops(iface, caps[iface])
	}
}

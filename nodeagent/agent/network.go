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
	started  bool             // captures started (or accounting found off)
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

// startNetAccounting starts, once, a capture per interface in wg, each
// running until ctx is done. It waits for the counter (the first format
// that succeeds); without root it only says accounting is off.
func (a *Agent) startNetAccounting(ctx context.Context, wg *sync.WaitGroup) {
	a.net.mu.Lock()
	defer a.net.mu.Unlock()
	if a.net.started {
		return
	}
	if !a.privileged {
		a.net.started = true
		a.log.Info("network accounting off: needs root")
		return
	}
	c := a.net.counter
	if c == nil {
		return
	}
	a.net.started = true
	a.net.captures = map[string]*netacct.Capture{}
	a.net.drops = map[*netacct.Capture]uint64{}
	for _, iface := range captureInterfaces(&a.cfg) {
		wg.Go(func() { a.capture(ctx, iface, c) })
	}
}

// capture counts the traffic of iface into c until ctx is done. A capture
// that cannot open (the interface does not exist yet) or that ends (the
// interface went away) is opened again, backing off from poll_interval to
// retry_max.
func (a *Agent) capture(ctx context.Context, iface string, c *netacct.Counter) {
	failures := 0
	for {
		cp, err := netacct.OpenCapture(iface, c, netacct.CaptureOptions{})
		if err == nil {
			a.log.Info("network accounting: capturing", "interface", iface, "offloads", cp.Stats().Offloads, "after_failures", failures)
			a.net.mu.Lock()
			a.net.captures[iface] = cp
			a.net.mu.Unlock()
			began := a.now()
			err = cp.Run(ctx)
			a.logDrops(iface, cp)
			a.net.mu.Lock()
			delete(a.net.captures, iface)
			delete(a.net.drops, cp)
			a.net.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				err = errors.New("the capture ended")
			}
			if a.now().Sub(began) >= a.cfg.Grid.PollInterval {
				failures = 0 // it ran: a new outage; one that ends at once backs off
			}
		}
		if errors.Is(err, netacct.ErrPermission) {
			a.log.Warn("network accounting off: needs root", "interface", iface, "err", err)
			return
		}
		failures++
		next := a.retryDelay(failures)
		a.log.Warn("network accounting: interface not captured: traffic crossing it is not counted until it is", "interface", iface, "retry_in", next, "err", err)
		if !a.sleep(ctx, nil, a.jitter(next)) {
			return
		}
	}
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

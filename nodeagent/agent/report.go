package agent

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/slapgo/slapgo/nodeagent/format"
	"github.com/slapgo/slapgo/nodeagent/usage"
)

// usageDir is the usage spool: <instance_root>/.slapgo/usage.
func (a *Agent) usageDir() string { return filepath.Join(a.cfg.InstanceRoot, StateDir, "usage") }

func (a *Agent) reporter() (*usage.Reporter, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rep == nil {
		r, err := usage.NewReporter(a.usageDir(), a.cfg.ComputerID, a.now(), a.log)
		if err != nil {
			return nil, err
		}
		a.rep = r
	}
	return a.rep, nil
}

// usagePartitions are the formatted partitions.
func (a *Agent) usagePartitions() []usage.Partition {
	layout := format.Layout(&a.cfg)
	out := make([]usage.Partition, len(layout))
	for i, p := range layout {
		out[i] = usage.Partition{ID: p.ID, Dir: p.Dir}
	}
	return out
}

// SampleUsage measures the partitions' processes (and, with disk, their
// directories) into the usage meter, adds the network traffic counted
// since the last sample, and saves the meter.
func (a *Agent) SampleUsage(disk bool) error {
	a.usageMu.Lock()
	defer a.usageMu.Unlock()
	return a.sampleUsage(disk)
}

func (a *Agent) sampleUsage(disk bool) error {
	rep, err := a.reporter()
	if err != nil {
		return err
	}
	parts := a.usagePartitions()
	now := a.now()
	ms, err := usage.Measure(parts, a.sup.ExitedCPU)
	if err != nil {
		return err
	}
	rep.Meter.Sample(now, ms)
	if disk {
		sizes := make(map[string]int64, len(parts))
		for _, p := range parts {
			n, err := usage.DiskUsage(p.Dir)
			if err != nil {
				a.log.Warn("disk usage not measured", "partition", p.ID, "err", err)
				continue
			}
			sizes[p.ID] = n
		}
		rep.Meter.SampleDisk(now, sizes)
	}
	if c := a.netCounter(); c != nil {
		rep.Meter.AddNetwork(c.EndPeriod())
		a.logCaptureDrops()
	}
	return rep.Meter.Save()
}

// ReportPass closes the usage period in a journal (CloseUsage) and posts
// every pending journal (FlushUsage): `slapgo node report`.
func (a *Agent) ReportPass(ctx context.Context) (usage.Result, error) {
	res, err := a.CloseUsage()
	if err != nil {
		return res, err
	}
	res.Sent, res.Pending, err = a.FlushUsage(ctx)
	return res, err
}

// CloseUsage samples usage one last time, disks included, and closes the
// usage period in a journal spooled on disk (core/agent's DutyJournal).
func (a *Agent) CloseUsage() (usage.Result, error) {
	a.usageMu.Lock()
	defer a.usageMu.Unlock()
	if err := a.sampleUsage(true); err != nil {
		return usage.Result{}, err
	}
	rep, err := a.reporter()
	if err != nil {
		return usage.Result{}, err
	}
	res, err := rep.Close(a.now(), a.usagePartitions())
	if err != nil {
		return res, fmt.Errorf("agent: usage report: %w", err)
	}
	return res, nil
}

// FlushUsage posts the journals pending, oldest first (core/agent's
// DutyDeliver), and says which were accepted and which still wait.
func (a *Agent) FlushUsage(ctx context.Context) (sent, pending []string, err error) {
	a.usageMu.Lock()
	defer a.usageMu.Unlock()
	rep, err := a.reporter()
	if err != nil {
		return nil, nil, err
	}
	sent, pending, err = rep.Flush(ctx, func(ctx context.Context, journal []byte) error {
		_, err := a.client.PostUsage(ctx, a.cfg.ComputerID, journal)
		return err
	})
	if err != nil {
		return sent, pending, fmt.Errorf("agent: usage report: %w", err)
	}
	return sent, pending, nil
}

// Format formats the computer (see package format), updates the network
// accounting's address → partition table from what it formatted, and
// announces the capacity to the master.
func (a *Agent) Format(ctx context.Context) (format.Result, error) {
	res, err := format.Run(ctx, &a.cfg, format.Options{Unprivileged: !a.privileged})
	if err != nil {
		return res, err
	}
	a.setNetOwners(res.Capacity)
	if err := a.client.SetCapacity(ctx, a.cfg.ComputerID, res.Capacity); err != nil {
		return res, fmt.Errorf("agent: announcing the capacity of %s: %w", a.cfg.ComputerID, err)
	}
	return res, nil
}

package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/master/api"
)

// StormResult measures a reconfiguration storm.
type StormResult struct {
	Partitions int           // partitions reconfigured (configure + start)
	Requests   time.Duration // time to send the changes to the master
	Total      time.Duration // the instance pass that applied them
	// Per-partition time (its configure plus its start), percentiles.
	P50, P99, Max time.Duration
	Failed        int // actions that failed
}

func (r StormResult) String() string {
	return fmt.Sprintf("%d partitions in %s (p50 %s, p99 %s, max %s per partition; %d failed; changes sent in %s)",
		r.Partitions, r.Total.Round(time.Millisecond), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond),
		r.Max.Round(time.Microsecond), r.Failed, r.Requests.Round(time.Millisecond))
}

// RunStorm drives a reconfiguration storm: it re-requests every instance of
// reqs through person after change modified it (a new parameter value, say),
// then runs one instance pass of a, which reconfigures the changed
// partitions one at a time and restarts their programs. It measures the
// pass and each partition's configure + start.
//
// The caller sets up the master, the supply and the first deployment of
// the instances (an instance pass), and stops the programs afterwards.
func RunStorm(ctx context.Context, a *Agent, person *api.Client, reqs []api.InstanceRequest, change func(i int, r *api.InstanceRequest)) (StormResult, error) {
	var res StormResult
	began := a.now()
	for i := range reqs {
		change(i, &reqs[i])
		if _, err := person.Request(ctx, reqs[i]); err != nil {
			return res, fmt.Errorf("agent: storm: re-requesting %q: %w", reqs[i].Title, err)
		}
	}
	res.Requests = a.now().Sub(began)
	began = a.now()
	pass, err := a.InstancePass(ctx)
	res.Total = a.now().Sub(began)
	if err != nil {
		return res, err
	}
	per := map[string]time.Duration{}
	for _, r := range pass.Results {
		if r.Err != nil {
			res.Failed++
		}
		if r.Action.Kind == converge.ConfigurePartition || r.Action.Kind == converge.StartPartition {
			per[r.Action.PartitionID] += r.Duration
		}
	}
	ds := make([]time.Duration, 0, len(per))
	for _, d := range per {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	res.Partitions = len(ds)
	if len(ds) > 0 {
		res.P50 = ds[len(ds)/2]
		res.P99 = ds[min(len(ds)-1, len(ds)*99/100)]
		res.Max = ds[len(ds)-1]
	}
	return res, nil
}

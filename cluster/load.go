package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/slapgo/slapgo/master/api"
)

// LoadSpec is a request load on the master: Workers goroutines, each
// sending Request(worker, i) for i = 0, 1, … with Pause between two, and
// a read of the instance list every ReadEvery requests (0: never).
type LoadSpec struct {
	Workers   int
	Pause     time.Duration
	ReadEvery int
	Request   func(worker, i int) api.InstanceRequest
}

// Ack is a request the master acknowledged (answered 200 or 202).
type Ack struct {
	Title   string
	GUID    string
	Status  string // allocated, pending
	At      time.Time
	Latency time.Duration
}

// Failure is a call the master did not acknowledge.
type Failure struct {
	At  time.Time
	Err string
}

// LoadReport is what a load saw.
type LoadReport struct {
	Duration time.Duration
	Requests int // instance requests sent
	Reads    int // instance lists read
	Acked    []Ack
	Failures []Failure
	// Latencies of the acknowledged requests.
	P50, P99, Max time.Duration
}

func (r LoadReport) String() string {
	return fmt.Sprintf("%d requests and %d reads in %v: %d acknowledged, %d failed; latency p50 %v, p99 %v, max %v",
		r.Requests, r.Reads, r.Duration.Round(time.Millisecond), len(r.Acked), len(r.Failures),
		r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
}

// Load is a running load; Stop ends it.
type Load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  time.Time

	mu     sync.Mutex
	report LoadReport
}

// StartLoad starts a load on the master through cl.
func StartLoad(ctx context.Context, cl *api.Client, spec LoadSpec) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, start: time.Now()}
	for w := range max(spec.Workers, 1) {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				if spec.ReadEvery > 0 && i%spec.ReadEvery == spec.ReadEvery-1 {
					_, err := cl.Instances(ctx)
					l.record(ctx, "", nil, err, 0)
				}
				req := spec.Request(w, i)
				t0 := time.Now()
				inst, err := cl.Request(ctx, req)
				l.record(ctx, req.Title, &inst, err, time.Since(t0))
				select {
				case <-ctx.Done():
				case <-time.After(spec.Pause):
				}
			}
		})
	}
	return l
}

func (l *Load) record(ctx context.Context, title string, inst *api.Instance, err error, latency time.Duration) {
	if ctx.Err() != nil {
		return // interrupted by Stop: neither acknowledged nor refused
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if inst == nil {
		l.report.Reads++
	} else {
		l.report.Requests++
	}
	switch {
	case err != nil:
		l.report.Failures = append(l.report.Failures, Failure{At: time.Now(), Err: err.Error()})
	case inst != nil:
		l.report.Acked = append(l.report.Acked, Ack{Title: title, GUID: inst.GUID, Status: inst.Status, At: time.Now(), Latency: latency})
	}
}

// Report is what the load saw so far.
func (l *Load) Report() LoadReport {
	l.mu.Lock()
	r := l.report
	r.Acked = slices.Clone(r.Acked)
	r.Failures = slices.Clone(r.Failures)
	l.mu.Unlock()
	r.Duration = time.Since(l.start)
	lat := make([]time.Duration, len(r.Acked))
	for i, a := range r.Acked {
		lat[i] = a.Latency
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		r.P50, r.P99, r.Max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return r
}

// Stop ends the load, waits for its workers and returns its report.
func (l *Load) Stop() LoadReport {
	l.cancel()
	l.wg.Wait()
	return l.Report()
}

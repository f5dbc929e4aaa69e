package server

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// metrics are the master's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg              *prometheus.Registry
	requests         *prometheus.CounterVec
	latency          *prometheus.HistogramVec
	instanceRequests *prometheus.CounterVec
	pendingAnswers   *prometheus.CounterVec
	placed           prometheus.Counter
	commitBatches    prometheus.Histogram
	commitSeconds    prometheus.Histogram
	leading          prometheus.Gauge
	followed         prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		leading: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slapgo_master_leading",
			Help: "1 when this master applies commands (always on SQLite), 0 while it follows the leader on PostgreSQL.",
		}),
		followed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slapgo_master_followed_commit",
			Help: "The last commit of the PostgreSQL mutation log a follower applied.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slapgo_master_http_requests_total",
			Help: "HTTP requests answered, by route pattern and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slapgo_master_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (commit included), by route pattern.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		instanceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slapgo_master_instance_requests_total",
			Help: "Instance requests answered, by outcome: allocated, pending or destroyed.",
		}, []string{"outcome"}),
		pendingAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slapgo_master_instance_requests_pending_total",
			Help: "Instance requests answered pending, by reason (allocator filter that rejected computers).",
		}, []string{"reason"}),
		placed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slapgo_master_pending_placed_total",
			Help: "Pending requests placed later, when capacity changed or a computer came back.",
		}),
		commitBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slapgo_master_commit_batch_size",
			Help:    "Commands written per database transaction (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512},
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "slapgo_master_commit_duration_seconds",
			Help:    "Time to write and sync one database transaction.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.instanceRequests, m.pendingAnswers, m.placed,
		m.commitBatches, m.commitSeconds, m.leading, m.followed,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observeCommit(batches int, took time.Duration) {
	m.commitBatches.Observe(float64(batches))
	m.commitSeconds.Observe(took.Seconds())
}

// observeResult counts what a command's result says about allocations.
func (m *metrics) observeResult(cmd master.Command, res master.Result) {
	if res.Placed > 0 {
		m.placed.Add(float64(res.Placed))
	}
	if _, ok := cmd.(master.Request); !ok || res.Instance == nil {
		return
	}
	m.instanceRequests.WithLabelValues(res.Instance.Status).Inc()
	if res.Instance.Status == master.StatusPending {
		for _, r := range reasonLabels(res.Instance.PendingReason) {
			m.pendingAnswers.WithLabelValues(r).Inc()
		}
	}
}

// reasonLabels turns a pending reason into a few stable label values: the
// allocator filters that rejected computers ("region", "free_partition"),
// or the kind of reason core/master gave for shared and pinned requests.
func reasonLabels(reason string) []string {
	switch {
	case reason == "":
		return []string{"none"}
	case reason == "no computer registered":
		return []string{"no_computer"}
	case strings.HasPrefix(reason, model.SLAComputerGUID+"="):
		return []string{model.SLAComputerGUID}
	case strings.HasPrefix(reason, model.SLAInstanceGUID+"="):
		return []string{model.SLAInstanceGUID}
	case strings.HasPrefix(reason, "no started instance of"):
		return []string{"no_host"}
	case strings.Contains(reason, "is being destroyed"):
		return []string{"host_destroyed"}
	}
	head, list, ok := strings.Cut(reason, ": ")
	if !ok || !(strings.HasSuffix(head, " computer") || strings.HasSuffix(head, " computers")) {
		return []string{"other"}
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(list, ", ") {
		// "3 region!=jp": drop the count.
		_, r, _ := strings.Cut(part, " ")
		f := alloc.ReasonFilter(r)
		if f == "" {
			f = "other"
		}
		seen[f] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// Last-contact age buckets of the computers gauge, in order.
var contactBuckets = []struct {
	label string
	below time.Duration
}{
	{"1m", time.Minute}, {"5m", 5 * time.Minute}, {"1h", time.Hour}, {"24h", 24 * time.Hour},
}

// stateCollector reads gauges from the state at scrape time.
type stateCollector struct {
	s          *Server
	partitions *prometheus.Desc
	pending    *prometheus.Desc
	pendingAll *prometheus.Desc
	computers  *prometheus.Desc
	storeOK    *prometheus.Desc
}

func newStateCollector(s *Server) *stateCollector {
	return &stateCollector{
		s: s,
		partitions: prometheus.NewDesc("slapgo_master_partitions",
			"Partitions of every computer, by status (free, busy).", []string{"status"}, nil),
		pending: prometheus.NewDesc("slapgo_master_pending_requests",
			"Requests waiting for a home, by reason (a request may count under several).", []string{"reason"}, nil),
		pendingAll: prometheus.NewDesc("slapgo_master_pending_requests_count",
			"Requests waiting for a home.", nil, nil),
		computers: prometheus.NewDesc("slapgo_master_computers",
			"Computers by age of their last contact: le=1m, 5m, 1h, 24h, +Inf, or never.", []string{"last_contact"}, nil),
		storeOK: prometheus.NewDesc("slapgo_master_store_up",
			"1 while the database accepts writes, 0 after a write failed (restart the master).", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.partitions
	ch <- c.pending
	ch <- c.pendingAll
	ch <- c.computers
	ch <- c.storeOK
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.now()
	reasons := map[string]int{}
	ages := map[string]int{"never": 0, "+Inf": 0}
	for _, b := range contactBuckets {
		ages[b.label] = 0
	}
	c.s.mu.Lock()
	free, busy := c.s.state.Capacity()
	pending := c.s.state.Pending()
	for _, p := range pending {
		for _, r := range reasonLabels(p.Reason) {
			reasons[r]++
		}
	}
	for _, comp := range c.s.state.Computers(model.Admin) {
		if comp.LastContact.IsZero() {
			ages["never"]++
			continue
		}
		age, label := now.Sub(comp.LastContact), "+Inf"
		for _, b := range contactBuckets {
			if age < b.below {
				label = b.label
				break
			}
		}
		ages[label]++
	}
	c.s.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.partitions, prometheus.GaugeValue, float64(free), "free")
	ch <- prometheus.MustNewConstMetric(c.partitions, prometheus.GaugeValue, float64(busy), "busy")
	for _, r := range slices.Sorted(maps.Keys(reasons)) {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(reasons[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(c.pendingAll, prometheus.GaugeValue, float64(len(pending)))
	for _, a := range slices.Sorted(maps.Keys(ages)) {
		ch <- prometheus.MustNewConstMetric(c.computers, prometheus.GaugeValue, float64(ages[a]), a)
	}
	up := 1.0
	if c.s.store.Err() != nil {
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(c.storeOK, prometheus.GaugeValue, up)
}

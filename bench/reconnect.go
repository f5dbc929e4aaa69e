package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/master/api"
)

// ReconnectTarget is the reconnect storm's target (issue: 10,000 nodes,
// each with its own certificate, all connecting within seconds after a
// master restart, all served within 30 s, on 2 cores with the load
// generator on the same machine).
const (
	ReconnectTarget      = 30 * time.Second
	ReconnectTargetNodes = 10_000
)

// A node retries a failed poll of the storm after reconnectRetry, doubling
// at each failure up to reconnectRetryMax, each delay drawn between half
// and one and a half of it, so that nodes that failed together (a
// handshake deadline expiring for all the connections of one moment) do
// not come back together.
const (
	reconnectRetry    = time.Second
	reconnectRetryMax = 8 * time.Second
)

// reconnectDelay is the pause after the failures-th failed poll in a row,
// u drawn uniformly from [0, 1).
func reconnectDelay(failures int, u float64) time.Duration {
	d := agent.Backoff(failures, reconnectRetry, reconnectRetryMax)
	return time.Duration(float64(d) * (0.5 + u))
}

// ReconnectStorm is the outcome of a reconnect storm: every node polls its
// view once, on a new connection, at a random moment of the Within seconds
// after the master came back.
type ReconnectStorm struct {
	Nodes  int           `json:"nodes"`
	Within time.Duration `json:"within_ns"`
	// Cold: the nodes had no ETag (every answer is a full view), as nodes
	// that restarted too; otherwise they poll with the ETag they had.
	Cold bool `json:"cold"`
	// NoResume: the nodes made a full TLS handshake even where they could
	// have resumed their session.
	NoResume bool `json:"no_resume,omitempty"`
	// Handshakes counts the TLS handshakes of the storm, Resumed those
	// that resumed a session.
	Handshakes int64 `json:"tls_handshakes"`
	Resumed    int64 `json:"tls_resumed"`
	// Restarted: the master was stopped (SIGTERM) and served again on the
	// same address, and Restart is how long that took (stop to
	// listening); otherwise only the connections were dropped (a network
	// cut: the nodes may resume their TLS sessions).
	Restarted bool          `json:"restarted"`
	Restart   time.Duration `json:"restart_ns"`
	// Served nodes got their view (200 or 304) within Timeout; Failed did
	// not. Retries counts failed polls tried again (see reconnectDelay).
	Served     int    `json:"served"`
	Failed     int    `json:"failed"`
	Retries    int64  `json:"retries"`
	FirstError string `json:"first_error,omitempty"`
	Full       int64  `json:"full"`
	// AllServed runs from the storm's start to the last node served (0
	// when some were not).
	AllServed time.Duration `json:"all_served_ns"`
	// Latency is each node's time from its due moment to its view.
	Latency Latency `json:"latency"`
	// Timeline counts the nodes served by the end of each second of the
	// storm.
	Timeline []int `json:"served_by_second"`
	// The master's CPU time over the storm (and in cores), its peak RSS
	// (VmHWM of the process serving the storm), and the load generator's
	// CPU in cores.
	MasterMeasured bool          `json:"master_measured"`
	MasterCPU      time.Duration `json:"master_cpu_ns"`
	MasterCores    float64       `json:"master_cores"`
	MasterPeakRSS  int64         `json:"master_peak_rss_bytes"`
	LoadgenCores   float64       `json:"loadgen_cores"`
	Timeout        time.Duration `json:"timeout_ns"`
}

// runReconnectStorm primes every node (one poll each, to hold its ETag
// and a session), restarts the master when it was started here (else
// drops the connections), then has every node poll once at a random
// moment of cfg.StormWithin, retrying a failed poll after reconnectDelay
// until cfg.StormTimeout after the storm's start.
func runReconnectStorm(ctx context.Context, cfg PollConfig, mp *MasterProcess, url string, adminTLS *tls.Config, grid pollGrid, progress func(string, ...any)) (ReconnectStorm, error) {
	out := ReconnectStorm{Nodes: len(grid.computers), Within: cfg.StormWithin, Cold: cfg.StormCold, NoResume: cfg.StormNoResume, Timeout: cfg.StormTimeout}
	type node struct {
		id     string
		client *api.Client
		etag   string
	}
	nodes := make([]*node, len(grid.computers))
	// Handshakes made during the storm, and how many resumed a session.
	var counting atomic.Bool
	var handshakes, resumed atomic.Int64
	countHandshake := func(cs tls.ConnectionState) error {
		if counting.Load() {
			handshakes.Add(1)
			if cs.DidResume {
				resumed.Add(1)
			}
		}
		return nil
	}
	for i, c := range grid.computers {
		t := adminTLS.Clone()
		t.VerifyConnection = countHandshake
		t.Certificates = []tls.Certificate{*c.cert}
		t.ClientSessionCache = nil // each node its own, as the node agent's client
		t.SessionTicketsDisabled = cfg.StormNoResume
		cl, err := api.NewClientTLS(url, t)
		if err != nil {
			return out, err
		}
		nodes[i] = &node{id: c.id, client: cl}
	}
	defer func() {
		for _, n := range nodes {
			n.client.HTTP.CloseIdleConnections()
		}
	}()
	// Prime: every node has polled once (it holds its ETag and a TLS
	// session), a few at a time.
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, cfg.SetupWorkers)
	for range cfg.SetupWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(nodes) || ctx.Err() != nil {
					return
				}
				n := nodes[i]
				_, etag, _, err := n.client.ComputerView(ctx, n.id, "")
				if err != nil {
					errs <- fmt.Errorf("bench: priming %s: %w", n.id, err)
					next.Store(int64(len(nodes)))
					return
				}
				if !cfg.StormCold {
					n.etag = etag
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return out, err
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	progress("reconnect storm: %d nodes primed", len(nodes))
	if mp != nil && !cfg.StormCut {
		stop := time.Now()
		if err := mp.Restart(ctx); err != nil {
			return out, err
		}
		out.Restarted, out.Restart = true, mp.Ready.Sub(stop)
		progress("reconnect storm: master restarted in %s (pid %d)", roundDuration(out.Restart), mp.PID)
	}
	for _, n := range nodes { // a network cut: every connection is gone
		n.client.HTTP.CloseIdleConnections()
	}
	pid := cfg.MasterPID
	if mp != nil {
		pid = mp.PID
	}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x73746f72))
	counting.Store(true)
	t0 := time.Now()
	deadline := t0.Add(cfg.StormTimeout)
	m0, merr := sampleIf(pid)
	l0, _ := SampleProc(os.Getpid())
	var lat Histogram
	var retries, full, served atomic.Int64
	var firstErr atomic.Pointer[string]
	servedAt := make([]time.Duration, len(nodes)) // from t0; 0: not served
	stormCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for i, n := range nodes {
		due := t0.Add(time.Duration(r.Float64() * float64(cfg.StormWithin)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if sleepCtx(stormCtx, time.Until(due)) != nil {
				return
			}
			for failures := 1; ; failures++ {
				_, _, notModified, err := n.client.ComputerView(stormCtx, n.id, n.etag)
				done := time.Now()
				if err == nil {
					lat.Record(done.Sub(due))
					servedAt[i] = done.Sub(t0)
					served.Add(1)
					if !notModified {
						full.Add(1)
					}
					return
				}
				if stormCtx.Err() != nil {
					return
				}
				retries.Add(1)
				msg := err.Error()
				firstErr.CompareAndSwap(nil, &msg)
				if sleepCtx(stormCtx, reconnectDelay(failures, rand.Float64())) != nil {
					return
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
wait:
	for {
		select {
		case <-finished:
			break wait
		case <-tick.C:
			progress("reconnect storm: %d/%d nodes served after %s, %d retries", served.Load(), len(nodes), roundDuration(time.Since(t0)), retries.Load())
		}
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	m1, merr1 := sampleIf(pid)
	l1, _ := SampleProc(os.Getpid())
	if mp != nil {
		if err := mp.Exited(); err != nil {
			return out, err
		}
	}
	out.Served, out.Failed = int(served.Load()), len(nodes)-int(served.Load())
	out.Retries, out.Full = retries.Load(), full.Load()
	out.Handshakes, out.Resumed = handshakes.Load(), resumed.Load()
	if p := firstErr.Load(); p != nil {
		out.FirstError = *p
	}
	out.Latency = lat.Summary()
	var last time.Duration
	for _, at := range servedAt {
		last = max(last, at)
	}
	if out.Failed == 0 {
		out.AllServed = last
	}
	out.Timeline = servedTimeline(servedAt, last)
	if merr == nil && merr1 == nil {
		out.MasterMeasured = true
		out.MasterCPU = m1.CPU - m0.CPU
		out.MasterCores = CPUCores(m0, m1)
		out.MasterPeakRSS = m1.PeakRSS
	}
	out.LoadgenCores = CPUCores(l0, l1)
	progress("reconnect storm: %d/%d nodes served, all by %s, p99 %s, master %s CPU (%s cores), peak RSS %s",
		out.Served, out.Nodes, roundDuration(last), formatDuration(out.Latency.P99), roundDuration(out.MasterCPU),
		formatNumber(out.MasterCores), formatBytes(float64(out.MasterPeakRSS)))
	return out, nil
}

// servedTimeline counts, for each second up to last, the nodes served by
// its end (times from the storm's start; 0: not served).
func servedTimeline(servedAt []time.Duration, last time.Duration) []int {
	secs := int(math.Ceil(last.Seconds()))
	tl := make([]int, secs)
	for _, at := range servedAt {
		if at <= 0 {
			continue
		}
		for s := int(at / time.Second); s < secs; s++ {
			tl[s]++
		}
	}
	return tl
}

// stormSection lays out a reconnect storm's figures and tables.
func (r PollResult) stormSection(s Section) Section {
	st := r.Storm
	s.Title = "the master under a reconnect storm (every node's first poll at once)"
	arrival := fmt.Sprintf("%s nodes, each its own certificate and connection, arriving within %s", formatNumber(float64(st.Nodes)), formatInterval(st.Within))
	if st.Restarted {
		arrival += " after a master restart"
	} else {
		arrival += " after their connections dropped (the master not restarted)"
	}
	if st.Cold {
		arrival += "; no ETag: full views"
	} else {
		arrival += "; with their ETag"
	}
	if st.NoResume {
		arrival += "; TLS session resumption off"
	}
	conds := []Condition{
		condAtLeast("nodes", ReconnectTargetNodes, float64(st.Nodes), countText),
		{Name: "identity", Want: "own certificate per computer", Got: "own certificate per computer", Met: true},
		{Name: "master", Want: "restarted", Got: map[bool]string{true: "restarted", false: "not restarted"}[st.Restarted], Met: st.Restarted},
	}
	all := math.NaN()
	if st.Failed == 0 {
		all = st.AllServed.Seconds()
	}
	target := AtMost(ReconnectTarget.Seconds(), UnitSeconds)
	s.Figures = append(s.Figures,
		JudgedFigure("reconnect storm: every node has its view", all, UnitSeconds, &target, conds, quiet, arrival),
		NewFigure("reconnect storm: nodes served", float64(st.Served), UnitNodes, nil, fmt.Sprintf("of %s within %s (%d retries)", formatNumber(float64(st.Nodes)), formatInterval(st.Timeout), st.Retries)),
		NewFigure("reconnect storm: TLS sessions resumed", float64(st.Resumed), "", nil, fmt.Sprintf("of %s handshakes", formatNumber(float64(st.Handshakes)))),
		NewFigure("reconnect storm: time to view p50", st.Latency.P50.Seconds(), UnitSeconds, nil, "from each node's arrival to its view"),
		NewFigure("reconnect storm: time to view p99", st.Latency.P99.Seconds(), UnitSeconds, nil, "from each node's arrival to its view"),
	)
	if st.MasterMeasured {
		s.Figures = append(s.Figures,
			NewFigure("reconnect storm: master CPU", st.MasterCPU.Seconds(), UnitSeconds, nil, fmt.Sprintf("%s cores on average; the load generator %s cores", formatNumber(st.MasterCores), formatNumber(st.LoadgenCores))),
			NewFigure("reconnect storm: master peak RSS", float64(st.MasterPeakRSS), UnitBytes, nil, fmt.Sprintf("%s partitions, %s instances", formatNumber(float64(r.Setup.Partitions)), formatNumber(float64(r.Setup.Instances)))))
	}
	if st.Restarted {
		s.Figures = append(s.Figures, NewFigure("master restart (SIGTERM to listening)", st.Restart.Seconds(), UnitSeconds, nil, "state loaded from the database"))
	}
	tl := Table{Title: "nodes served by the end of each second of the storm", Columns: []string{"second", "served", "share"}}
	for i, n := range st.Timeline {
		if i < 10 || i%5 == 4 || i == len(st.Timeline)-1 {
			tl.Rows = append(tl.Rows, []string{fmt.Sprint(i + 1), formatNumber(float64(n)), formatPercent(float64(n) / float64(max(st.Nodes, 1)))})
		}
	}
	s.Tables = append(s.Tables, tl)
	s.Tables = append(s.Tables, setupTable(r))
	if st.FirstError != "" {
		s.Notes = append(s.Notes, fmt.Sprintf("first error (then retried after %s, doubling up to %s, ±50%%): %s", reconnectRetry, reconnectRetryMax, st.FirstError))
	}
	s.Notes = append(s.Notes,
		"each node is the node agent's own API client (master/api), with its own certificate, connection and TLS session cache; the master keeps its session-ticket keys in its data directory, so nodes resume their sessions after a restart as after a cut (--storm-no-resume: full handshakes)",
		"the load generator runs on the same machine as the master and shares its cores")
	return s
}

// reconnectCommandFlags are the storm's flags in a command line.
func reconnectCommandFlags(c PollConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, " --reconnect-storm --storm-within %s --storm-timeout %s", formatInterval(c.StormWithin), formatInterval(c.StormTimeout))
	if c.StormCold {
		b.WriteString(" --storm-cold")
	}
	if c.StormCut {
		b.WriteString(" --storm-cut")
	}
	if c.StormNoResume {
		b.WriteString(" --storm-no-resume")
	}
	return b.String()
}

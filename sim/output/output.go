package output

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/slapgo/slapgo/sim"
)

// File names written in a run directory.
const (
	SeriesFile  = "timeseries.csv"
	SummaryFile = "summary.json"
)

// WriteRun writes timeseries.csv, summary.json and the plots into dir and
// returns the paths written.
func WriteRun(dir string, res *sim.Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	var files []string
	p := filepath.Join(dir, SeriesFile)
	if err := writeFile(p, func(w io.Writer) error { return WriteSeries(w, res.Series) }); err != nil {
		return files, err
	}
	files = append(files, p)
	p = filepath.Join(dir, SummaryFile)
	if err := writeFile(p, func(w io.Writer) error { return WriteSummaryJSON(w, &res.Summary) }); err != nil {
		return files, err
	}
	files = append(files, p)
	plots, err := WriteFigures(dir, res)
	return append(files, plots...), err
}

func writeFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("output: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	return nil
}

// WriteSeries writes the time series as CSV with a header row.
func WriteSeries(w io.Writer, series []sim.Sample) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(sim.SeriesColumns); err != nil {
		return err
	}
	rec := make([]string, len(sim.SeriesColumns))
	for _, x := range series {
		for i, v := range x.Row() {
			rec[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSummaryJSON writes the summary, indented.
func WriteSummaryJSON(w io.Writer, s *sim.Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// PrintSummary writes the summary for people.
func PrintSummary(w io.Writer, s *sim.Summary) {
	fmt.Fprintf(w, "scenario %s, seed %d: %s simulated (%s), %d events, %d nodes, %d partitions\n",
		s.Scenario, s.Seed, s.SimulatedTo, s.Virtual, s.Events, s.Nodes, s.Partitions)
	pl := &s.Placements
	fmt.Fprintf(w, "placements: %d instances at the start; %d requests, %d placed (%d at once), %d pending at the end (%d of requesters), %d abandoned, %d refused by budget, %d lost to outages; %d lifetimes ended; %d instances placed in all\n",
		pl.Initial, pl.Demands, pl.Placed, pl.PlacedAtOnce, pl.PendingAtEnd, pl.HonestPendingEnd, pl.Abandoned, pl.RejectedBudget, pl.RejectedOutage, pl.Completed, pl.Instances)
	fmt.Fprintf(w, "  pending time: %s\n", fmtStats(pl.PendingTime))
	fmt.Fprintf(w, "  time to service (request to running): %s\n", fmtStats(pl.ServiceTime))
	for _, r := range []string{"own", "pool", "resale"} {
		if st, ok := pl.ServiceByRoute[r]; ok {
			fmt.Fprintf(w, "    via %s: %s\n", r, fmtStats(st))
		}
	}
	if len(pl.ServiceBySW) > 1 {
		for _, u := range slices.Sorted(maps.Keys(pl.ServiceBySW)) {
			fmt.Fprintf(w, "    for %s: %s\n", u, fmtStats(pl.ServiceBySW[u]))
		}
	}
	fmt.Fprintf(w, "  parameter changes %d, storm changes %d\n", pl.ParameterChanges, pl.StormChanges)
	a := &s.Agents
	fmt.Fprintf(w, "agents: %d polls, %d full views, %d plans, %d actions (%d failed), %d builds + %d cache hits (%d failed), %d crashes\n",
		a.Polls, a.FullViews, a.Plans, a.Actions, a.ActionFailures, a.Builds, a.CacheHits, a.BuildFailures, a.Crashes)
	fmt.Fprintf(w, "  %d connection parameter publications, %d promise state changes reported, %d destroyed partitions told again\n",
		a.Publications, a.PromiseReports, a.DestroyedReports)
	fmt.Fprintf(w, "  publications: %d kept for a later pass, %d dropped, %d refused; %d destruction reports refused\n",
		a.PublicationsKept, a.PublicationsDropped, a.PublicationsRefused, a.DestroyedRefused)
	fmt.Fprintf(w, "configuration queues: peak %d actions on the grid, peak %d on one node, mean %.1f\n",
		a.PeakConfigQueue, a.PeakNodeQueue, a.MeanConfigQueue)
	fmt.Fprintf(w, "master: %d commands (%d refused, %d lost in outages), peak queue %d, %d restarts from its store\n",
		s.Master.Commands, s.Master.Errors, s.Master.LostInOutages, s.Master.PeakQueue, s.Master.Restarts)
	if len(s.Convergence) > 0 || s.Crashes.Count > 0 {
		fmt.Fprintln(w, "time to converge:")
		for _, c := range s.Convergence {
			after := "not converged"
			if c.Converged {
				after = fmtSeconds(c.AfterS)
			}
			bound := ""
			if !c.WithinBound {
				bound = " (OUT OF BOUND)"
			}
			fmt.Fprintf(w, "  %-40s at %6.2fh, %4d nodes: %s%s\n", c.Event, c.At, c.Nodes, after, bound)
		}
		if s.Crashes.Count > 0 {
			fmt.Fprintf(w, "  %-40s %d crashes, %d converged after reboot: %s\n", "node crashes", s.Crashes.Count, s.Crashes.Converged, fmtStats(s.Crashes.After))
		}
	}
	e := &s.Economics
	fmt.Fprintf(w, "revenue: %.2f %s invoiced (hosting %.2f, accrued by the simulator %.2f), %d invoices\n",
		e.InvoicedTotal, e.Currency, e.InvoicedByRes["hosting"], e.HostingAccrued, e.Invoices)
	fmt.Fprintf(w, "utilisation: mean %.1f%%, peak %.1f%%, end %.1f%%\n", 100*e.UtilisationMean, 100*e.UtilisationPeak, 100*e.UtilisationEnd)
	if sp := s.Speculation; sp != nil {
		fmt.Fprintf(w, "speculation (provisioning delay %s): %d orders (%d sent, %d withdrawn), %d sold, %d released unsold, %.1f hoarded unit-hours, peak %d unsold, %.2f%% of busy partitions, profit %.2f (income %.2f, cost %.2f), aggressiveness %.2f at the end\n",
			sp.ProvisioningDelay, sp.Orders, sp.RequestsSent, sp.Cancelled, sp.Sales, sp.ReleasedUnsold, sp.HoardedUnitHours,
			sp.PeakUnsold, 100*sp.MeanShareOfBusy, sp.Profit, sp.Income, sp.Cost, sp.AggressivenessEnd)
	}
	if p := s.Preallocation; p != nil {
		fmt.Fprintf(w, "pre-allocation: %d handed over, %d misses, %d ordered, %d released, %.1f idle unit-hours (cost %.2f)\n",
			p.Handovers, p.Misses, p.Orders, p.Released, p.IdleUnitHours, p.IdleCost)
	}
	if o := &s.Objectives; o.NodeHours > 0 {
		fmt.Fprintf(w, "objectives (EUR): provider profit %.2f (revenue %.2f − capex %.2f − energy %.2f − idle %.2f − SLA penalties %.2f for %.1f partition-hours down)\n",
			o.ProviderProfit, o.ProviderRevenue, o.ProviderCapex, o.ProviderEnergy, o.ProviderIdle, o.SLAPenalties, o.DowntimeHours)
		fmt.Fprintf(w, "  requester welfare %.2f (value %.2f − paid %.2f − waiting %.2f − unserved %.2f), speculator profit %.2f, total surplus %.2f\n",
			o.RequesterWelfare, o.RequesterValue, o.RequesterPaid, o.WaitingCost, o.AbandonedCost, o.SpeculatorProfit, o.TotalSurplus)
		fmt.Fprintf(w, "  utilisation %.1f%%, time to service p50 %s p95 %s, abandoned share %.2f%% (%d priced out), mean price factor %.3f, %.0f computer-hours in service\n",
			100*o.Utilisation, fmtSeconds(o.ServiceP50), fmtSeconds(o.ServiceP95), 100*o.AbandonedShare, o.PricedOut, o.MeanPriceFactor, o.NodeHours)
	}
	inv := "all held"
	if s.Invariants.Violation != "" {
		inv = "VIOLATED: " + s.Invariants.Violation
	}
	fmt.Fprintf(w, "invariants: %d checks, %d full sweeps: %s\n", s.Invariants.Checks, s.Invariants.FullChecks, inv)
	fmt.Fprintf(w, "trace hash: %s (%d lines)\n", s.TraceHash, s.TraceLines)
	if pf := s.Performance; pf.WallSeconds > 0 {
		fmt.Fprintf(w, "speed: %.1fs wall, %.0f events/s, %.0fx real time\n", pf.WallSeconds, pf.EventsPerSecond, pf.VirtualToReal)
	}
}

func fmtStats(s sim.Stats) string {
	if s.Count == 0 {
		return "none"
	}
	return fmt.Sprintf("n=%d mean %s p50 %s p95 %s max %s", s.Count, fmtSeconds(s.Mean), fmtSeconds(s.P50), fmtSeconds(s.P95), fmtSeconds(s.Max))
}

func fmtSeconds(x float64) string {
	switch {
	case x < 1:
		return fmt.Sprintf("%.0fms", x*1000)
	case x < 120:
		return fmt.Sprintf("%.1fs", x)
	case x < 7200:
		return fmt.Sprintf("%.1fm", x/60)
	}
	return fmt.Sprintf("%.2fh", x/3600)
}

package usage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
)

// MaxReportSize bounds a var/xml_report file: larger ones are rejected.
const MaxReportSize = 1 << 20

// periodLayout names periods so that names sort in time order.
const periodLayout = "20060102T150405Z"

// PeriodName is the spool name of the period [start, stop).
func PeriodName(start, stop time.Time) string {
	return start.UTC().Format(periodLayout) + "_" + stop.UTC().Format(periodLayout)
}

// Reporter builds, spools and posts usage journals for one computer.
type Reporter struct {
	// Dir is the spool: <instance_root>/.slapgo/usage for the node agent.
	Dir        string
	ComputerID string
	Meter      *Meter
	Logger     *slog.Logger
}

// NewReporter opens the spool directory dir and its meter.
func NewReporter(dir, computerID string, now time.Time, logger *slog.Logger) (*Reporter, error) {
	for _, sub := range []string{"", "pending", "sent", "staging", "rejected"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("usage: %w", err)
		}
	}
	m, err := OpenMeter(filepath.Join(dir, "meter.json"), now)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Reporter{Dir: dir, ComputerID: computerID, Meter: m, Logger: logger}, nil
}

// Result tells what a Report did.
type Result struct {
	Period    string   // the journal written ("" if none)
	Movements int      // movements in it
	Rejected  []string // report files set aside, with why
	Sent      []string // journals the master accepted
	Pending   []string // journals still waiting
}

// Post sends a journal to the master. An error leaves the journal pending.
type Post func(ctx context.Context, journal []byte) error

// Close closes the period [Meter.PeriodStart(), now) for the partitions
// given: it collects their report files, adds the meter's movements and
// spools the journal in pending/ (steps 1 to 3 of doc.go), posting
// nothing.
func (r *Reporter) Close(now time.Time, parts []Partition) (Result, error) {
	now = now.UTC()
	var res Result
	if err := r.recover(); err != nil {
		return res, err
	}
	for _, p := range parts {
		if err := r.stage(p); err != nil {
			return res, err
		}
	}
	staged, rej, err := r.readStaging()
	res.Rejected = append(res.Rejected, rej...)
	if err != nil {
		return res, err
	}
	start := r.Meter.PeriodStart()
	if !now.After(start) {
		return res, fmt.Errorf("usage: the period starting %s has not ended at %s", start.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	per := r.Meter.Movements(now)
	for id, ms := range staged {
		per[id] = append(per[id], ms...)
	}
	j := account.BuildJournal(r.ComputerID, start, now, per, "")
	data, err := account.EncodeJournal(j)
	if err != nil {
		return res, fmt.Errorf("usage: building the journal of %s: %w", r.ComputerID, err)
	}
	period := PeriodName(start, now)
	r.Meter.mu.Lock()
	r.Meter.st.InFlight = period
	r.Meter.mu.Unlock()
	if err := r.Meter.Save(); err != nil {
		return res, err
	}
	if err := writeFileSync(filepath.Join(r.Dir, "pending", period+".xml"), data, 0o600); err != nil {
		return res, err
	}
	if err := r.commit(now); err != nil {
		return res, err
	}
	res.Period, res.Movements = period, len(j.Transactions[0].Movements)
	r.Logger.Info("usage journal spooled", "period", period, "movements", res.Movements)
	return res, nil
}

// recover finishes a Report interrupted after its journal was written.
func (r *Reporter) recover() error {
	r.Meter.mu.Lock()
	period := r.Meter.st.InFlight
	r.Meter.mu.Unlock()
	if period == "" {
		return nil
	}
	for _, d := range []string{"pending", "sent"} {
		if _, err := os.Stat(filepath.Join(r.Dir, d, period+".xml")); err == nil {
			_, stop, ok := strings.Cut(period, "_")
			at, perr := time.Parse(periodLayout, stop)
			if !ok || perr != nil {
				return fmt.Errorf("usage: meter.json names an unreadable period %q", period)
			}
			r.Logger.Warn("usage: finishing a report interrupted after its journal was written", "period", period)
			return r.commit(at)
		}
	}
	// The journal was never written: the staged files and the meter are
	// still to report.
	r.Meter.mu.Lock()
	r.Meter.st.InFlight = ""
	r.Meter.mu.Unlock()
	return nil
}

// commit ends a period whose journal is spooled.
func (r *Reporter) commit(now time.Time) error {
	r.Meter.mu.Lock()
	r.Meter.reset(now)
	r.Meter.mu.Unlock()
	if err := r.Meter.Save(); err != nil {
		return err
	}
	staging := filepath.Join(r.Dir, "staging")
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	return os.MkdirAll(staging, 0o700)
}

// stage moves a partition's report files into the spool's staging area.
func (r *Reporter) stage(p Partition) error {
	src := filepath.Join(p.Dir, "var", "xml_report")
	entries, err := os.ReadDir(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("usage: %s: %w", p.ID, err)
	}
	dst := filepath.Join(r.Dir, "staging", p.ID)
	moved := false
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".xml") {
			continue
		}
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return fmt.Errorf("usage: %w", err)
		}
		from := filepath.Join(src, e.Name())
		to := freeName(filepath.Join(dst, e.Name()))
		if err := os.Rename(from, to); err != nil {
			return fmt.Errorf("usage: staging %s: %w", from, err)
		}
		moved = true
	}
	if !moved {
		return nil
	}
	if err := syncDir(src); err != nil {
		return err
	}
	return syncDir(dst)
}

// freeName returns path, or path with "-N" before its extension if taken.
func freeName(path string) string {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return path
	}
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext)
	for n := 1; ; n++ {
		p := base + "-" + strconv.Itoa(n) + ext
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			return p
		}
	}
}

// readStaging decodes every staged report, per partition.
func (r *Reporter) readStaging() (map[string][]account.JournalMovement, []string, error) {
	out := map[string][]account.JournalMovement{}
	var rejected []string
	staging := filepath.Join(r.Dir, "staging")
	parts, err := os.ReadDir(staging)
	if err != nil {
		return nil, nil, fmt.Errorf("usage: %w", err)
	}
	for _, pd := range parts {
		if !pd.IsDir() {
			continue
		}
		id := pd.Name()
		files, err := os.ReadDir(filepath.Join(staging, id))
		if err != nil {
			return nil, nil, fmt.Errorf("usage: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(staging, id, f.Name())
			ms, why := readReport(path)
			if why != "" {
				to := freeName(filepath.Join(r.Dir, "rejected", id+"-"+f.Name()))
				os.Rename(path, to)
				os.WriteFile(to+".why", []byte(why+"\n"), 0o600)
				msg := fmt.Sprintf("%s/var/xml_report/%s: %s", id, f.Name(), why)
				r.Logger.Warn("usage: report file rejected", "partition", id, "file", f.Name(), "why", why, "kept", to)
				rejected = append(rejected, msg)
				continue
			}
			out[id] = append(out[id], ms...)
		}
	}
	return out, rejected, nil
}

func readReport(path string) ([]account.JournalMovement, string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err.Error()
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxReportSize+1))
	if err != nil {
		return nil, err.Error()
	}
	if len(data) > MaxReportSize {
		return nil, fmt.Sprintf("larger than %d bytes", MaxReportSize)
	}
	c, err := account.DecodeConsumption(data)
	if err != nil {
		return nil, err.Error()
	}
	return c.Movements, ""
}

// Pending lists the spooled journals not yet accepted, oldest first.
func (r *Reporter) Pending() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(r.Dir, "pending"))
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	var out []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".xml"); ok && e.Type().IsRegular() && name[0] != '.' {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Flush posts the pending journals, oldest first, and moves each accepted
// one to sent/. It stops at the first error, which it returns with what it
// sent and what is still pending.
func (r *Reporter) Flush(ctx context.Context, post Post) (sent, pending []string, err error) {
	names, err := r.Pending()
	if err != nil {
		return nil, nil, err
	}
	for i, name := range names {
		path := filepath.Join(r.Dir, "pending", name+".xml")
		data, rerr := os.ReadFile(path)
		if rerr != nil {
			return sent, names[i:], fmt.Errorf("usage: %w", rerr)
		}
		if perr := post(ctx, data); perr != nil {
			r.Logger.Warn("usage journal not accepted: kept pending", "period", name, "err", perr)
			return sent, names[i:], fmt.Errorf("usage: posting journal %s: %w", name, perr)
		}
		if merr := os.Rename(path, filepath.Join(r.Dir, "sent", name+".xml")); merr != nil {
			return sent, names[i:], fmt.Errorf("usage: %w", merr)
		}
		sent = append(sent, name)
		r.Logger.Info("usage journal accepted", "period", name)
	}
	return sent, nil, nil
}

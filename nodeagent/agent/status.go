package agent

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/format"
)

// Files under <instance_root>/.slapgo that `slapgo node status` reads.
const (
	// EventsFile: one ActionEvent per line, appended as actions start and
	// end; past eventsMaxBytes it moves to EventsFile+".1".
	EventsFile = "events.jsonl"
	// DaemonStatusFile: the daemon's DaemonStatus, after each pass.
	DaemonStatusFile = "status.json"

	eventLogSize   = 256     // action events core/agent keeps in memory
	eventsMaxBytes = 1 << 20 // events file size before it rotates
	// StatusEvents is how many events a status shows by default.
	StatusEvents = 200
)

// ActionEvent is the start or the end of a partition action (its end comes
// after its publications or its promise check), as core/agent emits it,
// with the agent process that ran it.
type ActionEvent struct {
	PID       int       `json:"pid"`
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // start, end
	Action    string    `json:"action"`
	Partition string    `json:"partition,omitempty"`
	URL       string    `json:"url,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	Version   uint64    `json:"version,omitempty"`
	Instance  string    `json:"instance,omitempty"`
	Error     string    `json:"error,omitempty"`
}

func (a *Agent) stateDirPath(name string) string {
	return filepath.Join(a.cfg.InstanceRoot, StateDir, name)
}

// logEvents appends the action events core/agent emitted since the last
// call to the events file (worker held).
func (a *Agent) logEvents(c *agentcore.Agent) {
	if c.LastEvent() == a.eventsLogged {
		return
	}
	a.eventBuf = c.Events(a.eventBuf[:0], a.eventsLogged)
	a.eventsLogged = c.LastEvent()
	var buf []byte
	pid := os.Getpid()
	for _, e := range a.eventBuf {
		line, err := json.Marshal(ActionEvent{PID: pid, Seq: e.Seq, At: e.At.UTC(), Kind: e.Kind.String(),
			Action: string(e.Action.Kind), Partition: e.Action.PartitionID, URL: e.Action.URL, Reason: string(e.Action.Reason),
			Version: e.Action.Version, Instance: e.Action.InstanceGUID, Error: e.Err})
		if err != nil {
			continue
		}
		buf = append(append(buf, line...), '\n')
	}
	path := a.stateDirPath(EventsFile)
	if err := appendFile(path, buf); err != nil {
		a.log.Warn("action events not logged", "file", path, "err", err)
	}
}

// appendFile appends data to path, moving the file to path.1 first when
// it grew past eventsMaxBytes.
func appendFile(path string, data []byte) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() > eventsMaxBytes {
		if err := os.Rename(path, path+".1"); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// DaemonStatus is what the agent's instance loop holds in memory, written
// to DaemonStatusFile after each pass.
type DaemonStatus struct {
	PID int       `json:"pid"`
	At  time.Time `json:"at"`
	// Converged: the last pass reached the master, ran its plan without
	// failure, left no report or publication undelivered and no build
	// running.
	Converged bool `json:"converged"`
	// Offline: passes in a row that could not reach the master.
	Offline  int                `json:"offline"`
	NextPass time.Time          `json:"next_pass"`
	Counters agentcore.Counters `json:"counters"`
	Outbox   []agentcore.Report `json:"outbox,omitempty"`
	// Unpublished: sets of connection parameters kept for the master
	// (their values are in the partitions' records, not here).
	Unpublished int                      `json:"unpublished,omitempty"`
	Publishing  agentcore.OutboxCounters `json:"publications"`
	Checked     map[string]time.Time     `json:"promises_checked,omitempty"`
}

// writeDaemonStatus saves the instance loop's state for `node status`
// (worker held).
func (a *Agent) writeDaemonStatus(c *agentcore.Agent, next time.Time) {
	// An idle pass changes only times and counters of passes and plans:
	// the file is written again at most every ten poll intervals then.
	cnt := c.Counters()
	material := statusMaterial{converged: c.Converged(), offline: c.Offline(), outbox: len(c.Outbox()),
		unpublished: len(c.Unpublished()), checks: cnt.PromiseChecks, reports: cnt.ReportsSent, actions: cnt.Actions}
	now := a.now()
	if material == a.statusWritten && now.Sub(a.statusWrittenAt) < 10*a.cfg.Grid.PollInterval {
		return
	}
	ds := DaemonStatus{PID: os.Getpid(), At: now.UTC(), Converged: material.converged, Offline: material.offline,
		NextPass: next.UTC(), Counters: cnt, Outbox: c.Outbox(), Unpublished: material.unpublished,
		Publishing: c.OutboxCounters(), Checked: map[string]time.Time{}}
	if v := c.View(); v != nil {
		for i := range v.Partitions {
			if t, ok := c.CheckedAt(v.Partitions[i].ID); ok {
				ds.Checked[v.Partitions[i].ID] = t.UTC()
			}
		}
	}
	data, err := json.Marshal(ds)
	if err == nil {
		err = writeFileAtomic(a.stateDirPath(DaemonStatusFile), append(data, '\n'), 0o644)
	}
	if err != nil {
		a.log.Warn("agent status not written", "err", err)
		return
	}
	a.statusWritten, a.statusWrittenAt = material, now
}

// statusMaterial is what makes DaemonStatusFile worth writing again.
type statusMaterial struct {
	converged                bool
	offline, outbox          int
	unpublished              int
	checks, reports, actions uint64
}

// NodeStatus is `slapgo node status`: what the node holds and runs, the
// plan core/converge makes of it now (empty: converged), and the recent
// action events.
type NodeStatus struct {
	ComputerID string    `json:"computer_id"`
	At         time.Time `json:"at"`
	// ViewVersion is the version of the view the agent last fetched
	// (HasView false: none yet).
	ViewVersion uint64 `json:"view_version"`
	HasView     bool   `json:"has_view"`
	// Converged: nothing is planned, every report and publication was
	// delivered and no action is in progress. Waiting says why not, one
	// line per reason.
	Converged bool     `json:"converged"`
	Waiting   []string `json:"waiting,omitempty"`
	// Plan is core/converge's plan now; Notes its notes on work that
	// cannot proceed yet.
	Plan       []PlannedAction   `json:"plan"`
	Notes      []string          `json:"notes,omitempty"`
	Partitions []PartitionStatus `json:"partitions"`
	Software   []SoftwareStatus  `json:"software,omitempty"`
	// Agent is the daemon's last word (nil when no daemon wrote one).
	Agent *DaemonStatus `json:"agent,omitempty"`
	// Events are the last action events, oldest first; MaxConcurrent is
	// the most partition actions they show in progress at once.
	Events        []ActionEvent `json:"events"`
	MaxConcurrent int           `json:"max_concurrent"`
}

// PlannedAction is one action of the plan.
type PlannedAction struct {
	Kind      string `json:"kind"`
	Partition string `json:"partition,omitempty"`
	URL       string `json:"url,omitempty"`
	Reason    string `json:"reason"`
	Version   uint64 `json:"version,omitempty"`
	Instance  string `json:"instance,omitempty"`
}

// PartitionStatus is a partition: what the view asks and what the node's
// record holds.
type PartitionStatus struct {
	ID string `json:"id"`
	// The view's.
	Requested    model.RequestedState `json:"requested,omitempty"`
	ViewInstance string               `json:"view_instance,omitempty"`
	ViewVersion  uint64               `json:"view_version,omitempty"`
	// The node's.
	InstanceGUID   string `json:"instance_guid,omitempty"`
	AppliedVersion uint64 `json:"applied_version,omitempty"`
	Running        bool   `json:"running"`
	Failures       int    `json:"failures,omitempty"`
	FailedVersion  uint64 `json:"failed_version,omitempty"`
	LastError      string `json:"last_error,omitempty"`
	// Unreported is a state report not delivered yet.
	Unreported *stateReport `json:"unreported,omitempty"`
	// Unpublished: sets of connection parameters not published yet.
	Unpublished int  `json:"unpublished,omitempty"`
	Anomaly     bool `json:"anomaly,omitempty"`
	// PromisesChecked: the daemon's last check of its promises (or start).
	PromisesChecked time.Time `json:"promises_checked,omitzero"`
}

// SoftwareStatus is a software release the view or the disk knows.
type SoftwareStatus struct {
	URL       string                `json:"url"`
	Requested model.SoftwareRequest `json:"requested,omitempty"`
	Installed bool                  `json:"installed"`
	Failures  int                   `json:"failures,omitempty"`
	LastError string                `json:"last_error,omitempty"`
	// Want is the last state to report, Reported the last the master
	// received.
	Want     model.SoftwareState `json:"want,omitempty"`
	Reported model.SoftwareState `json:"reported,omitempty"`
}

// ReadStatus reads a node's status from its disk and processes, at now,
// with its last events action events (negative: all its files keep): it
// needs no master and takes no lock (a daemon may run).
func ReadStatus(cfg config.Config, now time.Time, events int) (NodeStatus, error) {
	a := newAgent(cfg, nil, Options{Unprivileged: true, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return now }})
	st := NodeStatus{ComputerID: cfg.ComputerID, At: now.UTC(), Plan: []PlannedAction{}}
	view, _ := a.cachedView()
	if view == nil {
		view = &model.ComputerView{ComputerID: cfg.ComputerID}
		for _, p := range format.Layout(&a.cfg) {
			view.Partitions = append(view.Partitions, model.PartitionView{ID: p.ID, RequestedState: model.StateDestroyed})
		}
		st.Waiting = append(st.Waiting, "no view fetched yet")
	} else {
		st.HasView, st.ViewVersion = true, view.Version
	}
	actual, err := a.actual(view)
	if err != nil {
		return st, err
	}
	if data, err := os.ReadFile(a.stateDirPath(DaemonStatusFile)); err == nil {
		var ds DaemonStatus
		if err := json.Unmarshal(data, &ds); err != nil {
			return st, fmt.Errorf("agent: %s: %w", a.stateDirPath(DaemonStatusFile), err)
		}
		st.Agent = &ds
	}
	plan := converge.PlanNode(*view, actual, now, a.convergeConfig())
	for _, act := range plan.Actions {
		st.Plan = append(st.Plan, PlannedAction{Kind: string(act.Kind), Partition: act.PartitionID, URL: act.URL,
			Reason: string(act.Reason), Version: act.Version, Instance: act.InstanceGUID})
		st.Waiting = append(st.Waiting, act.String()+" planned")
	}
	st.Notes = plan.Waiting
	for i := range view.Partitions {
		pv := &view.Partitions[i]
		rec, err := a.partitionState(pv.ID)
		if err != nil {
			return st, err
		}
		pa := actual.Partitions[pv.ID]
		ps := PartitionStatus{ID: pv.ID, Requested: pv.RequestedState, ViewInstance: pv.InstanceGUID, ViewVersion: pv.Version,
			InstanceGUID: pa.InstanceGUID, AppliedVersion: pa.AppliedVersion, Running: pa.Running, Failures: pa.Failures,
			FailedVersion: pa.FailedVersion, LastError: rec.LastError, Unreported: rec.Unreported,
			Unpublished: len(rec.Unpublished), Anomaly: rec.Anomaly}
		if st.Agent != nil {
			ps.PromisesChecked = st.Agent.Checked[pv.ID]
		}
		if r := rec.Unreported; r != nil {
			st.Waiting = append(st.Waiting, fmt.Sprintf("%s: its %s report is not delivered yet", pv.ID, r.State))
		}
		if n := len(rec.Unpublished); n > 0 {
			st.Waiting = append(st.Waiting, fmt.Sprintf("%s: %d set(s) of connection parameters not published yet", pv.ID, n))
		}
		st.Partitions = append(st.Partitions, ps)
	}
	for _, url := range slices.Sorted(func(yield func(string) bool) {
		for u := range actual.Software {
			if !yield(u) {
				return
			}
		}
	}) {
		sw, rec := actual.Software[url], a.loadSoftwareRecord(url)
		ss := SoftwareStatus{URL: url, Installed: sw.Installed, Failures: sw.Failures, LastError: rec.LastError, Want: rec.Want, Reported: rec.Reported}
		for _, s := range view.Software {
			if s.URL == url {
				ss.Requested = s.Requested
			}
		}
		if rec.Want != "" && rec.Want != rec.Reported {
			st.Waiting = append(st.Waiting, fmt.Sprintf("software %s: %s is not reported yet", url, rec.Want))
		}
		st.Software = append(st.Software, ss)
	}
	st.Events, err = readEvents(a.stateDirPath(EventsFile), events)
	if err != nil {
		return st, err
	}
	var inProgress []ActionEvent
	st.MaxConcurrent, inProgress = concurrency(st.Events)
	for _, e := range inProgress {
		if processAlive(e.PID) {
			st.Waiting = append(st.Waiting, fmt.Sprintf("%s: %s (%s, v%d) in progress since %s", e.Partition, e.Action, e.Reason, e.Version, e.At.Format(time.RFC3339Nano)))
		}
	}
	st.Converged = len(st.Waiting) == 0
	return st, nil
}

// readEvents returns the last n events of the events file (and of the
// file it rotated to), oldest first; all of them when n < 0.
func readEvents(path string, n int) ([]ActionEvent, error) {
	out := []ActionEvent{}
	for _, p := range []string{path + ".1", path} {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("agent: %w", err)
		}
		r := bufio.NewReader(f)
		for {
			line, rerr := r.ReadBytes('\n')
			var e ActionEvent
			if json.Unmarshal(line, &e) == nil && e.Kind != "" {
				out = append(out, e)
			}
			if rerr != nil {
				err = rerr
				break
			}
		}
		f.Close()
		if !errors.Is(err, io.EOF) {
			return out, fmt.Errorf("agent: %s: %w", p, err)
		}
	}
	if n >= 0 && len(out) > n {
		out = out[len(out)-n:]
	}
	return out, nil
}

// concurrency returns the most partition actions events show in progress
// at once, and those still in progress at the end. An end at the moment of
// a start is counted first (the one ended as the other began).
func concurrency(events []ActionEvent) (int, []ActionEvent) {
	sorted := slices.Clone(events)
	slices.SortStableFunc(sorted, func(x, y ActionEvent) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		return cmp.Compare(kindOrder(x.Kind), kindOrder(y.Kind))
	})
	type key struct {
		pid       int
		partition string
		action    string
		version   uint64
	}
	open := map[key]ActionEvent{}
	most := 0
	for _, e := range sorted {
		if e.Partition == "" {
			continue // software removals are not partition work
		}
		k := key{e.PID, e.Partition, e.Action, e.Version}
		switch e.Kind {
		case "start":
			open[k] = e
			most = max(most, len(open))
		case "end":
			delete(open, k)
		}
	}
	var still []ActionEvent
	for _, e := range open {
		still = append(still, e)
	}
	slices.SortFunc(still, func(x, y ActionEvent) int { return x.At.Compare(y.At) })
	return most, still
}

func kindOrder(k string) int {
	if k == "end" {
		return 0
	}
	return 1
}

// processAlive reports whether a process runs.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

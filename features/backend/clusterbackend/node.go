package clusterbackend

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/cluster"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/features/backend/stackkit"
)

// Roots of the node agents in the containers (cluster's configuration).
const (
	instanceRoot = "/srv/slapgrid"
	softwareRoot = "/opt/slapgrid"
)

func partitionIndex(n *cluster.Node, id string) (int, bool) {
	s, ok := strings.CutPrefix(id, "slappart")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(s)
	return i, err == nil && i >= 0 && i < n.Spec.Partitions
}

// partitionRecord is the part of the agent's <partition>/.slapgo/state.json
// the backend reads.
type partitionRecord = stackkit.PartitionRecord

// softwareRecord is the part of <software_root>/.slapgo/<md5>.json read.
type softwareRecord = stackkit.SoftwareRecord

// snapshot is what a node container holds, read in one exec.
type snapshot struct {
	parts     map[string]partitionRecord
	running   map[string]bool // partition -> a process its pid files name is alive
	software  map[string]softwareRecord
	completed map[string]bool // software dir name -> built
}

// snapshotScript prints one line per partition ("P id running state"),
// per software record ("W dir record") and per completed build ("C dir").
const snapshotScript = `for d in ` + instanceRoot + `/slappart*; do
	[ -d "$d" ] || continue
	run=0
	for f in "$d"/var/run/slapgo.*.pid; do
		[ -e "$f" ] || continue
		read pid start < "$f"
		if [ -n "$pid" ] && [ -e /proc/$pid/status ] && ! grep -q '^State:.*Z' /proc/$pid/status; then run=1; fi
	done
	echo "P ${d##*/} $run $(tr -d '\n' < "$d/.slapgo/state.json" 2>/dev/null)"
done
for f in ` + softwareRoot + `/.slapgo/*.json; do
	[ -e "$f" ] || continue
	b=${f##*/}
	echo "W ${b%.json} $(tr -d '\n' < "$f")"
done
for d in ` + softwareRoot + `/*/; do
	if [ -e "$d.completed" ]; then b=${d%/}; echo "C ${b##*/}"; fi
done
`

func readSnapshot(ctx context.Context, n *cluster.Node) (snapshot, error) {
	s := snapshot{parts: map[string]partitionRecord{}, running: map[string]bool{},
		software: map[string]softwareRecord{}, completed: map[string]bool{}}
	code, out, err := n.Container.Exec(ctx, "sh", "-c", snapshotScript)
	if err != nil {
		return s, err
	}
	if code != 0 {
		return s, fmt.Errorf("clusterbackend: reading the state of %s: exit %d: %s", n.ID, code, out)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		switch {
		case len(f) >= 3 && f[0] == "P":
			var r partitionRecord
			if len(f) == 4 && strings.TrimSpace(f[3]) != "" {
				if err := json.Unmarshal([]byte(f[3]), &r); err != nil {
					return s, fmt.Errorf("clusterbackend: %s %s record: %w", n.ID, f[1], err)
				}
			}
			s.parts[f[1]] = r
			s.running[f[1]] = f[2] == "1"
		case len(f) >= 3 && f[0] == "W":
			var r softwareRecord
			if json.Unmarshal([]byte(strings.Join(f[2:], " ")), &r) == nil {
				s.software[f[1]] = r
			}
		case len(f) == 2 && f[0] == "C":
			s.completed[f[1]] = true
		}
	}
	return s, sc.Err()
}

func (s snapshot) installed(url string) bool { return s.completed[stackkit.SoftwareDirName(url)] }

func (s snapshot) record(url string) (softwareRecord, bool) {
	r, ok := s.software[stackkit.SoftwareDirName(url)]
	return r, ok
}

// Node is what a node holds and runs, from its own point of view.
func (b *Backend) Node(ctx context.Context, id string) (backend.NodeState, error) {
	n, err := b.node(id)
	if err != nil {
		return backend.NodeState{}, err
	}
	st := backend.NodeState{ComputerID: id, Up: nodeUp(ctx, n), Software: map[string]bool{}}
	if !st.Up {
		// A stopped container cannot be asked: read what its disk holds.
		for url := range b.software {
			st.Software[url] = false
		}
		for i := range n.Spec.Partitions {
			st.Partitions = append(st.Partitions, backend.PartitionState{ID: "slappart" + strconv.Itoa(i)})
		}
		return st, b.stoppedNode(ctx, n, &st)
	}
	snap, err := readSnapshot(ctx, n)
	if err != nil {
		return st, err
	}
	for url := range b.software {
		st.Software[url] = snap.installed(url)
	}
	for i := range n.Spec.Partitions {
		pid := "slappart" + strconv.Itoa(i)
		r := snap.parts[pid]
		st.Partitions = append(st.Partitions, backend.PartitionState{ID: pid, InstanceGUID: r.InstanceGUID,
			Running: snap.running[pid], AppliedVersion: r.AppliedVersion, Failures: r.Failures})
	}
	return st, nil
}

// stoppedNode fills st from the files of a stopped container.
func (b *Backend) stoppedNode(ctx context.Context, n *cluster.Node, st *backend.NodeState) error {
	for url := range b.software {
		if _, err := n.Container.ReadFile(ctx, softwareRoot+"/"+stackkit.SoftwareDirName(url)+"/.completed"); err == nil {
			st.Software[url] = true
		}
	}
	for i := range st.Partitions {
		data, err := n.Container.ReadFile(ctx, instanceRoot+"/"+st.Partitions[i].ID+"/.slapgo/state.json")
		if err != nil {
			continue // never configured
		}
		var r partitionRecord
		if err := json.Unmarshal(data, &r); err != nil {
			return fmt.Errorf("clusterbackend: %s %s record: %w", n.ID, st.Partitions[i].ID, err)
		}
		st.Partitions[i].InstanceGUID, st.Partitions[i].AppliedVersion, st.Partitions[i].Failures = r.InstanceGUID, r.AppliedVersion, r.Failures
	}
	return nil
}

// logLine is the part of the agent's JSON log lines read.
type logLine struct {
	Time      time.Time `json:"time"`
	Msg       string    `json:"msg"`
	Partition string    `json:"partition"`
	Action    string    `json:"action"`
	Reason    string    `json:"reason"`
}

const (
	msgActionDone   = "partition action done"
	msgActionFailed = "partition action failed"
)

// actions reads the partition actions the node's agent logged (in its
// current container, across its reboots).
func actions(ctx context.Context, n *cluster.Node) ([]logLine, error) {
	logs, err := n.Container.Logs(ctx)
	if err != nil {
		return nil, err
	}
	var out []logLine
	for line := range strings.SplitSeq(logs, "\n") {
		if !strings.Contains(line, "partition action") {
			continue
		}
		var ll logLine
		if json.Unmarshal([]byte(line), &ll) == nil && (ll.Msg == msgActionDone || ll.Msg == msgActionFailed) {
			out = append(out, ll)
		}
	}
	return out, nil
}

// Activity is what a node's agent logged it configured. MaxConcurrent is
// 0: the log does not show when an action began.
func (b *Backend) Activity(ctx context.Context, id string) (backend.Activity, error) {
	n, err := b.node(id)
	if err != nil {
		return backend.Activity{}, err
	}
	lines, err := actions(ctx, n)
	if err != nil {
		return backend.Activity{}, err
	}
	holder := map[string]string{}
	if parts, err := b.Partitions(ctx, id); err == nil {
		for _, p := range parts {
			holder[p.ID] = p.InstanceGUID
		}
	}
	var a backend.Activity
	for _, ll := range lines {
		if ll.Action != "configure-partition" {
			continue
		}
		a.Configurations = append(a.Configurations, backend.Configuration{At: ll.Time, PartitionID: ll.Partition,
			InstanceGUID: holder[ll.Partition], Reason: ll.Reason, OK: ll.Msg == msgActionDone})
	}
	return a, nil
}

// Converge waits until every node that is up is quiet and matches the
// view it can get, or fails after within: no partition action logged for
// a promise timeout and two polls, every software supplied built (or
// failing), every partition holding the version the view asks in the
// state it asks (or failing and backing off), every report delivered.
// A node cut off, or any node while the master is down, only has to be
// quiet.
func (b *Backend) Converge(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	g := b.c.Config.Grid
	quiet := g.PromiseTimeout + 2*g.PollInterval
	var why []string
	for {
		why = why[:0]
		masterUp := b.masterUp(ctx)
		for _, n := range b.c.Nodes() {
			if w := b.waitingFor(ctx, n, quiet, masterUp); w != "" {
				why = append(why, n.ID+": "+w)
			}
		}
		if len(why) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the nodes did not converge within %s: %s", within, strings.Join(why, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(g.PollInterval / 2):
		}
	}
}

// waitingFor says why a node has not converged ("" when it has).
func (b *Backend) waitingFor(ctx context.Context, n *cluster.Node, quiet time.Duration, masterUp bool) string {
	if !nodeUp(ctx, n) {
		return ""
	}
	lines, err := actions(ctx, n)
	if err != nil {
		return err.Error()
	}
	if len(lines) > 0 && time.Since(lines[len(lines)-1].Time) < quiet {
		return "acted less than " + quiet.String() + " ago"
	}
	if !masterUp || n.IsCut() {
		return "" // offline: quiet is all it can be
	}
	c := b.computers[n.ID]
	view, _, _, err := c.ComputerView(ctx, n.ID, "")
	if err != nil || view == nil {
		return fmt.Sprintf("its view cannot be read: %v", err)
	}
	snap, err := readSnapshot(ctx, n)
	if err != nil {
		return err.Error()
	}
	for _, sw := range view.Software {
		rec, known := snap.record(sw.URL)
		switch {
		case known && rec.Want != "" && rec.Want != rec.Reported:
			return fmt.Sprintf("software %s: %s not reported yet", sw.URL, rec.Want)
		case sw.Requested == model.SoftwareAvailable && !snap.installed(sw.URL) && !(known && rec.Failures > 0):
			return "software " + sw.URL + " not built"
		case sw.Requested == model.SoftwareDestroyed && snap.installed(sw.URL) && !stackkit.SoftwareInUse(view, sw.URL):
			return "software " + sw.URL + " not removed"
		}
	}
	for _, pv := range view.Partitions {
		if _, ok := partitionIndex(n, pv.ID); !ok {
			continue
		}
		r := snap.parts[pv.ID]
		if len(r.Unreported) > 0 && string(r.Unreported) != "null" {
			return pv.ID + ": a state report is not delivered yet"
		}
		running := snap.running[pv.ID]
		switch {
		case pv.InstanceGUID == "" || pv.RequestedState == model.StateDestroyed:
			if r.InstanceGUID != "" || running {
				return pv.ID + ": not wiped yet"
			}
		case r.Failures > 0 && r.FailedVersion == pv.Version:
			// failing, backing off: nothing more to wait for
		case !snap.installed(pv.SoftwareRelease):
			rec, _ := snap.record(pv.SoftwareRelease)
			if rec.Failures == 0 {
				return pv.ID + ": waits for its software"
			}
		case r.InstanceGUID != pv.InstanceGUID || r.AppliedVersion != pv.Version:
			return fmt.Sprintf("%s: holds %s v%d, the view asks %s v%d", pv.ID, r.InstanceGUID, r.AppliedVersion, pv.InstanceGUID, pv.Version)
		case pv.RequestedState == model.StateStarted && !running:
			return pv.ID + ": not running yet"
		case pv.RequestedState == model.StateStopped && running:
			return pv.ID + ": not stopped yet"
		}
	}
	return ""
}

package stackkit

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/nodeagent/agent"
)

// StatusArgs are the arguments of `slapgo` that print a node's status as
// JSON with every action event its files keep, for the node configuration
// at config.
func StatusArgs(config string) []string {
	return []string{"node", "status", "--json", "--events", "-1", "--config", config}
}

// ParseStatus decodes what `slapgo node status --json` printed.
func ParseStatus(out []byte) (agent.NodeStatus, error) {
	var st agent.NodeStatus
	if err := json.Unmarshal(out, &st); err != nil {
		return st, fmt.Errorf("slapgo node status --json: %w: %q", err, tail(string(out), 512))
	}
	return st, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// NodeState is what a node holds and runs according to its status; up
// says whether its agent runs (nothing runs otherwise), software lists
// the releases a scenario defined.
func NodeState(st agent.NodeStatus, up bool, software []string) backend.NodeState {
	ns := backend.NodeState{ComputerID: st.ComputerID, Up: up, Software: map[string]bool{}}
	for _, url := range software {
		i := slices.IndexFunc(st.Software, func(s agent.SoftwareStatus) bool { return s.URL == url })
		ns.Software[url] = i >= 0 && st.Software[i].Installed
	}
	for _, p := range st.Partitions {
		ns.Partitions = append(ns.Partitions, backend.PartitionState{ID: p.ID, InstanceGUID: p.InstanceGUID,
			Running: up && p.Running, AppliedVersion: p.AppliedVersion, Failures: p.Failures})
	}
	return ns
}

// Activity is what a node's agent configured according to the action
// events of its status, with the most partitions it worked on at once.
// Each configuration is credited to the instance its event names (the
// partition may hold another one since).
func Activity(st agent.NodeStatus) backend.Activity {
	a := backend.Activity{MaxConcurrent: st.MaxConcurrent}
	for _, e := range st.Events {
		if e.Kind != "end" || e.Action != "configure-partition" || e.Error == "interrupted" {
			continue
		}
		a.Configurations = append(a.Configurations, backend.Configuration{At: e.At, PartitionID: e.Partition,
			InstanceGUID: e.Instance, Reason: e.Reason, OK: e.Error == ""})
	}
	return a
}

// Waiting says why a node has not converged ("" when it has), from its
// status at now: it acted less than quiet ago (the master may answer its
// reports with more work), its view is not the one the master shows it
// now (viewVersion), its status is not converged, or a started partition's
// promises were not checked since a scenario changed them (promiseSet:
// when, per partition).
func Waiting(st agent.NodeStatus, viewVersion uint64, now time.Time, quiet time.Duration, promiseSet map[string]time.Time) string {
	if w := Acting(st, now, quiet); w != "" {
		return w
	}
	if !st.HasView || st.ViewVersion != viewVersion {
		return fmt.Sprintf("holds view version %d, the master shows version %d", st.ViewVersion, viewVersion)
	}
	if !st.Converged {
		more := ""
		if len(st.Waiting) > 1 {
			more = fmt.Sprintf(" (and %d more: %s)", len(st.Waiting)-1, strings.Join(st.Waiting[1:min(4, len(st.Waiting))], "; "))
		}
		return st.Waiting[0] + more
	}
	for _, p := range st.Partitions {
		set, ok := promiseSet[p.ID]
		if ok && p.Requested == model.StateStarted && p.ViewInstance != "" && set.After(p.PromisesChecked) {
			// The agent checks the promises of running partitions on its
			// passes (anomaly mode): wait for one after the change.
			return p.ID + ": its promises were not checked since the scenario changed them"
		}
	}
	return ""
}

// Acting says whether a node acted less than quiet before now, by its
// last action event ("" when it did not): all a node cut from its master
// can be asked.
func Acting(st agent.NodeStatus, now time.Time, quiet time.Duration) string {
	if n := len(st.Events); n > 0 && now.Sub(st.Events[n-1].At) < quiet {
		return "acted less than " + quiet.String() + " ago"
	}
	return ""
}

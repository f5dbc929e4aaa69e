package master

import (
	"fmt"
	"strings"

	"github.com/slapgo/slapgo/core/model"
)

// Readiness says how far an instance is from what its requester asked, as
// the master last heard from its node.
type Readiness string

const (
	// ReadyDone: the instance is what was asked: started with its
	// connection parameters published, stopped, or destroyed.
	ReadyDone Readiness = "ready"
	// ReadyPending: the request waits for a home; the detail is why.
	ReadyPending Readiness = "pending"
	// ReadyError: its node reported an error; the detail is the error.
	ReadyError Readiness = "error"
	// ReadyWaiting: placed, but its node has not reported it ready yet.
	ReadyWaiting Readiness = "waiting"
)

// InstanceReadiness tells an instance's readiness and a one-line detail
// for a person watching it (`slapgo request --wait`).
func InstanceReadiness(i InstanceInfo) (Readiness, string) {
	where := "on " + i.ComputerID + "/" + i.PartitionID
	if i.Shared {
		where = "in shared host " + i.HostGUID
	}
	switch {
	case i.Status == StatusDestroyed:
		return ReadyDone, "destroyed"
	case i.Status == StatusPending:
		return ReadyPending, i.PendingReason
	case i.ReportedState == model.ReportedError:
		return ReadyError, firstLine(i.ReportedError)
	}
	switch i.RequestedState {
	case model.StateStopped:
		if i.ReportedState == model.ReportedStopped {
			return ReadyDone, "stopped " + where
		}
		return ReadyWaiting, fmt.Sprintf("placed %s, %s; waiting for its node to stop it", where, reported(i.ReportedState))
	default:
		switch {
		case i.ReportedState == model.ReportedStarted && len(i.Connection) > 0:
			return ReadyDone, fmt.Sprintf("started %s, %d connection parameters published", where, len(i.Connection))
		case i.ReportedState == model.ReportedStarted:
			return ReadyWaiting, fmt.Sprintf("started %s; waiting for its connection parameters", where)
		}
		return ReadyWaiting, fmt.Sprintf("placed %s, %s; waiting for its node to start it", where, reported(i.ReportedState))
	}
}

func reported(st model.ReportedState) string {
	if st == "" {
		return "not reported yet"
	}
	return "reported " + string(st)
}

// firstLine is the first non-empty line of a text, for one-line displays.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return ""
}

package agent

import (
	"time"

	"github.com/slapgo/slapgo/core/converge"
)

// EventKind says whether an Event is an action's start or its end.
type EventKind uint8

// Event kinds.
const (
	EventStart EventKind = iota + 1
	EventEnd
)

// String is "start" or "end".
func (k EventKind) String() string {
	if k == EventStart {
		return "start"
	}
	return "end"
}

// Event is the start or the end of an action: its start is the time the
// executor gave Next for its RunAction, its end the time it gave Done for
// the action's last effect (the RunAction itself, or the publications of a
// configuration, or the promise check of a start). From them, a check
// measures how many partitions a node configured at once.
type Event struct {
	// Seq numbers the events of an agent from 1, without gaps.
	Seq    uint64
	At     time.Time
	Kind   EventKind
	Action converge.Action
	// Err is the failure of an end ("" when the action succeeded;
	// "interrupted" after Abort).
	Err string
}

// eventRing keeps the last len(buf) events.
type eventRing struct {
	buf []Event
	seq uint64 // of the last event added
}

func (r *eventRing) add(at time.Time, k EventKind, act converge.Action, err string) {
	r.seq++
	if len(r.buf) == 0 {
		return
	}
	r.buf[(r.seq-1)%uint64(len(r.buf))] = Event{Seq: r.seq, At: at, Kind: k, Action: act, Err: err}
}

// Events appends to dst the events kept whose Seq is above after, oldest
// first, and returns it. Events older than Config.EventLog are gone: the
// first Seq returned tells whether some were missed.
func (a *Agent) Events(dst []Event, after uint64) []Event {
	r := &a.events
	n := uint64(len(r.buf))
	if n == 0 || after >= r.seq {
		return dst
	}
	first := after + 1
	if r.seq > n && first <= r.seq-n {
		first = r.seq - n + 1
	}
	for s := first; s <= r.seq; s++ {
		dst = append(dst, r.buf[(s-1)%n])
	}
	return dst
}

// LastEvent is the Seq of the last event (0: none yet).
func (a *Agent) LastEvent() uint64 { return a.events.seq }

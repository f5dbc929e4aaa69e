package master

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// KindEvents is an instance's recent events (an eventHistory), keyed by the
// instance's guid.
const KindEvents EntityKind = "events"

// DefaultEventHistory is how many events the production master keeps per
// instance (Config.EventHistory).
const DefaultEventHistory = 12

// EventKind names what happened to an instance.
type EventKind string

// The kinds of instance events, in the order they usually come.
const (
	// EventRequested: the instance was first requested, with its state.
	EventRequested EventKind = "requested"
	// EventChanged: its parameters, SLA, software release or type changed.
	EventChanged EventKind = "changed"
	// EventPending: it waits for a home; recorded the first time and when
	// the reason changes, never once per retry.
	EventPending EventKind = "pending"
	// EventPlaced: it was given a partition (or a host, when shared).
	EventPlaced EventKind = "placed"
	// EventState: its requested state changed (started, stopped,
	// destroyed).
	EventState EventKind = "state"
	// EventReported: its node reported a new state (or a new error).
	EventReported EventKind = "reported"
	// EventPublished: its connection parameters changed.
	EventPublished EventKind = "published"
	// EventBang: it was asked to be processed again.
	EventBang EventKind = "bang"
	// EventRenamed: its title changed.
	EventRenamed EventKind = "renamed"
	// EventTransferred: it went to another person.
	EventTransferred EventKind = "transferred"
	// EventDestroyed: it is gone; its partition, if it had one, is free.
	EventDestroyed EventKind = "destroyed"
)

// Event is one thing that happened to an instance: when (the now passed to
// Apply), what kind, and a short message.
type Event struct {
	At      time.Time `json:"at"`
	Kind    EventKind `json:"kind"`
	Message string    `json:"message"`
}

// maxEventMessage bounds an event's message (a reason or an error line may
// be long; the full text stays on the instance).
const maxEventMessage = 200

// eventHistory is how an instance's events are persisted.
type eventHistory struct {
	GUID   string  `json:"guid"`
	Events []Event `json:"events"`
}

// event records what happened to an instance at the time of the command
// being applied, keeping the last Config.EventHistory events.
//
// NB: the history kept outside model.Instance, in its own map, is replaced
// by a new slice on every event (never changed in place), so a Mutation
// may share it.
func (s *State) event(inst *model.Instance, kind EventKind, format string, args ...any) {
	n := s.cfg.EventHistory
	if n <= 0 || inst == nil {
		return
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	msg = model.SanitizeText(msg) // a bang's message is free text
	if len(msg) > maxEventMessage {
		msg = strings.ToValidUTF8(msg[:maxEventMessage], "") + "…"
	}
	old := s.events[inst.GUID]
	keep := old[max(0, len(old)-(n-1)):]
	h := make([]Event, 0, len(keep)+1)
	h = append(append(h, keep...), Event{At: s.now, Kind: kind, Message: msg})
	s.events[inst.GUID] = h
	s.muts = append(s.muts, Mutation{Kind: KindEvents, Key: inst.GUID, Value: &eventHistory{GUID: inst.GUID, Events: h}})
}

// InstanceEvents returns an instance's recent events, oldest first, to
// whoever may read the instance (see Instance). The slice is the state's:
// read only.
func (s *State) InstanceEvents(a model.Actor, guid string) ([]Event, error) {
	if _, err := s.Instance(a, guid); err != nil {
		return nil, err
	}
	return s.events[guid], nil
}

// restoreEvents keeps a persisted history, cut to the configured length.
func (s *State) restoreEvents(h *eventHistory) {
	n := s.cfg.EventHistory
	if n <= 0 || len(h.Events) == 0 {
		return
	}
	s.events[h.GUID] = h.Events[max(0, len(h.Events)-n):]
}

// snapshotEvents appends every history to a snapshot.
func (s *State) snapshotEvents(out []Mutation) []Mutation {
	for _, g := range slices.SortedFunc(maps.Keys(s.events), compareGUID) {
		out = append(out, Mutation{Kind: KindEvents, Key: g, Value: &eventHistory{GUID: g, Events: s.events[g]}})
	}
	return out
}

// placement says where an allocated instance lives, for an event.
func placement(inst *model.Instance) string {
	if inst.Shared {
		return "hosted by " + inst.HostGUID + " on " + inst.ComputerID
	}
	return "on " + inst.ComputerID + "/" + inst.PartitionID
}

// recordPending records that an instance waits, when its reason is new.
func (s *State) recordPending(inst *model.Instance, reason string) {
	if inst.PendingReason != reason {
		s.event(inst, EventPending, "%s", reason)
	}
}

// requestChanges names what a request changed of an instance: its
// software release, type, parameters or SLA.
func requestChanges(inst *model.Instance, c Request, stype string, sla model.SLA) []string {
	var what []string
	if inst.SoftwareRelease != c.SoftwareRelease {
		what = append(what, "software release "+c.SoftwareRelease)
	}
	if inst.SoftwareType != stype {
		what = append(what, "software type "+stype)
	}
	if !maps.Equal(inst.Parameters, c.Parameters) && !(len(inst.Parameters) == 0 && len(c.Parameters) == 0) {
		what = append(what, "parameters ("+keysChanged(inst.Parameters, c.Parameters)+")")
	}
	if !slaEqual(inst.SLA, sla) {
		what = append(what, "SLA")
	}
	return what
}

// keysChanged lists the keys added, removed or changed between two maps,
// sorted, at most five.
func keysChanged(old, cur map[string]string) string {
	var keys []string
	for k, v := range cur {
		if o, ok := old[k]; !ok || o != v {
			keys = append(keys, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if len(keys) > 5 {
		return strings.Join(keys[:5], ", ") + fmt.Sprintf(" and %d more", len(keys)-5)
	}
	return strings.Join(keys, ", ")
}

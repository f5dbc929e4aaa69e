package master

import (
	"fmt"
	"maps"
	"math"
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

// EventKind names what happened to an instance. It is stored and shown
// by its name (String).
type EventKind uint8

// The kinds of instance events, in the order they usually come. Append
// only: a kind is stored by its name, and a name this version lacks is an
// error at load, so a new kind needs a schema version.
const (
	// EventRequested: the instance was first requested, with its state.
	EventRequested EventKind = iota
	// EventChanged: its parameters, SLA, software release or type changed.
	EventChanged
	// EventPending: it waits for a home; recorded the first time and when
	// the reason changes, never once per retry.
	EventPending
	// EventPlaced: it was given a partition (or a host, when shared).
	EventPlaced
	// EventState: its requested state changed (started, stopped,
	// destroyed).
	EventState
	// EventReported: its node reported a new state (or a new error).
	EventReported
	// EventPublished: its connection parameters changed.
	EventPublished
	// EventBang: it was asked to be processed again.
	EventBang
	// EventRenamed: its title changed.
	EventRenamed
	// EventTransferred: it went to another person.
	EventTransferred
	// EventDestroyed: it is gone; its partition, if it had one, is free.
	EventDestroyed
)

var eventKindNames = [...]string{EventRequested: "requested", EventChanged: "changed", EventPending: "pending",
	EventPlaced: "placed", EventState: "state", EventReported: "reported", EventPublished: "published",
	EventBang: "bang", EventRenamed: "renamed", EventTransferred: "transferred", EventDestroyed: "destroyed"}

// String is the kind's name.
func (k EventKind) String() string {
	if int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// MarshalText writes the kind's name.
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText reads a kind's name.
func (k *EventKind) UnmarshalText(b []byte) error {
	kind, err := parseEventKind(string(b))
	*k = kind
	return err
}

func parseEventKind(name string) (EventKind, error) {
	for c, n := range eventKindNames {
		if n == name {
			return EventKind(c), nil
		}
	}
	return 0, fmt.Errorf("event kind %q is unknown to this version", name)
}

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

// eventRecord is an Event as the state holds it: 32 bytes and its
// message, since a large master keeps millions.
type eventRecord struct {
	at   int64 // Unix nanoseconds; noTime for the zero time
	msg  string
	kind EventKind
}

// noTime is eventRecord.at for the zero time.
const noTime = math.MinInt64

func (r eventRecord) time() time.Time {
	if r.at == noTime {
		return time.Time{}
	}
	return time.Unix(0, r.at).UTC()
}

func unixNanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func (r eventRecord) public() Event {
	return Event{At: r.time(), Kind: r.kind, Message: r.msg}
}

// eventHistory is how an instance's events are persisted (KindEvents).
type eventHistory struct {
	guid string
	recs []eventRecord
}

// history reports whether the state keeps event histories: callers check
// it before they build an event's message, which costs nothing then in a
// state that keeps none (the simulator's).
func (s *State) history() bool { return s.cfg.EventHistory > 0 }

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
	h := make([]eventRecord, 0, len(keep)+1)
	h = append(append(h, keep...), eventRecord{at: unixNanos(s.now), msg: msg, kind: kind})
	s.events[inst.GUID] = h
	s.muts = append(s.muts, Mutation{Kind: KindEvents, Key: inst.GUID, Value: &eventHistory{guid: inst.GUID, recs: h}})
}

// InstanceEvents returns an instance's recent events, oldest first, to
// whoever may read the instance (see Instance).
func (s *State) InstanceEvents(a model.Actor, guid string) ([]Event, error) {
	if _, err := s.Instance(a, guid); err != nil {
		return nil, err
	}
	recs := s.events[guid]
	out := make([]Event, len(recs))
	for k, r := range recs {
		out[k] = r.public()
	}
	return out, nil
}

// restoreEvents keeps a persisted history, cut to the configured length.
func (s *State) restoreEvents(h *eventHistory) {
	n := s.cfg.EventHistory
	if n <= 0 || len(h.recs) == 0 {
		return
	}
	s.events[h.guid] = h.recs[max(0, len(h.recs)-n):]
}

// snapshotEvents appends every history to a snapshot.
func (s *State) snapshotEvents(out []Mutation) []Mutation {
	for _, g := range slices.SortedFunc(maps.Keys(s.events), compareGUID) {
		out = append(out, Mutation{Kind: KindEvents, Key: g, Value: &eventHistory{guid: g, recs: s.events[g]}})
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
	if s.history() && inst.PendingReason != reason {
		s.event(inst, EventPending, "%s", reason)
	}
}

// requestChanges names what a request changes of an instance: its
// software release, type, parameters or SLA (nothing when the state keeps
// no history).
func (s *State) requestChanges(inst *model.Instance, c Request, stype string, sla model.SLA) []string {
	if !s.history() {
		return nil
	}
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
	if !inst.SLA.Equal(sla) {
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

package master

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// EntityKind names a kind of persisted entity.
type EntityKind string

const (
	KindMeta      EntityKind = "meta"
	KindPerson    EntityKind = "person"
	KindComputer  EntityKind = "computer"
	KindPartition EntityKind = "partition"
	KindSoftware  EntityKind = "software"
	KindInstance  EntityKind = "instance"
	KindMovement  EntityKind = "movement"
	KindJournal   EntityKind = "journal"
)

// Mutation is one entity to upsert (Value set) or delete (Delete). Value is
// a copy of the entity as the command left it: the caller may encode it
// later. Within one command the last mutation of a (Kind, Key) wins.
//
// NB: Value shares its maps and slices (an instance's parameters,
// connection and SLA, a partition's addresses, a computer's attributes and
// prices) with the state and with other results: the state never modifies
// them in place, it replaces them on a change, and callers must only read
// them (TestMutationsStayAsReturned).
type Mutation struct {
	Kind   EntityKind
	Key    string
	Value  any
	Delete bool
}

// computerRecord is how a computer is persisted.
type computerRecord struct {
	model.Computer
	ViewVersion uint64 `json:"view_version"`
}

// journalRecord remembers a usage journal already recorded.
type journalRecord struct {
	Ref       string `json:"ref"`
	Movements int    `json:"movements"`
}

// Encode renders a mutation's value for storage: instances, partitions
// and event histories in a binary format, the other kinds as JSON (see codec.go).
// DecodeEntity and EntityDecoder read it back.
func (m Mutation) Encode() ([]byte, error) {
	if m.Delete {
		return nil, nil
	}
	switch v := m.Value.(type) {
	case *model.Instance:
		return encodeInstance(v), nil
	case *model.Partition:
		return encodePartition(v), nil
	case *eventHistory:
		return encodeEvents(v), nil
	}
	if binaryKind(m.Kind) {
		return nil, fmt.Errorf("master: entity %s %q holds a %T", m.Kind, m.Key, m.Value)
	}
	return json.Marshal(m.Value)
}

// decodeJSONEntity decodes a value stored as JSON (every kind written by
// older versions, the kinds other than instance and partition today).
func decodeJSONEntity(kind EntityKind, key string, data []byte) (Mutation, error) {
	var v any
	switch kind {
	case KindMeta:
		v = &meta{}
	case KindPerson:
		v = &model.Person{}
	case KindComputer:
		v = &computerRecord{}
	case KindPartition:
		v = &model.Partition{}
	case KindSoftware:
		v = &model.SoftwareInstallation{}
	case KindInstance:
		v = &model.Instance{}
	case KindMovement:
		v = &account.Movement{}
	case KindJournal:
		v = &journalRecord{}
	case KindRevocation:
		v = &Revocation{}
	case KindCredential:
		v = &Credential{}
	case KindIdempotency:
		v = &IdempotencyRecord{}
	case KindUpgrade:
		if key != UpgradeDestructionTimes {
			return Mutation{}, fmt.Errorf("master: stored entity %s %q: unknown upgrade record", kind, key)
		}
		v = &DestructionTimes{}
	default:
		return Mutation{}, fmt.Errorf("master: stored entity %s %q has unknown kind", kind, key)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return Mutation{}, fmt.Errorf("master: stored entity %s %q: %w", kind, key, err)
	}
	if kind == KindMeta {
		v = *(v.(*meta))
	}
	return Mutation{Kind: kind, Key: key, Value: v}, nil
}

// compactScanMax is the longest list Compact deduplicates by scanning.
const compactScanMax = 16

// Compact keeps only the last mutation of each (Kind, Key), in the order of
// those last mutations: what a shell must write for one command.
func Compact(ms []Mutation) []Mutation { return compactTo(make([]Mutation, 0, len(ms)), ms) }

// compactTo appends Compact(ms) to out.
func compactTo(out, ms []Mutation) []Mutation {
	if len(ms) <= compactScanMax {
		// Most commands make a few mutations: a scan costs less than a map.
		for i, m := range ms {
			if !slices.ContainsFunc(ms[i+1:], func(n Mutation) bool { return n.Kind == m.Kind && n.Key == m.Key }) {
				out = append(out, m)
			}
		}
		return out
	}
	type k struct {
		kind EntityKind
		key  string
	}
	last := make(map[k]int, len(ms))
	for i, m := range ms {
		last[k{m.Kind, m.Key}] = i
	}
	for i, m := range ms {
		if last[k{m.Kind, m.Key}] == i {
			out = append(out, m)
		}
	}
	return out
}

// Snapshot returns every entity of the state as upserts, in a stable order.
// Restore(cfg, Snapshot()) rebuilds an equal state.
func (s *State) Snapshot() []Mutation {
	var out []Mutation
	out = append(out, Mutation{Kind: KindMeta, Key: "meta", Value: s.meta})
	for _, id := range slices.Sorted(maps.Keys(s.persons)) {
		p := *s.persons[id]
		out = append(out, Mutation{Kind: KindPerson, Key: id, Value: &p})
	}
	saved := s.muts
	s.muts = nil
	for _, id := range slices.Sorted(maps.Keys(s.computers)) {
		cs := s.computers[id]
		s.recordComputer(cs)
		for _, p := range cs.parts {
			s.recordPartition(p)
		}
		for _, u := range slices.Sorted(maps.Keys(cs.software)) {
			s.recordSoftware(cs.software[u])
		}
	}
	for _, g := range slices.SortedFunc(maps.Keys(s.instances), compareGUID) {
		s.recordInstance(s.instances[g])
	}
	s.copyRecorded(s.muts, false)
	out = append(out, s.muts...)
	s.muts = saved
	for _, m := range s.movements {
		out = append(out, Mutation{Kind: KindMovement, Key: m.ID, Value: m})
	}
	for _, r := range slices.Sorted(maps.Keys(s.journals)) {
		out = append(out, Mutation{Kind: KindJournal, Key: r, Value: &journalRecord{Ref: r}})
	}
	for _, k := range slices.Sorted(maps.Keys(s.revoked)) {
		r := *s.revoked[k]
		out = append(out, Mutation{Kind: KindRevocation, Key: k, Value: &r})
	}
	out = s.snapshotEvents(s.snapshotCredentials(out))
	if s.destroyTimes != nil {
		c := *s.destroyTimes
		out = append(out, Mutation{Kind: KindUpgrade, Key: UpgradeDestructionTimes, Value: &c})
	}
	for _, r := range s.idemOrder {
		c := *r
		out = append(out, Mutation{Kind: KindIdempotency, Key: idempotencyID(r.Actor, r.Key), Value: &c})
	}
	return out
}

// Restore rebuilds a state from persisted entities (in any order).
func Restore(cfg Config, entities []Mutation) (*State, error) {
	s := New(cfg)
	var parts []*model.Partition
	var sws []*model.SoftwareInstallation
	var insts []*model.Instance
	for _, m := range entities {
		if m.Delete {
			continue
		}
		switch v := m.Value.(type) {
		case meta:
			s.meta = v
		case *meta:
			s.meta = *v
		case *model.Person:
			s.persons[v.ID] = v
		case *computerRecord:
			c := v.Computer
			cs := &computerState{c: &c, software: map[string]*model.SoftwareInstallation{}, cand: &alloc.Candidate{}, viewVersion: v.ViewVersion}
			s.computers[c.ID] = cs
			s.addCandidate(cs)
		case *model.Partition:
			parts = append(parts, v)
		case *model.SoftwareInstallation:
			sws = append(sws, v)
		case *model.Instance:
			insts = append(insts, v)
		case *account.Movement:
			s.movements = append(s.movements, v)
		case *journalRecord:
			s.journals[v.Ref] = true
		case *Revocation:
			if s.revoked == nil {
				s.revoked = map[string]*Revocation{}
			}
			s.revoked[v.key()] = v
		case *Credential:
			s.creds[credKey(v.Identity)] = v
		case *eventHistory:
			s.restoreEvents(v)
		case *IdempotencyRecord:
			s.addIdempotency(v)
		case *DestructionTimes:
			s.destroyTimes = v
		default:
			return nil, fmt.Errorf("master: restore: entity %s %q has unexpected type %T", m.Kind, m.Key, m.Value)
		}
	}
	for _, p := range parts {
		cs := s.computers[p.ComputerID]
		if cs == nil {
			return nil, fmt.Errorf("master: restore: partition %s belongs to unknown computer", p.Key())
		}
		cs.parts = append(cs.parts, p)
	}
	for _, sw := range sws {
		cs := s.computers[sw.ComputerID]
		if cs == nil {
			return nil, fmt.Errorf("master: restore: software %s belongs to unknown computer", sw.Key())
		}
		cs.software[sw.URL] = sw
	}
	for _, cs := range s.computers {
		sortPartitions(cs.parts)
		cs.partIdx = indexPartitions(cs.parts)
		s.syncCandidate(cs)
	}
	s.sortCands()
	// NB: the indexes are sets, or maps whose keys only one live instance
	// holds (byKey): the order instances are added in does not matter.
	s.instances = make(map[string]*model.Instance, len(insts))
	s.byKey = make(map[instKey]string, len(insts))
	s.trees = make(map[instKey]members, len(insts))
	for _, i := range insts {
		s.instances[i.GUID] = i
	}
	// NB: the pending queue is kept in compareGUID order; the entities come
	// in any order (a database gives SOFTINST-10 before SOFTINST-2): those
	// waiting are sorted first, so that each joins its queue at the end.
	var waiting []*model.Instance
	for _, i := range insts {
		s.indexInstance(i)
		if waitsForHome(i) {
			waiting = append(waiting, i)
		}
	}
	slices.SortFunc(waiting, func(a, b *model.Instance) int { return compareGUID(a.GUID, b.GUID) })
	for _, i := range waiting {
		s.pending.add(i)
	}
	slices.SortFunc(s.movements, func(a, b *account.Movement) int { return compareGUID(a.ID, b.ID) })
	s.restoreArrivals(insts)
	s.muts = nil
	return s, nil
}

// sortPartitions puts a computer's partitions in natural order, as
// model.ComparePartitionIDs does, parsing each id once.
func sortPartitions(parts []*model.Partition) {
	type keyed struct {
		prefix string
		n      uint64
		num    bool
		p      *model.Partition
	}
	ks := make([]keyed, len(parts))
	for i, p := range parts {
		j := len(p.ID)
		for j > 0 && p.ID[j-1] >= '0' && p.ID[j-1] <= '9' {
			j--
		}
		k := keyed{prefix: p.ID, p: p}
		if d := len(p.ID) - j; d > 0 && d <= 18 { // as model.ComparePartitionIDs
			n, _ := strconv.ParseUint(p.ID[j:], 10, 64)
			k.prefix, k.n, k.num = p.ID[:j], n, true
		}
		ks[i] = k
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if a.num && b.num && a.prefix == b.prefix {
			return cmp.Compare(a.n, b.n)
		}
		return strings.Compare(a.p.ID, b.p.ID)
	})
	for i := range ks {
		parts[i] = ks[i].p
	}
}

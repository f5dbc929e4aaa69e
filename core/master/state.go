package master

import (
	"cmp"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/market"
	"github.com/slapgo/slapgo/core/model"
)

// Config tunes the master's decisions.
type Config struct {
	// Policy ranks feasible computers (default first-fit).
	Policy alloc.Policy
	// OnlineWithin: a computer not seen for longer is not allocated on
	// (0 = no such condition).
	OnlineWithin time.Duration
	// KeepMovements: record accounting movements (default true via
	// DefaultConfig). The simulator may switch it off for huge runs.
	KeepMovements bool
	// Limits bound commands and structures (DefaultLimits via
	// DefaultConfig; zero: no limit). See limits.go.
	Limits Limits
	// Quotas bound what each person holds (zero: no quota).
	Quotas Quotas
	// ViewReplacesPrevious: a computer's view replaces the previous one,
	// whose partitions the next ComputerView of that computer may update
	// in place (no copy of the partition list per change). For a caller
	// that keeps only the latest view of each computer and reads it from
	// one goroutine with the state, like the simulator's agents. Off (the
	// server, which renders views after the fact): a view stays as it was
	// returned.
	ViewReplacesPrevious bool
	// MutationsShareEntities: the instances, partitions and software
	// installations of the mutations Apply returns are the state's own
	// entities, not copies, and a computer's record is rewritten by the
	// next command that changes it. For a caller that reads each mutation before
	// its next call into the state and keeps none, like the simulator,
	// which persists nothing but a Snapshot (always copies): a copy of each
	// entity a command changes is most of what it allocates. The slice of
	// mutations Apply returns is reused by its next call too, and so are
	// the Result.Instance of the commands a node or a requester sends all
	// day (Request, SetConnection, ReportPartition, PartitionDestroyed)
	// and the Result.Computer of Contact: read them before the next call. Off (a
	// shell that persists the mutations after the fact): each is a copy.
	MutationsShareEntities bool
	// RequestParametersHandedOver: the Parameters map of a Request becomes
	// the instance's own, not a copy. For a caller that builds a map for
	// each revision of an instance's parameters and never changes it once
	// sent, like the simulator (a copy per request is most of what a
	// request that changes nothing allocates). Off: the state keeps a copy.
	RequestParametersHandedOver bool
	// AllowLocalSoftwareURLs accepts file:// software release URLs (a
	// grid on one machine, test harnesses); otherwise only network URLs.
	AllowLocalSoftwareURLs bool
	// EventHistory is how many events the state keeps per instance (see
	// Event; DefaultEventHistory via DefaultConfig; 0: none, as the
	// simulator runs, whose hundreds of thousands of instances need not
	// say their history).
	EventHistory int
	// Pricing is the grid's price policy (a curve of core/market whose
	// values are factors of the list price): each instance placed is
	// charged its computer's list price times the factor quoted then
	// (model.Instance.PriceFactor). nil: the list price.
	Pricing *market.Curve
	// DemandWindow is how far back Pricing counts requests as recent
	// demand (0: DefaultDemandWindow).
	DemandWindow time.Duration
}

// DefaultConfig is the production configuration.
func DefaultConfig() Config {
	return Config{Policy: alloc.PolicyFirstFit, OnlineWithin: 0, KeepMovements: true, Limits: DefaultLimits(),
		EventHistory: DefaultEventHistory}
}

// meta holds the counters that make identifiers and versions grow.
type meta struct {
	Clock     uint64 `json:"clock"`     // versions
	Persons   uint64 `json:"persons"`   // PERSON-n
	Instances uint64 `json:"instances"` // SOFTINST-n
	Movements uint64 `json:"movements"` // MVT-n
}

type computerState struct {
	// lastContact is c.LastContact (syncCandidate and contact keep it), and
	// comes first with viewVersion: a poll reads these two, and a grid's
	// computers are too many for their records to stay in a cache.
	lastContact time.Time
	viewVersion uint64
	c           *model.Computer
	parts       []*model.Partition // natural order
	partIdx     partIndex
	software    map[string]*model.SoftwareInstallation
	cand        *alloc.Candidate
	view        viewCache
	record      computerRecord // the computer's mutation with Config.MutationsShareEntities
	// held is instanceIn's memory: the instance each partition held when
	// last asked, valid while heldGen is State.instGen.
	held    idIndex[model.Instance]
	heldGen uint64
	dropped bool // removed from State.computers (a Poll of it is stale)
}

type instKey struct{ owner, root, title string }

// State is the master's whole in-memory state. See the package doc for the
// caller's duties.
type State struct {
	cfg       Config
	meta      meta
	persons   map[string]*model.Person
	computers map[string]*computerState
	cands     []*alloc.Candidate // sorted by computer id
	candIdx   *alloc.Index       // cands by free partitions; nil when cands changed (candIndex)
	instances map[string]*model.Instance
	byKey     map[instKey]string         // live (not destroyed) instances
	trees     map[instKey]members        // (owner, root title, "") -> member guids
	hosted    map[string]map[string]bool // host guid -> shared guids
	pending   pendingQueue               // instances waiting for a home
	rejects   map[rejectKey]rejectEntry  // see rejection
	usage     map[string]*Usage          // by person: derived from live instances, never persisted
	movements []*account.Movement        // sorted by ID; each shared with the mutation that recorded it
	journals  map[string]bool
	revoked   map[string]*Revocation        // by Revocation.key
	creds     map[string]*Credential        // by person
	events    map[string][]eventRecord      // by instance guid: the last Config.EventHistory events
	idem      map[string]*IdempotencyRecord // by idempotencyID
	idemOrder []*IdempotencyRecord          // oldest first
	slaRaws   slaRaws                       // rendered SLAs, shared by views and infos

	destroyTimes *DestructionTimes // nil on a database never upgraded to record them
	arrivals     []time.Time       // requests within the demand window, with Config.Pricing

	softwareURLs map[string]bool // valid software release URLs seen last: whether each is local (validateSoftwareURL)

	muts        []Mutation             // mutations of the command being applied
	shared      []Mutation             // what Apply returned last, with Config.MutationsShareEntities
	infoOut     InstanceInfo           // the Result.Instance of the last command, with reusesResults
	computerOut model.Computer         // the Result.Computer of the last contact, with reusesResults
	wantScratch idIndex[PartitionSpec] // setCapacity's partitions by id, empty between commands
	now         time.Time              // the time of the command being applied

	// seeding: Seed applies a batch, which owns its commands' maps (keep).
	seeding bool
	// instGen counts the times instances were replaced or deleted (a
	// follower's): what instanceIn remembers before is stale.
	instGen uint64
}

// New returns an empty state.
func New(cfg Config) *State {
	if cfg.Policy == "" {
		cfg.Policy = alloc.PolicyFirstFit
	}
	return &State{
		cfg:       cfg,
		persons:   map[string]*model.Person{},
		computers: map[string]*computerState{},
		instances: map[string]*model.Instance{},
		byKey:     map[instKey]string{},
		trees:     map[instKey]members{},
		hosted:    map[string]map[string]bool{},
		pending:   newPendingQueue(),
		usage:     map[string]*Usage{},
		journals:  map[string]bool{},
		creds:     map[string]*Credential{},
		events:    map[string][]eventRecord{},
	}
}

// Config returns the configuration the state runs with.
func (s *State) Config() Config { return s.cfg }

func (s *State) tick() uint64 {
	s.meta.Clock++
	s.muts = append(s.muts, Mutation{Kind: KindMeta, Key: "meta", Value: liveMeta{}})
	return s.meta.Clock
}

func keyOf(i *model.Instance) instKey { return instKey{i.Owner, i.RootTitle, i.Title} }

func treeOf(i *model.Instance) instKey { return instKey{i.Owner, i.TreeTitle(), ""} }

func (s *State) addToIndexes(i *model.Instance) {
	s.indexInstance(i)
	if waitsForHome(i) {
		s.pending.add(i)
	}
}

// waitsForHome reports whether an instance belongs in the pending queue.
func waitsForHome(i *model.Instance) bool {
	return !i.Allocated() && !i.Freed && i.RequestedState != model.StateDestroyed
}

// indexInstance adds an instance to every index but the pending queue.
func (s *State) indexInstance(i *model.Instance) {
	if i.RequestedState != model.StateDestroyed {
		s.byKey[keyOf(i)] = i.GUID
	}
	if live(i) {
		s.charge(i, 1)
	}
	if !i.Freed {
		s.addToTree(treeOf(i), i.GUID)
	}
	if i.Shared && i.HostGUID != "" && !i.Freed {
		if s.hosted[i.HostGUID] == nil {
			s.hosted[i.HostGUID] = map[string]bool{}
		}
		s.hosted[i.HostGUID][i.GUID] = true
	}
}

// treeMembers returns the guids of the live members of a tree, sorted.
func (s *State) treeMembers(t instKey) []string {
	m := s.trees[t]
	if m.many == nil {
		if m.one == "" {
			return nil
		}
		return []string{m.one} // a root alone, as most are
	}
	return slices.SortedFunc(m.all(), compareGUID)
}

// compareGUID orders SOFTINST-2 before SOFTINST-10.
func compareGUID(a, b string) int { return model.ComparePartitionIDs(a, b) }

func (s *State) sortCands() {
	slices.SortFunc(s.cands, func(a, b *alloc.Candidate) int { return cmp.Compare(a.ID, b.ID) })
	s.candIdx = nil
	s.candidatesChanged()
}

// addCandidate adds a computer's candidate to cands (call sortCands next).
func (s *State) addCandidate(cs *computerState) {
	s.cands = append(s.cands, cs.cand)
	s.candIdx = nil
}

// dropComputer removes a registered computer and its candidate.
func (s *State) dropComputer(cs *computerState) {
	delete(s.computers, cs.c.ID)
	cs.dropped = true
	s.dropCandidate(cs)
}

// dropCandidate removes a computer's candidate from cands.
func (s *State) dropCandidate(cs *computerState) {
	s.cands = slices.DeleteFunc(s.cands, func(c *alloc.Candidate) bool { return c == cs.cand })
	s.candIdx = nil
	s.candidatesChanged()
}

// candIndex returns the index of cands by free partitions, built again
// after cands changed; freeChanged keeps it up to date in between.
func (s *State) candIndex() *alloc.Index {
	if s.candIdx == nil {
		s.candIdx = alloc.NewIndex(s.cands)
	}
	return s.candIdx
}

// freeChanged tells the allocator that the free partitions of a computer
// changed: call it after every change of cs.cand.Free.
func (s *State) freeChanged(cs *computerState) {
	if s.candIdx != nil {
		s.candIdx.Update(cs.cand)
	}
	s.candidatesChanged()
}

// markView bumps a computer's view version: its view changed.
func (s *State) markView(computerID string) {
	if cs := s.computers[computerID]; cs != nil {
		cs.viewVersion = s.tick()
		s.recordComputer(cs)
	}
}

func (s *State) root(i *model.Instance) *model.Instance {
	if i.IsRoot() {
		return i
	}
	if g, ok := s.byKey[instKey{i.Owner, "", i.RootTitle}]; ok {
		return s.instances[g]
	}
	// A root being destroyed has left byKey but is still in its tree.
	for g := range s.trees[treeOf(i)].all() {
		if m := s.instances[g]; m.IsRoot() {
			return m
		}
	}
	return nil
}

// Recording mutations: while a command runs, each records the live entity
// (the computer's state for a computer, liveMeta for the counters);
// copyRecorded then takes one copy of each entity the command kept, as the
// command left it, so the caller may persist it later. A command records
// the same instance or computer many times: a copy per record was most of
// the master's allocations. The copy shares the entity's maps and slices
// (parameters, connection, SLA, addresses, attributes, prices): the state
// never modifies those in place, it replaces them (see Mutation).

// liveMeta stands for the state's counters in a mutation being recorded.
type liveMeta struct{}

func (s *State) recordInstance(i *model.Instance) {
	s.staleInstance(i)
	s.muts = append(s.muts, Mutation{Kind: KindInstance, Key: i.GUID, Value: i})
}

func (s *State) recordPartition(p *model.Partition) {
	s.stalePartition(p.ComputerID, p.ID)
	s.muts = append(s.muts, Mutation{Kind: KindPartition, Key: p.Key(), Value: p})
}

func (s *State) recordComputer(cs *computerState) {
	s.muts = append(s.muts, Mutation{Kind: KindComputer, Key: cs.c.ID, Value: cs})
}

func (s *State) recordSoftware(sw *model.SoftwareInstallation) {
	s.muts = append(s.muts, Mutation{Kind: KindSoftware, Key: sw.Key(), Value: sw})
}

// copyRecorded replaces, in place, each live entity ms holds by a copy;
// with share, only the counters and computers (each into the one record
// its state keeps), leaving the instances, partitions and software
// installations shared (see Config.MutationsShareEntities).
func (s *State) copyRecorded(ms []Mutation, share bool) {
	for k := range ms {
		switch v := ms[k].Value.(type) {
		case liveMeta:
			ms[k].Value = s.meta
		case *computerState:
			r := &v.record // one record per computer, rewritten
			if !share {
				r = new(computerRecord)
			}
			*r = computerRecord{Computer: *v.c, ViewVersion: v.viewVersion}
			ms[k].Value = r
		}
		if share {
			continue
		}
		switch v := ms[k].Value.(type) {
		case *model.Instance:
			c := *v
			ms[k].Value = &c
		case *model.Partition:
			c := *v
			ms[k].Value = &c
		case *model.SoftwareInstallation:
			c := *v
			ms[k].Value = &c
		}
	}
}

// syncCandidate refreshes the allocator's view of a computer.
func (s *State) syncCandidate(cs *computerState) {
	c := cs.c
	cd := cs.cand
	cd.ID, cd.Owner = c.ID, c.Owner
	cd.Region, cd.Network, cd.Arch = c.Region, c.Network, c.Hardware.Arch
	cd.CPU, cd.RAM, cd.Disk = c.Hardware.CPU, c.Hardware.RAM, c.Hardware.Disk
	cd.Attributes = c.Attributes
	cd.Price = c.HourlyPrice()
	cd.Scope = c.Scope
	cd.LastContact = c.LastContact
	cs.lastContact = c.LastContact
	if cd.Software == nil {
		cd.Software = map[string]bool{}
	}
	clear(cd.Software)
	for u, sw := range cs.software {
		if sw.Requested == model.SoftwareAvailable {
			cd.Software[u] = true
		}
	}
	free := 0
	for _, p := range cs.parts {
		if p.Status == model.PartitionFree {
			free++
		}
	}
	cd.Free, cd.Total = free, len(cs.parts)
	s.freeChanged(cs)
}

// reusesResults reports whether the caller reads each result before its
// next call into the state (Seed, Config.MutationsShareEntities): the
// results of the most frequent commands are then the state's own.
func (s *State) reusesResults() bool { return s.seeding || s.cfg.MutationsShareEntities }

// instanceResult returns info as a Result.Instance: a new InstanceInfo, or
// the state's own when it reusesResults.
func (s *State) instanceResult(info InstanceInfo) *InstanceInfo {
	p := &s.infoOut
	if !s.reusesResults() {
		p = new(InstanceInfo)
	}
	*p = info
	return p
}

// instanceIn returns the instance partition p of cs holds,
// s.instances[p.InstanceGUID] (nil: none).
//
// NB: the node commands name a partition, and a lookup in a map of every
// instance misses the caches: the answer is remembered per partition, and
// still valid while the partition names the same guid, as instances are
// never replaced by others of the same guid but by a follower (instGen).
func (s *State) instanceIn(cs *computerState, p *model.Partition) *model.Instance {
	g := p.InstanceGUID
	if g == "" {
		return nil
	}
	if cs.heldGen != s.instGen {
		cs.held.clear()
		cs.heldGen = s.instGen
	}
	if i := cs.held.get(p.ID); i != nil && i.GUID == g {
		return i
	}
	i := s.instances[g]
	if i != nil {
		cs.held.set(p.ID, i)
	}
	return i
}

package master

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
)

// info describes an instance. NB: it shares the instance's maps, its
// partition's addresses and its rendered SLA (read only, as a Mutation's
// Value).
func (s *State) info(i *model.Instance) InstanceInfo {
	var p *model.Partition
	if i.PartitionID != "" {
		if cs := s.computers[i.ComputerID]; cs != nil {
			p = cs.partIdx.get(i.PartitionID)
		}
	}
	return s.infoIn(i, p)
}

// infoAt is info for an instance the caller found in partition p: no
// lookup of its partition when p is it.
func (s *State) infoAt(i *model.Instance, p *model.Partition) InstanceInfo {
	if i.PartitionID == "" || p.ID != i.PartitionID || p.ComputerID != i.ComputerID {
		return s.info(i)
	}
	return s.infoIn(i, p)
}

// infoIn is info for an instance whose partition p (nil: none) the
// caller found already.
func (s *State) infoIn(i *model.Instance, p *model.Partition) InstanceInfo {
	info := InstanceInfo{
		GUID: i.GUID, Title: i.Title, Owner: i.Owner, RootTitle: i.RootTitle,
		SoftwareRelease: i.SoftwareRelease, SoftwareType: i.SoftwareType, Shared: i.Shared,
		RequestedState: i.RequestedState, Parameters: i.Parameters,
		PendingReason: i.PendingReason, ComputerID: i.ComputerID, PartitionID: i.PartitionID,
		HostGUID: i.HostGUID, Connection: i.Connection, ReportedState: i.ReportedState,
		ReportedError: i.ReportedError, Version: i.Version, CreatedAt: i.CreatedAt, StartedAt: i.StartedAt,
		PriceFactor: i.PriceFactor,
	}
	if !i.SLA.IsZero() {
		if info.SLA = s.slaRaws.raw(i.SLA); len(info.SLA) == 0 {
			info.SLA = nil
		}
	}
	info.Status = status(i)
	if p != nil {
		info.Addresses = p.Addresses
		if p.InstanceGUID == i.GUID {
			info.ReportedAt = p.ReportedAt
		}
	}
	return info
}

// status is an instance's allocation status (InstanceInfo.Status).
func status(i *model.Instance) string {
	switch {
	case i.Freed || i.RequestedState == model.StateDestroyed:
		return StatusDestroyed
	case i.Allocated():
		return StatusAllocated
	default:
		return StatusPending
	}
}

// ViewVersion is the version of a computer's view: a poll that already
// has it needs nothing else. It costs one map lookup.
func (s *State) ViewVersion(computerID string) (uint64, bool) {
	cs := s.computers[computerID]
	if cs == nil {
		return 0, false
	}
	return cs.viewVersion, true
}

// CanReadComputer says whether a caller may read a computer's view.
func (s *State) CanReadComputer(a model.Actor, computerID string) error {
	_, err := s.requireComputerAccess(a, computerID, "read the view")
	return err
}

// ComputerView builds what a computer must be. Partitions are in natural
// order, software sorted by URL. Only the partitions changed since the
// last call are rendered again (see viewCache).
//
// NB: the view shares its partitions, and their maps and slices, with the
// state and with the other views of the computer: callers must not modify
// it.
func (s *State) ComputerView(computerID string) (model.ComputerView, error) {
	cs := s.computers[computerID]
	if cs == nil {
		return model.ComputerView{}, notFoundf("computer %s is not registered", computerID)
	}
	v := model.ComputerView{ComputerID: computerID, Version: cs.viewVersion,
		Software: make([]model.SoftwareView, 0, len(cs.software))}
	for u, sw := range cs.software {
		v.Software = append(v.Software, model.SoftwareView{URL: u, Requested: sw.Requested})
	}
	slices.SortFunc(v.Software, func(a, b model.SoftwareView) int { return strings.Compare(a.URL, b.URL) })
	v.Partitions = s.renderedPartitions(cs)
	return v, nil
}

// Instance returns an instance as the caller may see it.
func (s *State) Instance(a model.Actor, guid string) (InstanceInfo, error) {
	inst := s.instances[guid]
	if inst == nil {
		return InstanceInfo{}, notFoundf("instance %s does not exist", guid)
	}
	if !s.canActOnInstance(a, inst) {
		if a.Kind == model.KindPerson {
			// Do not reveal that another person's instance exists.
			return InstanceInfo{}, notFoundf("instance %s does not exist", guid)
		}
		return InstanceInfo{}, forbiddenf("%s may not read %s", a, guid)
	}
	return s.info(inst), nil
}

// InstanceByTitle finds the live instance a caller requested under a title
// (a person: a root; an instance: a member of its tree).
func (s *State) InstanceByTitle(a model.Actor, title string) (InstanceInfo, error) {
	var key instKey
	switch a.Kind {
	case model.KindPerson:
		key = instKey{a.ID, "", title}
	case model.KindInstance:
		me := s.instances[a.ID]
		if me == nil {
			return InstanceInfo{}, forbiddenf("%s is not a known instance", a)
		}
		key = instKey{me.Owner, me.TreeTitle(), title}
	default:
		return InstanceInfo{}, forbiddenf("%s has no instances of its own", a)
	}
	g, ok := s.byKey[key]
	if !ok {
		return InstanceInfo{}, notFoundf("no instance titled %q", title)
	}
	return s.info(s.instances[g]), nil
}

// Instances lists what a caller may see: the admin all, a person its own,
// an instance its tree, a computer what it hosts. Destroyed and freed
// instances are left out unless withFreed.
func (s *State) Instances(a model.Actor, withFreed bool) []InstanceInfo {
	var out []InstanceInfo
	for _, g := range slices.SortedFunc(maps.Keys(s.instances), compareGUID) {
		i := s.instances[g]
		if (i.Freed && !withFreed) || !s.canActOnInstance(a, i) {
			continue
		}
		out = append(out, s.info(i))
	}
	return out
}

// PendingInfo is one request waiting for a home.
type PendingInfo struct {
	GUID   string `json:"guid"`
	Title  string `json:"title"`
	Owner  string `json:"owner"`
	Reason string `json:"reason"`
}

// Pending lists the requests not placed yet, oldest first, with why.
func (s *State) Pending() []PendingInfo {
	out := make([]PendingInfo, 0, s.pending.len())
	for _, g := range s.pending.all() {
		i := s.instances[g]
		out = append(out, PendingInfo{GUID: g, Title: i.Title, Owner: i.Owner, Reason: i.PendingReason})
	}
	return out
}

// PendingCount is len(Pending()) without building it.
func (s *State) PendingCount() int { return s.pending.len() }

// Computer returns a computer if the caller may see it (its owner, the
// admin, the computer itself; others see only open computers).
func (s *State) Computer(a model.Actor, id string) (model.Computer, error) {
	cs := s.computers[id]
	if cs == nil || !s.canSeeComputer(a, cs) {
		return model.Computer{}, notFoundf("computer %s is not registered", id)
	}
	return *cs.c, nil
}

func (s *State) canSeeComputer(a model.Actor, cs *computerState) bool {
	switch a.Kind {
	case model.KindAdmin:
		return true
	case model.KindPerson:
		return a.ID == cs.c.Owner
	case model.KindComputer:
		return a.ID == cs.c.ID
	}
	return false
}

// Computers lists the computers a caller may see, sorted by id.
func (s *State) Computers(a model.Actor) []model.Computer {
	var out []model.Computer
	for _, cd := range s.cands {
		cs := s.computers[cd.ID]
		if s.canSeeComputer(a, cs) {
			out = append(out, *cs.c)
		}
	}
	return out
}

// ComputerIDs lists every computer id, sorted.
func (s *State) ComputerIDs() []string {
	out := make([]string, len(s.cands))
	for i, c := range s.cands {
		out[i] = c.ID
	}
	return out
}

// Partitions returns a computer's partitions (copies), natural order.
func (s *State) Partitions(computerID string) []model.Partition {
	cs := s.computers[computerID]
	if cs == nil {
		return nil
	}
	out := make([]model.Partition, len(cs.parts))
	for i, p := range cs.parts {
		out[i] = *p
	}
	return out
}

// Software returns a computer's software installations, sorted by URL.
func (s *State) Software(computerID string) []model.SoftwareInstallation {
	cs := s.computers[computerID]
	if cs == nil {
		return nil
	}
	out := make([]model.SoftwareInstallation, 0, len(cs.software))
	for _, u := range slices.Sorted(maps.Keys(cs.software)) {
		out = append(out, *cs.software[u])
	}
	return out
}

// InstanceInPartition returns the instance a partition holds, if any.
func (s *State) InstanceInPartition(computerID, partitionID string) (InstanceInfo, bool) {
	cs := s.computers[computerID]
	if cs == nil {
		return InstanceInfo{}, false
	}
	p := cs.partIdx.get(partitionID)
	if p == nil || p.InstanceGUID == "" {
		return InstanceInfo{}, false
	}
	return s.info(s.instances[p.InstanceGUID]), true
}

// TreeAddresses is the addresses of every partition that holds an instance
// of the tree of the instance in computerID/partitionID (SlapOS's
// getHostingSubscriptionIpList, which slapgrid's optional firewall reads
// to let the partitions of one tree reach each other). Only the computer
// hosting that partition, the instance in it, and the admin may ask. A
// free partition, or an instance requested destroyed, has none.
func (s *State) TreeAddresses(a model.Actor, computerID, partitionID string) ([]model.Address, error) {
	cs := s.computers[computerID]
	switch {
	case a.Kind == model.KindAdmin:
	case a.Kind == model.KindComputer && a.ID == computerID:
	case a.Kind == model.KindInstance && cs != nil && cs.partIdx.get(partitionID) != nil && cs.partIdx.get(partitionID).InstanceGUID == a.ID:
	default:
		return nil, forbiddenf("%s may not read the addresses of the tree in %s/%s", a, computerID, partitionID)
	}
	if cs == nil {
		return nil, notFoundf("computer %s is not registered", computerID)
	}
	p := cs.partIdx.get(partitionID)
	if p == nil {
		return nil, notFoundf("computer %s has no partition %s", computerID, partitionID)
	}
	inst := s.instances[p.InstanceGUID]
	if inst == nil || inst.Freed || inst.RequestedState == model.StateDestroyed {
		return nil, nil
	}
	var out []model.Address
	for _, g := range s.treeMembers(treeOf(inst)) {
		m := s.instances[g]
		if m.Shared || m.Freed || m.PartitionID == "" {
			continue
		}
		if mc := s.computers[m.ComputerID]; mc != nil {
			if mp := mc.partIdx.get(m.PartitionID); mp != nil && mp.InstanceGUID == m.GUID {
				out = append(out, mp.Addresses...)
			}
		}
	}
	return out, nil
}

// Person returns a person.
func (s *State) Person(id string) (model.Person, bool) {
	p := s.persons[id]
	if p == nil {
		return model.Person{}, false
	}
	return *p, true
}

// Persons lists persons, sorted by id.
func (s *State) Persons() []model.Person {
	out := make([]model.Person, 0, len(s.persons))
	for _, id := range slices.Sorted(maps.Keys(s.persons)) {
		out = append(out, *s.persons[id])
	}
	return out
}

// Capacity counts partitions: free and busy, over every computer.
func (s *State) Capacity() (free, busy int) {
	for _, c := range s.cands {
		free += c.Free
		busy += c.Total - c.Free
	}
	return free, busy
}

// Movements returns the recorded movements (shared slice and movements: do
// not modify).
func (s *State) Movements() []*account.Movement { return s.movements }

// Invoices builds the invoices of a period. A person sees its own; the
// admin everyone's (person "" = all). Hosting still running is counted up
// to now.
func (s *State) Invoices(a model.Actor, person string, start, end, now time.Time) ([]account.Invoice, error) {
	switch a.Kind {
	case model.KindAdmin:
	case model.KindPerson:
		if person != "" && person != a.ID {
			return nil, forbiddenf("%s may not read the invoices of %s", a, person)
		}
		person = a.ID
	default:
		return nil, forbiddenf("%s may not read invoices", a)
	}
	ms := s.movements
	if person != "" {
		ms = nil
		for _, m := range s.movements {
			if m.Owner == person {
				ms = append(ms, m)
			}
		}
	}
	// In map order: BuildInvoices does not depend on the order of ms.
	running := make([]*model.Instance, 0, len(s.instances))
	for _, i := range s.instances {
		if !i.StartedAt.IsZero() && (person == "" || i.Owner == person) && now.After(i.StartedAt) {
			running = append(running, i)
		}
	}
	hosting := make([]account.Movement, len(running))
	ms = slices.Grow(slices.Clip(ms), len(running)) // never into s.movements
	for k, i := range running {
		hosting[k] = s.priceHosting(account.HostingMovement(i, i.StartedAt, now), i)
		ms = append(ms, &hosting[k])
	}
	return account.BuildInvoices(ms, start, end), nil
}

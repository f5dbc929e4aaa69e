package master

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
)

// stateRank orders requested states: destroyed wins over stopped over started.
func stateRank(st model.RequestedState) int {
	switch st {
	case model.StateDestroyed:
		return 2
	case model.StateStopped:
		return 1
	}
	return 0
}

// effectiveState is a member's own state, or its root's when the root is
// not started (SlapOS: a child of a non-started root takes the root's state).
func effectiveState(own model.RequestedState, root *model.Instance) model.RequestedState {
	if root != nil && stateRank(root.RequestedState) > stateRank(own) {
		return root.RequestedState
	}
	return own
}

func (s *State) request(now time.Time, c Request) (Result, error) {
	// Who asks, and in which tree.
	var owner, rootTitle, requester string
	var root *model.Instance
	switch c.By.Kind {
	case model.KindPerson:
		id, err := s.requirePerson(c.By, "request instances")
		if err != nil {
			return Result{}, err
		}
		owner = id
	case model.KindInstance:
		req, err := s.liveInstanceActor(c.By)
		if err != nil {
			return Result{}, err
		}
		owner, rootTitle, requester = req.Owner, req.TreeTitle(), req.GUID
		root = s.root(req)
		if root == nil {
			return Result{}, conflictf("instance %s: its root %q is gone", req.GUID, rootTitle)
		}
	default:
		return Result{}, forbiddenf("%s may not request instances: only a person or an instance may", c.By)
	}
	// Validate everything before changing anything.
	if err := model.ValidateTitle(c.Title); err != nil {
		return Result{}, fieldErr(FieldTitle, err)
	}
	if err := s.validateSoftwareURL(c.SoftwareRelease); err != nil {
		return Result{}, fieldErr(FieldSoftwareRelease, err)
	}
	stype := c.SoftwareType
	if stype == "" {
		stype = model.DefaultSoftwareType
	}
	if err := model.ValidateText("software type", stype); err != nil {
		return Result{}, fieldErr(FieldSoftwareType, err)
	}
	if err := model.ValidateParameters(c.Parameters); err != nil {
		return Result{}, fieldErr(FieldParameters, err)
	}
	sla, err := model.ParseSLA(c.SLA)
	if err != nil {
		return Result{}, fieldErr(FieldSLA, err)
	}
	if _, err := model.ParseRequestedState(string(c.State)); err != nil {
		return Result{}, fieldErr(FieldState, err)
	}
	key := instKey{owner, rootTitle, c.Title}
	existing, found, err := s.admitRequest(c, key)
	if err != nil {
		return Result{}, err
	}
	if found {
		return s.updateInstance(now, existing, c, stype, sla)
	}
	if c.State == model.StateDestroyed {
		// Destroying what does not exist changes nothing.
		return Result{Instance: &InstanceInfo{Title: c.Title, Owner: owner, RootTitle: rootTitle,
			SoftwareRelease: c.SoftwareRelease, SoftwareType: stype, Shared: c.Shared,
			RequestedState: model.StateDestroyed, Status: StatusDestroyed}}, nil
	}
	own := c.State
	if own == "" {
		own = model.StateStarted
	}
	s.meta.Instances++
	inst := &model.Instance{
		GUID: "SOFTINST-" + strconv.FormatUint(s.meta.Instances, 10), Title: c.Title, Owner: owner,
		RootTitle: rootTitle, RequesterGUID: requester, SoftwareRelease: c.SoftwareRelease,
		SoftwareType: stype, Parameters: s.keepParameters(c.Parameters), SLA: sla, Shared: c.Shared,
		OwnState: own, RequestedState: effectiveState(own, root), CreatedAt: now,
	}
	inst.Version = s.tick()
	s.instances[inst.GUID] = inst
	if s.history() {
		s.event(inst, EventRequested, "requested %s (type %s)", inst.RequestedState, stype)
	}
	if !inst.Shared {
		s.noteArrival(now)
	}
	// Not addToIndexes: place marks it pending when it finds no home (an
	// instance placed at once never enters the queue).
	s.indexInstance(inst)
	s.place(now, inst)
	s.recordInstance(inst)
	if inst.Allocated() && !inst.Shared {
		s.retryPendingShared(now)
	}
	info := s.instanceResult(s.info(inst))
	return Result{Instance: info}, nil
}

func (s *State) updateInstance(now time.Time, inst *model.Instance, c Request, stype string, sla model.SLA) (Result, error) {
	if inst.Shared != c.Shared {
		return Result{}, conflictf("instance %q (%s) is shared=%v: it cannot be requested again with shared=%v",
			inst.Title, inst.GUID, inst.Shared, c.Shared)
	}
	if what := s.requestChanges(inst, c, stype, sla); len(what) > 0 {
		s.event(inst, EventChanged, "changed: %s", strings.Join(what, ", "))
	}
	changed := false
	if inst.SoftwareRelease != c.SoftwareRelease {
		inst.SoftwareRelease = c.SoftwareRelease
		changed = true
	}
	if inst.SoftwareType != stype {
		inst.SoftwareType = stype
		changed = true
	}
	if !maps.Equal(inst.Parameters, c.Parameters) && !(len(inst.Parameters) == 0 && len(c.Parameters) == 0) {
		s.charge(inst, -1)
		inst.Parameters = s.keepParameters(c.Parameters)
		s.charge(inst, 1)
		changed = true
	}
	// The SLA is part of what the node sees (SlapOS's _filter_dict): a
	// change is a change of the instance.
	slaChanged := !inst.SLA.Equal(sla)
	if slaChanged {
		inst.SLA = sla
		changed = true
	}
	if changed {
		s.bumpInstance(inst)
	}
	if c.State != "" && c.State != inst.OwnState {
		s.changeOwnState(now, inst, c.State)
		changed = true
	}
	if (changed || slaChanged) && !inst.Allocated() && s.pending.has(inst.GUID) {
		s.place(now, inst)
	}
	if changed || slaChanged {
		s.recordInstance(inst)
	}
	info := s.instanceResult(s.info(inst))
	return Result{Instance: info, Changed: changed || slaChanged}, nil
}

// changeOwnState sets what the requester asks of an instance and applies
// the effective state to it and, for a root, to its tree.
func (s *State) changeOwnState(now time.Time, inst *model.Instance, st model.RequestedState) {
	inst.OwnState = st
	before := inst.RequestedState
	s.applyEffectiveState(now, inst)
	if inst.RequestedState == before {
		if s.history() {
			s.event(inst, EventState, "%s requested: it stays %s, as its root is", st, before)
		}
	}
	if inst.IsRoot() {
		if t := s.trees[treeOf(inst)]; t.many == nil && (t.one == "" || t.one == inst.GUID) {
			return // a root alone, as most are
		}
		for _, g := range s.treeMembers(treeOf(inst)) {
			if g != inst.GUID {
				s.applyEffectiveState(now, s.instances[g])
			}
		}
	}
}

// setState changes only an instance's requested state (see SetState).
func (s *State) setState(now time.Time, c SetState) (Result, error) {
	inst := s.instances[c.InstanceGUID]
	if inst == nil {
		return Result{}, notFoundf("instance %s does not exist", c.InstanceGUID)
	}
	if c.By.Kind == model.KindComputer || !s.canActOnInstance(c.By, inst) {
		if c.By.Kind == model.KindPerson {
			// Do not reveal that another person's instance exists.
			return Result{}, notFoundf("instance %s does not exist", c.InstanceGUID)
		}
		return Result{}, forbiddenf("%s may not change the state of %s", c.By, c.InstanceGUID)
	}
	if c.State == "" {
		return Result{}, invalidf("state is empty: expected started, stopped or destroyed")
	}
	if _, err := model.ParseRequestedState(string(c.State)); err != nil {
		return Result{}, err
	}
	if inst.Freed || inst.RequestedState == model.StateDestroyed {
		if c.State == model.StateDestroyed {
			info := s.info(inst)
			return Result{Instance: &info}, nil
		}
		return Result{}, conflictf("instance %s is destroyed: it cannot be %s again (request it anew)", inst.GUID, c.State)
	}
	if c.State == inst.OwnState {
		info := s.info(inst)
		return Result{Instance: &info}, nil
	}
	s.changeOwnState(now, inst, c.State)
	if !inst.Allocated() && s.pending.has(inst.GUID) && inst.RequestedState != model.StateDestroyed {
		s.place(now, inst)
	}
	s.recordInstance(inst)
	info := s.info(inst)
	return Result{Instance: &info, Changed: true}, nil
}

// bumpInstance gives an instance a new version and marks the views that
// show it: its partition's computer, or its host's.
func (s *State) bumpInstance(inst *model.Instance) {
	inst.Version = s.tick()
	s.recordInstance(inst)
	if inst.Shared {
		if h := s.instances[inst.HostGUID]; h != nil {
			h.Version = s.tick()
			s.recordInstance(h)
			s.markView(h.ComputerID)
		}
		return
	}
	if inst.PartitionID != "" {
		s.markView(inst.ComputerID)
	}
}

// applyEffectiveState recomputes an instance's effective state from its own
// and its root's, and applies the difference.
func (s *State) applyEffectiveState(now time.Time, inst *model.Instance) {
	if inst.Freed || inst.RequestedState == model.StateDestroyed {
		return
	}
	var root *model.Instance
	if !inst.IsRoot() {
		root = s.root(inst)
	}
	eff := effectiveState(inst.OwnState, root)
	if eff == inst.RequestedState {
		return
	}
	inst.RequestedState = eff
	switch {
	case !s.history():
	case eff == inst.OwnState:
		s.event(inst, EventState, "%s requested", eff)
	default:
		s.event(inst, EventState, "%s, as its root is", eff)
	}
	if eff == model.StateDestroyed {
		s.destroyInstance(now, inst)
		return
	}
	s.bumpInstance(inst)
}

// destroyInstance handles an instance newly requested destroyed.
func (s *State) destroyInstance(now time.Time, inst *model.Instance) {
	inst.DestroyedAt = now
	delete(s.byKey, keyOf(inst))
	s.charge(inst, -1)
	s.removeFromHostIndex(inst)
	switch {
	case !inst.Allocated():
		// Never placed: nothing to tear down.
		s.pending.remove(inst)
		s.forget(inst)
		if s.history() {
			s.event(inst, EventDestroyed, "destroyed: it was never placed")
		}
		inst.Version = s.tick()
		s.recordInstance(inst)
	case inst.Shared:
		host := inst.HostGUID
		if s.history() {
			s.event(inst, EventDestroyed, "destroyed: %s no longer hosts it", host)
		}
		if s.hosted[host] != nil {
			delete(s.hosted[host], inst.GUID)
		}
		s.forget(inst)
		inst.Version = s.tick()
		s.recordInstance(inst)
		if h := s.instances[host]; h != nil {
			h.Version = s.tick()
			s.recordInstance(h)
			s.markView(h.ComputerID)
		}
	default:
		s.bumpInstance(inst)
		// Its shared instances look for another host.
		if hosted := s.hosted[inst.GUID]; len(hosted) > 0 { // most host none
			for _, g := range slices.SortedFunc(maps.Keys(hosted), compareGUID) {
				sh := s.instances[g]
				sh.HostGUID, sh.ComputerID = "", ""
				s.pending.add(sh)
				s.recordPending(sh, "its host "+inst.GUID+" is being destroyed")
				sh.PendingReason = "its host " + inst.GUID + " is being destroyed"
				sh.Version = s.tick()
				s.recordInstance(sh)
			}
		}
		delete(s.hosted, inst.GUID)
		s.retryPendingShared(now)
	}
}

// forget marks an instance gone for good (it holds nothing any more).
func (s *State) forget(inst *model.Instance) {
	inst.Freed = true
	s.removeFromTree(treeOf(inst), inst.GUID)
}

func (s *State) removeFromHostIndex(inst *model.Instance) {}

// place finds a home for a pending instance: a partition, or a host for a
// shared instance. On failure the instance keeps its pending reason.
func (s *State) place(now time.Time, inst *model.Instance) bool {
	if inst.Shared {
		return s.placeShared(inst)
	}
	if g := inst.SLA.ComputerGUID; g != "" && s.computers[g] == nil {
		return s.setPending(inst, fmt.Sprintf("computer_guid=%s: no such computer", g))
	}
	req, opts := s.allocRequest(inst), s.allocOptions(now)
	d, ok := s.candIndex().Choose(req, opts)
	if !ok {
		return s.setPending(inst, s.rejection(now, req, opts))
	}
	cs := s.computers[d.ComputerID]
	var part *model.Partition
	for _, p := range cs.parts {
		if p.Status == model.PartitionFree {
			part = p
			break
		}
	}
	if part == nil { // the candidate said Free>0: keep them in sync
		s.syncCandidate(cs)
		return s.setPending(inst, "computer "+cs.c.ID+" has no free partition")
	}
	inst.PriceFactor = s.quote(now, inst) // the state before it takes its partition
	part.Status = model.PartitionBusy
	part.InstanceGUID = inst.GUID
	part.ReportedState, part.ReportedError = "", ""
	cs.cand.Free--
	s.freeChanged(cs)
	inst.ComputerID, inst.PartitionID, inst.PendingReason = cs.c.ID, part.ID, ""
	if s.history() {
		s.event(inst, EventPlaced, "placed %s", placement(inst))
	}
	s.pending.remove(inst)
	inst.Version = s.tick()
	s.recordPartition(part)
	s.recordInstance(inst)
	s.markView(cs.c.ID)
	return true
}

func (s *State) setPending(inst *model.Instance, reason string) bool {
	s.pending.add(inst)
	if inst.PendingReason != reason {
		s.recordPending(inst, reason)
		inst.PendingReason = reason
		s.recordInstance(inst)
	}
	return false
}

// placeShared finds a host instance for a shared instance: the one named by
// SLA instance_guid, else the first started instance (by guid) of the same
// software release and type, on SLA computer_guid when given. Either way the
// host must accept it (sharedHostRefusal).
func (s *State) placeShared(inst *model.Instance) bool {
	var host *model.Instance
	if g := inst.SLA.InstanceGUID; g != "" {
		h := s.instances[g]
		switch {
		case h == nil || h.Freed || h.RequestedState == model.StateDestroyed:
			return s.setPending(inst, "instance_guid="+g+": no such live instance")
		case h.Shared:
			return s.setPending(inst, "instance_guid="+g+": a shared instance cannot host another")
		case h.SoftwareRelease != inst.SoftwareRelease:
			return s.setPending(inst, "instance_guid="+g+": runs another software release")
		case h.PartitionID == "":
			return s.setPending(inst, "instance_guid="+g+": not allocated yet")
		case s.hostFull(g):
			return s.setPending(inst, s.hostFullReason(g))
		}
		if why := s.sharedHostRefusal(inst, h); why != "" {
			return s.setPending(inst, "instance_guid="+g+": "+why)
		}
		host = h
	} else {
		full, refused := 0, 0
		for _, g := range slices.SortedFunc(maps.Keys(s.instances), compareGUID) {
			h := s.instances[g]
			if h.Shared || h.Freed || h.PartitionID == "" || h.RequestedState != model.StateStarted ||
				h.SoftwareRelease != inst.SoftwareRelease || h.SoftwareType != inst.SoftwareType {
				continue
			}
			if cg := inst.SLA.ComputerGUID; cg != "" && h.ComputerID != cg {
				continue
			}
			if s.sharedHostRefusal(inst, h) != "" {
				refused++
				continue
			}
			if s.hostFull(g) {
				full++
				continue
			}
			host = h
			break
		}
		if host == nil && full > 0 {
			return s.setPending(inst, fmt.Sprintf("the %d started instances of %s type %s that could host it hold max-shared-per-host=%d shared instances each",
				full, inst.SoftwareRelease, inst.SoftwareType, s.cfg.Limits.MaxSharedPerHost))
		}
		if host == nil {
			reason := fmt.Sprintf("no started instance of %s type %s to host it", inst.SoftwareRelease, inst.SoftwareType)
			if refused > 0 {
				reason += fmt.Sprintf(" (%d on computers closed to the marketplace, which host only their owner's shared instances)", refused)
			}
			return s.setPending(inst, reason)
		}
	}
	inst.HostGUID, inst.ComputerID, inst.PendingReason = host.GUID, host.ComputerID, ""
	if s.history() {
		s.event(inst, EventPlaced, "placed: %s", placement(inst))
	}
	s.pending.remove(inst)
	if s.hosted[host.GUID] == nil {
		s.hosted[host.GUID] = map[string]bool{}
	}
	s.hosted[host.GUID][inst.GUID] = true
	inst.Version = s.tick()
	s.recordInstance(inst)
	host.Version = s.tick()
	s.recordInstance(host)
	s.markView(host.ComputerID)
	return true
}

// sharedHostRefusal says why host may not host the shared instance inst, or
// "" when it may. The host's node receives the shared instance's parameters
// and publishes the connection parameters its requester reads, so:
//
//   - on a computer open to the marketplace, any person's shared instance
//     may be hosted, by an instance of the same software type when the host
//     belongs to another person;
//   - on a closed computer, only the computer owner's own shared instances,
//     hosted by the owner's own instances.
//
// NB: a person's own host named by instance_guid accepts any software type,
// as in SlapOS.
func (s *State) sharedHostRefusal(inst, host *model.Instance) string {
	cs := s.computers[host.ComputerID]
	if cs == nil {
		return "its computer " + host.ComputerID + " is not registered"
	}
	foreign := host.Owner != inst.Owner
	if cs.c.Scope != model.ScopeOpen {
		switch {
		case inst.Owner != cs.c.Owner:
			return fmt.Sprintf("runs on computer %s, closed to the marketplace: it hosts only its owner's shared instances", cs.c.ID)
		case foreign:
			return fmt.Sprintf("runs on computer %s, closed to the marketplace: only its owner's own instances host shared instances there", cs.c.ID)
		}
	}
	if foreign && host.SoftwareType != inst.SoftwareType {
		return fmt.Sprintf("belongs to another person and runs software type %s: it hosts only shared instances of that type, not %s",
			host.SoftwareType, inst.SoftwareType)
	}
	return ""
}

func (s *State) reportPartition(now time.Time, c ReportPartition) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "report partitions")
	if err != nil {
		return Result{}, err
	}
	if _, err := model.ParseReportedState(string(c.State)); err != nil {
		return Result{}, err
	}
	p := cs.partIdx.get(c.PartitionID)
	if p == nil {
		return Result{}, notFoundf("computer %s has no partition %s", c.ComputerID, c.PartitionID)
	}
	errText := ""
	if c.State == model.ReportedError {
		errText = reportedError(c.Error)
	}
	if p.ReportedState != c.State || p.ReportedError != errText {
		p.ReportedState, p.ReportedError, p.ReportedAt = c.State, errText, now
		s.recordPartition(p)
	}
	inst := s.instanceIn(cs, p)
	if inst == nil {
		return Result{}, nil
	}
	if inst.ReportedState != c.State || inst.ReportedError != errText {
		if errText != "" {
			if s.history() {
				s.event(inst, EventReported, "node reported error: %s", firstLine(errText))
			}
		} else {
			if s.history() {
				s.event(inst, EventReported, "node reported %s", c.State)
			}
		}
		inst.ReportedState, inst.ReportedError = c.State, errText
		s.recordInstance(inst)
	}
	switch {
	case c.State == model.ReportedStarted && inst.StartedAt.IsZero():
		inst.StartedAt = now
		s.recordInstance(inst)
	case c.State != model.ReportedStarted && !inst.StartedAt.IsZero():
		s.closeHosting(inst, now)
	}
	info := s.instanceResult(s.infoAt(inst, p))
	return Result{Instance: info}, nil
}

// closeHosting records the hosting movement of a period that ends now.
func (s *State) closeHosting(inst *model.Instance, now time.Time) {
	if inst.StartedAt.IsZero() {
		return
	}
	if s.cfg.KeepMovements && now.After(inst.StartedAt) {
		s.addPricedMovement(s.priceHosting(account.HostingMovement(inst, inst.StartedAt, now), inst))
	}
	inst.StartedAt = time.Time{}
	s.recordInstance(inst)
}

// addPricedMovement records m, priced already.
func (s *State) addPricedMovement(m account.Movement) {
	s.meta.Movements++
	m.ID = "MVT-" + strconv.FormatUint(s.meta.Movements, 10)
	p := &m
	s.movements = append(s.movements, p)
	s.tick()
	s.muts = append(s.muts, Mutation{Kind: KindMovement, Key: m.ID, Value: p})
}

func (s *State) setConnection(c SetConnection) (Result, error) {
	computerID, partitionID := c.ComputerID, c.PartitionID
	if c.By.Kind == model.KindInstance {
		self, err := s.liveInstanceActor(c.By)
		if err != nil {
			return Result{}, err
		}
		if self.Shared || self.PartitionID == "" {
			return Result{}, forbiddenf("%s holds no partition", c.By)
		}
		if computerID == "" && partitionID == "" {
			computerID, partitionID = self.ComputerID, self.PartitionID
		}
		if computerID != self.ComputerID || partitionID != self.PartitionID {
			return Result{}, forbiddenf("%s may only publish for its own partition", c.By)
		}
	} else if c.By.Kind != model.KindComputer && c.By.Kind != model.KindAdmin {
		return Result{}, forbiddenf("%s may not publish connection parameters", c.By)
	}
	cs, err := s.requireComputerAccessOrInstance(c.By, computerID)
	if err != nil {
		return Result{}, err
	}
	p := cs.partIdx.get(partitionID)
	if p == nil {
		return Result{}, notFoundf("computer %s has no partition %s", computerID, partitionID)
	}
	inst := s.instanceIn(cs, p)
	if inst == nil {
		return Result{}, conflictf("partition %s/%s is free: no instance to publish for", computerID, partitionID)
	}
	if err := model.ValidateParameters(c.Parameters); err != nil {
		return Result{}, err
	}
	if err := s.cfg.Limits.checkParameterMap("connection parameters", c.Parameters); err != nil {
		return Result{}, err
	}
	target := inst
	if c.SharedGUID != "" {
		sh := s.instances[c.SharedGUID]
		if sh == nil || !sh.Shared || sh.HostGUID != inst.GUID {
			return Result{}, notFoundf("shared instance %s is not hosted in %s/%s", c.SharedGUID, computerID, partitionID)
		}
		target = sh
	}
	if !maps.Equal(target.Connection, c.Parameters) {
		if s.history() {
			s.event(target, EventPublished, "connection parameters published (%s)", keysChanged(target.Connection, c.Parameters))
		}
		target.Connection = s.keep(c.Parameters)
		s.recordInstance(target)
		s.bumpRequester(target)
	}
	info := s.instanceResult(s.infoAt(target, p))
	return Result{Instance: info}, nil
}

// bumpRequester bumps the instance that requested inst, when an instance
// did, so that its node processes it again and reads what inst published
// (SlapOS's master bangs the requester when connection parameters change).
// The publisher's own version does not change.
func (s *State) bumpRequester(inst *model.Instance) {
	r := s.instances[inst.RequesterGUID]
	if r == nil || r.Freed || r.RequestedState == model.StateDestroyed || r.PartitionID == "" && !r.Shared {
		return
	}
	s.bumpInstance(r)
}

func (s *State) requireComputerAccessOrInstance(a model.Actor, computerID string) (*computerState, error) {
	if a.Kind == model.KindInstance {
		cs := s.computers[computerID]
		if cs == nil {
			return nil, notFoundf("computer %s is not registered", computerID)
		}
		return cs, nil
	}
	return s.requireComputerAccess(a, computerID, "publish connection parameters")
}

// canActOnInstance: the owner, the admin, a member of the same tree, or the
// computer that hosts it.
func (s *State) canActOnInstance(a model.Actor, inst *model.Instance) bool {
	switch a.Kind {
	case model.KindAdmin:
		return true
	case model.KindPerson:
		return a.ID == inst.Owner
	case model.KindInstance:
		me := s.instances[a.ID]
		return me != nil && !me.Freed && me.Owner == inst.Owner && me.TreeTitle() == inst.TreeTitle()
	case model.KindComputer:
		return inst.ComputerID == a.ID
	}
	return false
}

func (s *State) bang(c Bang) (Result, error) {
	inst := s.instances[c.InstanceGUID]
	if inst == nil || inst.Freed {
		if c.By.Kind == model.KindAdmin || c.By.Kind == model.KindPerson {
			return Result{}, notFoundf("instance %s does not exist", c.InstanceGUID)
		}
		return Result{}, forbiddenf("%s may not bang %s", c.By, c.InstanceGUID)
	}
	if !s.canActOnInstance(c.By, inst) {
		return Result{}, forbiddenf("%s may not bang %s: it is outside its reach", c.By, c.InstanceGUID)
	}
	why := ""
	if c.Message != "" {
		why = ": " + c.Message
	}
	for _, g := range s.treeMembers(treeOf(inst)) {
		m := s.instances[g]
		if m.RequestedState == model.StateDestroyed {
			continue
		}
		switch {
		case !s.history():
		case m == inst:
			s.event(m, EventBang, "bang by %s%s", c.By, why)
		default:
			s.event(m, EventBang, "bang of %s by %s%s", inst.GUID, c.By, why)
		}
		s.bumpInstance(m)
	}
	info := s.info(inst)
	return Result{Instance: &info, Changed: true}, nil
}

// bangComputer bumps every instance the computer hosts, except those
// requested destroyed: the node processes each of its partitions again.
func (s *State) bangComputer(c BangComputer) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "bang the instances")
	if err != nil {
		return Result{}, err
	}
	for _, p := range cs.parts {
		inst := s.instances[p.InstanceGUID]
		if inst == nil || inst.Freed || inst.RequestedState == model.StateDestroyed {
			continue
		}
		if s.history() {
			s.event(inst, EventBang, "bang of computer %s by %s", c.ComputerID, c.By)
		}
		s.bumpInstance(inst)
	}
	return Result{Changed: true}, nil
}

func (s *State) partitionDestroyed(now time.Time, c PartitionDestroyed) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "free partitions")
	if err != nil {
		return Result{}, err
	}
	p := cs.partIdx.get(c.PartitionID)
	if p == nil {
		return Result{}, notFoundf("computer %s has no partition %s", c.ComputerID, c.PartitionID)
	}
	if p.Status == model.PartitionFree {
		return Result{}, nil // already free: idempotent
	}
	inst := s.instances[p.InstanceGUID]
	if inst != nil && inst.RequestedState != model.StateDestroyed {
		return Result{}, conflictf("partition %s/%s holds %s requested %s: it is not to be destroyed",
			c.ComputerID, c.PartitionID, inst.GUID, inst.RequestedState)
	}
	if inst != nil && inst.IsRoot() {
		var live []string
		for _, g := range s.treeMembers(treeOf(inst)) {
			if g == inst.GUID {
				continue
			}
			m := s.instances[g]
			if !m.Freed {
				live = append(live, g)
				if m.RequestedState != model.StateDestroyed {
					m.OwnState = model.StateDestroyed
					s.applyEffectiveState(now, m)
				}
			}
		}
		if len(live) > 0 {
			info := s.info(inst)
			return Result{Instance: &info, Changed: true}, nil
		}
	}
	if inst != nil {
		if s.history() {
			s.event(inst, EventDestroyed, "destroyed: partition %s/%s is free", c.ComputerID, c.PartitionID)
		}
		s.closeHosting(inst, now)
		s.forget(inst)
		inst.ReportedState = ""
		s.recordInstance(inst)
	}
	p.Status, p.InstanceGUID, p.ReportedState, p.ReportedError = model.PartitionFree, "", "", ""
	s.recordPartition(p)
	cs.cand.Free++
	s.freeChanged(cs)
	s.markView(c.ComputerID)
	placed := s.retryOn(now, c.ComputerID)
	if inst != nil {
		// Its network is free for the rest of its tree: a member kept
		// apart by unique_by_network may fit elsewhere now.
		for _, g := range s.treeMembers(treeOf(inst)) {
			if m := s.instances[g]; s.pending.has(g) && !m.Shared && m.SLA.UniqueByNetwork && s.place(now, m) {
				placed++
			}
		}
	}
	res := Result{Placed: placed, Changed: true}
	if inst != nil {
		res.Instance = s.instanceResult(s.info(inst))
	}
	return res, nil
}

func (s *State) rename(c Rename) (Result, error) {
	inst := s.instances[c.InstanceGUID]
	if inst == nil || inst.Freed {
		return Result{}, notFoundf("instance %s does not exist", c.InstanceGUID)
	}
	if c.By.Kind == model.KindComputer || !s.canActOnInstance(c.By, inst) {
		return Result{}, forbiddenf("%s may not rename %s", c.By, c.InstanceGUID)
	}
	if inst.RequestedState == model.StateDestroyed {
		return Result{}, conflictf("instance %s is being destroyed", inst.GUID)
	}
	if err := model.ValidateTitle(c.NewTitle); err != nil {
		return Result{}, err
	}
	if c.NewTitle == inst.Title {
		info := s.info(inst)
		return Result{Instance: &info}, nil
	}
	nk := instKey{inst.Owner, inst.RootTitle, c.NewTitle}
	if _, taken := s.byKey[nk]; taken {
		return Result{}, conflictf("an instance titled %q already exists in this tree", c.NewTitle)
	}
	oldTree := treeOf(inst)
	members := s.treeMembers(oldTree)
	delete(s.byKey, keyOf(inst))
	if s.history() {
		s.event(inst, EventRenamed, "renamed from %q to %q", inst.Title, c.NewTitle)
	}
	inst.Title = c.NewTitle
	s.byKey[keyOf(inst)] = inst.GUID
	s.bumpInstance(inst)
	if inst.IsRoot() {
		// Children name their root by title: move the whole tree.
		newTree := treeOf(inst)
		for _, g := range members {
			m := s.instances[g]
			if g == inst.GUID {
				continue
			}
			if s.byKey[keyOf(m)] == g {
				delete(s.byKey, keyOf(m))
				m.RootTitle = c.NewTitle
				s.byKey[keyOf(m)] = g
			} else {
				m.RootTitle = c.NewTitle
			}
			s.bumpInstance(m)
		}
		s.trees[newTree] = s.trees[oldTree]
		delete(s.trees, oldTree)
	}
	info := s.info(inst)
	return Result{Instance: &info, Changed: true}, nil
}

func (s *State) postUsage(c PostUsage) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "post usage")
	if err != nil {
		return Result{}, err
	}
	if len(c.Journal.Transactions) == 0 {
		return Result{}, invalidf("usage journal has no transaction")
	}
	for i, t := range c.Journal.Transactions {
		if t.Reference != c.ComputerID {
			return Result{}, forbiddenf("usage journal transaction %d has reference %q: computer %s may only report its own usage",
				i+1, t.Reference, c.ComputerID)
		}
		for j, m := range t.Movements {
			if cs.partIdx.get(m.Reference) == nil {
				return Result{}, invalidf("usage journal transaction %d movement %d: computer %s has no partition %q",
					i+1, j+1, c.ComputerID, m.Reference)
			}
		}
	}
	ms, err := account.UsageMovements(c.Journal)
	if err != nil {
		return Result{}, err
	}
	res := Result{}
	fresh := 0
	// NB: the movements of one transaction follow one another and share
	// its reference, those of one partition mostly too: each is looked up
	// once per run.
	var ref, part string
	var seen bool
	var inst *model.Instance
	for k, m := range ms {
		if k == 0 || m.JournalRef != ref {
			ref, seen = m.JournalRef, s.journals[m.JournalRef]
		}
		if seen {
			continue
		}
		fresh++
		if inst == nil || m.PartitionID != part {
			part, inst = m.PartitionID, s.instanceIn(cs, cs.partIdx.get(m.PartitionID))
		}
		if inst != nil {
			m.InstanceGUID, m.Owner = inst.GUID, inst.Owner
		}
		if s.cfg.KeepMovements {
			// Priced at its computer's list price.
			s.addPricedMovement(account.Price(m, cs.c.Prices, cs.c.Currency))
		}
		res.Movements++
	}
	for k, m := range ms {
		if k > 0 && m.JournalRef == ms[k-1].JournalRef {
			continue // recorded with the movement before
		}
		if !s.journals[m.JournalRef] {
			s.journals[m.JournalRef] = true
			s.muts = append(s.muts, Mutation{Kind: KindJournal, Key: m.JournalRef, Value: &journalRecord{Ref: m.JournalRef}})
		}
	}
	if fresh == 0 && len(ms) > 0 {
		res.Duplicate = true
	}
	return res, nil
}

package master

import (
	"maps"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// TransferInstance hands a running root instance over to another person: a
// pre-allocated unit given to a requester, a speculator's unit sold. From
// the transfer on, the instance is the buyer's: the buyer owns it (and only
// the buyer may act on it), and the buyer is invoiced for its hosting (the
// seller's hosting period closes at the transfer, the buyer's opens).
//
// The instance stays in its partition only if the buyer could have been
// given that computer: the computer must pass core/alloc's filters for the
// buyer's SLA (every filter but the free partition, which the instance
// holds). Otherwise the transfer is refused (ErrConflict) with the
// allocator's reason ("1 computer: 1 region!=jp").
//
// The instance is reconfigured for the buyer in the same command: its SLA
// becomes the buyer's, and SoftwareType and Parameters replace the
// seller's when set; its version grows, so the node applies them.
type TransferInstance struct {
	By           model.Actor // the current owner
	InstanceGUID string
	To           string            // the buyer: a known person
	Title        string            // its title in the buyer's account ("" keeps it)
	SLA          map[string]string // the buyer's conditions
	SoftwareType string            // "" keeps it
	Parameters   map[string]string // nil keeps them
}

// CommandName is "transfer-instance".
func (c TransferInstance) CommandName() string { return "transfer-instance" }

func (c TransferInstance) actor() model.Actor { return c.By }

// CheckTransfer says whether Apply would accept the transfer now, without
// changing anything: the error Apply would return, or nil. Market actors
// use it to choose which unit to offer to whom.
func (s *State) CheckTransfer(now time.Time, c TransferInstance) error {
	_, err := s.checkTransfer(now, c)
	return err
}

// transferPlan is a validated transfer.
type transferPlan struct {
	inst         *model.Instance
	title, stype string
	sla          model.SLA
}

func (s *State) checkTransfer(now time.Time, c TransferInstance) (transferPlan, error) {
	inst := s.instances[c.InstanceGUID]
	if c.By.Kind != model.KindPerson {
		return transferPlan{}, forbiddenf("%s may not transfer instances: only their owner may", c.By)
	}
	if _, err := s.requirePerson(c.By, "transfer instances"); err != nil {
		return transferPlan{}, err
	}
	if inst == nil || inst.Freed {
		return transferPlan{}, notFoundf("instance %s does not exist", c.InstanceGUID)
	}
	if inst.Owner != c.By.ID {
		// As for reads: another person's instance does not exist for c.By.
		return transferPlan{}, notFoundf("instance %s does not exist", c.InstanceGUID)
	}
	if s.persons[c.To] == nil {
		return transferPlan{}, notFoundf("buyer %s is not a known person", c.To)
	}
	if c.To == inst.Owner {
		return transferPlan{}, invalidf("instance %s already belongs to %s", inst.GUID, c.To)
	}
	switch {
	case inst.RequestedState == model.StateDestroyed:
		return transferPlan{}, conflictf("instance %s is being destroyed", inst.GUID)
	case !inst.IsRoot():
		return transferPlan{}, conflictf("instance %s is a child of %q: only a root instance changes hands", inst.GUID, inst.RootTitle)
	case inst.Shared:
		return transferPlan{}, conflictf("instance %s is shared: only an instance with its own partition changes hands", inst.GUID)
	case inst.PartitionID == "":
		return transferPlan{}, conflictf("instance %s is not allocated yet: %s", inst.GUID, inst.PendingReason)
	case s.trees[treeOf(inst)].len() > 1:
		return transferPlan{}, conflictf("instance %s has child instances: only a lone root instance changes hands", inst.GUID)
	case len(s.hosted[inst.GUID]) > 0:
		return transferPlan{}, conflictf("instance %s hosts shared instances of %s", inst.GUID, inst.Owner)
	}
	p := transferPlan{inst: inst, title: c.Title, stype: c.SoftwareType}
	if p.title == "" {
		p.title = inst.Title
	}
	if err := model.ValidateTitle(p.title); err != nil {
		return transferPlan{}, err
	}
	if g, taken := s.byKey[instKey{c.To, "", p.title}]; taken {
		return transferPlan{}, conflictf("%s already has an instance titled %q (%s)", c.To, p.title, g)
	}
	if p.stype == "" {
		p.stype = inst.SoftwareType
	}
	if err := model.ValidateText("software type", p.stype); err != nil {
		return transferPlan{}, err
	}
	params := inst.Parameters
	if c.Parameters != nil {
		if err := model.ValidateParameters(c.Parameters); err != nil {
			return transferPlan{}, err
		}
		if err := s.cfg.Limits.checkParameterMap("parameters", c.Parameters); err != nil {
			return transferPlan{}, err
		}
		params = c.Parameters
	}
	if err := s.admitTransfer(c.To, params); err != nil {
		return transferPlan{}, err
	}
	sla, err := model.ParseSLA(c.SLA)
	if err != nil {
		return transferPlan{}, err
	}
	p.sla = sla
	cs := s.computers[inst.ComputerID]
	if cs == nil {
		return transferPlan{}, conflictf("instance %s: its computer %s is not registered", inst.GUID, inst.ComputerID)
	}
	req := alloc.Request{Person: c.To, SoftwareRelease: inst.SoftwareRelease, SLA: sla, Key: inst.GUID}
	if sla.UniqueByNetwork {
		req.TreeNetworks = map[string]bool{} // the instance is its tree
	}
	if rej := alloc.Admit(cs.cand, req, alloc.Options{Policy: s.cfg.Policy, Now: now, OnlineWithin: s.cfg.OnlineWithin}); rej != nil {
		return transferPlan{}, conflictf("instance %s runs on computer %s, which the SLA of %s refuses: %s",
			inst.GUID, cs.c.ID, c.To, rej.Error())
	}
	return p, nil
}

func (s *State) transferInstance(now time.Time, c TransferInstance) (Result, error) {
	p, err := s.checkTransfer(now, c)
	if err != nil {
		return Result{}, err
	}
	inst := p.inst
	// The seller pays the hosting up to now, the buyer from now on.
	running := !inst.StartedAt.IsZero()
	s.closeHosting(inst, now)
	s.charge(inst, -1) // the seller's quota usage goes with the instance
	delete(s.byKey, keyOf(inst))
	old := treeOf(inst)
	s.removeFromTree(old, inst.GUID)
	if s.history() {
		s.event(inst, EventTransferred, "transferred from %s to %s", inst.Owner, c.To)
	}
	inst.Owner, inst.Title = c.To, p.title
	inst.SLA, inst.SoftwareType = p.sla, p.stype
	if c.Parameters != nil {
		inst.Parameters = maps.Clone(c.Parameters)
	}
	if running {
		inst.StartedAt = now
	}
	s.charge(inst, +1)
	s.byKey[keyOf(inst)] = inst.GUID
	s.trees[treeOf(inst)] = members{one: inst.GUID}
	// A new owner, title, SLA or parameters: the node reconfigures it.
	s.bumpInstance(inst)
	info := s.info(inst)
	return Result{Instance: &info, Changed: true}, nil
}

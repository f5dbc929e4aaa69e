package master

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// Apply authorizes, validates and applies one command. On error nothing
// changed and no mutation is returned. See the package doc for the caller's
// duties with the mutations.
func (s *State) Apply(now time.Time, cmd Command) (Result, []Mutation, error) {
	res, err := s.applyOne(now, cmd)
	if err != nil {
		return Result{}, nil, err
	}
	var muts []Mutation
	if s.cfg.MutationsShareEntities {
		// Its caller keeps no mutation: the slice is reused.
		if s.shared == nil {
			s.shared = make([]Mutation, 0, compactScanMax)
		}
		clear(s.shared) // what the last command left
		muts = compactTo(s.shared[:0], s.muts)
		s.shared = muts
	} else {
		muts = Compact(s.muts)
	}
	s.copyRecorded(muts, s.cfg.MutationsShareEntities)
	clear(s.muts) // no live entity stays referenced
	s.muts = s.muts[:0]
	res.Changed = res.Changed || len(muts) > 0
	return res, muts, nil
}

// applyOne authorizes, validates and applies one command, its mutations
// left in s.muts (none on error).
func (s *State) applyOne(now time.Time, cmd Command) (Result, error) {
	s.muts = s.muts[:0]
	s.now = now
	if cmd == nil {
		return Result{}, fmt.Errorf("%w: no command", ErrInvalid)
	}
	if by := cmd.actor(); by.Kind == "" || by.ID == "" {
		return Result{}, forbiddenf("%s command names no actor (kind %q, id %q): every command must say who asks it",
			cmd.CommandName(), by.Kind, by.ID)
	}
	var res Result
	var err error
	switch c := cmd.(type) {
	case AddPerson:
		res, err = s.addPerson(c)
	case RegisterComputer:
		res, err = s.registerComputer(now, c)
	case UpdateComputer:
		res, err = s.updateComputer(now, c)
	case SetCapacity:
		res, err = s.setCapacity(now, c)
	case Supply:
		res, err = s.supply(now, c)
	case Request:
		res, err = s.request(now, c)
	case ReportSoftware:
		res, err = s.reportSoftware(now, c)
	case ReportPartition:
		res, err = s.reportPartition(now, c)
	case SetConnection:
		res, err = s.setConnection(c)
	case Bang:
		res, err = s.bang(c)
	case BangComputer:
		res, err = s.bangComputer(c)
	case PartitionDestroyed:
		res, err = s.partitionDestroyed(now, c)
	case Rename:
		res, err = s.rename(c)
	case SetState:
		res, err = s.setState(now, c)
	case PostUsage:
		res, err = s.postUsage(c)
	case TransferInstance:
		res, err = s.transferInstance(now, c)
	case Contact:
		res, err = s.contact(now, c)
	case RevokeCertificate:
		res, err = s.revokeCertificate(now, c)
	case DestroyPerson:
		res, err = s.destroyPerson(now, c)
	case DestroyComputer:
		res, err = s.destroyComputer(now, c)
	case SetPassword:
		res, err = s.setPassword(now, c)
	case IssueSignInLink:
		res, err = s.issueSignInLink(now, c)
	case UseSignInLink:
		res, err = s.useSignInLink(now, c)
	case RetryPending:
		if c.By.Kind != model.KindAdmin {
			err = forbiddenf("%s may not retry pending requests: admin only", c.By)
		} else {
			res.Placed = s.retryAll(now)
		}
	default:
		err = fmt.Errorf("%w: unknown command %T", ErrInvalid, cmd)
	}
	if err != nil {
		// NB: handlers validate before they mutate; this is a second guard.
		s.muts = s.muts[:0]
		return Result{}, err
	}
	return res, nil
}

// --- authorization helpers ---

func (s *State) requirePerson(a model.Actor, what string) (string, error) {
	switch a.Kind {
	case model.KindPerson:
		if _, ok := s.persons[a.ID]; !ok {
			return "", forbiddenf("%s is not a known person", a)
		}
		return a.ID, nil
	}
	return "", forbiddenf("%s may not %s: only a person may", a, what)
}

// requireComputerAccess allows the computer itself and the admin.
func (s *State) requireComputerAccess(a model.Actor, computerID, what string) (*computerState, error) {
	cs := s.computers[computerID]
	switch {
	case a.Kind == model.KindAdmin:
	case a.Kind == model.KindComputer && a.ID == computerID:
	default:
		return nil, forbiddenf("%s may not %s of computer %s", a, what, computerID)
	}
	if cs == nil {
		return nil, notFoundf("computer %s is not registered", computerID)
	}
	return cs, nil
}

// requireOwner allows the computer's owner and the admin.
func (s *State) requireOwner(a model.Actor, computerID, what string) (*computerState, error) {
	cs := s.computers[computerID]
	if cs == nil {
		if a.Kind == model.KindAdmin || a.Kind == model.KindPerson {
			return nil, notFoundf("computer %s is not registered", computerID)
		}
		return nil, forbiddenf("%s may not %s on computer %s", a, what, computerID)
	}
	if a.Kind == model.KindAdmin || (a.Kind == model.KindPerson && a.ID == cs.c.Owner) {
		return cs, nil
	}
	return nil, forbiddenf("%s may not %s on computer %s: only its owner may", a, what, computerID)
}

func (s *State) liveInstanceActor(a model.Actor) (*model.Instance, error) {
	i := s.instances[a.ID]
	if i == nil || i.Freed || i.RequestedState == model.StateDestroyed {
		return nil, forbiddenf("%s is not a live instance", a)
	}
	return i, nil
}

// --- persons and computers ---

func (s *State) addPerson(c AddPerson) (Result, error) {
	if c.By.Kind != model.KindAdmin {
		return Result{}, forbiddenf("%s may not add persons: admin only", c.By)
	}
	id := c.ID
	if id == "" {
		id = fmt.Sprintf("PERSON-%d", s.meta.Persons+1)
		for s.persons[id] != nil {
			s.meta.Persons++
			id = fmt.Sprintf("PERSON-%d", s.meta.Persons+1)
		}
	}
	if err := model.ValidateID("person id", id); err != nil {
		return Result{}, err
	}
	if err := model.ValidateText("person name", c.Name); err != nil {
		return Result{}, err
	}
	if err := model.ValidateText("person email", c.Email); err != nil {
		return Result{}, err
	}
	if _, ok := s.persons[id]; ok {
		return Result{}, conflictf("person %s already exists", id)
	}
	name := c.Name
	if name == "" {
		name = id
	}
	if c.ID == "" {
		s.meta.Persons++
	}
	p := &model.Person{ID: id, Name: name, Email: c.Email}
	s.persons[id] = p
	s.tick()
	cp := *p
	s.muts = append(s.muts, Mutation{Kind: KindPerson, Key: id, Value: &cp})
	return Result{Person: &cp}, nil
}

// validateComputerText checks the free texts of a computer's settings.
func validateComputerText(title, currency string, region, network *string, attrs map[string]string) error {
	for _, f := range []struct {
		name string
		v    *string
	}{{"title", &title}, {"currency", &currency}, {"region", region}, {"network", network}} {
		if f.v == nil {
			continue
		}
		if err := model.ValidateText(f.name, *f.v); err != nil {
			return err
		}
	}
	return model.ValidateTextMap("attribute", attrs)
}

func (s *State) registerComputer(now time.Time, c RegisterComputer) (Result, error) {
	var owner string
	switch c.By.Kind {
	case model.KindAdmin:
		owner = c.Owner
		if owner != "" && s.persons[owner] == nil {
			return Result{}, notFoundf("owner %s is not a known person", owner)
		}
	case model.KindPerson:
		if _, err := s.requirePerson(c.By, "register computers"); err != nil {
			return Result{}, err
		}
		owner = c.By.ID
		if c.Owner != "" && c.Owner != owner {
			return Result{}, forbiddenf("%s may not register a computer for %s", c.By, c.Owner)
		}
	default:
		return Result{}, forbiddenf("%s may not register computers: only a person or the admin may", c.By)
	}
	if err := model.ValidateID("computer id", c.ID); err != nil {
		return Result{}, err
	}
	if _, ok := s.computers[c.ID]; ok {
		return Result{}, conflictf("computer %s is already registered", c.ID)
	}
	scope, err := model.ParseScope(string(c.Scope))
	if err != nil {
		return Result{}, err
	}
	if err := model.ValidatePriceList(c.Prices); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ID, err)
	}
	if err := s.cfg.Limits.checkParameterMap("attributes", c.Attributes); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ID, err)
	}
	if err := model.ValidateHardware(c.Hardware); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ID, err)
	}
	if err := validateComputerText(c.Title, c.Currency, &c.Region, &c.Network, c.Attributes); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ID, err)
	}
	title := c.Title
	if title == "" {
		title = c.ID
	}
	comp := &model.Computer{ID: c.ID, Title: title, Owner: owner, Region: c.Region, Network: c.Network,
		Hardware: c.Hardware, Attributes: maps.Clone(c.Attributes), Prices: maps.Clone(c.Prices),
		Currency: c.Currency, Scope: scope, CreatedAt: now}
	cs := &computerState{c: comp, software: map[string]*model.SoftwareInstallation{}, cand: &alloc.Candidate{}}
	s.computers[c.ID] = cs
	s.syncCandidate(cs)
	s.addCandidate(cs)
	s.sortCands()
	s.markView(c.ID)
	cp := *comp
	return Result{Computer: &cp}, nil
}

func (s *State) updateComputer(now time.Time, c UpdateComputer) (Result, error) {
	cs, err := s.requireOwner(c.By, c.ComputerID, "change settings")
	if err != nil {
		return Result{}, err
	}
	var scope model.Scope
	if c.Scope != nil {
		if scope, err = model.ParseScope(string(*c.Scope)); err != nil {
			return Result{}, err
		}
	}
	if c.Prices != nil {
		if err := model.ValidatePriceList(c.Prices); err != nil {
			return Result{}, fmt.Errorf("computer %s: %w", c.ComputerID, err)
		}
	}
	if err := s.cfg.Limits.checkParameterMap("attributes", c.Attributes); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ComputerID, err)
	}
	if err := validateComputerText("", "", c.Region, c.Network, c.Attributes); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ComputerID, err)
	}
	comp := cs.c
	if c.Region != nil {
		comp.Region = *c.Region
	}
	if c.Network != nil {
		comp.Network = *c.Network
	}
	if c.Attributes != nil {
		comp.Attributes = maps.Clone(c.Attributes)
	}
	if c.Prices != nil {
		comp.Prices = maps.Clone(c.Prices)
	}
	opened := c.Scope != nil && comp.Scope != scope && scope == model.ScopeOpen
	if c.Scope != nil {
		comp.Scope = scope
	}
	s.syncCandidate(cs)
	s.recordComputer(cs)
	placed := s.retryOn(now, c.ComputerID)
	if opened && placed == 0 {
		// Its instances may now host other people's shared instances
		// (sharedHostRefusal); retryOn retried them only if it placed.
		placed += s.retryPendingShared(now)
	}
	cp := *comp
	return Result{Computer: &cp, Placed: placed}, nil
}

// DefaultContactEvery is how stale a computer's recorded contact may grow
// when Config.OnlineWithin is 0 (the contact time is then for people and
// metrics only).
const DefaultContactEvery = 5 * time.Minute

// contactEvery is how stale a computer's recorded contact may grow before a
// poll records it again: a quarter of the online window, so that a
// computer that polls regularly never looks offline.
func (s *State) contactEvery() time.Duration {
	if s.cfg.OnlineWithin > 0 {
		return s.cfg.OnlineWithin / 4
	}
	return DefaultContactEvery
}

// offline reports whether a computer counts as offline at now (never when
// Config.OnlineWithin is 0).
func (s *State) offline(cs *computerState, now time.Time) bool {
	return s.cfg.OnlineWithin > 0 && now.Sub(cs.lastContact) > s.cfg.OnlineWithin
}

// ContactDue is the rule that tells a shell, on each poll of a computer,
// whether to apply Contact: when the computer counts as offline (its
// contact brings it back), or when its recorded contact is older than a
// quarter of Config.OnlineWithin (DefaultContactEvery without one). Other
// polls change nothing. It costs one map lookup.
func (s *State) ContactDue(computerID string, now time.Time) bool {
	cs := s.computers[computerID]
	return cs != nil && s.contactDue(cs, now)
}

// contactDue is ContactDue of a registered computer.
func (s *State) contactDue(cs *computerState, now time.Time) bool {
	return s.offline(cs, now) || now.Sub(cs.lastContact) >= s.contactEvery()
}

// contact records a computer's contact; one that was offline is back, and
// the pending requests are retried on it.
func (s *State) contact(now time.Time, c Contact) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "record the contact")
	if err != nil {
		return Result{}, err
	}
	if now.Before(cs.c.LastContact) {
		cp := *cs.c // a later contact is recorded already (a clock stepped back)
		return Result{Computer: &cp}, nil
	}
	cameBack := s.offline(cs, now)
	cs.c.LastContact, cs.lastContact = now, now
	cs.cand.LastContact = now
	s.recordComputer(cs)
	placed := 0
	if cameBack {
		s.candidatesChanged()
		placed = s.retryOn(now, c.ComputerID)
	}
	cp := &s.computerOut
	if !s.reusesResults() {
		cp = new(model.Computer)
	}
	*cp = *cs.c
	return Result{Computer: cp, Placed: placed, CameBack: cameBack, Changed: true}, nil
}

func (s *State) setCapacity(now time.Time, c SetCapacity) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "announce the capacity")
	if err != nil {
		return Result{}, err
	}
	if err := s.cfg.Limits.checkCapacity(c); err != nil {
		return Result{}, fmt.Errorf("computer %s: %w", c.ComputerID, err)
	}
	want := &s.wantScratch // the listed partitions, by id
	defer want.clear()
	for i := range c.Partitions {
		p := &c.Partitions[i]
		if err := validatePartitionSpec(i, p); err != nil {
			return Result{}, err
		}
		if want.get(p.ID) != nil {
			return Result{}, invalidf("partition %s is listed twice", p.ID)
		}
		want.set(p.ID, p)
	}
	var busyGone []string
	for _, p := range cs.parts {
		if want.get(p.ID) == nil && p.Status == model.PartitionBusy {
			busyGone = append(busyGone, p.ID+" ("+p.InstanceGUID+")")
		}
	}
	if len(busyGone) > 0 {
		return Result{}, conflictf("computer %s: busy partitions cannot be removed: %s", c.ComputerID, strings.Join(busyGone, ", "))
	}
	if c.Hardware != nil {
		if err := model.ValidateHardware(*c.Hardware); err != nil {
			return Result{}, fmt.Errorf("computer %s: %w", c.ComputerID, err)
		}
	}
	changed := false
	// Remove free partitions that are gone.
	kept := cs.parts[:0]
	for _, p := range cs.parts {
		if want.get(p.ID) != nil {
			kept = append(kept, p)
			continue
		}
		cs.partIdx.del(p.ID)
		resetView(cs)
		s.muts = append(s.muts, Mutation{Kind: KindPartition, Key: p.Key(), Delete: true})
		changed = true
	}
	cs.parts = kept
	specs := c.Partitions // in the order of their ids, as a node lists them
	byID := func(a, b PartitionSpec) int { return model.ComparePartitionIDs(a.ID, b.ID) }
	if !slices.IsSortedFunc(specs, byID) {
		specs = slices.Clone(specs)
		slices.SortFunc(specs, byID)
	}
	added := false
	for _, spec := range specs {
		id := spec.ID
		p := cs.partIdx.get(id)
		if p == nil {
			p = &model.Partition{ComputerID: c.ComputerID, ID: id, Status: model.PartitionFree, Addresses: slices.Clone(spec.Addresses)}
			cs.parts = append(cs.parts, p)
			cs.partIdx.set(p.ID, p)
			added = true
			resetView(cs)
			s.recordPartition(p)
			changed = true
			continue
		}
		if !slices.Equal(p.Addresses, spec.Addresses) {
			p.Addresses = slices.Clone(spec.Addresses)
			s.recordPartition(p)
			if i := s.instances[p.InstanceGUID]; i != nil {
				i.Version = s.tick()
				s.recordInstance(i)
			}
			changed = true
		}
	}
	if added {
		sortPartitions(cs.parts)
	}
	if c.Hardware != nil && *c.Hardware != cs.c.Hardware {
		cs.c.Hardware = *c.Hardware
		s.recordComputer(cs)
	}
	cs.c.LastContact = now
	s.syncCandidate(cs)
	if changed {
		s.markView(c.ComputerID)
	}
	placed := s.retryOn(now, c.ComputerID)
	cp := *cs.c
	return Result{Computer: &cp, Placed: placed, Changed: changed}, nil
}

// validatePartitionSpec checks the id and addresses of the partition listed
// at index i of a SetCapacity. The names an error gives are built only for
// the error: a node lists hundreds of partitions.
func validatePartitionSpec(i int, p *PartitionSpec) error {
	if model.ValidateID("partition id", p.ID) != nil {
		return model.ValidateID(fmt.Sprintf("partition #%d id", i+1), p.ID)
	}
	for j, a := range p.Addresses {
		if a.Addr == "" {
			return invalidf("partition %s address #%d is empty", p.ID, j+1)
		}
		if model.ValidateText("partition address", a.Addr) != nil {
			return model.ValidateText(fmt.Sprintf("partition %s address #%d", p.ID, j+1), a.Addr)
		}
		if model.ValidateText("partition address interface", a.Iface) != nil {
			return model.ValidateText(fmt.Sprintf("partition %s address #%d interface", p.ID, j+1), a.Iface)
		}
	}
	return nil
}

func (s *State) supply(now time.Time, c Supply) (Result, error) {
	cs, err := s.requireOwner(c.By, c.ComputerID, "supply software")
	if err != nil {
		return Result{}, err
	}
	if err := s.validateSoftwareURL(c.URL); err != nil {
		return Result{}, err
	}
	if _, err := model.ParseSoftwareRequest(string(c.State)); err != nil {
		return Result{}, err
	}
	if c.State != model.SoftwareDestroyed { // removing one is always allowed
		if err := s.checkSoftwareURL(c.URL); err != nil {
			return Result{}, err
		}
	}
	sw := cs.software[c.URL]
	if sw == nil {
		if c.State == model.SoftwareDestroyed {
			return Result{Software: &model.SoftwareInstallation{ComputerID: c.ComputerID, URL: c.URL, Requested: c.State}}, nil
		}
		sw = &model.SoftwareInstallation{ComputerID: c.ComputerID, URL: c.URL}
		cs.software[c.URL] = sw
	}
	placed := 0
	if sw.Requested != c.State {
		sw.Requested = c.State
		sw.Version = s.tick()
		s.recordSoftware(sw)
		s.syncCandidate(cs)
		s.markView(c.ComputerID)
		if c.State == model.SoftwareAvailable {
			placed = s.retryOn(now, c.ComputerID)
		}
	}
	cp := *sw
	return Result{Software: &cp, Placed: placed}, nil
}

func (s *State) reportSoftware(now time.Time, c ReportSoftware) (Result, error) {
	cs, err := s.requireComputerAccess(c.By, c.ComputerID, "report software")
	if err != nil {
		return Result{}, err
	}
	if _, err := model.ParseSoftwareState(string(c.State)); err != nil {
		return Result{}, err
	}
	sw := cs.software[c.URL]
	if sw == nil {
		return Result{}, notFoundf("software %s is not supplied on computer %s", c.URL, c.ComputerID)
	}
	errText := reportedError(c.Error)
	if c.State != model.SoftwareError {
		errText = ""
	}
	if sw.Reported != c.State || sw.ReportedError != errText {
		sw.Reported, sw.ReportedError = c.State, errText
		s.recordSoftware(sw)
	}
	cp := *sw
	return Result{Software: &cp}, nil
}

// maxReportedError bounds the error text kept from a node's report.
const maxReportedError = 4096

// reportedError is what the master keeps of an error a node reports: its
// last maxReportedError bytes (the end of a log says most), cut on a
// character boundary, with invalid UTF-8 replaced (a log excerpt is free
// text: refusing the report would lose the state it carries).
func reportedError(s string) string {
	if len(s) > maxReportedError {
		s = s[len(s)-maxReportedError:] // no need to sanitize what is cut off
	}
	s = model.SanitizeText(s) // may grow: each bad byte takes 3
	if len(s) > maxReportedError {
		cut := len(s) - maxReportedError
		for !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = s[cut:]
	}
	return s
}

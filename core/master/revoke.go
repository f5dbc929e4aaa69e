package master

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// KindRevocation is a refused certificate, or every certificate of an
// identity issued up to a time.
const KindRevocation EntityKind = "revocation"

// Revocation refuses certificates from At on: the one numbered Serial, or,
// when Serial is empty, every certificate of Identity issued at or before
// At (the identity was destroyed).
type Revocation struct {
	Serial   string      `json:"serial,omitempty"`
	Identity model.Actor `json:"identity"`
	At       time.Time   `json:"at"`
	Reason   string      `json:"reason"`
}

func (r *Revocation) key() string {
	if r.Serial != "" {
		return "serial:" + r.Serial
	}
	return "identity:" + string(r.Identity.Kind) + ":" + r.Identity.ID
}

// RevokeCertificate refuses one certificate from now on. The admin may
// revoke any certificate; a person, the certificates of their own identity.
// Identity is whom the certificate was issued to (the shell's record of it).
type RevokeCertificate struct {
	By       model.Actor
	Serial   string
	Identity model.Actor
	Reason   string
}

// DestroyPerson removes a person who holds no computer and no live
// instance; every certificate issued to them is refused from then on.
// Admin only.
type DestroyPerson struct {
	By model.Actor
	ID string
}

// DestroyComputer removes a computer that hosts no instance, with its
// partitions and software records; its certificates are refused from then
// on. Its owner or the admin.
type DestroyComputer struct {
	By model.Actor
	ID string
}

func (c RevokeCertificate) CommandName() string { return "revoke-certificate" }
func (c DestroyPerson) CommandName() string     { return "destroy-person" }
func (c DestroyComputer) CommandName() string   { return "destroy-computer" }
func (c RevokeCertificate) actor() model.Actor  { return c.By }
func (c DestroyPerson) actor() model.Actor      { return c.By }
func (c DestroyComputer) actor() model.Actor    { return c.By }

// maxSerialLen bounds a serial number's hexadecimal digits (X.509 allows 20
// bytes).
const maxSerialLen = 40

// NormalizeSerial returns a certificate serial number in the form the
// master records it (lower-case hexadecimal, no leading zero, no colon), or
// an error naming what is wrong.
func NormalizeSerial(serial string) (string, error) {
	s := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(serial), ":", ""))
	s = strings.TrimPrefix(s, "0x")
	if s == "" {
		return "", invalidf("certificate serial %q is empty: expected hexadecimal digits", serial)
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", invalidf("certificate serial %q: %q is not a hexadecimal digit", serial, r)
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		s = "0"
	}
	if len(s) > maxSerialLen {
		return "", invalidf("certificate serial %q has %d digits, at most %d", serial, len(s), maxSerialLen)
	}
	return s, nil
}

func (s *State) revokeCertificate(now time.Time, c RevokeCertificate) (Result, error) {
	serial, err := NormalizeSerial(c.Serial)
	if err != nil {
		return Result{}, err
	}
	if c.Identity.Kind == "" || c.Identity.ID == "" {
		return Result{}, notFoundf("certificate %s was not issued by this master", serial)
	}
	switch {
	case c.By.Kind == model.KindAdmin:
	case c.By.Kind == model.KindPerson && c.By == c.Identity:
	default:
		return Result{}, forbiddenf("%s may not revoke certificate %s of %s: only the admin, or a person their own", c.By, serial, c.Identity)
	}
	if err := model.ValidateText("revocation reason", c.Reason); err != nil {
		return Result{}, err
	}
	r := &Revocation{Serial: serial, Identity: c.Identity, At: now, Reason: c.Reason}
	if _, ok := s.revoked[r.key()]; ok {
		return Result{}, nil // revoked already: nothing changes
	}
	s.addRevocation(r)
	return Result{Changed: true}, nil
}

func (s *State) addRevocation(r *Revocation) {
	if s.revoked == nil {
		s.revoked = map[string]*Revocation{}
	}
	s.revoked[r.key()] = r
	c := *r
	s.muts = append(s.muts, Mutation{Kind: KindRevocation, Key: r.key(), Value: &c})
}

func (s *State) destroyPerson(now time.Time, c DestroyPerson) (Result, error) {
	if c.By.Kind != model.KindAdmin {
		return Result{}, forbiddenf("%s may not destroy persons: admin only", c.By)
	}
	if s.persons[c.ID] == nil {
		return Result{}, notFoundf("person %s does not exist", c.ID)
	}
	var comps []string
	for _, id := range slices.Sorted(maps.Keys(s.computers)) {
		if s.computers[id].c.Owner == c.ID {
			comps = append(comps, id)
		}
	}
	if len(comps) > 0 {
		return Result{}, conflictf("person %s owns %d computers (%s): destroy them first", c.ID, len(comps), strings.Join(comps, ", "))
	}
	live := 0
	for k := range s.byKey {
		if k.owner == c.ID {
			live++
		}
	}
	if live > 0 {
		return Result{}, conflictf("person %s holds %d live instances: request them destroyed first", c.ID, live)
	}
	delete(s.persons, c.ID)
	s.muts = append(s.muts, Mutation{Kind: KindPerson, Key: c.ID, Delete: true})
	who := model.Actor{Kind: model.KindPerson, ID: c.ID}
	s.addRevocation(&Revocation{Identity: who, At: now, Reason: "person destroyed"})
	return Result{Changed: true}, nil
}

func (s *State) destroyComputer(now time.Time, c DestroyComputer) (Result, error) {
	cs, err := s.requireOwner(c.By, c.ID, "destroy the computer")
	if err != nil {
		return Result{}, err
	}
	busy := 0
	for _, p := range cs.parts {
		if p.Status != model.PartitionFree {
			busy++
		}
	}
	hosted := 0
	for _, i := range s.instances {
		if i.ComputerID == c.ID && !i.Freed {
			hosted++
		}
	}
	if busy > 0 || hosted > 0 {
		return Result{}, conflictf("computer %s still hosts instances (%d busy partitions, %d instances placed on it): destroy them first", c.ID, busy, hosted)
	}
	for _, p := range cs.parts {
		s.muts = append(s.muts, Mutation{Kind: KindPartition, Key: p.Key(), Delete: true})
	}
	for _, u := range slices.Sorted(maps.Keys(cs.software)) {
		s.muts = append(s.muts, Mutation{Kind: KindSoftware, Key: cs.software[u].Key(), Delete: true})
	}
	s.muts = append(s.muts, Mutation{Kind: KindComputer, Key: c.ID, Delete: true})
	s.dropComputer(cs)
	who := model.Actor{Kind: model.KindComputer, ID: c.ID}
	s.addRevocation(&Revocation{Identity: who, At: now, Reason: "computer destroyed"})
	return Result{Changed: true}, nil
}

// CertificateRefused says why a certificate, numbered serial (as
// NormalizeSerial gives it), issued to who at issuedAt, may no longer be
// used, or nil when it may: revoked, or its identity destroyed or gone.
func (s *State) CertificateRefused(serial string, who model.Actor, issuedAt time.Time) error {
	if r := s.revoked["serial:"+serial]; r != nil {
		return forbiddenf("certificate %s of %s was revoked at %s (%s)", serial, who, r.At.UTC().Format(time.RFC3339), cmp.Or(r.Reason, "no reason given"))
	}
	if r := s.revoked["identity:"+string(who.Kind)+":"+who.ID]; r != nil && !issuedAt.After(r.At) {
		return forbiddenf("certificate %s of %s was issued before %s was destroyed at %s", serial, who, who, r.At.UTC().Format(time.RFC3339))
	}
	if !s.identityLive(who) {
		return forbiddenf("the identity of certificate %s, %s, no longer exists", serial, who)
	}
	return nil
}

// SessionRefused is CertificateRefused for a credential that is not a
// certificate (a portal session begun at since): refused when its identity
// was destroyed after since, or no longer exists.
func (s *State) SessionRefused(who model.Actor, since time.Time) error {
	if r := s.revoked["identity:"+string(who.Kind)+":"+who.ID]; r != nil && !since.After(r.At) {
		return forbiddenf("%s was destroyed at %s", who, r.At.UTC().Format(time.RFC3339))
	}
	if !s.identityLive(who) {
		return forbiddenf("%s no longer exists", who)
	}
	return nil
}

// identityLive: who names an identity that exists and is not destroyed.
func (s *State) identityLive(who model.Actor) bool {
	switch who.Kind {
	case model.KindAdmin:
		return who.ID == model.Admin.ID
	case model.KindPerson:
		return s.persons[who.ID] != nil
	case model.KindComputer:
		return s.computers[who.ID] != nil
	case model.KindInstance:
		i := s.instances[who.ID]
		return i != nil && !i.Freed && i.RequestedState != model.StateDestroyed
	}
	return false
}

// Revocations lists the revocations recorded, in key order.
func (s *State) Revocations() []Revocation {
	out := make([]Revocation, 0, len(s.revoked))
	for _, k := range slices.Sorted(maps.Keys(s.revoked)) {
		out = append(out, *s.revoked[k])
	}
	return out
}

// KindUpgrade holds what an upgrade of the database recorded for the
// state: today one record (key UpgradeDestructionTimes), written by the
// store's migration that began recording destruction times.
const KindUpgrade EntityKind = "upgrade"

// UpgradeDestructionTimes is the key of the DestructionTimes record.
const UpgradeDestructionTimes = "instance-destruction-times"

// DestructionTimes says from when instances carry the time they were
// destroyed (model.Instance.DestroyedAt): the time the database was
// upgraded to record it. An instance destroyed before has no time of its
// own; DestroyedAt answers UnknownBefore for it, a time at or after its
// destruction that stays the same across calls and restarts.
type DestructionTimes struct {
	UnknownBefore time.Time `json:"unknown_before"`
}

// DestroyedAt returns when an identity was destroyed: a person's or a
// computer's destruction (its revocation record), an instance's request to
// be destroyed (DestructionTimes.UnknownBefore for one destroyed before
// those times were recorded). ok is false for an identity not destroyed,
// or unknown.
func (s *State) DestroyedAt(who model.Actor) (at time.Time, ok bool) {
	switch who.Kind {
	case model.KindPerson, model.KindComputer:
		if r := s.revoked["identity:"+string(who.Kind)+":"+who.ID]; r != nil {
			return r.At, true
		}
	case model.KindInstance:
		i := s.instances[who.ID]
		switch {
		case i == nil || (!i.Freed && i.RequestedState != model.StateDestroyed):
		case !i.DestroyedAt.IsZero():
			return i.DestroyedAt, true
		case s.destroyTimes != nil:
			return s.destroyTimes.UnknownBefore, true
		}
	}
	return time.Time{}, false
}

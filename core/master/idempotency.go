package master

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Idempotency keys make a command that is not idempotent by itself (adding
// a person without an id, registering a computer, a bang, a sign-in link)
// safe to send again after a lost answer, in the manner of Stripe's and
// Kubernetes' idempotency keys: the client draws one key per logical call
// and sends it with every attempt, to whichever master answers; the first
// attempt applies the command and records its result under (actor, key);
// a later attempt with the same key gets that result back and changes
// nothing. The record is an entity (KindIdempotency): it is persisted with
// the command's own mutations, in the same transaction, so it holds across
// a restart and a take-over by another master.

// KindIdempotency is the result of a command applied under an idempotency
// key (see IdempotencyRecord).
const KindIdempotency EntityKind = "idempotency"

// IdempotencyKeyTTL is how long a key is remembered: a client re-sending
// later than this applies its command again.
const IdempotencyKeyTTL = 24 * time.Hour

// MaxIdempotencyKeyLen bounds a key's length in bytes.
const MaxIdempotencyKeyLen = 128

// pruneIdempotencyPerCommand bounds the expired records one command
// removes, so that no command pays for a backlog at once.
const pruneIdempotencyPerCommand = 16

// IdempotencyRecord is what a command applied under a key returned.
// Fingerprint identifies the command (its name and its fields), so that a
// key sent again with another command is refused rather than answered with
// an unrelated result.
type IdempotencyRecord struct {
	Actor       model.Actor `json:"actor"`
	Key         string      `json:"key"`
	Command     string      `json:"command"`
	Fingerprint string      `json:"fingerprint"`
	At          time.Time   `json:"at"`
	Result      Result      `json:"result"`
}

func idempotencyID(by model.Actor, key string) string {
	return string(by.Kind) + "/" + by.ID + "/" + key
}

// commandFingerprint is the SHA-256 of a command's name and JSON form (maps
// in sorted key order, pointers followed): equal for the same command sent
// again.
func commandFingerprint(cmd Command) (string, error) {
	data, err := json.Marshal(cmd)
	if err != nil {
		return "", invalidf("%s command cannot be fingerprinted for its idempotency key: %v", cmd.CommandName(), err)
	}
	h := sha256.New()
	h.Write([]byte(cmd.CommandName()))
	h.Write([]byte{0})
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// ValidateIdempotencyKey checks a key as a client sent it.
func ValidateIdempotencyKey(key string) error {
	if key == "" {
		return invalidf("idempotency key is empty")
	}
	if len(key) > MaxIdempotencyKeyLen {
		return invalidf("idempotency key is %d bytes long, at most %d", len(key), MaxIdempotencyKeyLen)
	}
	for _, r := range key {
		if r < 0x21 || r > 0x7e {
			return invalidf("idempotency key %q: only printable ASCII without spaces is allowed", key)
		}
	}
	return nil
}

// ApplyOnce is Apply under an idempotency key chosen by the client. The
// first command under (cmd's actor, key) is applied; its result is recorded
// with its mutations (the caller persists them as usual). The same command
// sent again under that key, within IdempotencyKeyTTL, returns the recorded
// result with Replayed set, and no mutation: nothing is applied twice.
// Another command under a used key is a conflict. A command that failed
// records nothing (it changed nothing): sent again, it is applied again.
func (s *State) ApplyOnce(now time.Time, key string, cmd Command) (Result, []Mutation, error) {
	if cmd == nil {
		return s.Apply(now, cmd)
	}
	if err := ValidateIdempotencyKey(key); err != nil {
		return Result{}, nil, err
	}
	fp, err := commandFingerprint(cmd)
	if err != nil {
		return Result{}, nil, err
	}
	by := cmd.actor()
	id := idempotencyID(by, key)
	if rec := s.idem[id]; rec != nil && now.Before(rec.At.Add(IdempotencyKeyTTL)) {
		if rec.Fingerprint != fp || rec.Command != cmd.CommandName() {
			return Result{}, nil, conflictf("idempotency key %q was used at %s for another %s command: draw a new key for a new command",
				key, rec.At.UTC().Format(time.RFC3339), rec.Command)
		}
		res := rec.Result
		res.Replayed, res.Changed = true, false
		return res, nil, nil
	}
	res, muts, err := s.Apply(now, cmd)
	if err != nil {
		return res, muts, err
	}
	muts = append(muts, s.pruneIdempotency(now)...)
	rec := &IdempotencyRecord{Actor: by, Key: key, Command: cmd.CommandName(), Fingerprint: fp, At: now, Result: res}
	if old := s.idem[id]; old != nil { // expired, not yet pruned
		s.idemOrder = slices.DeleteFunc(s.idemOrder, func(r *IdempotencyRecord) bool { return r == old })
	}
	s.addIdempotency(rec)
	c := *rec
	muts = append(muts, Mutation{Kind: KindIdempotency, Key: id, Value: &c})
	return res, muts, nil
}

// addIdempotency indexes a record; idemOrder stays sorted by time.
func (s *State) addIdempotency(rec *IdempotencyRecord) {
	if s.idem == nil {
		s.idem = map[string]*IdempotencyRecord{}
	}
	s.idem[idempotencyID(rec.Actor, rec.Key)] = rec
	i := len(s.idemOrder)
	for i > 0 && s.idemOrder[i-1].At.After(rec.At) {
		i--
	}
	s.idemOrder = slices.Insert(s.idemOrder, i, rec)
}

// removeIdempotency forgets the record stored under id, if any.
func (s *State) removeIdempotency(id string) {
	rec := s.idem[id]
	if rec == nil {
		return
	}
	delete(s.idem, id)
	s.idemOrder = slices.DeleteFunc(s.idemOrder, func(r *IdempotencyRecord) bool { return r == rec })
}

// pruneIdempotency removes up to pruneIdempotencyPerCommand expired
// records, oldest first, and returns their deletions.
func (s *State) pruneIdempotency(now time.Time) []Mutation {
	var out []Mutation
	for len(s.idemOrder) > 0 && len(out) < pruneIdempotencyPerCommand {
		rec := s.idemOrder[0]
		if now.Before(rec.At.Add(IdempotencyKeyTTL)) {
			break
		}
		id := idempotencyID(rec.Actor, rec.Key)
		s.idemOrder = s.idemOrder[1:]
		delete(s.idem, id)
		out = append(out, Mutation{Kind: KindIdempotency, Key: id, Delete: true})
	}
	return out
}

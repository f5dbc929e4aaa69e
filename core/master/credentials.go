package master

import (
	"crypto/subtle"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// KindCredential is a person's browser credentials (see Credential).
const KindCredential EntityKind = "credential"

// MaxCredentialHash bounds the text of a stored hash.
const MaxCredentialHash = 512

// Credential is how a person signs in from a browser: a password hash and
// at most one outstanding one-time sign-in link. The hashes are computed by
// the shell (a memory-hard password hash, a digest of the link's secret);
// the core stores them, decides who may set them, and consumes a link once.
// NB: never part of any view or answer.
type Credential struct {
	Identity      model.Actor `json:"identity"`
	PasswordHash  string      `json:"password_hash,omitempty"`
	PasswordSetAt time.Time   `json:"password_set_at,omitzero"`
	LinkHash      string      `json:"link_hash,omitempty"`
	LinkExpiresAt time.Time   `json:"link_expires_at,omitzero"`
}

// SetPassword stores the hash of a person's new password: the person for
// itself, or the admin for anyone.
type SetPassword struct {
	By     model.Actor
	Person string
	Hash   string
}

// IssueSignInLink records the digest of a one-time sign-in link for a
// person, replacing any link issued before (admin only). For may also be
// the admin: the operator then signs a browser in without its certificate.
type IssueSignInLink struct {
	By        model.Actor
	For       model.Actor // a person, or model.Admin
	Hash      string
	ExpiresAt time.Time
}

// UseSignInLink consumes a sign-in link. By is the identity the link
// names: it is allowed only when Hash is the digest recorded and the
// link has not expired; the link can then not be used again.
type UseSignInLink struct {
	By   model.Actor
	Hash string
}

func (c SetPassword) CommandName() string     { return "set-password" }
func (c IssueSignInLink) CommandName() string { return "issue-sign-in-link" }
func (c UseSignInLink) CommandName() string   { return "use-sign-in-link" }

func (c SetPassword) actor() model.Actor     { return c.By }
func (c IssueSignInLink) actor() model.Actor { return c.By }
func (c UseSignInLink) actor() model.Actor   { return c.By }

func validateHash(what, h string) error {
	switch {
	case h == "":
		return invalidf("%s is empty", what)
	case len(h) > MaxCredentialHash:
		return invalidf("%s is %d bytes, more than %d", what, len(h), MaxCredentialHash)
	case strings.ContainsFunc(h, func(r rune) bool { return r <= ' ' || r > '~' }):
		return invalidf("%s holds a character other than printable ASCII", what)
	}
	return nil
}

// credKey is the key of an identity's credential record.
func credKey(a model.Actor) string { return string(a.Kind) + "/" + a.ID }

// credential returns the credential record of an identity, made when
// missing.
func (s *State) credential(a model.Actor) *Credential {
	c := s.creds[credKey(a)]
	if c == nil {
		c = &Credential{Identity: a}
		s.creds[credKey(a)] = c
	}
	return c
}

func (s *State) recordCredential(c *Credential) {
	cp := *c
	s.muts = append(s.muts, Mutation{Kind: KindCredential, Key: credKey(c.Identity), Value: &cp})
}

func (s *State) setPassword(now time.Time, c SetPassword) (Result, error) {
	switch {
	case c.By.Kind == model.KindAdmin:
	case c.By.Kind == model.KindPerson && c.By.ID == c.Person:
	case c.By.Kind == model.KindPerson:
		return Result{}, forbiddenf("%s may not set the password of %s: only its own", c.By, c.Person)
	default:
		return Result{}, forbiddenf("%s may not set passwords: only a person (its own) or the admin may", c.By)
	}
	if _, ok := s.persons[c.Person]; !ok {
		return Result{}, notFoundf("person %s does not exist", c.Person)
	}
	if err := validateHash("password hash", c.Hash); err != nil {
		return Result{}, err
	}
	cr := s.credential(model.Actor{Kind: model.KindPerson, ID: c.Person})
	cr.PasswordHash, cr.PasswordSetAt = c.Hash, now
	s.recordCredential(cr)
	p := *s.persons[c.Person]
	return Result{Person: &p, Changed: true}, nil
}

func (s *State) issueSignInLink(now time.Time, c IssueSignInLink) (Result, error) {
	if c.By.Kind != model.KindAdmin {
		return Result{}, forbiddenf("%s may not issue sign-in links: admin only", c.By)
	}
	switch {
	case c.For == model.Admin:
	case c.For.Kind == model.KindPerson:
		if _, ok := s.persons[c.For.ID]; !ok {
			return Result{}, notFoundf("person %s does not exist", c.For.ID)
		}
	default:
		return Result{}, invalidf("a sign-in link is for a person or the admin, not %s", c.For)
	}
	if err := validateHash("sign-in link digest", c.Hash); err != nil {
		return Result{}, err
	}
	if !c.ExpiresAt.After(now) {
		return Result{}, invalidf("sign-in link expiry %s is not after now (%s)", c.ExpiresAt.Format(time.RFC3339), now.Format(time.RFC3339))
	}
	cr := s.credential(c.For)
	cr.LinkHash, cr.LinkExpiresAt = c.Hash, c.ExpiresAt
	s.recordCredential(cr)
	return Result{Changed: true}, nil
}

func (s *State) useSignInLink(now time.Time, c UseSignInLink) (Result, error) {
	var p *model.Person
	switch {
	case c.By.Kind == model.KindPerson:
		p = s.persons[c.By.ID]
	case c.By == model.Admin:
		p = &model.Person{ID: model.Admin.ID, Name: "admin"}
	default:
		return Result{}, forbiddenf("%s may not use a sign-in link: links are for persons and the admin", c.By)
	}
	cr := s.creds[credKey(c.By)]
	// One answer for every refusal: it tells nothing about which persons
	// exist or hold a link.
	refused := forbiddenf("this sign-in link is unknown, used or expired: ask the operator for a new one")
	if p == nil || cr == nil || cr.LinkHash == "" ||
		subtle.ConstantTimeCompare([]byte(cr.LinkHash), []byte(c.Hash)) != 1 {
		return Result{}, refused
	}
	if !now.Before(cr.LinkExpiresAt) {
		return Result{}, refused
	}
	cr.LinkHash, cr.LinkExpiresAt = "", time.Time{}
	s.recordCredential(cr)
	cp := *p
	return Result{Person: &cp, Changed: true}, nil
}

// PasswordHash returns the password hash a person set, if any.
func (s *State) PasswordHash(person string) (string, bool) {
	if s.persons[person] == nil {
		return "", false
	}
	c := s.creds[credKey(model.Actor{Kind: model.KindPerson, ID: person})]
	if c == nil || c.PasswordHash == "" {
		return "", false
	}
	return c.PasswordHash, true
}

// snapshotCredentials adds the credentials to a snapshot, sorted by person.
func (s *State) snapshotCredentials(out []Mutation) []Mutation {
	for _, id := range slices.Sorted(maps.Keys(s.creds)) {
		c := *s.creds[id]
		out = append(out, Mutation{Kind: KindCredential, Key: id, Value: &c})
	}
	return out
}

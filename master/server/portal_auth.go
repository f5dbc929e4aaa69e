package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// Password rules and hashing parameters (argon2id as RFC 9106 and OWASP
// recommend for a server: 19 MiB, 2 passes, 1 lane).
const (
	MinPasswordLength = 10
	MaxPasswordLength = 256
	argonTime         = 2
	argonMemoryKiB    = 19 * 1024
	argonThreads      = 1
	argonKeyLen       = 32
	// hashSlots bounds the password hashes computed at once, so that
	// sign-in attempts cannot take all the memory or all the cores.
	hashSlots = 2
)

// Defaults of the portal's sessions and sign-in links.
const (
	DefaultSessionIdle   = 30 * time.Minute
	DefaultSessionMax    = 12 * time.Hour
	DefaultSignInLinkTTL = 24 * time.Hour
	maxSessions          = 100_000
)

// Cookie names: the __Host- prefix makes browsers insist on Secure, Path=/
// and no Domain.
const (
	sessionCookie = "__Host-slapgo-session"
	csrfCookie    = "__Host-slapgo-csrf"
)

var errPasswordRule = errors.New("password rule")

// checkPassword applies the password rules.
func checkPassword(pw string) error {
	n := len([]rune(pw))
	switch {
	case n < MinPasswordLength:
		return fmt.Errorf("%w: the password has %d characters: at least %d are needed", errPasswordRule, n, MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		return fmt.Errorf("%w: the password has %d bytes: at most %d are allowed", errPasswordRule, len(pw), MaxPasswordLength)
	}
	return nil
}

// hasher computes argon2id hashes, hashSlots at a time.
type hasher struct{ slots chan struct{} }

func newHasher() *hasher { return &hasher{slots: make(chan struct{}, hashSlots)} }

func (h *hasher) acquire(r *http.Request) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// hash returns the PHC string of a password with a fresh salt.
func (h *hasher) hash(r *http.Request, pw string) (string, error) {
	if err := h.acquire(r); err != nil {
		return "", err
	}
	defer func() { <-h.slots }()
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64(salt), b64(key)), nil
}

// verify checks a password against a PHC string made by hash.
func (h *hasher) verify(r *http.Request, encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, fmt.Errorf("server: stored password hash is not an argon2id PHC string")
	}
	var version int
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, fmt.Errorf("server: stored password hash has argon2 version %q", parts[2])
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil || mem > 256*1024 || iters > 16 || threads == 0 {
		return false, fmt.Errorf("server: stored password hash has parameters %q", parts[3])
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, fmt.Errorf("server: stored password hash is not valid base64")
	}
	if len(pw) > MaxPasswordLength {
		return false, nil
	}
	if err := h.acquire(r); err != nil {
		return false, err
	}
	defer func() { <-h.slots }()
	got := argon2.IDKey([]byte(pw), salt, iters, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// session is one signed-in browser.
type session struct {
	who      model.Actor
	csrfKey  string // binds the CSRF tokens of the session's forms
	created  time.Time
	lastSeen time.Time
}

// sessions holds the signed-in browsers, by digest of the cookie's secret.
// NB: in memory: a restart of the master signs every browser out.
type sessions struct {
	mu   sync.Mutex
	idle time.Duration
	max  time.Duration
	m    map[string]*session
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func digest(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// start opens a session and returns the cookie's secret.
func (ss *sessions) start(who model.Actor, now time.Time) string {
	secret := randomToken()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if len(ss.m) >= maxSessions {
		ss.sweepLocked(now)
	}
	ss.m[digest(secret)] = &session{who: who, csrfKey: randomToken(), created: now, lastSeen: now}
	return secret
}

func (ss *sessions) sweepLocked(now time.Time) {
	for k, s := range ss.m {
		if ss.expired(s, now) {
			delete(ss.m, k)
		}
	}
	// Still full of live sessions: end some (any) to make room.
	for k := range ss.m {
		if len(ss.m) < maxSessions {
			break
		}
		delete(ss.m, k)
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) >= ss.idle || now.Sub(s.created) >= ss.max
}

// lookup returns the session of a cookie secret and marks it seen; an
// expired session is removed and reported as such.
func (ss *sessions) lookup(secret string, now time.Time) (s session, expired, ok bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	k := digest(secret)
	p := ss.m[k]
	if p == nil {
		return session{}, false, false
	}
	if ss.expired(p, now) {
		delete(ss.m, k)
		return session{}, true, false
	}
	p.lastSeen = now
	return *p, false, true
}

func (ss *sessions) end(secret string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	delete(ss.m, digest(secret))
}

// endAll signs out every session of an identity (after a password change).
func (ss *sessions) endAll(who model.Actor, except string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	keep := digest(except)
	for k, s := range ss.m {
		if s.who == who && k != keep {
			delete(ss.m, k)
		}
	}
}

// limiter counts failed sign-ins per key (a person, an address) in a
// sliding window and refuses further attempts past a limit.
type limiter struct {
	mu     sync.Mutex
	window time.Duration
	limit  int
	fails  map[string][]time.Time
}

const maxLimiterKeys = 100_000

func newLimiter(window time.Duration, limit int) *limiter {
	return &limiter{window: window, limit: limit, fails: map[string][]time.Time{}}
}

func (l *limiter) recent(key string, now time.Time) []time.Time {
	ts := l.fails[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= l.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(l.fails, key)
	} else {
		l.fails[key] = ts
	}
	return ts
}

// allowed says whether key may try again, and if not, when.
func (l *limiter) allowed(key string, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.recent(key, now)
	if len(ts) < l.limit {
		return true, time.Time{}
	}
	return false, ts[len(ts)-l.limit].Add(l.window)
}

func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= maxLimiterKeys {
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	if len(l.fails) >= maxLimiterKeys {
		return // full of live entries: the per-person limit still holds
	}
	l.fails[key] = append(l.recent(key, now), now)
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, key)
}

// csrfToken is the token a form carries: an HMAC of what binds it (the
// session's key, or the browser's CSRF cookie before sign-in).
func (p *portal) csrfToken(binding string) string {
	m := hmac.New(sha256.New, p.csrfSecret)
	m.Write([]byte("slapgo portal form\x00" + binding))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// --- API routes for credentials ---

func (s *Server) setPasswordAPI(w http.ResponseWriter, r *http.Request, who model.Actor) {
	req, err := decodeBody[api.PasswordRequest](w, r, false)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	if err := checkPassword(req.Password); err != nil {
		writeError(w, s.log, badRequest("field \"password\": %s", strings.TrimPrefix(err.Error(), errPasswordRule.Error()+": ")))
		return
	}
	if err := s.setPassword(r, who, r.PathValue("id"), req.Password); err != nil {
		writeError(w, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// setPassword hashes a password and stores it through the core, which
// decides whether who may set it.
func (s *Server) setPassword(r *http.Request, who model.Actor, person, pw string) error {
	h, err := s.portal.hash.hash(r, pw)
	if err != nil {
		return err
	}
	_, err = s.exec(r.Context(), master.SetPassword{By: who, Person: person, Hash: h}, nil)
	if err == nil {
		s.portal.sessions.endAll(model.Actor{Kind: model.KindPerson, ID: person}, "")
	}
	return err
}

func (s *Server) signInLinkAPI(w http.ResponseWriter, r *http.Request, who model.Actor) {
	if _, err := decodeBody[struct{}](w, r, true); err != nil {
		writeError(w, s.log, err)
		return
	}
	id := r.PathValue("id")
	link, err := s.issueSignInLink(r, who, id)
	if err != nil {
		writeError(w, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, link)
}

// issueSignInLink draws a one-time link for a person (or the admin, when
// id is the admin's and no person bears it) and records its digest.
func (s *Server) issueSignInLink(r *http.Request, who model.Actor, id string) (api.SignInLink, error) {
	target := model.Actor{Kind: model.KindPerson, ID: id}
	s.mu.Lock()
	if _, isPerson := s.state.Person(id); !isPerson && id == model.Admin.ID {
		target = model.Admin
	}
	s.mu.Unlock()
	secret := randomToken()
	exp := s.now().Add(s.portal.linkTTL)
	if _, err := s.exec(r.Context(), master.IssueSignInLink{By: who, For: target, Hash: digest(secret), ExpiresAt: exp}, nil); err != nil {
		return api.SignInLink{}, err
	}
	path := portalPrefix + "link?" + linkQuery(target, secret)
	return api.SignInLink{Identity: target, Path: path, URL: "https://" + r.Host + path, ExpiresAt: exp}, nil
}

func linkQuery(who model.Actor, secret string) string {
	return "kind=" + string(who.Kind) + "&id=" + url.QueryEscape(who.ID) + "&token=" + secret
}

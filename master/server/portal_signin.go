package server

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// dummyHash is verified against when a person has no password, so that an
// unknown person costs as much time as a wrong password.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2xhcGdvLXBvcnRhbC1zYWx0$Q3M6b8vFq7Jm0l2Qe7m0hYk3W2Xq1bq9c1Fh4m8s8aA"

type signInForm struct {
	Person, Next, Why string
	Errors            map[string]string
	token             string
}

func (f signInForm) pageTitle() string { return "Sign in" }
func (f signInForm) csrf() string      { return f.token }

// safeNext keeps a redirection inside the portal.
func safeNext(next string) string {
	if strings.HasPrefix(next, portalPrefix) && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return portalPrefix
}

func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

func (p *portal) signInPage(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	if v, _ := p.viewerOf(w, r); v != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	q := r.URL.Query()
	p.render(w, r, http.StatusOK, "signin", nil, signInForm{Next: safeNext(q.Get("next")), Why: q.Get("why"),
		token: p.csrfToken(p.csrfBinding(w, r))})
}

// startSession signs the browser in as who and sends it on.
func (p *portal) startSession(w http.ResponseWriter, r *http.Request, who model.Actor, next string) {
	secret := p.sessions.start(who, p.s.now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(p.sessions.max / time.Second)})
	p.s.log.Info("portal: signed in", "identity", who.String(), "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (p *portal) signInPost(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	person := strings.TrimSpace(r.PostForm.Get("person"))
	pw := r.PostForm.Get("password")
	f := signInForm{Person: person, Next: safeNext(r.PostForm.Get("next")), Errors: map[string]string{},
		token: p.csrfToken(p.csrfBinding(w, r))}
	now := p.s.now()
	addr := "addr:" + remoteHost(r)
	key := "person:" + person
	if person == "" {
		f.Errors["person"] = "Enter your person id (for example PERSON-3 or demo)."
	}
	if pw == "" {
		f.Errors["password"] = "Enter your password."
	}
	if len(f.Errors) > 0 {
		p.render(w, r, http.StatusBadRequest, "signin", nil, f)
		return
	}
	for _, k := range []struct {
		l   *limiter
		key string
	}{{p.limitPerson, key}, {p.limitAddr, addr}} {
		if ok, until := k.l.allowed(k.key, now); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(until.Sub(now)/time.Second)+1))
			f.Errors["password"] = "Too many failed sign-ins for this person or from this address: try again after " +
				until.UTC().Format("15:04:05 UTC") + "."
			p.render(w, r, http.StatusTooManyRequests, "signin", nil, f)
			return
		}
	}
	p.s.mu.Lock()
	hash, has := p.s.state.PasswordHash(person)
	p.s.mu.Unlock()
	if !has {
		hash = dummyHash
	}
	ok, err := p.hash.verify(r, hash, pw)
	if err != nil {
		p.failed(w, r, nil, err)
		return
	}
	if !ok || !has {
		p.limitPerson.fail(key, now)
		p.limitAddr.fail(addr, now)
		f.Errors["password"] = "Unknown person or wrong password."
		p.render(w, r, http.StatusUnauthorized, "signin", nil, f)
		return
	}
	p.limitPerson.reset(key)
	p.startSession(w, r, model.Actor{Kind: model.KindPerson, ID: person}, f.Next)
}

type linkForm struct {
	Kind, ID, Token string
	token           string
}

func (f linkForm) pageTitle() string { return "Sign in with a link" }
func (f linkForm) csrf() string      { return f.token }

// linkPage shows a button that uses the link: a GET never consumes it
// (link previews and prefetchers would).
func (p *portal) linkPage(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	q := r.URL.Query()
	p.render(w, r, http.StatusOK, "link", nil, linkForm{Kind: q.Get("kind"), ID: q.Get("id"), Token: q.Get("token"),
		token: p.csrfToken(p.csrfBinding(w, r))})
}

func (p *portal) linkPost(w http.ResponseWriter, r *http.Request, _ model.Actor) {
	now := p.s.now()
	addr := "addr:" + remoteHost(r)
	if ok, until := p.limitAddr.allowed(addr, now); !ok {
		p.render(w, r, http.StatusTooManyRequests, "message", nil, messagePage{Title: "Too many attempts",
			Message: "Too many failed sign-ins from this address: try again after " + until.UTC().Format("15:04:05 UTC") + ".",
			Link:    portalPrefix + "sign-in"})
		return
	}
	who := model.Actor{Kind: model.IdentityKind(r.PostForm.Get("kind")), ID: r.PostForm.Get("id")}
	token := r.PostForm.Get("token")
	_, err := p.s.exec(r.Context(), master.UseSignInLink{By: who, Hash: digest(token)}, nil)
	if err != nil {
		p.limitAddr.fail(addr, now)
		p.render(w, r, http.StatusForbidden, "message", nil, messagePage{Title: "Link refused",
			Message: "This sign-in link is unknown, used or expired: ask the operator for a new one.", Link: portalPrefix + "sign-in"})
		return
	}
	next := portalPrefix
	if who.Kind == model.KindPerson {
		next = portalPrefix + "password?welcome=1"
	}
	p.startSession(w, r, who, next)
}

func (p *portal) signOut(w http.ResponseWriter, r *http.Request, v *viewer) {
	if v.secret != "" {
		p.sessions.end(v.secret)
	}
	clearCookie(w, sessionCookie)
	http.Redirect(w, r, portalPrefix+"sign-in?why=You+signed+out.", http.StatusSeeOther)
}

type passwordForm struct {
	Welcome, NeedCurrent, Done bool
	Errors                     map[string]string
}

func (f passwordForm) pageTitle() string { return "Password" }

func (p *portal) passwordPage(w http.ResponseWriter, r *http.Request, v *viewer) {
	if v.who.Kind != model.KindPerson {
		p.render(w, r, http.StatusOK, "message", v, messagePage{Title: "Password",
			Message: "The admin signs in with its certificate or a sign-in link, not a password.", Link: portalPrefix})
		return
	}
	p.s.mu.Lock()
	_, has := p.s.state.PasswordHash(v.who.ID)
	p.s.mu.Unlock()
	q := r.URL.Query()
	p.render(w, r, http.StatusOK, "password", v, passwordForm{Welcome: q.Get("welcome") != "", Done: q.Get("done") != "", NeedCurrent: has && !v.viaCert})
}

func (p *portal) passwordPost(w http.ResponseWriter, r *http.Request, v *viewer) {
	if v.who.Kind != model.KindPerson {
		p.notFound(w, r, v)
		return
	}
	p.s.mu.Lock()
	hash, has := p.s.state.PasswordHash(v.who.ID)
	p.s.mu.Unlock()
	f := passwordForm{NeedCurrent: has && !v.viaCert, Errors: map[string]string{}}
	now := p.s.now()
	key := "person:" + v.who.ID
	if f.NeedCurrent {
		if ok, until := p.limitPerson.allowed(key, now); !ok {
			f.Errors["current"] = "Too many wrong passwords: try again after " + until.UTC().Format("15:04:05 UTC") + "."
			p.render(w, r, http.StatusTooManyRequests, "password", v, f)
			return
		}
		ok, err := p.hash.verify(r, hash, r.PostForm.Get("current"))
		if err != nil {
			p.failed(w, r, v, err)
			return
		}
		if !ok {
			p.limitPerson.fail(key, now)
			f.Errors["current"] = "This is not your current password."
		}
	}
	pw := r.PostForm.Get("password")
	if err := checkPassword(pw); err != nil {
		f.Errors["password"] = strings.TrimPrefix(err.Error(), errPasswordRule.Error()+": ") + "."
	} else if r.PostForm.Get("again") != pw {
		f.Errors["again"] = "The two passwords differ."
	}
	if len(f.Errors) > 0 {
		p.render(w, r, http.StatusBadRequest, "password", v, f)
		return
	}
	if err := p.s.setPassword(r, v.who, v.who.ID, pw); err != nil {
		p.failed(w, r, v, err)
		return
	}
	// setPassword signed out every session of the person: this browser
	// gets a new one.
	if v.secret != "" {
		p.startSession(w, r, v.who, portalPrefix+"password?done=1")
		return
	}
	http.Redirect(w, r, portalPrefix+"password?done=1", http.StatusSeeOther)
}

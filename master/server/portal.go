package server

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/ca"
)

// portalPrefix is where the portal is mounted on the master's listener.
const portalPrefix = "/portal/"

// PortalPath is the portal's path on the master's URL.
const PortalPath = portalPrefix

//go:embed portal/templates/*.html portal/static/*
var portalFiles embed.FS

// maxFormBody bounds what a portal form may post.
const maxFormBody = 256 << 10

// portal is the web portal: server-rendered pages over the same core
// queries and commands, with the same Actor, as /api/v1.
type portal struct {
	s           *Server
	sessions    *sessions
	limitPerson *limiter
	limitAddr   *limiter
	hash        *hasher
	csrfSecret  []byte
	linkTTL     time.Duration
	pages       map[string]*template.Template
	static      http.Handler
	events      *eventLog
	samples     *sampleRing

	// changed is closed and replaced after every applied command: live
	// pages wait on it.
	chMu    sync.Mutex
	changed chan struct{}

	// stopping is closed when the server shuts down: live streams end
	// so that draining does not wait for them.
	stopping chan struct{}
	stopOnce sync.Once
}

func (p *portal) shutdown() { p.stopOnce.Do(func() { close(p.stopping) }) }

func newPortal(s *Server, opts Options) (*portal, error) {
	p := &portal{
		s:           s,
		sessions:    &sessions{idle: opts.SessionIdle, max: opts.SessionMax, m: map[string]*session{}},
		limitPerson: newLimiter(15*time.Minute, 5),
		limitAddr:   newLimiter(15*time.Minute, 30),
		hash:        newHasher(),
		csrfSecret:  make([]byte, 32),
		linkTTL:     opts.SignInLinkTTL,
		events:      &eventLog{},
		samples:     &sampleRing{},
		changed:     make(chan struct{}),
		stopping:    make(chan struct{}),
	}
	if p.sessions.idle <= 0 {
		p.sessions.idle = DefaultSessionIdle
	}
	if p.sessions.max <= 0 {
		p.sessions.max = DefaultSessionMax
	}
	if p.linkTTL <= 0 {
		p.linkTTL = DefaultSignInLinkTTL
	}
	rand.Read(p.csrfSecret)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	p.pages = pages
	static, _ := fs.Sub(portalFiles, "portal/static")
	p.static = http.StripPrefix(portalPrefix+"static/", http.FileServerFS(static))
	return p, nil
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(portalFiles, "portal/templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "portal/templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(portalFuncs).ParseFS(portalFiles, "portal/templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("server: portal template %s: %w", n, err)
		}
		out[base] = t
	}
	return out, nil
}

// notify wakes the live pages after a change.
func (p *portal) notify() {
	p.chMu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.chMu.Unlock()
}

func (p *portal) waitChange() <-chan struct{} {
	p.chMu.Lock()
	defer p.chMu.Unlock()
	return p.changed
}

// viewer is who looks at a page, and how it signed in.
type viewer struct {
	who     model.Actor
	name    string
	viaCert bool
	csrf    string // the token this viewer's forms carry
	secret  string // the session cookie's secret ("" when signed in by certificate)
}

// IsAdmin, Name and ViaCert are for the templates.
func (v viewer) IsAdmin() bool { return v.who.Kind == model.KindAdmin }
func (v viewer) Name() string  { return v.name }
func (v viewer) ViaCert() bool { return v.viaCert }

// pageFunc serves a page for a signed-in viewer.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *viewer)

// routes mounts the portal on mux.
func (p *portal) routes(mux *http.ServeMux, public func(pattern string, h handlerFunc)) {
	pg := func(pattern string, h pageFunc) { public(pattern, p.signedIn(h, false)) }
	admin := func(pattern string, h pageFunc) { public(pattern, p.signedIn(h, true)) }
	anon := func(pattern string, h handlerFunc) { public(pattern, p.secured(h)) }
	const pp = portalPrefix
	public("GET /{$}", func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
		http.Redirect(w, r, pp, http.StatusSeeOther)
	})
	public("GET "+pp+"static/", func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		p.static.ServeHTTP(w, r)
	})
	anon("GET "+pp+"sign-in", p.signInPage)
	anon("POST "+pp+"sign-in", p.signInPost)
	anon("GET "+pp+"link", p.linkPage)
	anon("POST "+pp+"link", p.linkPost)
	pg("POST "+pp+"sign-out", p.signOut)
	pg("GET "+pp+"{$}", p.overview)
	pg("GET "+pp+"password", p.passwordPage)
	pg("POST "+pp+"password", p.passwordPost)
	pg("GET "+pp+"request", p.requestPage)
	pg("POST "+pp+"request", p.requestPost)
	pg("GET "+pp+"instances/{guid}", p.instancePage)
	pg("GET "+pp+"instances/{guid}/confirm/{action}", p.confirmPage)
	pg("POST "+pp+"instances/{guid}/{action}", p.instanceAction)
	pg("GET "+pp+"instances/{guid}/live", p.instanceLive)
	pg("GET "+pp+"computers", p.computersPage)
	pg("GET "+pp+"computers/{id}", p.computerPage)
	pg("GET "+pp+"invoices", p.invoicesPage)
	pg("GET "+pp+"invoices.csv", p.invoicesCSV)
	admin("GET "+pp+"grid", p.gridPage)
	admin("GET "+pp+"people", p.peoplePage)
	admin("POST "+pp+"people/{id}/sign-in-link", p.peopleLink)
	public(pp, p.secured(func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
		p.notFound(w, r, nil)
	}))
}

// securityHeaders are sent with every portal answer: no script but the
// portal's own, no framing, no caching of personal pages.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

// secured wraps a page that needs no sign-in (sign-in, link): security
// headers, and a form's CSRF check against the browser's CSRF cookie.
func (p *portal) secured(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, who model.Actor) {
		securityHeaders(w.Header())
		if r.Method == http.MethodPost {
			c, err := r.Cookie(csrfCookie)
			if err != nil || !p.formOK(w, r, p.csrfToken(c.Value)) {
				p.csrfRefused(w, r, nil)
				return
			}
		}
		h(w, r, who)
	}
}

// csrfBinding returns the browser's CSRF cookie, set when missing.
func (p *portal) csrfBinding(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	v := randomToken()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return v
}

// formOK parses a posted form (bounded) and checks that it carries the
// CSRF token want, and that the browser says it came from this site.
func (p *portal) formOK(w http.ResponseWriter, r *http.Request, want string) bool {
	if origin := r.Header.Get("Origin"); origin != "" && origin != "null" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return false
	}
	got := r.PostForm.Get("csrf")
	return got != "" && hmacEqual(got, want)
}

func hmacEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// signedIn wraps a page for a signed-in viewer: by a client certificate
// (a person or the admin), else by a session cookie; otherwise to the
// sign-in page. A POST must carry the viewer's CSRF token.
func (p *portal) signedIn(h pageFunc, adminOnly bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, _ model.Actor) {
		securityHeaders(w.Header())
		v, why := p.viewerOf(w, r)
		if v == nil {
			if r.Method != http.MethodGet {
				p.render(w, r, http.StatusUnauthorized, "message", nil, messagePage{Title: "Signed out",
					Message: why + " Sign in again: what you sent was not applied.", Link: portalPrefix + "sign-in"})
				return
			}
			q := url.Values{"next": {r.URL.RequestURI()}}
			if why != "" {
				q.Set("why", why)
			}
			http.Redirect(w, r, portalPrefix+"sign-in?"+q.Encode(), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !p.formOK(w, r, v.csrf) {
			p.csrfRefused(w, r, v)
			return
		}
		if adminOnly && !v.IsAdmin() {
			p.notFound(w, r, v)
			return
		}
		h(w, r, v)
	}
}

// viewerOf finds who the browser is; nil with a reason when nobody.
func (p *portal) viewerOf(w http.ResponseWriter, r *http.Request) (*viewer, string) {
	s := p.s
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && len(r.TLS.VerifiedChains) > 0 {
		leaf := r.TLS.PeerCertificates[0]
		who, err := ca.IdentityOf(leaf)
		if err == nil && (who.Kind == model.KindPerson || who.Kind == model.KindAdmin) {
			if s.certificateRefused(leaf, who) == nil {
				binding := p.csrfBinding(w, r)
				return &viewer{who: who, name: p.nameOf(who), viaCert: true, csrf: p.csrfToken("cert\x00" + who.String() + "\x00" + binding)}, ""
			}
		}
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, ""
	}
	sess, expired, ok := p.sessions.lookup(c.Value, s.now())
	if !ok {
		clearCookie(w, sessionCookie)
		if expired {
			return nil, "Your session expired."
		}
		return nil, "Your session ended."
	}
	s.mu.Lock()
	refused := s.state.SessionRefused(sess.who, sess.created)
	s.mu.Unlock()
	if refused != nil {
		p.sessions.end(c.Value)
		clearCookie(w, sessionCookie)
		return nil, "Your account no longer exists."
	}
	return &viewer{who: sess.who, name: p.nameOf(sess.who), csrf: p.csrfToken("session\x00" + sess.csrfKey), secret: c.Value}, ""
}

func (p *portal) nameOf(who model.Actor) string {
	if who.Kind == model.KindAdmin {
		return "admin"
	}
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	if per, ok := p.s.state.Person(who.ID); ok && per.Name != "" {
		return per.Name
	}
	return who.ID
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", Secure: true, HttpOnly: true, MaxAge: -1, SameSite: http.SameSiteLaxMode})
}

// page is what every template receives.
type page struct {
	Title  string
	Nav    string
	Viewer *viewer
	CSRF   string
	Data   any
}

// messagePage is a page of one message (refusals, confirmations).
type messagePage struct {
	Title, Message, Link string
}

func (p *portal) render(w http.ResponseWriter, r *http.Request, status int, name string, v *viewer, data any) {
	t := p.pages[name]
	if t == nil {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	pg := page{Viewer: v, Data: data, Nav: name}
	if v != nil {
		pg.CSRF = v.csrf
	}
	if tp, ok := data.(interface{ pageTitle() string }); ok {
		pg.Title = tp.pageTitle()
	}
	if mp, ok := data.(messagePage); ok {
		pg.Title = mp.Title
	}
	if pc, ok := data.(interface{ csrf() string }); ok && pg.CSRF == "" {
		pg.CSRF = pc.csrf()
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", pg); err != nil {
		p.s.log.Error("portal: rendering a page", "page", name, "error", err)
		http.Error(w, "the page could not be rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (p *portal) notFound(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.render(w, r, http.StatusNotFound, "message", v, messagePage{Title: "Not found",
		Message: "There is no page at " + r.URL.Path + " for you.", Link: portalPrefix})
}

func (p *portal) csrfRefused(w http.ResponseWriter, r *http.Request, v *viewer) {
	p.render(w, r, http.StatusForbidden, "message", v, messagePage{Title: "Form refused",
		Message: "This form was not sent from a page of this portal, or the page is too old: nothing was changed. Reload the page and try again.",
		Link:    portalPrefix})
}

// failed shows an error of the core or the store as a page.
func (p *portal) failed(w http.ResponseWriter, r *http.Request, v *viewer, err error) {
	ae := toAPIError(err)
	if ae.status == http.StatusNotFound || (ae.status == http.StatusForbidden && errors.Is(err, master.ErrForbidden) && !errors.Is(err, master.ErrQuota)) {
		// Another person's things do not exist for this viewer.
		p.notFound(w, r, v)
		return
	}
	if ae.status >= 500 {
		p.s.log.Error("portal: request failed", "path", r.URL.Path, "error", err)
	}
	p.render(w, r, ae.status, "message", v, messagePage{Title: http.StatusText(ae.status), Message: ae.message, Link: portalPrefix})
}

// paging reads ?page= (from 1) and bounds it.
type paging struct {
	Page, Pages, Per, Total int
	Prev, Next              string
}

const perPage = 50

// pageNumber reads ?page= (1 when absent or not a number above 0).
func pageNumber(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func newPaging(r *http.Request, total int) paging {
	pg := paging{Per: perPage, Total: total}
	pg.Pages = max(1, (total+perPage-1)/perPage)
	pg.Page = min(pageNumber(r), pg.Pages)
	link := func(to int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(to))
		return r.URL.Path + "?" + q.Encode()
	}
	if pg.Page > 1 {
		pg.Prev = link(pg.Page - 1)
	}
	if pg.Page < pg.Pages {
		pg.Next = link(pg.Page + 1)
	}
	return pg
}

func (pg paging) bounds() (lo, hi int) {
	lo = (pg.Page - 1) * pg.Per
	return lo, min(lo+pg.Per, pg.Total)
}

var portalFuncs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"money": func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) },
	"num":   func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) },
	"pct": func(a, b int) string {
		if b == 0 {
			return "0%"
		}
		return strconv.Itoa(a*100/b) + "%"
	},
	"sub":  func(a, b int) int { return a - b },
	"list": func(s ...string) []string { return s },
	"args": func(id, label, value, err, hint string) formField {
		return formField{ID: id, Label: label, Value: value, Error: err, Hint: hint}
	},
}

// formField is one labelled input of a form, with its error or hint.
type formField struct{ ID, Label, Value, Error, Hint string }

package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// browser is a cookie-keeping HTTP client that reads the portal's pages
// as a browser without JavaScript would: it follows redirections and
// posts forms with the CSRF token of the last page it read.
type browser struct {
	t    *testing.T
	m    *testMaster
	http *http.Client
	csrf string
	last string
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (m *testMaster) browser(t *testing.T, certs ...tls.Certificate) *browser {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: m.tlsConfig(certs...)}}
	t.Cleanup(c.CloseIdleConnections)
	return &browser{t: t, m: m, http: c}
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	body := string(data)
	if m := csrfRE.FindStringSubmatch(body); m != nil {
		b.csrf = m[1]
	}
	b.last = resp.Request.URL.Path
	return resp.StatusCode, body
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.m.url+path, nil)
	return b.do(req)
}

// post sends a form with the last page's CSRF token (unless the form has
// its own "csrf").
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if !form.Has("csrf") {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, b.m.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn signs in with a password.
func (b *browser) signIn(person, password string) {
	b.t.Helper()
	b.get(portalPrefix + "sign-in")
	code, body := b.post(portalPrefix+"sign-in", url.Values{"person": {person}, "password": {password}})
	if code != http.StatusOK || b.last != portalPrefix {
		b.t.Fatalf("sign-in as %s: %d at %s\n%s", person, code, b.last, body)
	}
}

const testPassword = "correct horse battery"

// portalGrid is a master with two persons, each with a computer and
// instances, and passwords set through the API.
type portalGrid struct {
	m          *testMaster
	alice, bob *api.Client
	a, b       model.Person
	aliceInsts []api.Instance
	bobInst    api.Instance
}

func newPortalGrid(t *testing.T, tune func(*Options)) *portalGrid {
	m := startMaster(t, tune)
	g := &portalGrid{m: m}
	ctx := context.Background()
	g.alice, g.a = m.person("Alice")
	g.bob, g.b = m.person("Bob")
	compA := m.computer(g.alice, "COMP-A", 3, "eu")
	m.computer(g.bob, "COMP-B", 2, "jp")
	for _, title := range []string{"web", "db", "cache"} {
		inst, err := g.alice.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL,
			SLA: map[string]string{"computer_guid": "COMP-A"}, Parameters: map[string]string{"size": title}})
		noErr(t, err)
		g.aliceInsts = append(g.aliceInsts, inst)
	}
	// One more than fits: it waits, with its reason.
	inst, err := g.alice.Request(ctx, api.InstanceRequest{Title: "overflow", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-A"}})
	noErr(t, err)
	g.aliceInsts = append(g.aliceInsts, inst)
	// web runs: it is invoiced by the hour from now on.
	noErr(t, compA.ReportPartition(ctx, "COMP-A", g.aliceInsts[0].PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}))
	g.bobInst, err = g.bob.Request(ctx, api.InstanceRequest{Title: "secret", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-B"}})
	noErr(t, err)
	noErr(t, g.alice.SetPassword(ctx, g.a.ID, testPassword))
	noErr(t, g.bob.SetPassword(ctx, g.b.ID, testPassword))
	return g
}

var guidRE = regexp.MustCompile(`/portal/instances/(SOFTINST-\d+)"`)

// guidsOn lists the instance guids a page links to, sorted, unique.
func guidsOn(body string) []string {
	var out []string
	for _, m := range guidRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestPortalShowsWhatTheAPIShows(t *testing.T) {
	g := newPortalGrid(t, nil)
	ctx := context.Background()
	// bob's instance runs too; both are invoiced for an hour.
	bobComp := g.m.clientAs(model.Actor{Kind: model.KindComputer, ID: "COMP-B"})
	noErr(t, bobComp.ReportPartition(ctx, "COMP-B", g.bobInst.PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}))
	g.m.clock.Advance(time.Hour)
	for _, who := range []struct {
		name   string
		id     string
		client *api.Client
	}{{"alice", g.a.ID, g.alice}, {"bob", g.b.ID, g.bob}} {
		t.Run(who.name, func(t *testing.T) {
			b := g.m.browser(t)
			b.signIn(who.id, testPassword)
			_, body := b.get(portalPrefix)
			insts, err := who.client.Instances(ctx)
			noErr(t, err)
			var want []string
			for _, i := range insts {
				want = append(want, i.GUID)
			}
			slices.Sort(want)
			if got := guidsOn(body); !slices.Equal(got, want) {
				t.Errorf("the overview links %v; /api/v1/instances answers %v", got, want)
			}
			for _, i := range insts {
				code, page := b.get(portalPrefix + "instances/" + i.GUID)
				if code != http.StatusOK || !strings.Contains(page, i.Title) {
					t.Errorf("own instance %s: %d", i.GUID, code)
				}
			}
			// Invoices: the CSV's totals are the API's for the same month.
			now := g.m.clock.Now()
			from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
			invs, err := who.client.Invoices(ctx, from, from.AddDate(0, 1, 0), "")
			noErr(t, err)
			_, csvText := b.get(portalPrefix + "invoices.csv?period=" + from.Format("2006-01"))
			// NB: the running instances accrue hosting until the moment of
			// each answer (the test clock follows the wall clock), so the
			// two totals may differ by what a few seconds cost: at most
			// totalSlack, far below an hour of hosting.
			const totalSlack = 0.001
			type total struct {
				who, currency string
				amount        float64
			}
			var totals []total
			for _, line := range strings.Split(csvText, "\n") {
				if f := strings.Split(line, ","); len(f) == 8 && f[4] == "total" {
					amount, err := strconv.ParseFloat(f[7], 64)
					noErr(t, err)
					totals = append(totals, total{f[0], f[3], amount})
				}
			}
			same := len(totals) == len(invs) && len(totals) > 0
			for i := 0; same && i < len(invs); i++ {
				same = totals[i].who == invs[i].Person && totals[i].currency == invs[i].Currency &&
					math.Abs(totals[i].amount-invs[i].Total) <= totalSlack
			}
			if !same {
				t.Errorf("invoice totals: CSV %v, API %+v", totals, invs)
			}
			comps, err := who.client.Computers(ctx)
			noErr(t, err)
			_, cpage := b.get(portalPrefix + "computers")
			got := regexp.MustCompile(`/portal/computers/(COMP-[A-Z]+)"`).FindAllStringSubmatch(cpage, -1)
			if len(got) != len(comps) {
				t.Fatalf("the computers page lists %d computers, the API %d", len(got), len(comps))
			}
			for k, c := range comps {
				if got[k][1] != c.ID {
					t.Errorf("computer %d: page %s, API %s", k, got[k][1], c.ID)
				}
				if code, _ := b.get(portalPrefix + "computers/" + c.ID); code != http.StatusOK {
					t.Errorf("own computer %s: %d", c.ID, code)
				}
			}
		})
	}
	// Another person's pages do not exist, whatever the route.
	b := g.m.browser(t)
	b.signIn(g.b.ID, testPassword)
	for _, path := range []string{"instances/" + g.aliceInsts[0].GUID, "instances/" + g.aliceInsts[0].GUID + "/confirm/destroy",
		"instances/" + g.aliceInsts[0].GUID + "/live", "computers/COMP-A", "grid", "people", "instances/SOFTINST-999"} {
		if code, body := b.get(portalPrefix + path); code != http.StatusNotFound || strings.Contains(body, "web") {
			t.Errorf("bob GET %s: %d, want 404 without alice's data", path, code)
		}
	}
	code, _ := b.post(portalPrefix+"instances/"+g.aliceInsts[0].GUID+"/destroy", nil)
	if code != http.StatusNotFound {
		t.Errorf("bob destroying alice's instance: %d, want 404", code)
	}
	if i, err := g.alice.Instance(ctx, g.aliceInsts[0].GUID); err != nil || i.RequestedState != model.StateStarted {
		t.Errorf("alice's instance after bob's try: %+v, %v", i, err)
	}
}

func TestPortalPagesRender(t *testing.T) {
	g := newPortalGrid(t, nil)
	g.m.clock.Advance(2 * time.Hour) // two hours of web to invoice
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	web, overflow := g.aliceInsts[0], g.aliceInsts[3]
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"", []string{"Instance trees", "web", "db", "cache", "Pending requests", overflow.PendingReason, "Recent events"}},
		{"?q=CAC", []string{"cache"}},
		{"request", []string{`<label for="title">`, softURL, `name="parameters"`, `name="computer_guid"`}},
		{"instances/" + web.GUID, []string{"size", "COMP-A/", "confirm/stop", "confirm/destroy", `data-src="/portal/instances/` + web.GUID + `/live"`}},
		{"instances/" + web.GUID + "/confirm/stop", []string{"Yes, stop web"}},
		{"computers", []string{"COMP-A"}},
		{"computers/COMP-A", []string{"slappart0", softURL, "<svg", "Hosting hours per day"}},
		{"invoices", []string{"Download CSV", "hosting"}},
		{"password", []string{"Current password"}},
	} {
		code, body := b.get(portalPrefix + tc.path)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d", tc.path, code)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s: no %q in the page", tc.path, w)
			}
		}
		if trees, _, _ := strings.Cut(body, `id="pending-h"`); tc.path == "?q=CAC" && strings.Contains(trees, ">web<") {
			t.Errorf("the title search for CAC shows web")
		}
	}
	req, _ := http.NewRequest(http.MethodGet, g.m.url+portalPrefix+"invoices.csv", nil)
	resp, err := b.http.Do(req)
	noErr(t, err)
	csvBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") ||
		!strings.HasPrefix(string(csvBody), "person,period_start,period_end,currency,resource,unit,quantity,amount\n") ||
		!strings.Contains(string(csvBody), g.a.ID+",") {
		t.Errorf("invoices.csv: %s\n%s", ct, csvBody)
	}
}

func TestPortalStopsAnInstanceThroughAConfirmedForm(t *testing.T) {
	g := newPortalGrid(t, nil)
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	web := g.aliceInsts[0]
	b.get(portalPrefix + "instances/" + web.GUID + "/confirm/stop")
	code, body := b.post(portalPrefix+"instances/"+web.GUID+"/stop", nil)
	if code != http.StatusOK || !strings.Contains(body, "Done: stop") {
		t.Fatalf("stop: %d\n%s", code, body)
	}
	i, err := g.alice.Instance(context.Background(), web.GUID)
	noErr(t, err)
	if i.RequestedState != model.StateStopped {
		t.Errorf("after stop the API says %s", i.RequestedState)
	}
	if !strings.Contains(body, "confirm/start") {
		t.Errorf("a stopped instance offers no start")
	}
	// Its events, newest first: the stop, then its placement.
	stop, placed := strings.Index(body, "<td>state</td><td>stopped requested</td>"), strings.Index(body, "<td>placed</td><td>placed on COMP-")
	if !strings.Contains(body, `<h2 id="events-h">Events</h2>`) || stop < 0 || placed < stop {
		t.Errorf("the instance page shows no events, newest first (stop at %d, placement at %d):\n%s", stop, placed, body)
	}
}

func TestPortalRefusesFormsWithoutTheirToken(t *testing.T) {
	g := newPortalGrid(t, nil)
	a := g.m.browser(t)
	a.signIn(g.a.ID, testPassword)
	other := g.m.browser(t)
	other.signIn(g.b.ID, testPassword)
	form := url.Values{"title": {"sneaky"}, "software_release": {softURL}, "state": {"started"}}
	for _, tc := range []struct {
		name  string
		token string
		hdr   [2]string
	}{
		{"no token", "", [2]string{}},
		{"a token of another session", other.csrf, [2]string{}},
		{"a forged token", strings.Repeat("A", len(a.csrf)), [2]string{}},
		{"the right token from another site", a.csrf, [2]string{"Origin", "https://evil.example"}},
	} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("csrf", tc.token)
		req, _ := http.NewRequest(http.MethodPost, g.m.url+portalPrefix+"request", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if tc.hdr[0] != "" {
			req.Header.Set(tc.hdr[0], tc.hdr[1])
		}
		if code, body := a.do(req); code != http.StatusForbidden || !strings.Contains(body, "Form refused") {
			t.Errorf("%s: %d, want 403 Form refused", tc.name, code)
		}
	}
	if _, err := g.alice.Instance(context.Background(), "SOFTINST-6"); !api.IsStatus(err, http.StatusNotFound) {
		t.Errorf("a refused form created an instance: %v", err)
	}
	// The same form with the page's token is applied.
	a.get(portalPrefix + "request")
	if code, body := a.post(portalPrefix+"request", form); code != http.StatusOK || !strings.Contains(body, "sneaky") {
		t.Errorf("with its token: %d\n%s", code, body)
	}
	// Sign-in forms are protected too (login CSRF).
	fresh := g.m.browser(t)
	if code, _ := fresh.post(portalPrefix+"sign-in", url.Values{"person": {g.a.ID}, "password": {testPassword}}); code != http.StatusForbidden {
		t.Errorf("a sign-in form without token: %d, want 403", code)
	}
}

func TestPortalSessionExpiresAndSignsOut(t *testing.T) {
	g := newPortalGrid(t, func(o *Options) { o.SessionIdle, o.SessionMax = 10*time.Minute, time.Hour })
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	// Activity keeps the session up to its maximum age.
	for range 5 {
		g.m.clock.Advance(9 * time.Minute)
		if code, _ := b.get(portalPrefix); code != http.StatusOK || b.last != portalPrefix {
			t.Fatalf("an active session ended early: %d at %s", code, b.last)
		}
	}
	g.m.clock.Advance(11 * time.Minute) // past the hour
	code, body := b.get(portalPrefix)
	if b.last != portalPrefix+"sign-in" || !strings.Contains(body, "Your session expired.") {
		t.Fatalf("after the maximum age: %d at %s", code, b.last)
	}
	b.signIn(g.a.ID, testPassword)
	g.m.clock.Advance(11 * time.Minute) // idle
	b.get(portalPrefix + "request")
	if b.last != portalPrefix+"sign-in" {
		t.Fatalf("an idle session still answers at %s", b.last)
	}
	if code, _ := b.post(portalPrefix+"request", url.Values{"title": {"late"}}); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("a form after expiry: %d, want 401 or 403", code)
	}
	// Sign-out ends the session on the server, not only in the browser.
	b.signIn(g.a.ID, testPassword)
	var cookie *http.Cookie
	u, _ := url.Parse(g.m.url)
	for _, c := range b.http.Jar.Cookies(u) {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	b.post(portalPrefix+"sign-out", nil)
	replay := g.m.browser(t)
	replay.http.Jar.SetCookies(u, []*http.Cookie{cookie})
	if replay.get(portalPrefix); replay.last != portalPrefix+"sign-in" {
		t.Errorf("the cookie of a signed-out session still opens %s", replay.last)
	}
}

func TestPortalShowsTheCoreMessageNextToTheField(t *testing.T) {
	g := newPortalGrid(t, nil)
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	for _, tc := range []struct {
		form  url.Values
		field string
		want  string
	}{
		{url.Values{"title": {"x"}, "software_release": {softURL}, "sla": {"colour=red"}}, "sla", "colour"},
		{url.Values{"title": {""}, "software_release": {softURL}}, "title", "title"},
		{url.Values{"title": {"x"}, "other_url": {"not a url"}}, "other_url", "not a url"},
		{url.Values{"title": {"x"}, "software_release": {softURL}, "parameters": {"novalue"}}, "parameters", "novalue"},
	} {
		b.get(portalPrefix + "request")
		code, body := b.post(portalPrefix+"request", tc.form)
		if code != http.StatusBadRequest {
			t.Errorf("%v: %d, want 400", tc.form, code)
		}
		re := regexp.MustCompile(`aria-describedby="` + tc.field + `-error"[^>]*>(?:[^<]*</textarea>)?\s*<p class="error" id="` + tc.field + `-error">([^<]*)</p>`)
		m := re.FindStringSubmatch(body)
		if m == nil || !strings.Contains(m[1], tc.want) {
			t.Errorf("%v: no message about %q next to %s:\n%s", tc.form, tc.want, tc.field, body)
		}
		if !strings.Contains(body, `value="`+tc.form.Get("title")+`"`) {
			t.Errorf("%v: the form lost what was typed", tc.form)
		}
	}
}

func TestPortalSignInIsRateLimited(t *testing.T) {
	g := newPortalGrid(t, nil)
	b := g.m.browser(t)
	b.get(portalPrefix + "sign-in")
	// An unknown person gets the answer of a wrong password.
	if code, body := b.post(portalPrefix+"sign-in", url.Values{"person": {"nobody"}, "password": {"whatever it is"}}); code != http.StatusUnauthorized ||
		!strings.Contains(body, "Unknown person or wrong password.") {
		t.Fatalf("an unknown person: %d", code)
	}
	for i := range 5 {
		if code, _ := b.post(portalPrefix+"sign-in", url.Values{"person": {g.a.ID}, "password": {"wrong password " + string(rune('a'+i))}}); code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d, want 401", i, code)
		}
	}
	code, body := b.post(portalPrefix+"sign-in", url.Values{"person": {g.a.ID}, "password": {testPassword}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("the right password after 5 failures: %d, want 429", code)
	}
	// Another person from elsewhere is not locked out; the window passes.
	g.m.browser(t).signIn(g.b.ID, testPassword)
	g.m.clock.Advance(16 * time.Minute)
	b.signIn(g.a.ID, testPassword)
}

func TestPortalSignInLinkWorksOnce(t *testing.T) {
	g := newPortalGrid(t, nil)
	ctx := context.Background()
	if _, err := g.alice.SignInLink(ctx, g.a.ID); !api.IsStatus(err, http.StatusForbidden) {
		t.Fatalf("a person issuing a link: %v, want 403", err)
	}
	link, err := g.m.admin.SignInLink(ctx, g.a.ID)
	noErr(t, err)
	b := g.m.browser(t)
	if code, body := b.get(link.Path); code != http.StatusOK || !strings.Contains(body, "Sign in as "+g.a.ID) {
		t.Fatalf("GET link: %d\n%s", code, body)
	}
	form := url.Values{"kind": {"person"}, "id": {g.a.ID}, "token": {link.Path[strings.LastIndex(link.Path, "=")+1:]}}
	if code, _ := b.post(portalPrefix+"link", form); code != http.StatusOK || b.last != portalPrefix+"password" {
		t.Fatalf("using the link: %d at %s", code, b.last)
	}
	if _, body := b.get(portalPrefix); !strings.Contains(body, "web") {
		t.Error("signed in by link, the overview lacks alice's instance")
	}
	again := g.m.browser(t)
	again.get(link.Path)
	if code, _ := again.post(portalPrefix+"link", form); code != http.StatusForbidden {
		t.Errorf("the link used twice: %d, want 403", code)
	}
	// The admin may sign a browser in as itself, and sees the admin pages.
	al, err := g.m.admin.SignInLink(ctx, "admin")
	noErr(t, err)
	ab := g.m.browser(t)
	ab.get(al.Path)
	ab.post(portalPrefix+"link", url.Values{"kind": {"admin"}, "id": {"admin"}, "token": {al.Path[strings.LastIndex(al.Path, "=")+1:]}})
	for _, path := range []string{"grid", "people", ""} {
		if code, _ := ab.get(portalPrefix + path); code != http.StatusOK {
			t.Errorf("admin GET %s: %d", path, code)
		}
	}
	_, grid := ab.get(portalPrefix + "grid")
	for _, want := range []string{"Pending requests by reason", "no free partition", "<polyline", ">eu</a>", ">jp</a>", "3 / 3", "100%", "4 / 5", "80%"} {
		if !strings.Contains(grid, want) {
			t.Errorf("the grid page lacks %q", want)
		}
	}
	_, people := ab.get(portalPrefix + "people")
	for _, want := range []string{"Alice", "Bob", "set"} {
		if !strings.Contains(people, want) {
			t.Errorf("the people page lacks %q", want)
		}
	}
	_, body := ab.get(portalPrefix)
	if got := guidsOn(body); len(got) != 5 {
		t.Errorf("the admin's overview shows %d instances, want all 5", len(got))
	}
}

func TestPortalSignsInAClientCertificate(t *testing.T) {
	g := newPortalGrid(t, nil)
	is, err := g.m.srv.Authority().Issue(model.Actor{Kind: model.KindPerson, ID: g.a.ID}, g.m.clock.Now())
	noErr(t, err)
	cert, err := is.TLSCertificate()
	noErr(t, err)
	b := g.m.browser(t, cert)
	code, body := b.get(portalPrefix)
	if code != http.StatusOK || !strings.Contains(body, "Alice (certificate)") || len(guidsOn(body)) != 4 {
		t.Fatalf("a browser with alice's certificate: %d\n%s", code, body)
	}
	// Its forms need their token too.
	if code, _ := b.post(portalPrefix+"request", url.Values{"csrf": {"x"}, "title": {"t"}}); code != http.StatusForbidden {
		t.Errorf("a certificate's form without its token: %d", code)
	}
	b.get(portalPrefix + "request")
	if code, _ := b.post(portalPrefix+"request", url.Values{"title": {"by-cert"}, "software_release": {softURL}}); code != http.StatusOK {
		t.Errorf("a certificate's form with its token: %d", code)
	}
	// A computer's certificate opens no portal.
	cc := g.m.browser(t, mustCert(t, g.m, model.Actor{Kind: model.KindComputer, ID: "COMP-A"}))
	if cc.get(portalPrefix); cc.last != portalPrefix+"sign-in" {
		t.Errorf("a computer's certificate reached %s", cc.last)
	}
}

func mustCert(t *testing.T, m *testMaster, who model.Actor) tls.Certificate {
	is, err := m.srv.Authority().Issue(who, m.clock.Now())
	noErr(t, err)
	cert, err := is.TLSCertificate()
	noErr(t, err)
	return cert
}

func TestPortalPasswordRulesAndAuthorization(t *testing.T) {
	g := newPortalGrid(t, nil)
	ctx := context.Background()
	if err := g.alice.SetPassword(ctx, g.a.ID, "short"); !api.IsStatus(err, http.StatusBadRequest) {
		t.Errorf("a short password: %v, want 400", err)
	}
	if err := g.alice.SetPassword(ctx, g.b.ID, testPassword+"x"); !api.IsStatus(err, http.StatusForbidden) {
		t.Errorf("alice setting bob's password: %v, want 403", err)
	}
	noErr(t, g.m.admin.SetPassword(ctx, g.b.ID, "the admin chose this"))
	g.m.browser(t).signIn(g.b.ID, "the admin chose this")
	// Changing one's password in the portal needs the current one.
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	b.get(portalPrefix + "password")
	code, body := b.post(portalPrefix+"password", url.Values{"current": {"nope"}, "password": {"a new long password"}, "again": {"a new long password"}})
	if code != http.StatusBadRequest || !strings.Contains(body, `id="current-error">This is not your current password.`) {
		t.Errorf("a wrong current password: %d", code)
	}
	code, _ = b.post(portalPrefix+"password", url.Values{"current": {testPassword}, "password": {"a new long password"}, "again": {"a new long password"}})
	if code != http.StatusOK || b.last != portalPrefix+"password" {
		t.Fatalf("changing the password: %d at %s", code, b.last)
	}
	g.m.browser(t).signIn(g.a.ID, "a new long password")
	// Durable: a restarted master knows the new password.
	g.m.stop()
	g.m.start(nil)
	g.m.browser(t).signIn(g.a.ID, "a new long password")
}

func TestPortalLiveUpdatesStreamTheInstance(t *testing.T) {
	g := newPortalGrid(t, nil)
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	db := g.aliceInsts[1]
	req, _ := http.NewRequest(http.MethodGet, g.m.url+portalPrefix+"instances/"+db.GUID+"/live", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := b.http.Do(req.WithContext(ctx))
	noErr(t, err)
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	next := func() string {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			if strings.HasPrefix(line, "data: ") {
				return line
			}
		}
	}
	if first := next(); !strings.Contains(first, `"status":"allocated"`) {
		t.Fatalf("first event: %s", first)
	}
	// The node reports the instance started: the page hears it.
	comp := g.m.clientAs(model.Actor{Kind: model.KindComputer, ID: "COMP-A"})
	noErr(t, comp.ReportPartition(context.Background(), "COMP-A", db.PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}))
	if ev := next(); !strings.Contains(ev, `"reported_state":"started"`) {
		t.Fatalf("after the report: %s", ev)
	}
}

// TestPortalLiveStreamsEndAtShutdown: an open live page does not hold the
// master's shutdown for its drain grace.
func TestPortalLiveStreamsEndAtShutdown(t *testing.T) {
	g := newPortalGrid(t, func(o *Options) { o.ShutdownGrace = time.Minute })
	b := g.m.browser(t)
	b.signIn(g.a.ID, testPassword)
	req, _ := http.NewRequest(http.MethodGet, g.m.url+portalPrefix+"instances/"+g.aliceInsts[0].GUID+"/live", nil)
	resp, err := b.http.Do(req)
	noErr(t, err)
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	g.m.stop()
	if took := time.Since(began); took > 20*time.Second {
		t.Errorf("shutdown took %s with a live page open", took)
	}
}

// TestPortalCookiesAreSecureHttpOnlySameSite checks the attributes of the
// session and CSRF cookies as sent.
func TestPortalCookiesAreSecureHttpOnlySameSite(t *testing.T) {
	g := newPortalGrid(t, nil)
	b := g.m.browser(t)
	b.get(portalPrefix + "sign-in")
	b.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	form := url.Values{"person": {g.a.ID}, "password": {testPassword}, "csrf": {b.csrf}}
	req, _ := http.NewRequest(http.MethodPost, g.m.url+portalPrefix+"sign-in", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.http.Do(req)
	noErr(t, err)
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("sign-in: %d, cookies %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	if !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" ||
		session.MaxAge != int(DefaultSessionMax/time.Second) || len(session.Value) < 40 {
		t.Errorf("session cookie %+v", session)
	}
	fresh := g.m.browser(t)
	req, _ = http.NewRequest(http.MethodGet, g.m.url+portalPrefix+"sign-in", nil)
	resp, err = fresh.http.Do(req)
	noErr(t, err)
	resp.Body.Close()
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == csrfCookie {
			csrf = c
		}
	}
	if csrf == nil || !csrf.Secure || !csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode {
		t.Errorf("CSRF cookie %+v", csrf)
	}
	if h := resp.Header.Get("Content-Security-Policy"); !strings.Contains(h, "default-src 'none'") || !strings.Contains(h, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy %q", h)
	}
}

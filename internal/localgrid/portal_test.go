package localgrid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slapgo/slapgo/internal/localgrid"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
)

// chromium finds Debian's headless-capable Chromium.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium not found in PATH: the portal's browser tests drive it (Debian package chromium, make test-deps)")
	return ""
}

// tab is one browser tab (its own cookies when made with fresh) and where
// its screenshots go.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots string
}

func (b *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates and returns the answer's status.
func (b *tab) open(url string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	if resp == nil { // about:blank
		return 0
	}
	return resp.Status
}

// submit clicks a submit button and waits for the next page; it returns
// the answer's status.
func (b *tab) submit(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("submit %s: %v", sel, err)
	}
	return resp.Status
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) eval(js string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](js))
}

// fill sets the value of form controls by id (pairs id, value).
func (b *tab) fill(pairs ...string) {
	b.t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		id, _ := json.Marshal(pairs[i])
		v, _ := json.Marshal(pairs[i+1])
		if got, err := b.eval(fmt.Sprintf(`(document.getElementById(%s).value = %s, "ok")`, id, v)); err != nil || got != "ok" {
			b.t.Fatalf("setting %s: %q, %v", pairs[i], got, err)
		}
	}
}

// await evaluates js until it gives want (the page may reload meanwhile).
func (b *tab) await(what, js, want string, within time.Duration) {
	b.t.Helper()
	var got string
	var err error
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if got, err = b.eval(js); err == nil && got == want {
			return
		}
	}
	b.t.Fatalf("%s: %q (%v) after %s, want %q", what, got, err, within, want)
}

// shot writes a full-page screenshot into reports/portal.
func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestPortalInABrowser drives the portal of a live local grid (master and
// node agent as `make run` starts them) with headless Chromium: a person
// signs in with the link `make run` prints, requests an instance of the
// sample software, watches it start, reads its URL, stops and destroys it;
// another person cannot open its pages; a forged form is refused; a bad
// input shows the core's message by its field; an idle session expires.
// Screenshots of every page go to reports/portal/.
func TestPortalInABrowser(t *testing.T) {
	testenv.Short(t, "builds slapgo, runs a master, a node agent and a C build, and drives Chromium")
	// Chromium aborts its page loads when a host interface comes or goes:
	// not while containers start and stop in another test package.
	testenv.HoldHostNetwork(t)
	if err := localgrid.CheckBuildTools(); err != nil {
		testenv.Missing(t, err.Error())
	}
	chrome := chromium(t)
	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	shots := filepath.Join(checkout, "reports", "portal")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "slapgo")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/slapgo/slapgo/cmd/slapgo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "grid")
	t.Cleanup(func() {
		if _, err := localgrid.Stop(dir, &bytes.Buffer{}); err != nil {
			t.Errorf("stopping the grid: %v", err)
		}
		if t.Failed() {
			for _, log := range []string{"master.log", "node.log"} {
				data, _ := os.ReadFile(filepath.Join(dir, log))
				t.Logf("%s:\n%s", log, data)
			}
		}
	})
	const idle = 15 * time.Second
	hello := "file://" + filepath.Join(checkout, "fixtures", "software", "hello", "software.cfg")
	var progress bytes.Buffer
	ctx := context.Background()
	res, err := localgrid.Up(ctx, localgrid.Options{Dir: dir, Binary: bin, Software: hello, Port: 0, PollInterval: time.Second,
		Timeout: 90 * time.Second, Expect: localgrid.InstanceParameters["name"], Out: &progress,
		MasterArgs: []string{"--session-idle", idle.String()}})
	if err != nil {
		t.Fatalf("localgrid.Up: %v\n%s", err, progress.String())
	}
	l := res.Layout
	admin, err := api.NewClient(res.MasterURL, l.AdminCert(), l.AdminKey(), l.CA())
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chrome), chromedp.IgnoreCertErrors,
		chromedp.DisableGPU, chromedp.WindowSize(1200, 900), chromedp.UserDataDir(filepath.Join(tmp, "chromium")))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox as root
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	fresh := func() *tab {
		c, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		// The first run opens the tab for the context's life (a run
		// under a timeout would close it with the timeout).
		if err := chromedp.Do(c); err != nil {
			t.Fatalf("opening a tab: %v", err)
		}
		return &tab{t: t, ctx: c, shots: shots}
	}
	portal := res.PortalURL

	// Signed out, the portal sends to its sign-in page.
	demo := fresh()
	demo.open(portal)
	demo.shot("sign-in")

	// The link `make run` prints signs demo in, then asks for a password.
	demo.open(res.SignInLink)
	demo.shot("sign-in-link")
	demo.submit("form button[type=submit]")
	demo.shot("password-welcome")
	demo.fill("password", "demo password 2026", "again", "demo password 2026")
	if code := demo.submit("main form button[type=submit]"); code != http.StatusOK || !strings.Contains(demo.text("main"), "Your password is set") {
		t.Fatalf("setting the password: %d: %s", code, demo.text("main"))
	}
	demo.open(portal)
	if got := demo.text("#trees-h"); got != "Instance trees" {
		t.Fatalf("overview heading %q", got)
	}
	if !strings.Contains(demo.text("main"), localgrid.InstanceTitle) {
		t.Errorf("the overview lacks %s", localgrid.InstanceTitle)
	}
	demo.shot("overview")

	// A bad input: the core's message next to its field, what was typed kept.
	demo.open(portal + "request")
	demo.shot("request")
	demo.fill("title", "browser-hello", "parameters", "name=browser", "sla", "colour=red")
	if code := demo.submit("main form button[type=submit]"); code != http.StatusBadRequest {
		t.Errorf("a bad SLA answered %d, want 400", code)
	}
	if msg := demo.text("#sla-error"); !strings.Contains(msg, "colour") {
		t.Errorf("the message by the SLA field: %q", msg)
	}
	if v, _ := demo.eval(`document.getElementById("title").value`); v != "browser-hello" {
		t.Errorf("the title typed became %q", v)
	}
	demo.shot("request-bad-input")

	// A forged form (its token replaced) is refused and changes nothing.
	demo.fill("sla", "")
	if _, err := demo.eval(`document.querySelector("main input[name=csrf]").value = "forged"`); err != nil {
		t.Fatal(err)
	}
	if code := demo.submit("main form button[type=submit]"); code != http.StatusForbidden || demo.text("h1") != "Form refused" {
		t.Errorf("a forged form: %d %q", code, demo.text("h1"))
	}
	demo.shot("form-refused")

	// The request, for real: the instance starts and publishes its URL.
	demo.open(portal + "request")
	demo.fill("title", "browser-hello", "parameters", "name=browser")
	if code := demo.submit("main form button[type=submit]"); code != http.StatusOK {
		t.Fatalf("the request answered %d: %s", code, demo.text("main"))
	}
	loc, _ := demo.eval(`location.pathname`)
	guid := strings.TrimPrefix(loc, "/portal/instances/")
	if !strings.HasPrefix(guid, "SOFTINST-") {
		t.Fatalf("after the request the browser is at %s", loc)
	}
	// The live updates (SSE) change the page without a reload; the page
	// reloads itself when connection parameters arrive.
	demo.await("reported state", `document.querySelector('[data-live=reported_state]').textContent`, "started", 60*time.Second)
	demo.await("published URL", `document.getElementById('published-url') ? "yes" : "no"`, "yes", 30*time.Second)
	url, _ := demo.eval(`document.getElementById('published-url').href`)
	if body, err := fetch(url); err != nil || !strings.HasPrefix(body, "Hello browser from slappart") {
		t.Errorf("the published URL %s answered %q, %v", url, body, err)
	}
	demo.shot("instance-started")

	// Stop, then destroy, each confirmed on its own page.
	demo.submit(`a[href$="/confirm/stop"]`)
	demo.shot("confirm-stop")
	if code := demo.submit("main form button[type=submit]"); code != http.StatusOK || !strings.Contains(demo.text("main"), "Done: stop") {
		t.Fatalf("stop: %d", code)
	}
	demo.await("reported state after stop", `document.querySelector('[data-live=reported_state]').textContent`, "stopped", 30*time.Second)
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		body, err := fetch(url)
		if err != nil {
			break
		}
		if time.Now().After(end) {
			t.Errorf("a stopped instance still answers %q", body)
			break
		}
	}
	demo.shot("instance-stopped")
	demo.submit(`a[href$="/confirm/destroy"]`)
	demo.shot("confirm-destroy")
	if code := demo.submit("main form button[type=submit]"); code != http.StatusOK {
		t.Fatalf("destroy: %d", code)
	}
	demo.await("status after destroy", `document.querySelector('[data-live=status]').textContent`, "destroyed", 30*time.Second)
	demo.shot("instance-destroyed")

	// The other pages of a person.
	for _, p := range []struct{ path, name string }{{"computers", "computers"}, {"computers/" + localgrid.ComputerID, "computer"},
		{"invoices", "invoices"}, {"password", "password"}} {
		if code := demo.open(portal + p.path); code != http.StatusOK {
			t.Errorf("GET %s: %d", p.path, code)
		}
		demo.shot(p.name)
	}
	// Every control has a label.
	const unlabelled = `Array.from(document.querySelectorAll("input:not([type=hidden]),select,textarea"))
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")).map(e => e.id || e.name).join(",")`
	for _, path := range []string{"", "request", "instances/" + guid, "computers", "password", "invoices"} {
		demo.open(portal + path)
		if got, err := demo.eval(unlabelled); err != nil || got != "" {
			t.Errorf("/portal/%s: controls without a label: %q %v", path, got, err)
		}
	}
	// Keyboard first: Tab reaches the skip link, then the navigation.
	demo.open(portal)
	demo.do("press Tab", chromedp.KeyEvent("\t"))
	if got, _ := demo.eval(`document.activeElement.className`); got != "skip" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	// A phone's width: nothing wider than the screen.
	demo.do("phone width", chromedp.EmulateViewport(390, 844))
	for _, path := range []string{"", "request", "instances/" + guid, "computers/" + localgrid.ComputerID} {
		demo.open(portal + path)
		if fits, _ := demo.eval(`String(document.documentElement.scrollWidth <= window.innerWidth)`); fits != "true" {
			t.Errorf("%s is wider than a phone", path)
		}
	}
	demo.open(portal)
	demo.shot("overview-phone")
	demo.open(portal + "instances/" + guid)
	demo.shot("instance-phone")
	demo.do("desktop width", chromedp.EmulateViewport(1200, 900))

	// The operator, signed in by a link of its own, sees the grid and
	// issues a sign-in link to a new person from the people page.
	if _, err := admin.AddPerson(ctx, api.AddPersonRequest{ID: "mallory", Name: "Mallory"}); err != nil {
		t.Fatal(err)
	}
	alink, err := admin.SignInLink(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	op := fresh()
	op.open(res.MasterURL + alink.Path)
	op.submit("form button[type=submit]")
	for _, name := range []string{"grid", "people"} {
		if code := op.open(portal + name); code != http.StatusOK {
			t.Errorf("admin GET %s: %d", name, code)
		}
		op.shot("admin-" + name)
		if got, err := op.eval(unlabelled); err != nil || got != "" {
			t.Errorf("/portal/%s: controls without a label: %q %v", name, got, err)
		}
	}
	op.submit(`form[action="/portal/people/mallory/sign-in-link"] button`)
	op.shot("admin-people-link")
	link, err := op.eval(`document.getElementById("link").value`)
	if err != nil || !strings.Contains(link, "/portal/link?kind=person&id=mallory&token=") {
		t.Fatalf("the link the people page issued: %q, %v", link, err)
	}

	// Another person: demo's pages do not exist for it.
	mallory := fresh()
	mallory.open(link)
	mallory.submit("form button[type=submit]")
	for _, path := range []string{"instances/" + guid, "instances/" + res.InstanceGUID, "computers/" + localgrid.ComputerID,
		"instances/" + res.InstanceGUID + "/confirm/destroy", "grid"} {
		if code := mallory.open(portal + path); code != http.StatusNotFound || mallory.text("h1") != "Not found" {
			t.Errorf("mallory GET %s: %d %q, want 404 Not found", path, code, mallory.text("h1"))
		}
	}
	mallory.shot("other-person-404")
	mallory.open(portal)
	if strings.Contains(mallory.text("main"), "hello") {
		t.Errorf("mallory's overview shows demo's instances: %s", mallory.text("main"))
	}

	// Left idle, demo's session expires: the next page asks to sign in.
	demo.open("about:blank")
	time.Sleep(idle + time.Second)
	demo.open(portal)
	if loc, _ := demo.eval(`location.pathname`); loc != "/portal/sign-in" || !strings.Contains(demo.text("main"), "Your session expired.") {
		t.Errorf("after %s idle: at %s: %s", idle, loc, demo.text("main"))
	}
	demo.shot("session-expired")
	// The password set in the browser signs in again.
	demo.fill("person", localgrid.PersonID, "password", "demo password 2026")
	demo.submit("main form button[type=submit]")
	if loc, _ := demo.eval(`location.pathname`); loc != "/portal/" {
		t.Errorf("signing in with the password led to %s", loc)
	}
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/profile"
)

// logTail is how much of a build log an error report carries.
const logTail = 4 << 10

func (a *Agent) softwareRecordPath(url string) string {
	return filepath.Join(a.cfg.SoftwareRoot, StateDir, SoftwareDirName(url)+".json")
}

func (a *Agent) buildLogPath(url string) string {
	return filepath.Join(a.cfg.SoftwareRoot, StateDir, SoftwareDirName(url)+".log")
}

func (a *Agent) loadSoftwareRecord(url string) softwareRecord {
	rec := softwareRecord{URL: url}
	if data, err := os.ReadFile(a.softwareRecordPath(url)); err == nil {
		json.Unmarshal(data, &rec)
		rec.URL = url
	}
	return rec
}

func (a *Agent) saveSoftwareRecord(rec softwareRecord) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return writeFileAtomic(a.softwareRecordPath(rec.URL), append(data, '\n'), 0o644)
}

// knownSoftware lists the URLs of the software records on disk.
func (a *Agent) knownSoftware() []string {
	entries, _ := os.ReadDir(filepath.Join(a.cfg.SoftwareRoot, StateDir))
	var urls []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(a.cfg.SoftwareRoot, StateDir, e.Name()))
		if err != nil {
			continue
		}
		var rec softwareRecord
		if json.Unmarshal(data, &rec) == nil && rec.URL != "" {
			urls = append(urls, rec.URL)
		}
	}
	return urls
}

// softwareActual reads the software side of converge.Actual from the
// file system: installed means <software_root>/<md5>/.completed exists.
func (a *Agent) softwareActual(view *model.ComputerView) map[string]converge.SoftwareActual {
	urls := map[string]bool{}
	for _, s := range view.Software {
		urls[s.URL] = true
	}
	for _, p := range view.Partitions {
		if p.SoftwareRelease != "" {
			urls[p.SoftwareRelease] = true
		}
	}
	for _, u := range a.knownSoftware() {
		urls[u] = true
	}
	out := make(map[string]converge.SoftwareActual, len(urls))
	for u := range urls {
		rec := a.loadSoftwareRecord(u)
		sa := converge.SoftwareActual{Installed: profile.Completed(a.softwareDir(u)), Failures: rec.Failures, LastFailure: rec.LastFailure}
		if sa.Installed {
			sa.Failures, sa.LastFailure = 0, rec.LastFailure
		}
		if sa != (converge.SoftwareActual{}) || rec.Failures > 0 {
			out[u] = sa
		}
	}
	return out
}

// builder runs software builds on a pool of its own, so that a build that
// takes hours never delays partition work.
type builder struct {
	a        *Agent
	sem      chan struct{}
	mu       sync.Mutex
	inflight map[string]bool
	wg       sync.WaitGroup
}

func newBuilder(a *Agent) *builder {
	return &builder{a: a, sem: make(chan struct{}, a.cfg.Grid.BuildWorkers), inflight: map[string]bool{}}
}

// submit starts building url unless it is being built; it reports whether
// it did.
func (b *builder) submit(ctx context.Context, act converge.Action) bool {
	b.mu.Lock()
	if b.inflight[act.URL] {
		b.mu.Unlock()
		return false
	}
	b.inflight[act.URL] = true
	b.mu.Unlock()
	b.wg.Go(func() {
		defer func() {
			b.mu.Lock()
			delete(b.inflight, act.URL)
			b.mu.Unlock()
		}()
		select {
		case b.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-b.sem }()
		b.a.install(ctx, act)
	})
	return true
}

func (b *builder) building(url string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inflight[url]
}

func (b *builder) wait() { b.wg.Wait() }

// install builds one software release and reports it.
func (a *Agent) install(ctx context.Context, act converge.Action) {
	url := act.URL
	log := a.log.With("software", url)
	a.reportSoftware(ctx, url, model.SoftwareBuilding, "")
	dir := a.softwareDir(url)
	logPath := a.buildLogPath(url)
	os.MkdirAll(filepath.Dir(logPath), 0o755)
	lf, err := os.Create(logPath)
	if err != nil {
		log.Error("build log not opened", "err", err)
		lf = nil
	}
	var w io.Writer = io.Discard
	if lf != nil {
		w = lf
	}
	log.Info("building", "dir", dir, "log", logPath)
	err = profile.Build(ctx, profile.BuildOptions{URL: url, Dir: dir, Log: w})
	if lf != nil {
		lf.Close()
	}
	if ctx.Err() != nil {
		log.Warn("build interrupted", "err", ctx.Err())
		return
	}
	defer func() {
		a.mu.Lock()
		a.buildsDone = append(a.buildsDone, buildEnd{url: url, err: err})
		a.mu.Unlock()
		a.Wake()
	}()
	rec := a.loadSoftwareRecord(url)
	actual := converge.Actual{Software: map[string]converge.SoftwareActual{url: {Failures: rec.Failures, LastFailure: rec.LastFailure}}}
	now := a.now()
	if err != nil {
		actual.ApplyFailure(act, now)
		sa := actual.Software[url]
		rec.Failures, rec.LastFailure = sa.Failures, sa.LastFailure
		msg := err.Error() + "\n" + tailOf(logPath, logTail)
		rec.LastError = err.Error()
		if serr := a.saveSoftwareRecord(rec); serr != nil {
			log.Error("software record not saved", "err", serr)
		}
		log.Error("build failed", "err", err, "failures", rec.Failures)
		a.reportSoftware(ctx, url, model.SoftwareError, msg)
		return
	}
	actual.ApplySuccess(act, now)
	rec.Failures, rec.LastFailure, rec.LastError = 0, time.Time{}, ""
	if serr := a.saveSoftwareRecord(rec); serr != nil {
		log.Error("software record not saved", "err", serr)
	}
	log.Info("software available")
	a.reportSoftware(ctx, url, model.SoftwareReadyAvailable, "")
}

// remove deletes a software release's directory and reports it destroyed.
func (a *Agent) remove(ctx context.Context, act converge.Action) error {
	if a.builds.building(act.URL) {
		return fmt.Errorf("agent: software %s is being built: removal postponed", act.URL)
	}
	if err := os.RemoveAll(a.softwareDir(act.URL)); err != nil {
		rec := a.loadSoftwareRecord(act.URL)
		actual := converge.Actual{Software: map[string]converge.SoftwareActual{act.URL: {Failures: rec.Failures, LastFailure: rec.LastFailure}}}
		actual.ApplyFailure(act, a.now())
		sa := actual.Software[act.URL]
		rec.Failures, rec.LastFailure, rec.LastError = sa.Failures, sa.LastFailure, err.Error()
		if serr := a.saveSoftwareRecord(rec); serr != nil {
			a.log.Error("software record not saved", "err", serr)
		}
		return fmt.Errorf("agent: removing software %s: %w", act.URL, err)
	}
	os.Remove(a.buildLogPath(act.URL))
	a.log.Info("software removed", "software", act.URL)
	// The record goes once the master knows; until then it carries the
	// report to send again.
	a.reportSoftware(ctx, act.URL, model.SoftwareRemoved, "")
	return nil
}

// reportSoftware tells the master a software state. The record keeps the
// state until the master received it; a received "destroyed" removes it.
func (a *Agent) reportSoftware(ctx context.Context, url string, state model.SoftwareState, msg string) {
	rec := a.loadSoftwareRecord(url)
	rec.Want, rec.WantError = state, msg
	err := a.client.ReportSoftware(ctx, a.cfg.ComputerID, api.SoftwareStateRequest{URL: url, State: state, Error: msg})
	if err != nil {
		a.log.Warn("software state not reported: will be sent again", "software", url, "state", state, "err", err)
	} else {
		rec.Reported = state
	}
	if err == nil && state == model.SoftwareRemoved {
		os.Remove(a.softwareRecordPath(url))
		return
	}
	if serr := a.saveSoftwareRecord(rec); serr != nil {
		a.log.Error("software record not saved", "err", serr)
	}
}

// tailOf returns the last n bytes of a file, valid UTF-8.
func tailOf(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	for len(buf) > 0 && !utf8.RuneStart(buf[0]) {
		buf = buf[1:] // the tail began inside a character
	}
	return strings.ToValidUTF8(string(buf), "?")
}

// SoftwareResult is what a software pass did.
type SoftwareResult struct {
	Started []string // builds started
	Removed []string
	Errors  []error
}

// SoftwarePass fetches the view, plans, starts the builds the plan
// installs on the build pool and removes what it removes. With wait, it
// returns once the builds it started ended (`slapgo node software`).
func (a *Agent) SoftwarePass(ctx context.Context, wait bool) (SoftwareResult, error) {
	var res SoftwareResult
	view, _, err := a.fetchView(ctx)
	if err != nil {
		return res, err
	}
	a.worker.Lock()
	actual, err := a.actual(view)
	a.worker.Unlock()
	if err != nil {
		return res, err
	}
	plan := converge.PlanNode(*view, actual, a.now(), a.convergeConfig())
	installs, removals := agentcore.SoftwareWork(plan)
	for _, act := range installs {
		if a.builds.submit(ctx, act) {
			res.Started = append(res.Started, act.URL)
		}
	}
	for _, act := range removals {
		if err := a.remove(ctx, act); err != nil {
			res.Errors = append(res.Errors, err)
			a.log.Warn("software removal failed", "software", act.URL, "err", err)
		} else {
			res.Removed = append(res.Removed, act.URL)
		}
	}
	a.resendSoftwareReports(ctx)
	if wait {
		a.builds.wait()
	}
	return res, errors.Join(res.Errors...)
}

// resendSoftwareReports sends again the software states the master did not
// receive.
func (a *Agent) resendSoftwareReports(ctx context.Context) {
	for _, url := range a.knownSoftware() {
		if a.builds.building(url) {
			continue
		}
		if rec := a.loadSoftwareRecord(url); rec.Want != "" && rec.Want != rec.Reported {
			a.reportSoftware(ctx, url, rec.Want, rec.WantError)
		}
	}
}

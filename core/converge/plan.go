package converge

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// PlanNode compares what a node must be (desired) with what it has (actual)
// at the moment now and returns the actions that close the gap, in the
// order to run them, with when to look again. It is pure and deterministic:
// the same inputs give the same plan, whatever the order of desired's
// partitions and software or of actual's maps. It neither keeps nor
// modifies anything it is given.
//
// The rules, partition by partition (a partition absent from actual reads
// as clean, stopped and never configured):
//
//   - A failed partition (Failures > 0, FailedVersion == the view's Version)
//     gets no action before LastFailure+NextRetry(Failures); once due, it is
//     processed again as a whole with reason "retry". A new version is
//     processed at once.
//   - An instance requested started or stopped is configured when the
//     partition holds another instance or none ("new"), when the version
//     differs ("changed"), or when the last success is MaximumPeriodicity
//     old ("periodic"). Configuring needs its software installed; until it
//     is, the partition waits (a note in Waiting) and the install is planned.
//   - Started: a configuration is followed by a start (it restarts the
//     services); otherwise a start is planned when the services are not
//     running. Stopped: a stop when they run, before any configuration
//     (SlapOS configures stopped partitions so their children follow).
//   - Requested destroyed, or free in the view while holding files: stop
//     when running, then destroy. A partition holding another instance than
//     the view's is stopped and destroyed ("changed") before it is
//     configured ("new").
//   - Software requested available, or needed by a partition, and not
//     installed is installed; after a failure, only once its back-off
//     elapsed. Software requested destroyed, or absent from the view, is
//     removed when no partition still needs it ("requested", "orphan").
//   - A partition that actual knows but the view does not list is left
//     alone, with a note if it holds something.
func PlanNode(desired model.ComputerView, actual Actual, now time.Time, cfg Config) Plan {
	pl := planner{desired: desired, actual: actual, now: now, cfg: cfg.withDefaults()}
	pl.periodicCutoff = now.Add(-pl.cfg.MaximumPeriodicity)
	pl.partitions()
	pl.software()
	return pl.result()
}

// planner is the working state of one PlanNode call.
type planner struct {
	desired model.ComputerView
	actual  Actual
	now     time.Time
	cfg     Config

	// byKind holds the partition actions by kind rank, each already in
	// natural partition order because partitions are visited in that order.
	byKind  [6][]Action
	waiting []string
	// next is the soonest future deadline (valid when hasNext).
	next    time.Time
	hasNext bool
	// periodicCutoff is now - MaximumPeriodicity: a partition whose last
	// success is not after it is due. oldest is the oldest last success of
	// the partitions not due (valid when hasOldest).
	periodicCutoff time.Time
	oldest         time.Time
	hasOldest      bool

	// cache of installed(): partitions of a node share few releases.
	cache     [8]cachedSoftware
	cacheLen  int
	cacheNext int
	// extraInstall lists releases needed by a partition, missing, and not
	// named by the view.
	extraInstall []string
	// seen counts the view's partitions found in actual (duplicates once).
	seen int
	// rec, when set, records how the partition being planned depends on
	// time (Replanner).
	rec *partPlan
}

type cachedSoftware struct {
	url       string
	installed bool
}

// processedAt records the last success of a partition that is not due
// for periodic reprocessing; the oldest one sets the periodic deadline.
func (pl *planner) processedAt(t time.Time) {
	if !pl.hasOldest || t.Before(pl.oldest) {
		pl.oldest, pl.hasOldest = t, true
	}
	if r := pl.rec; r != nil {
		r.processed, r.hasProcessed = t, true
		r.expires(t.Add(pl.cfg.MaximumPeriodicity)) // then due
	}
}

// processedNow records that a partition is processed by this plan: it is
// not due for periodic reprocessing before now + MaximumPeriodicity.
func (pl *planner) processedNow() {
	rec := pl.rec
	pl.rec = nil
	pl.processedAt(pl.now)
	pl.rec = rec
	if rec != nil {
		rec.processedNow = true // at the plan's now, whichever it is
	}
}

// deadline records a future moment at which something becomes due.
func (pl *planner) deadline(t time.Time) {
	if !t.After(pl.now) {
		return
	}
	if !pl.hasNext || t.Before(pl.next) {
		pl.next, pl.hasNext = t, true
	}
	if r := pl.rec; r != nil {
		r.deadlines = append(r.deadlines, t)
		r.expires(t)
	}
}

func (pl *planner) add(a Action) {
	r := kindRank(a.Kind)
	pl.byKind[r] = append(pl.byKind[r], a)
}

func (pl *planner) note(format string, args ...any) {
	pl.waiting = append(pl.waiting, fmt.Sprintf(format, args...))
}

// installed reports whether a release is installed. Partitions of a node
// share few releases: a small cache saves most map lookups.
func (pl *planner) installed(url string) bool {
	for i := range pl.cacheLen {
		if pl.cache[i].url == url {
			return pl.cache[i].installed
		}
	}
	ok := pl.actual.Software[url].Installed
	pl.cache[pl.cacheNext] = cachedSoftware{url: url, installed: ok}
	pl.cacheNext = (pl.cacheNext + 1) % len(pl.cache)
	if pl.cacheLen < len(pl.cache) {
		pl.cacheLen++
	}
	return ok
}

// viewRequest finds a release in the view's software list (first entry
// wins when the list names it twice).
func (pl *planner) viewRequest(url string) (model.SoftwareRequest, bool) {
	return request(pl.desired.Software, url)
}

// backoff reports whether work that failed is still waiting for its retry,
// and when it is due.
func (pl *planner) backoff(failures int, last time.Time) (blocked bool, due time.Time) {
	due = last.Add(NextRetry(failures, pl.cfg))
	return pl.now.Before(due), due
}

func (pl *planner) stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// partitions visits the view's partitions in natural order.
func (pl *planner) partitions() {
	parts := pl.desired.Partitions
	sorted := true
	for i := 1; i < len(parts); i++ {
		if ComparePartitionIDs(parts[i-1].ID, parts[i].ID) >= 0 {
			sorted = false
			break
		}
	}
	if sorted {
		for i := range parts {
			pl.partition(&parts[i])
		}
	} else {
		order := make([]int, len(parts))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(x, y int) int {
			if c := ComparePartitionIDs(parts[x].ID, parts[y].ID); c != 0 {
				return c
			}
			return x - y // the first of duplicates comes first
		})
		for n, i := range order {
			if n > 0 && parts[order[n-1]].ID == parts[i].ID {
				pl.note("%s is listed twice in the view: the first entry is used", parts[i].ID)
				continue
			}
			pl.partition(&parts[i])
		}
	}
	if pl.seen < len(pl.actual.Partitions) {
		pl.unlisted()
	}
}

// unlisted notes the partitions actual knows, the view does not list, and
// that hold something. They are left alone, as slapgrid does: only the view
// may decide to wipe a partition.
func (pl *planner) unlisted() {
	listed := make(map[string]bool, len(pl.desired.Partitions))
	for i := range pl.desired.Partitions {
		listed[pl.desired.Partitions[i].ID] = true
	}
	var ids []string
	for id, a := range pl.actual.Partitions {
		if !listed[id] && (a.InstanceGUID != "" || a.Running) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, ComparePartitionIDs)
	for _, id := range ids {
		pl.note("%s is not in the view but holds instance %q: left as is", id, pl.actual.Partitions[id].InstanceGUID)
	}
}

// partition plans one partition of the view.
func (pl *planner) partition(p *model.PartitionView) {
	a, known := pl.actual.Partitions[p.ID]
	if known {
		pl.seen++
	}
	state := p.RequestedState
	switch {
	case p.InstanceGUID == "" || state == model.StateDestroyed:
		pl.teardown(p, a)
		return
	case state == "":
		state = model.StateStarted
	case state != model.StateStarted && state != model.StateStopped:
		pl.note("%s: requested state %q is unknown (expected started, stopped or destroyed): left as is", p.ID, state)
		return
	}

	pass := ReasonRequested
	retry := a.Failures > 0 && a.FailedVersion == p.Version
	if retry {
		blocked, due := pl.backoff(a.Failures, a.LastFailure)
		if blocked {
			pl.deadline(due)
			pl.note("%s failed %d times at version %d: next retry at %s", p.ID, a.Failures, p.Version, pl.stamp(due))
			return
		}
		pass = ReasonRetry
	}

	if a.InstanceGUID != "" && a.InstanceGUID != p.InstanceGUID {
		// The partition holds another instance's files: wipe them first,
		// whether or not the new instance can be configured yet.
		old := Action{PartitionID: p.ID, Reason: ReasonChanged, Version: p.Version, InstanceGUID: a.InstanceGUID, State: state}
		if a.Running {
			old.Kind = StopPartition
			pl.add(old)
		}
		old.Kind = DestroyPartition
		pl.add(old)
		a = PartitionActual{} // what ApplySuccess leaves
	}

	periodic := pl.cfg.MaximumPeriodicity > 0
	var why Reason
	switch {
	case a.InstanceGUID != p.InstanceGUID:
		why = ReasonNew
	case retry:
		why = ReasonRetry
	case a.AppliedVersion != p.Version:
		why = ReasonChanged
	case periodic && !a.LastSuccess.After(pl.periodicCutoff):
		why = ReasonPeriodic
	case periodic && pl.rec != nil:
		pl.rec.expires(a.LastSuccess.Add(pl.cfg.MaximumPeriodicity)) // due then
	}

	ready := p.SoftwareRelease != "" && pl.installed(p.SoftwareRelease)
	if !ready {
		pl.waitSoftware(p, why != "" || (state == model.StateStarted && !a.Running))
	}
	started := state == model.StateStarted
	stop := !started && a.Running
	start := started && (why != "" || !a.Running)
	if !stop && (!ready || (why == "" && !start)) {
		// The common case: nothing to do.
		if ready && periodic {
			pl.processedAt(a.LastSuccess)
		}
		return
	}

	act := Action{PartitionID: p.ID, URL: p.SoftwareRelease, Reason: pass, Version: p.Version, InstanceGUID: p.InstanceGUID, State: state}
	if stop {
		// Before any configuration: a configuration never starts services.
		act.Kind = StopPartition
		pl.add(act)
	}
	if !ready {
		return // noted by waitSoftware; the install, if any, replans
	}
	if why != "" {
		act.Kind, act.Reason = ConfigurePartition, why
		pl.add(act)
		act.Reason = pass
	}
	if start {
		// After a configuration, even if services ran: it restarts them.
		act.Kind = StartPartition
		pl.add(act)
	}
	switch {
	case !periodic:
	case why != "":
		pl.processedNow() // once the configuration succeeded
	default:
		pl.processedAt(a.LastSuccess)
	}
}

// waitSoftware notes that a partition lacks its release, and asks for the
// install (planned by software) unless the view asks the release destroyed.
// blocking says whether the partition has work that waits for it.
func (pl *planner) waitSoftware(p *model.PartitionView, blocking bool) {
	url := p.SoftwareRelease
	if url == "" {
		pl.note("%s: instance %s names no software release: cannot be configured", p.ID, p.InstanceGUID)
		return
	}
	req, listed := pl.viewRequest(url)
	if !listed {
		if r := pl.rec; r != nil {
			r.extra = url
		}
		if !slices.Contains(pl.extraInstall, url) {
			pl.extraInstall = append(pl.extraInstall, url)
		}
	}
	if !blocking {
		return
	}
	sw := pl.actual.Software[url]
	var status string
	switch {
	case listed && req == model.SoftwareDestroyed:
		status = "it is requested destroyed on this computer"
	case sw.Failures > 0:
		if blocked, due := pl.backoff(sw.Failures, sw.LastFailure); blocked {
			status = fmt.Sprintf("install failed %d times, next retry at %s", sw.Failures, pl.stamp(due))
			if r := pl.rec; r != nil {
				r.expires(due) // the note changes then
			}
		} else {
			status = "install retry planned"
		}
	default:
		status = "install planned"
	}
	pl.note("%s waits for software %s: %s", p.ID, url, status)
}

// teardown plans a partition requested destroyed or free in the view.
func (pl *planner) teardown(p *model.PartitionView, a PartitionActual) {
	if a.InstanceGUID == "" && !a.Running {
		return // clean already
	}
	reason := ReasonRequested
	if p.InstanceGUID == "" {
		reason = ReasonOrphan
	}
	if a.Failures > 0 && a.FailedVersion == p.Version {
		blocked, due := pl.backoff(a.Failures, a.LastFailure)
		if blocked {
			pl.deadline(due)
			pl.note("%s failed %d times to be destroyed: next retry at %s", p.ID, a.Failures, pl.stamp(due))
			return
		}
		reason = ReasonRetry
	}
	act := Action{PartitionID: p.ID, Reason: reason, Version: p.Version, InstanceGUID: a.InstanceGUID, State: model.StateDestroyed}
	if a.InstanceGUID == p.InstanceGUID {
		act.URL = p.SoftwareRelease
	}
	if a.Running {
		act.Kind = StopPartition
		pl.add(act)
	}
	if a.InstanceGUID != "" {
		act.Kind = DestroyPartition
		pl.add(act)
	}
}

// software plans installs and removals; it runs after partitions, whose
// needs it uses.
func (pl *planner) software() {
	start := len(pl.waiting)
	var installs, removes []Action
	consider := func(url string, sw SoftwareActual, kind ActionKind, reason Reason) {
		if sw.Failures > 0 {
			blocked, due := pl.backoff(sw.Failures, sw.LastFailure)
			if blocked {
				pl.deadline(due)
				verb := "install"
				if kind == RemoveSoftware {
					verb = "removal"
				}
				pl.note("software %s: %s failed %d times, next retry at %s", url, verb, sw.Failures, pl.stamp(due))
				return
			}
			reason = ReasonRetry
		}
		a := Action{Kind: kind, URL: url, Reason: reason}
		if kind == InstallSoftware {
			installs = append(installs, a)
		} else {
			removes = append(removes, a)
		}
	}
	soft := pl.desired.Software
	for i := range soft {
		s := &soft[i]
		if pl.listedBefore(i) {
			continue
		}
		sw := pl.actual.Software[s.URL]
		switch s.Requested {
		case model.SoftwareAvailable:
			if !sw.Installed {
				consider(s.URL, sw, InstallSoftware, ReasonRequested)
			}
		case model.SoftwareDestroyed:
			if !sw.Installed && sw.Failures == 0 {
				continue // nothing on disk
			}
			if id := pl.userOf(s.URL); id != "" {
				pl.note("software %s is requested destroyed but %s still uses it: kept", s.URL, id)
				continue
			}
			consider(s.URL, sw, RemoveSoftware, ReasonRequested)
		default:
			pl.note("software %s: requested %q is unknown (expected available or destroyed): left as is", s.URL, s.Requested)
		}
	}
	for _, url := range pl.extraInstall {
		consider(url, pl.actual.Software[url], InstallSoftware, ReasonRequested)
	}
	for url, sw := range pl.actual.Software {
		if !sw.Installed && sw.Failures == 0 {
			continue
		}
		if _, listed := pl.viewRequest(url); listed || pl.userOf(url) != "" {
			continue
		}
		consider(url, sw, RemoveSoftware, ReasonOrphan)
	}
	byURL := func(x, y Action) int { return strings.Compare(x.URL, y.URL) }
	slices.SortFunc(installs, byURL)
	slices.SortFunc(removes, byURL)
	pl.byKind[kindRank(InstallSoftware)] = installs
	pl.byKind[kindRank(RemoveSoftware)] = removes
	// Software notes come in map order for orphans: sort them.
	slices.Sort(pl.waiting[start:])
}

// listedBefore reports whether the view's software entry i repeats an
// earlier URL (the first entry wins).
func (pl *planner) listedBefore(i int) bool {
	soft := pl.desired.Software
	for j := range i {
		if soft[j].URL == soft[i].URL {
			return true
		}
	}
	return false
}

// userOf returns the first partition (natural order not required: any user
// blocks a removal) whose live instance runs url, or "".
func (pl *planner) userOf(url string) string {
	user := ""
	for i := range pl.desired.Partitions {
		p := &pl.desired.Partitions[i]
		if p.InstanceGUID != "" && p.RequestedState != model.StateDestroyed && p.SoftwareRelease == url {
			if user == "" || ComparePartitionIDs(p.ID, user) < 0 {
				user = p.ID
			}
		}
	}
	return user
}

func (pl *planner) result() Plan {
	var plan Plan
	n := 0
	for _, b := range pl.byKind {
		n += len(b)
	}
	if n > 0 {
		plan.Actions = make([]Action, 0, n)
		for _, b := range pl.byKind {
			plan.Actions = append(plan.Actions, b...)
		}
	}
	if pl.hasOldest {
		pl.deadline(pl.oldest.Add(pl.cfg.MaximumPeriodicity))
	}
	if pl.hasNext {
		plan.RequeueAfter = pl.next.Sub(pl.now)
	}
	plan.Waiting = pl.waiting
	return plan
}

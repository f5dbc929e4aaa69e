package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/profile"
	"github.com/slapgo/slapgo/nodeagent/promise"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// Files of a partition's instance credentials, under <partition>/.slapgo.
const (
	instanceCertFile = "instance.crt"
	instanceKeyFile  = "instance.key"
	instanceCAFile   = "ca.crt"
)

// actual assembles converge.Actual: software from the file system,
// partitions from their state files (worker held).
func (a *Agent) actual(view *model.ComputerView) (converge.Actual, error) {
	act := converge.Actual{
		Software:   a.softwareActual(view),
		Partitions: make(map[string]converge.PartitionActual, len(view.Partitions)),
	}
	for i := range view.Partitions {
		id := view.Partitions[i].ID
		st, err := a.partitionState(id)
		if err != nil {
			return act, err
		}
		pa := st.actual()
		// What runs, whatever the record says (a start whose promise
		// failed leaves programs running).
		pa.Running = a.servicesRunning(id)
		if pa != (converge.PartitionActual{}) {
			act.Partitions[id] = pa
		}
	}
	return act, nil
}

// servicesRunning reports whether a partition's programs run: under this
// agent's supervisor, or under another agent process (pid files alive).
func (a *Agent) servicesRunning(id string) bool {
	if a.sup.Running(id) {
		return true
	}
	pfs, err := supervisor.ReadPidFiles(a.partitionDir(id))
	if err != nil || len(pfs) == 0 {
		return false
	}
	for _, pf := range pfs {
		if pf.Alive() {
			return true
		}
	}
	return false
}

// ActionResult is how one action ended.
type ActionResult struct {
	Action   converge.Action
	Err      error
	Duration time.Duration
}

// InstanceResult is what an instance pass did.
type InstanceResult struct {
	ViewChanged bool
	Plan        converge.Plan
	Results     []ActionResult
	// Builds lists the software installs handed to the build pool.
	Builds []string
	// Checked lists the started partitions the plan left alone whose
	// promises the pass checked (SlapOS's anomaly mode).
	Checked []string
}

// Failed counts the actions that failed.
func (r InstanceResult) Failed() int {
	n := 0
	for _, x := range r.Results {
		if x.Err != nil {
			n++
		}
	}
	return n
}

// InstancePass fetches the view (conditionally), plans with core/converge
// and runs the plan: installs go to the build pool, partition actions run
// one at a time in the plan's order. A failed partition's remaining
// actions are skipped; the others go on. Then it sends the state reports
// earlier passes could not, tells the master again of the partitions its
// view still shows requested destroyed that are clean here, and checks the
// promises of the started partitions the plan left alone (at most once per
// poll interval each), reporting a change. The error is ErrOffline when
// the master could not be reached (nothing was done then).
func (a *Agent) InstancePass(ctx context.Context) (InstanceResult, error) {
	var res InstanceResult
	view, changed, err := a.fetchView(ctx)
	if err != nil {
		return res, err
	}
	res.ViewChanged = changed
	a.worker.Lock()
	defer a.worker.Unlock()
	actual, err := a.actual(view)
	if err != nil {
		return res, err
	}
	res.Plan = converge.PlanNode(*view, actual, a.now(), a.convergeConfig())
	for _, w := range res.Plan.Waiting {
		a.log.Debug("waiting", "note", w)
	}
	res.Results, res.Builds = a.runPlan(ctx, view, res.Plan, nil)
	a.resendPartitionReports(ctx, view)
	a.reportDestroyed(ctx, view)
	res.Checked = a.checkAnomalies(ctx, view, actual, res.Plan)
	return res, ctx.Err()
}

// runPlan runs a plan's actions; keep, when not nil, selects the partition
// actions to run (the others are left for another pass).
func (a *Agent) runPlan(ctx context.Context, view *model.ComputerView, plan converge.Plan, keep func(converge.Action) bool) ([]ActionResult, []string) {
	var results []ActionResult
	var builds []string
	last := map[string]int{} // partition -> index of its last action
	for i, act := range plan.Actions {
		if act.PartitionID != "" && (keep == nil || keep(act)) {
			last[act.PartitionID] = i
		}
	}
	failed := map[string]bool{}
	for i, act := range plan.Actions {
		if ctx.Err() != nil {
			break
		}
		switch act.Kind {
		case converge.InstallSoftware:
			if keep == nil && a.daemon && a.builds.submit(ctx, act) {
				builds = append(builds, act.URL)
			}
			continue
		case converge.RemoveSoftware:
			continue // the software loop's, after the destructions it waits for
		}
		if failed[act.PartitionID] || (keep != nil && !keep(act)) {
			continue
		}
		began := time.Now()
		err := a.runPartitionAction(ctx, view, act, last[act.PartitionID] == i)
		r := ActionResult{Action: act, Err: err, Duration: time.Since(began)}
		results = append(results, r)
		if err != nil {
			failed[act.PartitionID] = true
		}
	}
	return results, builds
}

// runPartitionAction runs one partition action with converge's
// bookkeeping, persists the partition's record and reports to the master
// after the partition's last action of the plan (or a failure).
func (a *Agent) runPartitionAction(ctx context.Context, view *model.ComputerView, act converge.Action, lastOfPartition bool) error {
	log := a.log.With("partition", act.PartitionID, "action", string(act.Kind), "reason", string(act.Reason), "version", act.Version)
	st, err := a.partitionState(act.PartitionID)
	if err != nil {
		return err
	}
	pv := findPartition(view, act.PartitionID)
	switch act.Kind {
	case converge.StopPartition:
		err = a.stopPartition(act.PartitionID)
	case converge.DestroyPartition:
		err = a.destroyPartition(ctx, pv, act, st)
	case converge.ConfigurePartition:
		err = a.configurePartition(ctx, pv, act, st)
	case converge.StartPartition:
		err = a.startPartition(ctx, pv, act, st)
	default:
		return fmt.Errorf("agent: action %s is not a partition action", act.Kind)
	}
	if err != nil && ctx.Err() != nil {
		log.Warn("interrupted", "err", err)
		return err // not the partition's fault: nothing recorded
	}
	actual := converge.Actual{Partitions: map[string]converge.PartitionActual{act.PartitionID: st.actual()}}
	now := a.now()
	if err != nil {
		actual.ApplyFailure(act, now)
		st.setActual(actual.Partitions[act.PartitionID])
		st.LastError = err.Error()
		log.Error("partition action failed", "err", err, "failures", st.Failures)
	} else {
		actual.ApplySuccess(act, now)
		st.setActual(actual.Partitions[act.PartitionID])
		log.Info("partition action done")
	}
	if act.Kind == converge.DestroyPartition && err == nil {
		*st = partitionState{} // clean: the record goes
	}
	var report *stateReport
	switch {
	case act.Kind == converge.DestroyPartition:
	case err != nil:
		report = &stateReport{State: model.ReportedError, Error: err.Error()}
	case !lastOfPartition:
	case act.Kind == converge.StartPartition:
		report = &stateReport{State: model.ReportedStarted}
	case act.State == model.StateStopped && (act.Kind == converge.StopPartition || act.Kind == converge.ConfigurePartition):
		report = &stateReport{State: model.ReportedStopped}
	}
	if report != nil {
		st.Unreported = report
		st.Anomaly = false // the new report supersedes the anomaly's
	}
	if act.Kind == converge.StartPartition {
		a.promisesChecked(act.PartitionID, now)
	}
	if serr := a.savePartition(act.PartitionID, st); serr != nil {
		log.Error("partition record not saved", "err", serr)
		if err == nil {
			err = serr
		}
	}
	if report != nil {
		a.deliverReport(ctx, act.PartitionID, st)
	}
	return err
}

// deliverReport sends a partition's pending state report.
func (a *Agent) deliverReport(ctx context.Context, id string, st *partitionState) {
	r := st.Unreported
	if r == nil {
		return
	}
	err := a.client.ReportPartition(ctx, a.cfg.ComputerID, id, api.PartitionStateRequest{State: r.State, Error: truncate(r.Error, 8<<10)})
	if err != nil {
		a.log.Warn("partition state not reported: will be sent again", "partition", id, "state", r.State, "err", err)
		return
	}
	st.Unreported = nil
	if serr := a.savePartition(id, st); serr != nil {
		a.log.Error("partition record not saved", "partition", id, "err", serr)
	}
}

// resendPartitionReports sends the reports a previous pass could not.
func (a *Agent) resendPartitionReports(ctx context.Context, view *model.ComputerView) {
	for i := range view.Partitions {
		id := view.Partitions[i].ID
		if st := a.parts[id]; st != nil && st.Unreported != nil {
			a.deliverReport(ctx, id, st)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + strings.ToValidUTF8(s[len(s)-n:], "")
}

func findPartition(view *model.ComputerView, id string) *model.PartitionView {
	for i := range view.Partitions {
		if view.Partitions[i].ID == id {
			return &view.Partitions[i]
		}
	}
	return nil
}

// group is the supervisor's view of a partition.
func (a *Agent) group(id string) (supervisor.Group, error) {
	cred, user, err := a.credential(id)
	if err != nil {
		return supervisor.Group{}, err
	}
	g := supervisor.Group{ID: id, Dir: a.partitionDir(id), Cred: cred, User: user}
	g.OnServiceExit = func(program, how string) { a.serviceDied(id, program, how) }
	return g, nil
}

func (a *Agent) stopPartition(id string) error {
	a.sup.Stop(id)
	// Programs another agent process started (one-shot commands).
	if _, err := supervisor.KillStale(a.partitionDir(id), a.cfg.Grid.StopGrace); err != nil {
		return err
	}
	a.mu.Lock()
	delete(a.deployed, id)
	a.mu.Unlock()
	return nil
}

// configurePartition links the software, fetches the instance's
// certificate, deploys the instance profile and publishes the connection
// parameters. It starts nothing (start-partition does).
func (a *Agent) configurePartition(ctx context.Context, pv *model.PartitionView, act converge.Action, st *partitionState) error {
	if pv == nil {
		return fmt.Errorf("agent: %s is not in the view", act.PartitionID)
	}
	dir := a.partitionDir(act.PartitionID)
	swDir := a.softwareDir(pv.SoftwareRelease)
	if !profile.Completed(swDir) {
		return fmt.Errorf("agent: software %s is not built in %s", pv.SoftwareRelease, swDir)
	}
	cred, _, err := a.credential(act.PartitionID)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("agent: partition directory %s: %v (run `slapgo node format`)", dir, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if err := linkSoftware(dir, swDir); err != nil {
		return err
	}
	if err := a.ensureCertificate(ctx, act, st, cred); err != nil {
		return err
	}
	if act.State != model.StateStarted {
		// A stopped instance runs nothing, whatever ran before.
		if err := a.stopPartition(act.PartitionID); err != nil {
			return err
		}
	}
	certs := filepath.Join(dir, StateDir)
	deploy, err := profile.Deploy(ctx, profile.InstanceContext{
		SoftwareDir:     swDir,
		PartitionDir:    dir,
		ComputerID:      a.cfg.ComputerID,
		PartitionID:     act.PartitionID,
		InstanceGUID:    pv.InstanceGUID,
		Title:           pv.Title,
		RootTitle:       pv.RootTitle,
		SoftwareRelease: pv.SoftwareRelease,
		SoftwareType:    pv.SoftwareType,
		Parameters:      pv.Parameters,
		Addresses:       pv.Addresses,
		SharedInstances: pv.SharedInstances,
		RequestedState:  act.State,
		MasterURL:       a.cfg.MasterURL,
		KeyFile:         filepath.Join(certs, instanceKeyFile),
		CertFile:        filepath.Join(certs, instanceCertFile),
		Cred:            cred,
		Requester:       a.requester(act.PartitionID),
		SlapgoBinary:    a.opts.SlapgoBinary,
	})
	if err != nil {
		return err
	}
	st.SoftwareRelease = pv.SoftwareRelease
	st.DestroyHook = deploy.DestroyHook
	if len(deploy.Publish) > 0 {
		if err := a.client.SetConnection(ctx, a.cfg.ComputerID, act.PartitionID, api.ConnectionRequest{Parameters: deploy.Publish}); err != nil {
			return fmt.Errorf("agent: publishing the connection parameters of %s: %w", act.PartitionID, err)
		}
	}
	for _, guid := range slices.Sorted(maps.Keys(deploy.PublishShared)) {
		req := api.ConnectionRequest{SharedGUID: guid, Parameters: deploy.PublishShared[guid]}
		if err := a.client.SetConnection(ctx, a.cfg.ComputerID, act.PartitionID, req); err != nil {
			return fmt.Errorf("agent: publishing the connection parameters of shared instance %s in %s: %w", guid, act.PartitionID, err)
		}
	}
	return nil
}

// linkSoftware points <partition>/software_release at the software.
func linkSoftware(dir, swDir string) error {
	link := filepath.Join(dir, "software_release")
	if cur, err := os.Readlink(link); err == nil && cur == swDir {
		return nil
	}
	tmp := link + ".slapgo-new"
	os.Remove(tmp)
	if err := os.Symlink(swDir, tmp); err != nil {
		return fmt.Errorf("agent: linking the software: %w", err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("agent: linking the software: %w", err)
	}
	return nil
}

// ensureCertificate fetches the instance's certificate into the partition
// unless it holds the one of this instance.
func (a *Agent) ensureCertificate(ctx context.Context, act converge.Action, st *partitionState, cred *syscall.Credential) error {
	dir := filepath.Join(a.partitionDir(act.PartitionID), StateDir)
	if st.CertGUID == act.InstanceGUID {
		if _, err := os.Stat(filepath.Join(dir, instanceKeyFile)); err == nil {
			return nil
		}
	}
	creds, err := a.client.PartitionCertificate(ctx, a.cfg.ComputerID, act.PartitionID)
	if err != nil {
		return fmt.Errorf("agent: fetching the certificate of %s: %w", act.PartitionID, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	for _, f := range []struct{ name, data string }{
		{instanceCertFile, creds.CertificatePEM}, {instanceKeyFile, creds.KeyPEM}, {instanceCAFile, creds.CAPEM},
	} {
		p := filepath.Join(dir, f.name)
		if err := writeFileAtomic(p, []byte(f.data), 0o600); err != nil {
			return err
		}
		if cred != nil {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("agent: %w", err)
			}
		}
	}
	st.CertGUID = act.InstanceGUID
	return nil
}

// instanceClient is a client with the partition's instance certificate.
func (a *Agent) instanceClient(id string) (*api.Client, error) {
	dir := filepath.Join(a.partitionDir(id), StateDir)
	return api.NewClient(a.cfg.MasterURL, filepath.Join(dir, instanceCertFile), filepath.Join(dir, instanceKeyFile), a.cfg.CAFile)
}

// requester requests child instances with the instance's own identity.
func (a *Agent) requester(id string) func(context.Context, profile.ChildRequest) (map[string]string, error) {
	return func(ctx context.Context, r profile.ChildRequest) (map[string]string, error) {
		c, err := a.instanceClient(id)
		if err != nil {
			return nil, err
		}
		inst, err := c.Request(ctx, api.InstanceRequest{
			Title: r.Title, SoftwareRelease: r.SoftwareRelease, SoftwareType: r.SoftwareType,
			Parameters: r.Parameters, SLA: r.SLA, Shared: r.Shared, State: r.State,
		})
		if err != nil {
			return nil, fmt.Errorf("agent: %s requesting %q: %w", id, r.Title, err)
		}
		return inst.Connection, nil
	}
}

// startPartition (re)starts the partition's programs and checks its
// promises, retrying those that fail until promise_timeout passed (a
// service needs a moment to listen).
func (a *Agent) startPartition(ctx context.Context, pv *model.PartitionView, act converge.Action, st *partitionState) error {
	g, err := a.group(act.PartitionID)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.deployed[act.PartitionID] = deployment{guid: act.InstanceGUID, version: act.Version}
	a.mu.Unlock()
	if err := a.sup.Start(g); err != nil {
		return err
	}
	st.Running = true // even if a promise fails below: the programs run
	return a.checkPromises(ctx, act.PartitionID, g)
}

func (a *Agent) checkPromises(ctx context.Context, id string, g supervisor.Group) error {
	timeout := a.cfg.Grid.PromiseTimeout
	deadline := time.Now().Add(timeout)
	opts := a.promiseOptions(g, timeout)
	for pause := 20 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		err := promise.Check(ctx, g.Dir, opts)
		if err == nil || !errors.Is(err, promise.ErrFailed) {
			return err
		}
		if time.Now().Add(pause).After(deadline) {
			return fmt.Errorf("agent: %s: %w", id, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

// serviceDied bangs the instance whose service died, at most once per
// deployment.
func (a *Agent) serviceDied(id, program, how string) {
	a.mu.Lock()
	d, ok := a.deployed[id]
	if !ok || a.banged[id] == d.version && d.version != 0 {
		a.mu.Unlock()
		return
	}
	a.banged[id] = d.version
	a.mu.Unlock()
	msg := fmt.Sprintf("service %s of %s %s", program, id, how)
	a.log.Warn("service died: banging its instance", "partition", id, "program", program, "how", how, "instance", d.guid)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := a.instanceClient(id)
		if err == nil {
			_, err = c.Bang(ctx, d.guid, msg)
		}
		if err != nil {
			// The computer may bang the instances it hosts too.
			if _, err2 := a.client.Bang(ctx, d.guid, msg); err2 != nil {
				a.log.Warn("bang not delivered", "partition", id, "err", errors.Join(err, err2))
			}
		}
	}()
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/profile"
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
	// Polled is when the pass asked the master for the view (zero: it
	// did not reach that step).
	Polled      time.Time
	ViewChanged bool
	Plan        converge.Plan
	Results     []ActionResult
	// Builds lists the software installs handed to the build pool.
	Builds []string
	// Checked lists the started partitions the plan left alone whose
	// promises the pass checked (SlapOS's anomaly mode).
	Checked []string
	// Next is when core/agent wants the next pass.
	Next time.Time
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

// InstancePass runs one pass of the instance loop (core/agent decides,
// the agent executes): it fetches the view (conditionally), sends the state
// reports earlier passes could not, plans with core/converge and runs the
// plan: installs go to the build pool (daemon only), partition actions run
// one at a time in the plan's order, a failed partition's remaining actions
// are skipped while the others go on. Then it tells the master again of the
// partitions its view still shows requested destroyed that are clean here,
// and checks the promises of the started partitions the plan left alone
// (at most once per poll interval each), reporting a change. The error is
// ErrOffline when the master could not be reached (nothing was done then).
func (a *Agent) InstancePass(ctx context.Context) (InstanceResult, error) {
	return a.pass(ctx, agentcore.PassOptions{})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + strings.ToValidUTF8(s[len(s)-n:], "")
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
	a.bangs.Stopped(id)
	a.mu.Unlock()
	return nil
}

// configurePartition links the software, fetches the instance's
// certificate, deploys the instance profile and publishes the connection
// parameters. It starts nothing (start-partition does).
func (a *Agent) configurePartition(ctx context.Context, pv *model.PartitionView, act converge.Action, st *partitionState) (publication, error) {
	var none publication
	if pv == nil {
		return none, fmt.Errorf("agent: %s is not in the view", act.PartitionID)
	}
	dir := a.partitionDir(act.PartitionID)
	swDir := a.softwareDir(pv.SoftwareRelease)
	if !profile.Completed(swDir) {
		return none, fmt.Errorf("agent: software %s is not built in %s", pv.SoftwareRelease, swDir)
	}
	cred, _, err := a.credential(act.PartitionID)
	if err != nil {
		return none, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return none, fmt.Errorf("agent: partition directory %s: %v (run `slapgo node format`)", dir, err)
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		return none, fmt.Errorf("agent: %w", err)
	}
	if err := linkSoftware(dir, swDir); err != nil {
		return none, err
	}
	if err := a.ensureCertificate(ctx, act, st, cred); err != nil {
		return none, err
	}
	if act.State != model.StateStarted {
		// A stopped instance runs nothing, whatever ran before.
		if err := a.stopPartition(act.PartitionID); err != nil {
			return none, err
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
		return none, err
	}
	st.SoftwareRelease = pv.SoftwareRelease
	st.DestroyHook = deploy.DestroyHook
	return publication{own: deploy.Publish, shared: deploy.PublishShared}, nil
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
func (a *Agent) instanceClient(id string) (instanceMasterClient, error) {
	dir := filepath.Join(a.partitionDir(id), StateDir)
	cert, key := filepath.Join(dir, instanceCertFile), filepath.Join(dir, instanceKeyFile)
	if a.cfg.MasterProtocol == config.ProtocolSLAP {
		cfg, err := api.TLSConfig(cert, key, a.cfg.CAFile)
		if err != nil {
			return nil, err
		}
		return slap.ForPartition(a.cfg.MasterURL, cfg, a.cfg.ComputerID, id)
	}
	return api.NewClient(a.cfg.MasterURL, cert, key, a.cfg.CAFile)
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

// startPartition (re)starts the partition's programs; core/agent then
// has its promises checked (startPromises).
func (a *Agent) startPartition(act converge.Action) error {
	g, err := a.group(act.PartitionID)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.bangs.Deployed(act.PartitionID, agentcore.Deployment{InstanceGUID: act.InstanceGUID, Version: act.Version})
	a.mu.Unlock()
	return a.sup.Start(g)
}

// serviceDied bangs the instance whose service died when core/agent's
// Bangs says so (at most once per deployment).
func (a *Agent) serviceDied(id, program, how string) {
	a.mu.Lock()
	d, ok := a.bangs.ServiceDied(id)
	a.mu.Unlock()
	if !ok {
		return
	}
	msg := fmt.Sprintf("service %s of %s %s", program, id, how)
	a.log.Warn("service died: banging its instance", "partition", id, "program", program, "how", how, "instance", d.InstanceGUID)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := a.instanceClient(id)
		if err == nil {
			_, err = c.Bang(ctx, d.InstanceGUID, msg)
		}
		if err != nil {
			// The computer may bang the instances it hosts too.
			if _, err2 := a.client.Bang(ctx, d.InstanceGUID, msg); err2 != nil {
				a.log.Warn("bang not delivered", "partition", id, "err", errors.Join(err, err2))
			}
		}
	}()
}

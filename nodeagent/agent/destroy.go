package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/nodeagent/procfs"
	"github.com/slapgo/slapgo/nodeagent/profile"
)

// destroyHookTimeout bounds an instance's destroy hook.
const destroyHookTimeout = 5 * time.Minute

// destroyPartition stops the partition, runs the instance's destroy hook
// as its user, wipes the directory's content (the directory stays, 0750,
// owned by the user) and removes the instance's certificate. Telling the
// master is core/agent's next effect when the view asks it destroyed.
func (a *Agent) destroyPartition(ctx context.Context, act converge.Action, st *partitionState) error {
	id := act.PartitionID
	dir := a.partitionDir(id)
	if err := a.stopPartition(id); err != nil {
		return err
	}
	cred, _, err := a.credential(id)
	if err != nil {
		return err
	}
	if cred != nil {
		killUser(cred.Uid, a.cfg.Grid.StopGrace)
	}
	if !st.Wiped { // a record of an earlier version: wiped, the master not told yet
		if err := a.runDestroyHook(ctx, dir, st, cred); err != nil {
			return err
		}
		if err := Wipe(dir, cred); err != nil {
			return err
		}
	}
	a.mu.Lock()
	a.bangs.Forget(id)
	a.mu.Unlock()
	a.log.Info("partition destroyed", "partition", id, "instance", act.InstanceGUID)
	return nil
}

// runDestroyHook runs sbin/destroy (or the hook the deployment named) as
// the partition's user.
func (a *Agent) runDestroyHook(ctx context.Context, dir string, st *partitionState, cred *syscall.Credential) error {
	hook := st.DestroyHook
	if hook == "" {
		hook = filepath.Join(dir, filepath.FromSlash(profile.DestroyHookFile))
	}
	fi, err := os.Stat(hook)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return nil // no hook
	}
	ctx, cancel := context.WithTimeout(ctx, destroyHookTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, hook)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("agent: destroy hook %s: %w: %s", hook, err, tailString(string(out), 2048))
	}
	return nil
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// Wipe empties a partition directory and leaves it 0750, owned by cred
// (when given). Links are removed, never followed.
func Wipe(dir string, cred *syscall.Credential) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("agent: wiping %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.Name() == StateDir {
			// Keep the record (the master may still be to tell), drop the
			// rest: certificates above all.
			sub, _ := os.ReadDir(p)
			for _, s := range sub {
				if s.Name() != "state.json" {
					if err := os.RemoveAll(filepath.Join(p, s.Name())); err != nil {
						errs = append(errs, err)
					}
				}
			}
			continue
		}
		if err := removeAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.Chmod(dir, 0o750); err != nil {
		errs = append(errs, err)
	}
	if cred != nil {
		if err := os.Lchown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agent: wiping %s: %w", dir, err)
	}
	return nil
}

// removeAll is os.RemoveAll that first makes directories writable: an
// instance may leave read-only trees (a build's installed files).
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil {
		return nil
	}
	filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}

// killUser kills every process of a partition's user (programs that left
// their process group), SIGTERM then SIGKILL after grace.
func killUser(uid uint32, grace time.Duration) {
	if uid == 0 {
		return
	}
	find := func() []int {
		all, err := procfs.Scan()
		if err != nil {
			return nil
		}
		var pids []int
		for _, st := range all {
			if st.State == 'Z' {
				continue
			}
			if u, err := procfs.UID(st.PID); err == nil && uint32(u) == uid {
				pids = append(pids, st.PID)
			}
		}
		return pids
	}
	pids := find()
	if len(pids) == 0 {
		return
	}
	for _, p := range pids {
		syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-deadline.C:
			waiting = false
		case <-tick.C:
			if len(find()) == 0 {
				return
			}
		}
	}
	for _, p := range find() {
		syscall.Kill(p, syscall.SIGKILL)
	}
}

// DestroyPass runs the stop and destroy actions of partitions the view
// asks destroyed, then tells the master again of the partitions its view
// still shows requested destroyed that are clean here: the hourly
// destruction of `slapgo node report` (core/agent's destroy-only pass). The
// instance pass does both too, as soon as it sees them.
func (a *Agent) DestroyPass(ctx context.Context) ([]ActionResult, error) {
	res, err := a.pass(ctx, agentcore.PassOptions{DestroyOnly: true})
	return res.Results, err
}

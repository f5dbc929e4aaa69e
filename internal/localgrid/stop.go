package localgrid

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// Grace periods of Stop: the node agent stops the partitions' programs
// first (stop_grace 5s each), the master drains its requests.
const (
	nodeStopGrace   = 30 * time.Second
	masterStopGrace = 15 * time.Second
)

// openGrid returns the layout of an existing grid folder; ok is false when
// the folder does not exist.
func openGrid(dir string) (l Layout, ok bool, err error) {
	l, err = NewLayout(dir)
	if err != nil {
		return l, false, err
	}
	entries, err := os.ReadDir(l.Dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, false, nil
	case err != nil:
		return l, false, fmt.Errorf("localgrid: %w", err)
	case len(entries) == 0:
		return l, false, nil
	case !l.isGrid():
		return l, false, fmt.Errorf("%w: %s holds no %s: it was not made by slapgo demo, so it is left alone", ErrNotGrid, l.Dir, markerFile)
	}
	return l, true, nil
}

// Running describes the processes of the grid in dir that run: "master
// (pid N)", "node agent (pid M)".
func Running(dir string) []string {
	l, ok, err := openGrid(dir)
	if err != nil || !ok {
		return nil
	}
	var out []string
	if r, ok := runningProcess(l.MasterPID(), l.MasterDir()); ok {
		out = append(out, fmt.Sprintf("master (pid %d)", r.PID))
	}
	if r, ok := runningProcess(l.NodePID(), l.NodeConfig()); ok {
		out = append(out, fmt.Sprintf("node agent (pid %d)", r.PID))
	}
	return out
}

// Stop stops the grid in dir (see doc.go), printing a line per process
// stopped on out. It returns how many processes it stopped; a folder with
// nothing running is not an error.
func Stop(dir string, out io.Writer) (int, error) {
	l, ok, err := openGrid(dir)
	if err != nil {
		return 0, err
	}
	st := stepper{out}
	if !ok {
		st.printf("stop", "no local grid in %s: nothing to stop", Show(l.Dir))
		return 0, nil
	}
	release, err := lockFolder(l.Dir)
	if err != nil {
		return 0, err
	}
	defer release()
	n, err := l.stop(st)
	if err == nil && n == 0 {
		st.printf("stop", "nothing was running in %s", Show(l.Dir))
	}
	return n, err
}

// stop stops the node agent, the programs it may have left, then the
// master. The caller holds the folder's lock.
func (l Layout) stop(st stepper) (int, error) {
	n := 0
	var errs []error
	if r, ok := runningProcess(l.NodePID(), l.NodeConfig()); ok {
		killed, gone := terminate(r, nodeStopGrace)
		switch {
		case !gone:
			errs = append(errs, fmt.Errorf("localgrid: the node agent (pid %d) is still alive after SIGTERM and SIGKILL", r.PID))
		case killed:
			st.printf("node agent", "killed (pid %d): it did not stop within %s of SIGTERM; see %s", r.PID, nodeStopGrace, Show(l.NodeLog()))
		default:
			st.printf("node agent", "stopped (pid %d), and the programs of its partitions with it", r.PID)
		}
		n++
	}
	// Programs a killed agent left behind, found by their pid files.
	parts, _ := filepath.Glob(filepath.Join(l.InstanceRoot(), "*", "var", "run"))
	var left []string
	for _, run := range parts {
		part := filepath.Dir(filepath.Dir(run))
		names, err := supervisor.KillStale(part, 5*time.Second)
		if err != nil {
			errs = append(errs, err)
		}
		for _, name := range names {
			left = append(left, filepath.Base(part)+"/"+name)
		}
	}
	if len(left) > 0 {
		st.printf("programs", "stopped what the node agent left running: %s", strings.Join(left, ", "))
		n += len(left)
	}
	if r, ok := runningProcess(l.MasterPID(), l.MasterDir()); ok {
		killed, gone := terminate(r, masterStopGrace)
		switch {
		case !gone:
			errs = append(errs, fmt.Errorf("localgrid: the master (pid %d) is still alive after SIGTERM and SIGKILL", r.PID))
		case killed:
			st.printf("master", "killed (pid %d): it did not stop within %s of SIGTERM; see %s", r.PID, masterStopGrace, Show(l.MasterLog()))
		default:
			st.printf("master", "stopped (pid %d)", r.PID)
		}
		n++
	}
	if len(errs) == 0 {
		os.Remove(l.NodePID())
		os.Remove(l.MasterPID())
	}
	return n, errors.Join(errs...)
}

// Reset stops the grid in dir and removes the folder. It refuses a folder
// that slapgo demo did not make.
func Reset(dir string, out io.Writer) error {
	l, ok, err := openGrid(dir)
	if err != nil || !ok {
		return err
	}
	st := stepper{out}
	release, err := lockFolder(l.Dir)
	if err != nil {
		return err
	}
	defer release()
	if _, err := l.stop(st); err != nil {
		return err
	}
	if err := removeAll(l.Dir); err != nil {
		return err
	}
	st.printf("reset", "%s wiped", Show(l.Dir))
	return nil
}

// removeAll removes dir, making read-only directories of it (software
// installed read-only) writable first if need be.
func removeAll(dir string) error {
	if os.RemoveAll(dir) == nil {
		return nil
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.Mode().Perm()&0o700 != 0o700 {
				os.Chmod(p, fi.Mode().Perm()|0o700)
			}
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("localgrid: wiping %s: %w", dir, err)
	}
	return nil
}

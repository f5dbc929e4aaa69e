package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/nodeagent/procfs"
)

// PidFile is what <partition>/var/run/slapgo.<name>.pid holds: the pid of
// a program's process (also its process group id) and its start time in
// clock ticks after boot, which tells it from a later process that reused
// the pid.
type PidFile struct {
	Program   string
	PID       int
	StartTime uint64
}

func writePidFile(path string, pid int, start uint64) {
	tmp := path + ".tmp"
	if os.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", pid, start), 0o644) == nil {
		os.Rename(tmp, path)
	}
}

// ReadPidFiles reads the pid files of a partition directory. Files that do
// not parse are skipped: they are not the supervisor's.
func ReadPidFiles(dir string) ([]PidFile, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "var", "run", "slapgo.*.pid"))
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	var out []PidFile
	for _, m := range matches {
		data, err := os.ReadFile(m)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("supervisor: %w", err)
		}
		f := strings.Fields(string(data))
		if len(f) != 2 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		start, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil || pid <= 1 {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "slapgo."), ".pid")
		out = append(out, PidFile{Program: name, PID: pid, StartTime: start})
	}
	return out, nil
}

// Alive reports whether the process group the pid file names still runs:
// its leader with the recorded start time, or, the leader gone (or a
// zombie), a member of its group started since. NB: a process that runs
// with the pid but another start time reused it, so the recorded group is
// gone (the kernel gives no pid that still names a process group); a
// group of that id is the new process's own, not the recorded one's. That
// is the case after a reboot or a container restart, where pids start
// again from 1: a pid file of the previous boot can name a program just
// started for another partition.
func (pf PidFile) Alive() bool {
	if st, err := procfs.ReadStat(pf.PID); err == nil {
		if st.StartTime != pf.StartTime {
			return false
		}
		if st.State != 'Z' {
			return true
		}
	}
	all, err := procfs.Scan()
	if err != nil {
		return false
	}
	for _, st := range all {
		if st.PGID == pf.PID && st.StartTime >= pf.StartTime && st.State != 'Z' {
			return true
		}
	}
	return false
}

// KillStale kills the process groups named by the pid files of a partition
// directory that are still alive (left by a previous daemon), SIGTERM then
// SIGKILL after grace, and removes the pid files. It returns the programs
// whose groups it killed.
func KillStale(dir string, grace time.Duration) ([]string, error) {
	pfs, err := ReadPidFiles(dir)
	if err != nil {
		return nil, err
	}
	var killed []string
	var alive []int
	for _, pf := range pfs {
		if pf.Alive() {
			syscall.Kill(-pf.PID, syscall.SIGTERM)
			alive = append(alive, pf.PID)
			killed = append(killed, pf.Program)
		}
	}
	deadline := time.Now().Add(grace)
	for _, pgid := range alive {
		if !waitGroupGone(pgid, time.Until(deadline)) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			waitGroupGone(pgid, grace)
		}
	}
	for _, pf := range pfs {
		os.Remove(filepath.Join(dir, "var", "run", "slapgo."+pf.Program+".pid"))
	}
	return killed, nil
}

package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// ErrNoProcess is returned when the process does not exist (any more).
var ErrNoProcess = errors.New("procfs: no such process")

// userHZ is the unit of the clock-tick fields of /proc/<pid>/stat.
const userHZ = 100

// root is where the proc file system is mounted.
const root = "/proc"

// Stat is the part of /proc/<pid>/stat the node agent uses.
type Stat struct {
	PID       int
	State     byte // R, S, D, Z (zombie), T, …
	PPID      int
	PGID      int
	StartTime uint64 // clock ticks after boot: with PID, identifies a process
	// CPU is user + system time of the process; ChildrenCPU that of its
	// children it waited for.
	CPU         time.Duration
	ChildrenCPU time.Duration
	RSS         int64 // resident set size, bytes
}

var pageSize = int64(os.Getpagesize())

// ReadStat reads /proc/<pid>/stat.
func ReadStat(pid int) (Stat, error) {
	data, err := os.ReadFile(root + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return Stat{}, fmt.Errorf("%w: %d", ErrNoProcess, pid)
		}
		return Stat{}, fmt.Errorf("procfs: %w", err)
	}
	return ParseStat(data)
}

// ParseStat parses the content of a /proc/<pid>/stat file.
func ParseStat(data []byte) (Stat, error) {
	open := bytes.IndexByte(data, '(')
	close := bytes.LastIndexByte(data, ')')
	if open < 1 || close < open {
		return Stat{}, fmt.Errorf("procfs: stat line %.40q: no (comm) field", data)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data[:open])))
	if err != nil {
		return Stat{}, fmt.Errorf("procfs: stat line %.40q: pid: %w", data, err)
	}
	// Fields after the command, numbered from 3 (state) as in proc(5).
	rest := bytes.Fields(data[close+1:])
	field := func(n int) (int64, error) {
		i := n - 3
		if i >= len(rest) {
			return 0, fmt.Errorf("procfs: stat of %d has %d fields, expected at least %d", pid, len(rest)+2, n)
		}
		return strconv.ParseInt(string(rest[i]), 10, 64)
	}
	var v [25]int64
	for _, n := range []int{4, 5, 14, 15, 16, 17, 22, 24} {
		if v[n], err = field(n); err != nil {
			return Stat{}, fmt.Errorf("procfs: stat of %d, field %d: %w", pid, n, err)
		}
	}
	tick := func(t int64) time.Duration { return time.Duration(t) * time.Second / userHZ }
	if len(rest) == 0 || len(rest[0]) != 1 {
		return Stat{}, fmt.Errorf("procfs: stat of %d: no state field", pid)
	}
	return Stat{
		PID:         pid,
		State:       rest[0][0],
		PPID:        int(v[4]),
		PGID:        int(v[5]),
		CPU:         tick(v[14] + v[15]),
		ChildrenCPU: tick(v[16] + v[17]),
		StartTime:   uint64(v[22]),
		RSS:         v[24] * pageSize,
	}, nil
}

// Scan reads the stat of every process. Processes that vanish during the
// scan are left out.
func Scan() ([]Stat, error) {
	d, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("procfs: listing %s: %w", root, err)
	}
	out := make([]Stat, 0, len(names))
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid <= 0 {
			continue
		}
		st, err := ReadStat(pid)
		if err != nil {
			if errors.Is(err, ErrNoProcess) {
				continue
			}
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// UID returns the real user id owning a process.
func UID(pid int) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(root+"/"+strconv.Itoa(pid), &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return 0, fmt.Errorf("%w: %d", ErrNoProcess, pid)
		}
		return 0, fmt.Errorf("procfs: %w", err)
	}
	return int(st.Uid), nil
}

// GroupAlive reports whether a process group still has a member that is
// not a zombie. kill(-pgid, 0) answers first; a /proc scan confirms, since
// zombies not yet reaped by their new parent still receive signals.
func GroupAlive(pgid int) bool {
	if pgid <= 0 {
		return false
	}
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	all, err := Scan()
	if err != nil {
		return true // cannot tell: assume the worst
	}
	for _, st := range all {
		if st.PGID == pgid && st.State != 'Z' {
			return true
		}
	}
	return false
}

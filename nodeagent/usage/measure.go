package usage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/nodeagent/procfs"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// Partition names a partition and its directory.
type Partition struct {
	ID  string
	Dir string
}

// Measurement is one reading of a partition's processes.
type Measurement struct {
	// CPU is cumulative: CPU time of the live processes of its groups with
	// their reaped children, plus ExitedCPU.
	CPU time.Duration
	RSS int64 // bytes, sum over the live processes
}

// Measure reads the processes of every partition with one scan of /proc.
// A partition's processes are the members of the process groups its pid
// files name (see supervisor.ReadPidFiles). exited, if not nil, gives the
// CPU time of processes that exited (supervisor.ExitedCPU).
func Measure(parts []Partition, exited func(id string) time.Duration) (map[string]Measurement, error) {
	groups := map[int]string{} // pgid -> partition id
	for _, p := range parts {
		pfs, err := supervisor.ReadPidFiles(p.Dir)
		if err != nil {
			return nil, fmt.Errorf("usage: %s: %w", p.ID, err)
		}
		for _, pf := range pfs {
			groups[pf.PID] = p.ID
		}
	}
	out := make(map[string]Measurement, len(parts))
	for _, p := range parts {
		m := Measurement{}
		if exited != nil {
			m.CPU = exited(p.ID)
		}
		out[p.ID] = m
	}
	if len(groups) == 0 {
		return out, nil
	}
	all, err := procfs.Scan()
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	for _, st := range all {
		id, ok := groups[st.PGID]
		if !ok {
			continue
		}
		m := out[id]
		m.CPU += st.CPU + st.ChildrenCPU
		m.RSS += st.RSS
		out[id] = m
	}
	return out, nil
}

// DiskUsage returns the bytes of the blocks allocated under dir, counting
// each inode once and following no symbolic link. Entries that vanish
// during the walk are ignored.
func DiskUsage(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return nil
			}
			return err
		}
		if st.Nlink > 1 && !d.IsDir() {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return total, fmt.Errorf("usage: disk usage of %s: %w", dir, err)
	}
	return total, nil
}

package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"

	"github.com/slapgo/slapgo/core/master"
)

// LoadState is a master's restart: it loads every entity and rebuilds
// core/master's state from them (Load, then master.Restore).
//
// NB: the garbage collector is paused meanwhile. Nearly all that a load
// allocates is the state it builds, so a collection during it finds little
// garbage, yet marks the whole state built so far: at 300k instances the
// collections took a third of the restart's CPU time. A memory limit
// (loadMemoryFactor times the database's size above what the process uses,
// or GOMEMLIMIT if lower) bounds the pause: past it the collector runs.
func (s *SQLite) LoadState(ctx context.Context, cfg master.Config) (*master.State, error) {
	resume := pauseGC(s.loadBudget())
	defer resume()
	ents, err := s.Load(ctx)
	if err != nil {
		return nil, err
	}
	st, err := master.Restore(cfg, ents)
	if err != nil {
		return nil, fmt.Errorf("store: rebuilding the state from %s: %w", s.path, err)
	}
	return st, nil
}

// loadMemoryFactor bounds what a load allocates, relative to the database's
// size: 300k instances on 450k partitions, a 129 MiB database, allocate
// about 820 MiB (6.4 times) with the collector paused.
const loadMemoryFactor = 8

// loadBudget is how many bytes a load may allocate before the collector
// runs: loadMemoryFactor times the database's size, WAL included.
func (s *SQLite) loadBudget() int64 {
	var size int64
	for _, p := range []string{s.path, s.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			size += fi.Size()
		}
	}
	return max(size*loadMemoryFactor, 64<<20)
}

// gcPause counts the loads running with the collector paused; the first
// saves the collector's settings, the last restores them.
var gcPause struct {
	sync.Mutex
	n       int
	percent int
	limit   int64
}

// pauseGC turns the collector off until resume, under a memory limit of
// budget bytes above the memory the process holds now (or the limit set
// already, if lower).
func pauseGC(budget int64) (resume func()) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gcPause.Lock()
	defer gcPause.Unlock()
	if gcPause.n == 0 {
		gcPause.limit = debug.SetMemoryLimit(-1)
		gcPause.percent = debug.SetGCPercent(-1)
	}
	gcPause.n++
	debug.SetMemoryLimit(min(gcPause.limit, int64(ms.Sys-ms.HeapReleased)+budget))
	var once sync.Once
	return func() {
		once.Do(func() {
			gcPause.Lock()
			defer gcPause.Unlock()
			gcPause.n--
			if gcPause.n == 0 {
				debug.SetGCPercent(gcPause.percent)
				debug.SetMemoryLimit(gcPause.limit)
			}
		})
	}
}

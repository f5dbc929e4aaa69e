package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// restartChildEnv, when set to a database path, makes the test binary a
// restart probe instead of running tests: it loads and restores that
// database once and prints its figures (see TestMain). The benchmark runs
// it so that the peak RSS it reports is the restart's alone.
const restartChildEnv = "SLAPGO_STORE_RESTART_PROBE"

// restartKeepEnv, when set to a directory, makes BenchmarkRestart keep the
// databases it builds there and reuse them on later runs (of the same
// binary: an older one may not read what a newer one wrote).
const restartKeepEnv = "SLAPGO_STORE_RESTART_DIR"

func TestMain(m *testing.M) {
	if path := os.Getenv(restartChildEnv); path != "" {
		os.Exit(restartProbe(path))
	}
	os.Exit(m.Run())
}

// restartProbe loads and restores the database at path, then prints
// "ms=<load+restore> cpu_ms=<CPU time of the process> instances=<n>
// hwm_kib=<peak RSS>" on stdout. On a busy machine the CPU time is the
// steadier figure.
func restartProbe(path string) int {
	start := time.Now()
	st, n, err := loadAndRestore(path)
	took := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("ms=%d cpu_ms=%d instances=%d hwm_kib=%d\n", took.Milliseconds(), cpu.Milliseconds(), n, statusKiB(status, "VmHWM:"))
	runtime.KeepAlive(st)
	return 0
}

func statusKiB(status []byte, key string) int64 {
	i := bytes.Index(status, []byte(key))
	if i < 0 {
		return -1
	}
	line := status[i+len(key):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	n, _ := strconv.ParseInt(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(line), []byte("kB")))), 10, 64)
	return n
}

// loadAndRestore is a master's restart: open the database, load every
// entity, rebuild the state (LoadState).
func loadAndRestore(path string) (*master.State, int, error) {
	s, err := OpenSQLite(path, Options{})
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	st, err := s.LoadState(context.Background(), master.DefaultConfig())
	if err != nil {
		return nil, 0, err
	}
	_, busy := st.Capacity()
	return st, busy, nil
}

// buildGrid writes to a new database at path the state of computers ×
// parts partitions holding instances instances (each with parameters, as
// real requests carry), as one snapshot.
func buildGrid(tb testing.TB, path string, computers, parts, instances int) {
	tb.Helper()
	st := master.New(master.DefaultConfig())
	now := t0
	apply := func(c master.Command) master.Result {
		now = now.Add(time.Millisecond)
		res, _, err := st.Apply(now, c)
		if err != nil {
			tb.Fatalf("building the grid: %s: %v", c.CommandName(), err)
		}
		return res
	}
	apply(master.AddPerson{By: admin, ID: "alice"})
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	for c := range computers {
		id := fmt.Sprintf("COMP-%04d", c)
		apply(master.RegisterComputer{By: alice, ID: id, Region: "eu", Prices: model.PriceList{"hosting": 0.1}})
		specs := make([]master.PartitionSpec, parts)
		for p := range parts {
			specs[p] = master.PartitionSpec{ID: fmt.Sprintf("slappart%d", p), Addresses: []model.Address{
				{Iface: "eth0", Addr: fmt.Sprintf("10.%d.%d.%d", c/256, c%256, p%256)},
				{Iface: "eth0", Addr: fmt.Sprintf("2001:db8:%x::%x", c, p+2)}}}
		}
		apply(master.SetCapacity{By: model.Actor{Kind: model.KindComputer, ID: id}, ComputerID: id, Partitions: specs})
		apply(master.Supply{By: alice, ComputerID: id, URL: softURL, State: model.SoftwareAvailable})
	}
	for i := range instances {
		res := apply(master.Request{By: alice, Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: softURL,
			Parameters: map[string]string{"port": strconv.Itoa(8000 + i%1000), "name": "n" + strconv.Itoa(i)}})
		if i < computers*parts && res.Instance.Status != master.StatusAllocated {
			tb.Fatalf("building the grid: instance %d is %s", i, res.Instance.Status)
		}
	}
	s, err := OpenSQLite(path, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Commit(context.Background(), Batch{Mutations: st.Snapshot()}); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkRestart measures a master's restart on a large state: open the
// database, LoadState (load every entity, restore the state). It reports the heap the
// restored state holds, and the peak RSS and time of one restart in a
// process of its own (the test binary as a probe).
func BenchmarkRestart(b *testing.B) {
	for _, sz := range []struct{ computers, parts, instances int }{
		{1500, 300, 0},
		{1500, 300, 300000},
	} {
		b.Run(fmt.Sprintf("computers=%d/parts=%d/instances=%d", sz.computers, sz.parts, sz.instances), func(b *testing.B) {
			dir := os.Getenv(restartKeepEnv)
			if dir == "" {
				dir = b.TempDir()
			}
			path := filepath.Join(dir, fmt.Sprintf("restart-%d-%d-%d.db", sz.computers, sz.parts, sz.instances))
			if _, err := os.Stat(path); err != nil {
				buildGrid(b, path, sz.computers, sz.parts, sz.instances)
			}
			_, n, err := loadAndRestore(path)
			if err != nil || n != sz.instances {
				b.Fatalf("restore: %d instances, %v; want %d", n, err, sz.instances)
			}
			var st *master.State
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				st, _, err = loadAndRestore(path)
				if err != nil {
					b.Fatal(err)
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "MiB-held")
			runtime.KeepAlive(st)

			probe := exec.Command(os.Args[0])
			probe.Env = append(os.Environ(), restartChildEnv+"="+path)
			out, err := probe.Output()
			if err != nil {
				b.Fatalf("restart probe: %v: %s", err, out)
			}
			var ms, cpu, insts, hwm int64
			if _, err := fmt.Sscanf(string(out), "ms=%d cpu_ms=%d instances=%d hwm_kib=%d", &ms, &cpu, &insts, &hwm); err != nil || insts != int64(sz.instances) {
				b.Fatalf("restart probe said %q (%v)", out, err)
			}
			b.ReportMetric(float64(ms), "probe-ms")
			b.ReportMetric(float64(cpu), "probe-cpu-ms")
			b.ReportMetric(float64(hwm)/1024, "probe-MiB-RSS")
		})
	}
}

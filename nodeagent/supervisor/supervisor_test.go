package supervisor

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/nodeagent/procfs"
)

// partition makes a partition directory with the given etc/service and
// etc/run scripts ("service/name" or "run/name" → shell body).
func partition(t *testing.T, scripts map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range scripts {
		p := filepath.Join(dir, "etc", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readLines(path string) []string {
	data, _ := os.ReadFile(path)
	return strings.Fields(string(data))
}

func TestRestartBackoff(t *testing.T) {
	dir := partition(t, map[string]string{
		"service/crasher": `date +%s%N >> "$HOME/starts"; exit 3`,
		"run/oneshot":     `echo once >> "$HOME/runs"; exit 0`,
	})
	var mu sync.Mutex
	var exits []string
	s := New(Options{BackoffBase: 40 * time.Millisecond, BackoffMax: 160 * time.Millisecond, StableAfter: time.Hour, Grace: time.Second})
	t.Cleanup(s.Close)
	err := s.Start(Group{ID: "slappart0", Dir: dir, OnServiceExit: func(prog, how string) {
		mu.Lock()
		exits = append(exits, prog+": "+how)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(dir, "starts")
	// The etc/run program must be restarted like a service: wait for its
	// second run as well as for the crasher's sixth start.
	waitFor(t, "6 starts of the crasher and 2 runs of the oneshot", 30*time.Second, func() bool {
		return len(readLines(starts)) >= 6 && len(readLines(filepath.Join(dir, "runs"))) >= 2
	})
	s.Stop("slappart0")

	lines := readLines(starts)
	var at []time.Duration
	for _, l := range lines {
		ns, err := strconv.ParseInt(l, 10, 64)
		if err != nil {
			t.Fatalf("starts file: %q", l)
		}
		at = append(at, time.Duration(ns))
	}
	// Delays double from 40ms and stop at 160ms: each gap is at least the
	// delay planned before it.
	want := []time.Duration{40, 80, 160, 160, 160}
	for i := range want {
		gap := at[i+1] - at[i]
		if gap < want[i]*time.Millisecond {
			t.Errorf("gap %d between starts = %s, want >= %dms", i, gap, want[i])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(exits) < 5 {
		t.Fatalf("OnServiceExit called %d times, want >= 5: %v", len(exits), exits)
	}
	for _, e := range exits {
		if e != "crasher: exited with status 3" {
			t.Fatalf("OnServiceExit got %q: only the service, with its status", e)
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "var", "log", "crasher.log"))
	if !strings.Contains(string(log), "crasher exited with status 3; restarting in 80ms") {
		t.Errorf("log does not record the restarts:\n%s", log)
	}
}

func TestStableRunResetsBackoff(t *testing.T) {
	dir := partition(t, map[string]string{
		"service/slow": `date +%s%N >> "$HOME/starts"; sleep 0.3; exit 1`,
	})
	s := New(Options{BackoffBase: 50 * time.Millisecond, BackoffMax: 5 * time.Second, StableAfter: 200 * time.Millisecond})
	t.Cleanup(s.Close)
	if err := s.Start(Group{ID: "p", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	starts := filepath.Join(dir, "starts")
	waitFor(t, "4 starts", 30*time.Second, func() bool { return len(readLines(starts)) >= 4 })
	s.Stop("p")
	log, _ := os.ReadFile(filepath.Join(dir, "var", "log", "slow.log"))
	if n := strings.Count(string(log), "restarting in 50ms"); n < 3 {
		t.Errorf("runs longer than StableAfter should keep the delay at its base; log:\n%s", log)
	}
}

func TestStopKillsWholeGroup(t *testing.T) {
	// The service ignores SIGTERM and has a child that ignores it too.
	dir := partition(t, map[string]string{
		"service/stubborn": `trap '' TERM
sh -c 'trap "" TERM; echo $$ > "$HOME/child"; while :; do sleep 0.05; done' &
echo $$ > "$HOME/leader"
echo ready
wait`,
		"service/polite": `exec sleep 1000`,
	})
	s := New(Options{Grace: 300 * time.Millisecond})
	t.Cleanup(s.Close)
	if err := s.Start(Group{ID: "p", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	// "ready" is echoed after both pids are written: wait for it, since the
	// log is checked for it below.
	waitFor(t, "both pids written and stubborn ready", 30*time.Second, func() bool {
		log, _ := os.ReadFile(filepath.Join(dir, "var", "log", "stubborn.log"))
		return len(readLines(filepath.Join(dir, "child"))) == 1 && len(readLines(filepath.Join(dir, "leader"))) == 1 &&
			strings.Contains(string(log), "ready\n")
	})
	child, _ := strconv.Atoi(readLines(filepath.Join(dir, "child"))[0])
	leader, _ := strconv.Atoi(readLines(filepath.Join(dir, "leader"))[0])
	pfs, err := ReadPidFiles(dir)
	if err != nil || len(pfs) != 2 {
		t.Fatalf("pid files: %v %v", pfs, err)
	}
	if st := s.Status("p"); len(st) != 2 || st[0].PID == 0 || st[1].PID == 0 {
		t.Fatalf("status of running programs: %+v", st)
	}
	began := time.Now()
	s.Stop("p")
	took := time.Since(began)
	for _, pid := range []int{leader, child} {
		if st, err := procfs.ReadStat(pid); err == nil && st.State != 'Z' {
			t.Errorf("pid %d still alive after Stop (state %c)", pid, st.State)
		}
	}
	if took < 300*time.Millisecond {
		t.Errorf("Stop returned after %s: SIGKILL came before the grace", took)
	}
	if s.Running("p") || s.Status("p") != nil {
		t.Error("partition still listed as running after Stop")
	}
	if pfs, _ := ReadPidFiles(dir); len(pfs) != 0 {
		t.Errorf("pid files left after Stop: %v", pfs)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "var", "log", "stubborn.log"))
	if !strings.Contains(string(log), "ready") || !strings.Contains(string(log), "stubborn stopped (killed by signal killed)") {
		t.Errorf("stubborn.log:\n%s", log)
	}
	log, _ = os.ReadFile(filepath.Join(dir, "var", "log", "polite.log"))
	if !strings.Contains(string(log), "polite stopped (killed by signal terminated)") {
		t.Errorf("polite.log:\n%s", log)
	}
}

func TestReleaseThenKillStale(t *testing.T) {
	dir := partition(t, map[string]string{"service/daemon": `echo $$ >> "$HOME/pids"; exec sleep 1000`})
	first := New(Options{Grace: time.Second})
	if err := first.Start(Group{ID: "p", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first pid", 30*time.Second, func() bool { return len(readLines(filepath.Join(dir, "pids"))) == 1 })
	first.Release() // as a daemon exiting with --keep-services
	old, _ := strconv.Atoi(readLines(filepath.Join(dir, "pids"))[0])
	t.Cleanup(func() { syscall.Kill(-old, syscall.SIGKILL) })
	if err := first.Start(Group{ID: "p", Dir: dir}); err != ErrClosed {
		t.Fatalf("Start after Release: %v, want ErrClosed", err)
	}
	if st, err := procfs.ReadStat(old); err != nil || st.State == 'Z' {
		t.Fatalf("Release stopped the process: %v", err)
	}

	second := New(Options{Grace: time.Second})
	t.Cleanup(second.Close)
	if err := second.Start(Group{ID: "p", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "old process killed", 30*time.Second, func() bool {
		st, err := procfs.ReadStat(old)
		return err != nil || st.State == 'Z'
	})
	waitFor(t, "second pid", 30*time.Second, func() bool { return len(readLines(filepath.Join(dir, "pids"))) == 2 })
	pfs, _ := ReadPidFiles(dir)
	if len(pfs) != 1 || pfs[0].PID == old {
		t.Fatalf("pid files after restart: %+v (old %d)", pfs, old)
	}
}

func TestKillStaleIgnoresReusedPid(t *testing.T) {
	dir := partition(t, nil)
	os.MkdirAll(filepath.Join(dir, "var", "run"), 0o755)
	// Our own pid with a start time that is not ours: a reused pid.
	self, err := procfs.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	writePidFile(filepath.Join(dir, "var", "run", "slapgo.ghost.pid"), os.Getpid(), self.StartTime+12345)
	killed, err := KillStale(dir, 100*time.Millisecond)
	if err != nil || len(killed) != 0 {
		t.Fatalf("KillStale killed %v (%v): the pid belongs to another process", killed, err)
	}
	if pfs, _ := ReadPidFiles(dir); len(pfs) != 0 {
		t.Fatalf("stale pid file kept: %v", pfs)
	}
}

// A pid file of a previous boot (or container) can name a pid that a
// program of this boot reuses, leader of its own process group: after a
// container restart pids start again from 1. KillStale must not kill it:
// it would kill another partition's program just started.
func TestKillStaleSparesAGroupThatReusedThePid(t *testing.T) {
	dir := partition(t, nil)
	os.MkdirAll(filepath.Join(dir, "var", "run"), 0o755)
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	st, err := procfs.ReadStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.PGID != st.PID || st.StartTime == 0 {
		t.Fatalf("sleep: %+v: expected the leader of its own group", st)
	}
	// The previous boot's program had this pid and started earlier.
	pf := PidFile{Program: "ghost", PID: st.PID, StartTime: st.StartTime - 1}
	if pf.Alive() {
		t.Errorf("%+v is alive: the pid names a process started later, in a group of its own", pf)
	}
	writePidFile(filepath.Join(dir, "var", "run", "slapgo.ghost.pid"), pf.PID, pf.StartTime)
	killed, err := KillStale(dir, 100*time.Millisecond)
	if err != nil || len(killed) != 0 {
		t.Fatalf("KillStale killed %v (%v): the pid names a later process", killed, err)
	}
	if now, err := procfs.ReadStat(st.PID); err != nil || now.StartTime != st.StartTime || now.State == 'Z' {
		t.Fatalf("the process that reused the pid was killed: %+v, %v", now, err)
	}
}

func TestDiscover(t *testing.T) {
	dir := partition(t, map[string]string{"service/b": "true", "service/a": "true", "run/c": "true"})
	os.WriteFile(filepath.Join(dir, "etc", "service", "README"), []byte("not executable"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc", "service", ".hidden"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink(filepath.Join(dir, "etc", "run", "c"), filepath.Join(dir, "etc", "service", "link"))
	progs, err := Discover(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range progs {
		got = append(got, string(p.Kind)+"/"+p.Name)
	}
	if want := []string{"service/a", "service/b", "service/link", "run/c"}; !slices.Equal(got, want) {
		t.Fatalf("Discover = %v, want %v", got, want)
	}
	clash := partition(t, map[string]string{"service/x": "true", "run/x": "true"})
	if _, err := Discover(clash); err == nil || !strings.Contains(err.Error(), `"x" is both in etc/service and etc/run`) {
		t.Fatalf("name clash: %v", err)
	}
	if progs, err := Discover(t.TempDir()); err != nil || len(progs) != 0 {
		t.Fatalf("empty partition: %v %v", progs, err)
	}
}

func TestStartReportsUnstartable(t *testing.T) {
	dir := partition(t, map[string]string{"service/ok": "exec sleep 1000"})
	// Executable bit but no interpreter: exec fails.
	os.WriteFile(filepath.Join(dir, "etc", "service", "broken"), []byte("#!/nonexistent/interpreter\n"), 0o755)
	s := New(Options{Grace: time.Second, BackoffBase: time.Hour})
	t.Cleanup(s.Close)
	err := s.Start(Group{ID: "p", Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "starting service broken") {
		t.Fatalf("Start: %v", err)
	}
	if !s.Running("p") {
		t.Fatal("a program that cannot start must not stop the others")
	}
}

func TestRunsAsPartitionUser(t *testing.T) {
	testenv.RequireRoot(t, "running a service as another user needs root")
	dir := partition(t, map[string]string{"service/who": `id -u > "$HOME/var/uid"; echo "$HOME $USER"; exec sleep 1000`})
	const nobody = 65534
	os.Chmod(filepath.Dir(dir), 0o755) // t.TempDir's parent is 0700
	os.Chown(dir, nobody, nobody)
	os.Chmod(dir, 0o750)
	s := New(Options{Grace: time.Second})
	t.Cleanup(s.Close)
	if err := s.Start(Group{ID: "p", Dir: dir, User: "nobody", Cred: &syscall.Credential{Uid: nobody, Gid: nobody}}); err != nil {
		t.Fatal(err)
	}
	// The service writes its uid, then echoes HOME and USER into its log:
	// wait for that echo (the last thing it does before sleeping), so that
	// both the uid file and the log line are there to be checked.
	logPath := filepath.Join(dir, "var", "log", "who.log")
	waitFor(t, "the service's line in who.log", 30*time.Second, func() bool { return serviceLines(logPath) > 0 })
	if got := readLines(filepath.Join(dir, "var", "uid")); len(got) != 1 || got[0] != "65534" {
		t.Fatalf("service ran as uid %v, want 65534", got)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(logPath, &st); err != nil || st.Uid != nobody {
		t.Fatalf("log file owner %d (%v), want %d", st.Uid, err, nobody)
	}
	log, _ := os.ReadFile(logPath)
	if !strings.Contains(string(log), dir+" nobody") {
		t.Fatalf("HOME and USER not set: %s", log)
	}
}

// serviceLines counts the complete lines of a program's log written by the
// program itself, not the supervisor's own "slapgo:" notes.
func serviceLines(path string) int {
	data, _ := os.ReadFile(path)
	n := 0
	for line := range strings.Lines(string(data)) {
		if strings.HasSuffix(line, "\n") && !strings.Contains(line, " slapgo: ") {
			n++
		}
	}
	return n
}

// Status returns the state of a partition's programs (nil if none runs).
func (s *Supervisor) Status(id string) []Status {
	s.mu.Lock()
	g := s.groups[id]
	s.mu.Unlock()
	if g == nil {
		return nil
	}
	out := make([]Status, 0, len(g.progs))
	for _, p := range g.progs {
		p.mu.Lock()
		out = append(out, p.status)
		p.mu.Unlock()
	}
	return out
}

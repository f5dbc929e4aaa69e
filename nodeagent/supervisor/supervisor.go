package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/nodeagent/procfs"
)

// ErrClosed is returned by Start after Close or Release.
var ErrClosed = errors.New("supervisor: closed")

// Kind tells services from run programs.
type Kind string

const (
	// Service is an executable of etc/service: restarted when it dies,
	// and its deaths reported (Group.OnServiceExit).
	Service Kind = "service"
	// Run is an executable of etc/run: restarted when it dies.
	Run Kind = "run"
)

// Group is one partition's set of programs.
type Group struct {
	ID   string // partition id, unique per Supervisor
	Dir  string // partition directory: working directory and HOME
	Cred *syscall.Credential
	// Env is added to the base environment (PATH, HOME, and USER and
	// LOGNAME when User is set); it may override them.
	Env  []string
	User string
	// OnServiceExit, if set, is called each time a Service program exits
	// while not being stopped, with a description of how it ended.
	OnServiceExit func(program, how string)
}

// Options tunes a Supervisor; zero fields take the defaults in brackets.
type Options struct {
	Grace       time.Duration // SIGTERM to SIGKILL [10s]
	BackoffBase time.Duration // first restart delay [1s]
	BackoffMax  time.Duration // restart delay cap [1m]
	StableAfter time.Duration // a run this long resets the back-off [30s]
	Logger      *slog.Logger  // [slog.Default()]
}

func (o Options) withDefaults() Options {
	if o.Grace <= 0 {
		o.Grace = 10 * time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = max(time.Minute, o.BackoffBase)
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Supervisor runs the programs of partitions. It is safe for concurrent
// use.
type Supervisor struct {
	opts Options

	mu     sync.Mutex
	groups map[string]*group
	locks  map[string]*sync.Mutex   // one per group id: Start/Stop serialised
	cpu    map[string]time.Duration // CPU time of exited processes, per group
	closed bool
}

type group struct {
	spec  Group
	progs []*program
}

// New returns a Supervisor running nothing.
func New(opts Options) *Supervisor {
	return &Supervisor{
		opts:   opts.withDefaults(),
		groups: map[string]*group{},
		locks:  map[string]*sync.Mutex{},
		cpu:    map[string]time.Duration{},
	}
}

func (s *Supervisor) lock(id string) func() {
	s.mu.Lock()
	l := s.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[id] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Program is an executable found in a partition.
type Program struct {
	Name string
	Path string
	Kind Kind
}

// Discover lists the executables of dir/etc/service and dir/etc/run (hidden
// files and directories are ignored), services first, each sorted by name.
// A name found in both is an error: logs and pid files are named after it.
func Discover(dir string) ([]Program, error) {
	var progs []Program
	seen := map[string]Kind{}
	for _, k := range []Kind{Service, Run} {
		sub := filepath.Join(dir, "etc", string(k))
		entries, err := os.ReadDir(sub)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("supervisor: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if name[0] == '.' {
				continue
			}
			p := filepath.Join(sub, name)
			fi, err := os.Stat(p) // follows links: wrappers are often links
			if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
				continue
			}
			if other, dup := seen[name]; dup {
				return nil, fmt.Errorf("supervisor: %s: program %q is both in etc/%s and etc/%s: rename one", dir, name, other, k)
			}
			seen[name] = k
			progs = append(progs, Program{Name: name, Path: p, Kind: k})
		}
	}
	return progs, nil
}

// Start (re)starts a partition's programs: it stops those running (and
// stale ones a previous daemon left, see KillStale), discovers the
// programs and starts each. It returns an error joining the programs that
// could not be started; those are retried with back-off like any program
// that dies.
func (s *Supervisor) Start(spec Group) error {
	defer s.lock(spec.ID)()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	s.stopLocked(spec.ID)
	killed, err := KillStale(spec.Dir, s.opts.Grace)
	if err != nil {
		return err
	}
	if len(killed) > 0 {
		s.opts.Logger.Info("supervisor: killed programs a previous agent left running", "group", spec.ID, "programs", killed)
	}
	progs, err := Discover(spec.Dir)
	if err != nil {
		return err
	}
	for _, sub := range []string{"var/log", "var/run"} {
		if err := mkdirOwned(spec.Dir, sub, spec.Cred); err != nil {
			return err
		}
	}
	g := &group{spec: spec}
	var errs []error
	for _, pr := range progs {
		p := &program{Program: pr, sup: s, spec: &g.spec, stopc: make(chan struct{}), releasec: make(chan struct{}), done: make(chan struct{})}
		cmd, err := p.start()
		if err != nil {
			errs = append(errs, err)
		}
		g.progs = append(g.progs, p)
		go p.loop(cmd)
	}
	s.mu.Lock()
	s.groups[spec.ID] = g
	s.mu.Unlock()
	return errors.Join(errs...)
}

// Running reports whether the partition's programs were started and not
// stopped since.
func (s *Supervisor) Running(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.groups[id]
	return ok
}

// Stop stops a partition's programs: SIGTERM to each process group,
// SIGKILL after the grace, and returns once they are gone. Stopping a
// partition that runs nothing does nothing.
func (s *Supervisor) Stop(id string) {
	defer s.lock(id)()
	s.stopLocked(id)
}

func (s *Supervisor) stopLocked(id string) {
	s.mu.Lock()
	g := s.groups[id]
	delete(s.groups, id)
	s.mu.Unlock()
	if g == nil {
		return
	}
	for _, p := range g.progs {
		close(p.stopc)
	}
	for _, p := range g.progs {
		<-p.done
	}
}

// Close stops every partition's programs (in parallel) and refuses
// further Starts.
func (s *Supervisor) Close() {
	s.mu.Lock()
	s.closed = true
	ids := make([]string, 0, len(s.groups))
	for id := range s.groups {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() { s.Stop(id) })
	}
	wg.Wait()
}

// Release forgets every program without stopping it: processes keep
// running with their pid files, for the next daemon's KillStale. Further
// Starts are refused.
func (s *Supervisor) Release() {
	s.mu.Lock()
	s.closed = true
	groups := s.groups
	s.groups = map[string]*group{}
	s.mu.Unlock()
	for _, g := range groups {
		for _, p := range g.progs {
			close(p.releasec)
		}
		for _, p := range g.progs {
			<-p.done
		}
	}
}

// ExitedCPU is the CPU time (user + system, with the children they
// waited for) of the processes of a partition that exited under this
// Supervisor.
func (s *Supervisor) ExitedCPU(id string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cpu[id]
}

// Status is the state of one program.
type Status struct {
	Program
	PID      int       // 0 when not running
	Starts   int       // times started
	LastExit string    // how it ended last ("" if never)
	Since    time.Time // when it was last started
}

func (s *Supervisor) addCPU(id string, d time.Duration) {
	s.mu.Lock()
	s.cpu[id] += d
	s.mu.Unlock()
}

// program is one supervised executable and its restart loop.
type program struct {
	Program
	sup  *Supervisor
	spec *Group

	stopc    chan struct{} // closed: stop the process and return
	releasec chan struct{} // closed: return, leaving the process running
	done     chan struct{} // closed when the loop returned

	mu     sync.Mutex
	status Status
}

func (p *program) logPath() string {
	return filepath.Join(p.spec.Dir, "var", "log", p.Name+".log")
}

func (p *program) pidPath() string {
	return filepath.Join(p.spec.Dir, "var", "run", "slapgo."+p.Name+".pid")
}

// note appends a supervisor line to the program's log.
func (p *program) note(format string, args ...any) {
	f, err := openLog(p.logPath(), p.spec.Cred)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%s slapgo: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	f.Close()
}

func (p *program) environ() []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + p.spec.Dir,
	}
	if p.spec.User != "" {
		env = append(env, "USER="+p.spec.User, "LOGNAME="+p.spec.User)
	}
	return append(env, p.spec.Env...)
}

// start starts the process once and records it.
func (p *program) start() (*exec.Cmd, error) {
	f, err := openLog(p.logPath(), p.spec.Cred)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(p.Path)
	cmd.Dir = p.spec.Dir
	cmd.Env = p.environ()
	cmd.Stdin = nil
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.spec.Cred}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f, "%s slapgo: cannot start %s: %v\n", time.Now().UTC().Format(time.RFC3339), p.Path, err)
		p.mu.Lock()
		p.status.Program, p.status.PID, p.status.LastExit = p.Program, 0, "not started: "+err.Error()
		p.mu.Unlock()
		return nil, fmt.Errorf("supervisor: %s: starting %s %s: %w", p.spec.ID, p.Kind, p.Name, err)
	}
	pid := cmd.Process.Pid
	fmt.Fprintf(f, "%s slapgo: started %s (pid %d)\n", time.Now().UTC().Format(time.RFC3339), p.Name, pid)
	if st, err := procfs.ReadStat(pid); err == nil {
		writePidFile(p.pidPath(), pid, st.StartTime)
	}
	p.mu.Lock()
	p.status.Program, p.status.PID, p.status.Since = p.Program, pid, time.Now()
	p.status.Starts++
	p.mu.Unlock()
	return cmd, nil
}

// loop waits for the process, restarts it with back-off, and stops or
// releases it when told.
func (p *program) loop(cmd *exec.Cmd) {
	defer close(p.done)
	o := p.sup.opts
	delay := o.BackoffBase
	for {
		if cmd != nil {
			started := time.Now()
			waitc := make(chan error, 1)
			go func() { waitc <- cmd.Wait() }()
			select {
			case err := <-waitc:
				how := describeExit(err)
				p.reaped(cmd, how)
				if time.Since(started) >= o.StableAfter {
					delay = o.BackoffBase
				}
				p.note("%s %s; restarting in %s", p.Name, how, delay)
				if p.Kind == Service && p.spec.OnServiceExit != nil {
					p.spec.OnServiceExit(p.Name, how)
				}
			case <-p.stopc:
				p.terminate(cmd, waitc)
				return
			case <-p.releasec:
				return
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-p.stopc:
			t.Stop()
			os.Remove(p.pidPath())
			return
		case <-p.releasec:
			t.Stop()
			return
		}
		delay = min(2*delay, o.BackoffMax)
		cmd, _ = p.start()
	}
}

// reaped records a process that exited: its CPU time, its leftovers
// killed, its pid file removed.
func (p *program) reaped(cmd *exec.Cmd, how string) {
	pgid := cmd.Process.Pid
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		p.sup.addCPU(p.spec.ID, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
	}
	syscall.Kill(-pgid, syscall.SIGKILL) // what the dead leader left behind
	os.Remove(p.pidPath())
	p.mu.Lock()
	p.status.PID, p.status.LastExit = 0, how
	p.mu.Unlock()
}

// terminate stops a running process group: SIGTERM, SIGKILL after the
// grace, and waits until the leader is reaped and the group is empty.
func (p *program) terminate(cmd *exec.Cmd, waitc chan error) {
	pgid := cmd.Process.Pid
	grace := p.sup.opts.Grace
	begin := time.Now()
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	var err error
	select {
	case err = <-waitc:
		// The leader is gone; its group has the rest of the grace.
		waitGroupGone(pgid, grace-time.Since(begin))
	case <-deadline.C:
		syscall.Kill(-pgid, syscall.SIGKILL)
		err = <-waitc
	}
	if procfs.GroupAlive(pgid) {
		syscall.Kill(-pgid, syscall.SIGKILL)
		waitGroupGone(pgid, grace) // SIGKILL is delivered asynchronously
	}
	how := describeExit(err)
	p.reaped(cmd, how)
	p.note("%s stopped (%s)", p.Name, how)
}

// waitGroupGone waits up to d for a process group to have no live member.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for sleep := time.Millisecond; ; sleep = min(2*sleep, 50*time.Millisecond) {
		if !procfs.GroupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(sleep)
	}
}

// describeExit says how a process ended: "exited with status 1", "killed
// by signal terminated".
func describeExit(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by signal " + ws.Signal().String()
		}
		return fmt.Sprintf("exited with status %d", ee.ExitCode())
	}
	return err.Error()
}

// openLog opens a log file for appending, creating it owned by cred.
func openLog(path string, cred *syscall.Credential) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("supervisor: opening log: %w", err)
	}
	if cred != nil {
		f.Chown(int(cred.Uid), int(cred.Gid))
	}
	return f, nil
}

// mkdirOwned creates dir/sub and its missing parents under dir, owned by
// cred when set.
func mkdirOwned(dir, sub string, cred *syscall.Credential) error {
	cur := dir
	for _, part := range splitPath(sub) {
		cur = filepath.Join(cur, part)
		err := os.Mkdir(cur, 0o750)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("supervisor: %w", err)
		}
		if cred != nil {
			if err := os.Lchown(cur, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("supervisor: %w", err)
			}
		}
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for p != "" && p != "." && p != "/" {
		dir, file := filepath.Split(filepath.Clean(p))
		out = append([]string{file}, out...)
		p = dir
	}
	return out
}

package localgrid

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/slapgo/slapgo/nodeagent/procfs"
)

// pidRecord is what a pid file holds: the pid and the start time of the
// process (clock ticks after boot), which tells it from a later process
// that reused the pid.
type pidRecord struct {
	PID       int
	StartTime uint64
}

func writePidFile(path string, pid int) error {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return fmt.Errorf("localgrid: reading the start time of pid %d: %w", pid, err)
	}
	return writeFileAtomic(path, fmt.Appendf(nil, "%d %d\n", pid, st.StartTime), 0o644)
}

// readPidFile returns the record of path; a missing or unreadable file is
// no record.
func readPidFile(path string) (pidRecord, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return pidRecord{}, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 1 {
		return pidRecord{}, false
	}
	return pidRecord{PID: pid, StartTime: start}, true
}

// alive reports whether the recorded process still runs (not a zombie).
func (r pidRecord) alive() bool {
	st, err := procfs.ReadStat(r.PID)
	return err == nil && st.StartTime == r.StartTime && st.State != 'Z'
}

// commandLine returns the arguments of the process.
func (r pidRecord) commandLine() []string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(r.PID) + "/cmdline")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
}

// executable returns the path of the program the process runs; a program
// replaced on disk since it started ends with " (deleted)".
func (r pidRecord) executable() string {
	exe, _ := os.Readlink("/proc/" + strconv.Itoa(r.PID) + "/exe")
	return exe
}

// runningProcess returns the process recorded in pidFile if it is alive and
// its command line has the argument mark (the folder's master data
// directory or node configuration): a live process of another folder, or a
// pid reused by something else, is not ours.
func runningProcess(pidFile, mark string) (pidRecord, bool) {
	r, ok := readPidFile(pidFile)
	if !ok || !r.alive() {
		return pidRecord{}, false
	}
	if !slices.Contains(r.commandLine(), mark) {
		return pidRecord{}, false
	}
	return r, true
}

// sameBinary reports whether the process runs the file bin, as it is now
// on disk: a binary rebuilt since the process started is another binary.
func (r pidRecord) sameBinary(bin string) bool {
	exe := r.executable()
	if exe == "" {
		return true // cannot tell: keep it
	}
	if strings.HasSuffix(exe, " (deleted)") {
		return false
	}
	a, err1 := os.Stat(exe)
	b, err2 := os.Stat(bin)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// background is a process started in its own session, writing to a log.
type background struct {
	cmd    *exec.Cmd
	exited chan error // receives Wait's result once
}

// startBackground runs bin with args in dir, in a new session (it outlives
// the caller and its terminal's signals), stdin from /dev/null, stdout and
// stderr appended to logPath, and records it in pidFile.
func startBackground(bin string, args []string, dir, logPath, pidFile string) (*background, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localgrid: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	fmt.Fprintf(log, "\n=== %s: slapgo %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("localgrid: starting %s %s: %w", bin, strings.Join(args, " "), err)
	}
	b := &background{cmd: cmd, exited: make(chan error, 1)}
	go func() { b.exited <- cmd.Wait() }()
	if err := writePidFile(pidFile, cmd.Process.Pid); err != nil {
		cmd.Process.Kill()
		return nil, err
	}
	return b, nil
}

// terminate sends SIGTERM to the process and waits up to grace for it to
// end; then it kills its whole process group (SIGKILL) and waits a little
// more. It reports whether the process had to be killed and whether it is
// gone.
func terminate(r pidRecord, grace time.Duration) (killed, gone bool) {
	syscall.Kill(r.PID, syscall.SIGTERM)
	if waitGone(r, grace) {
		return false, true
	}
	syscall.Kill(-r.PID, syscall.SIGKILL) // a session leader leads its group
	syscall.Kill(r.PID, syscall.SIGKILL)
	return true, waitGone(r, 5*time.Second)
}

func waitGone(r pidRecord, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for r.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// tail returns the last n lines of a file, indented, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("\n    ")
		b.Write(l)
	}
	return b.String()
}

// writeFileAtomic writes data to path through a temporary file and a
// rename: a reader never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("localgrid: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("localgrid: %w", err)
	}
	return nil
}

// lockFolder takes an exclusive lock on the folder (held until release or
// exit), so that two commands do not start or stop one grid together.
func lockFolder(dir string) (release func(), err error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localgrid: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another slapgo demo: wait for it to finish", ErrBusy, dir)
		}
		return nil, fmt.Errorf("localgrid: locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

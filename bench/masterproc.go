package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// MasterProcess is a real master (`slapgo master serve`) started by the
// bench on loopback in a fresh data directory.
type MasterProcess struct {
	URL      string // https://127.0.0.1:PORT
	PID      int
	DataDir  string
	CertFile string // admin certificate
	KeyFile  string // admin key
	CAFile   string
	LogFile  string // the master's stderr
	// Ready is when the master (last started) printed its address.
	Ready time.Time

	bin   string
	extra []string
	cmd   *exec.Cmd
	done  chan error
	log   *os.File
}

var listeningRE = regexp.MustCompile(`listening on (https://\S+)`)

// StartMaster runs `bin master init --data DIR/master` then
// `bin master serve --data DIR/master --listen 127.0.0.1:0` and waits until
// the master prints the address it listens on. The master's stderr goes
// to DIR/master.log. Stop it with Stop.
func StartMaster(ctx context.Context, bin, dir string, extraArgs ...string) (*MasterProcess, error) {
	data := filepath.Join(dir, "master")
	init := exec.CommandContext(ctx, bin, "master", "init", "--data", data)
	if out, err := init.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("bench: %s master init --data %s: %w: %s", bin, data, err, strings.TrimSpace(string(out)))
	}
	m := &MasterProcess{
		DataDir: data, LogFile: filepath.Join(dir, "master.log"),
		CertFile: filepath.Join(data, "admin.crt"), KeyFile: filepath.Join(data, "admin.key"), CAFile: filepath.Join(data, "ca.crt"),
		bin: bin, extra: extraArgs,
	}
	if err := m.serve(ctx, "127.0.0.1:0"); err != nil {
		return nil, err
	}
	return m, nil
}

// Restart stops the master (SIGTERM, as Stop) and serves the same data
// directory again on the same address, as an operator's restart. It
// returns once the new process listens; Ready is then the moment it did.
func (m *MasterProcess) Restart(ctx context.Context) error {
	if err := m.Stop(); err != nil {
		return err
	}
	return m.serve(ctx, strings.TrimPrefix(m.URL, "https://"))
}

// serve starts `bin master serve` on listen and waits until it prints the
// address it listens on. Its stderr is appended to LogFile.
func (m *MasterProcess) serve(ctx context.Context, listen string) error {
	logf, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("bench: master log: %w", err)
	}
	// The benchmarks' software is fixtures on this machine (file:// URLs).
	args := append([]string{"master", "serve", "--data", m.DataDir, "--listen", listen, "--log-level", "warn",
		"--allow-local-software-urls"}, m.extra...)
	cmd := exec.Command(m.bin, args...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("bench: starting %s %s: %w", m.bin, strings.Join(args, " "), err)
	}
	m.PID, m.cmd, m.done, m.log = cmd.Process.Pid, cmd, make(chan error, 1), logf
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if sm := listeningRE.FindStringSubmatch(sc.Text()); sm != nil && !found {
				found = true
				urlc <- sm[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	done := m.done
	go func() { done <- cmd.Wait() }()
	select {
	case m.URL = <-urlc:
		m.Ready = time.Now()
		return nil
	case err := <-done:
		done <- err
		logf.Close()
		return fmt.Errorf("bench: master exited before listening (%v); its log: %s", err, tail(m.LogFile, 2000))
	case <-time.After(60 * time.Second):
		m.Stop()
		return fmt.Errorf("bench: master printed no \"listening on\" line within 60s; its log: %s", tail(m.LogFile, 2000))
	case <-ctx.Done():
		m.Stop()
		return ctx.Err()
	}
}

// Stop sends SIGTERM, waits up to 30 s for the master to drain and exit,
// then kills it. It returns the master's exit error, if any.
func (m *MasterProcess) Stop() error {
	defer m.log.Close()
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-m.done:
		m.done <- err
		return err
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		err := <-m.done
		m.done <- err
		return errors.New("bench: master did not exit within 30s of SIGTERM: killed")
	}
}

// Exited reports whether the master process has ended (crashed).
func (m *MasterProcess) Exited() error {
	select {
	case err := <-m.done:
		m.done <- err
		if err == nil {
			err = errors.New("exited with status 0")
		}
		return fmt.Errorf("bench: master exited during the run (%w); its log: %s", err, tail(m.LogFile, 2000))
	default:
		return nil
	}
}

// tail returns the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	if len(b) == 0 {
		return "(empty)"
	}
	return strings.TrimSpace(string(b))
}

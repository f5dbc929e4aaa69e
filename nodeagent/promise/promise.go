package promise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrFailed is wrapped by the error of Check when a promise failed.
var ErrFailed = errors.New("promise: failed")

// Options says how to run promises.
type Options struct {
	Timeout time.Duration // per promise; default 20s (SlapOS's)
	Cred    *syscall.Credential
	Env     []string // added to PATH and HOME
	// Parallel bounds how many promises run at once; default 4.
	Parallel int
}

// Result is how one promise ended.
type Result struct {
	Name     string
	Err      error  // nil when the promise holds
	Output   string // the last 1 KiB it printed (stdout and stderr)
	Duration time.Duration
}

const outputTail = 1024

// List returns the promise executables of a partition directory, sorted.
func List(dir string) ([]string, error) {
	sub := filepath.Join(dir, "etc", "promise")
	entries, err := os.ReadDir(sub)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("promise: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.Name()[0] == '.' {
			continue
		}
		p := filepath.Join(sub, e.Name())
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Run runs every promise of a partition directory and returns their
// results in name order.
func Run(ctx context.Context, dir string, opts Options) ([]Result, error) {
	paths, err := List(dir)
	if err != nil {
		return nil, err
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	results := make([]Result, len(paths))
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = runOne(ctx, dir, p, opts)
		})
	}
	wg.Wait()
	return results, nil
}

// Check runs the promises and returns an error naming each failed one
// (wrapping ErrFailed), or nil when all hold.
func Check(ctx context.Context, dir string, opts Options) error {
	results, err := Run(ctx, dir, opts)
	if err != nil {
		return err
	}
	var msgs []string
	for _, r := range results {
		if r.Err != nil {
			m := fmt.Sprintf("%s: %v", r.Name, r.Err)
			if out := strings.TrimSpace(r.Output); out != "" {
				m += ": " + out
			}
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrFailed, strings.Join(msgs, "; "))
}

// tailBuffer keeps the last outputTail bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*outputTail {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-outputTail:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > outputTail {
		b = b[len(b)-outputTail:]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}

func runOne(ctx context.Context, dir, path string, opts Options) Result {
	r := Result{Name: filepath.Base(path)}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var out tailBuffer
	cmd := exec.CommandContext(ctx, path)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}, opts.Env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: opts.Cred}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// Output pipes stay open while a grandchild holds them: do not wait
	// for it past the kill.
	cmd.WaitDelay = time.Second
	began := time.Now()
	err := cmd.Run()
	r.Duration = time.Since(began)
	r.Output = out.String()
	switch {
	case err == nil:
	case ctx.Err() == context.DeadlineExceeded:
		r.Err = fmt.Errorf("no answer within %s (killed)", opts.Timeout)
	default:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				r.Err = fmt.Errorf("killed by signal %s", ws.Signal())
			} else {
				r.Err = fmt.Errorf("exited with status %d", ee.ExitCode())
			}
		} else {
			r.Err = err
		}
	}
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // what it left behind
	}
	return r
}

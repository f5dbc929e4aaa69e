package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/slapgo/slapgo/nodeagent/config"
)

// ErrLocked is returned by Lock when another agent process holds the lock.
var ErrLocked = errors.New("agent: another node agent runs on this instance_root")

// Lock takes the agent lock of cfg's instance root
// (<instance_root>/.slapgo/agent.lock, an flock held until release or
// exit), as SlapOS's pid lock keeps two slapgrid runs from overlapping:
// the daemon holds it for its lifetime, each one-shot command for its pass.
func Lock(cfg config.Config) (release func(), err error) {
	path := filepath.Join(cfg.InstanceRoot, StateDir, "agent.lock")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		data, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder := strings.TrimSpace(string(data))
			if _, perr := strconv.Atoi(holder); perr == nil {
				return nil, fmt.Errorf("%w (pid %s holds %s)", ErrLocked, holder, path)
			}
			return nil, fmt.Errorf("%w (%s is held)", ErrLocked, path)
		}
		return nil, fmt.Errorf("agent: locking %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

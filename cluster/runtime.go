package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Runtime is what every scenario of a test binary shares: the root
// Engine and the run's image.
type Runtime struct {
	Engine *Engine
	Image  string
	// Binary is the static slapgo in the image.
	Binary string

	binDir string // a binary built by Prepare, removed by Close
}

// PrepareConfig says where the image's parts come from.
type PrepareConfig struct {
	// Binary is a statically linked slapgo; "" builds one from ModuleDir.
	Binary string
	// ModuleDir is the slapgo module; "" finds it with `go env GOMOD`.
	// Its fixtures/software go into the image.
	ModuleDir string
	// Logf receives progress lines (nil discards them).
	Logf func(format string, args ...any)
}

// Prepare connects to the Docker engine (an error wrapping ErrNoDocker
// when none answers), finds a static busybox (an error wrapping
// ErrNoBusybox when there is none), builds the
// static binary when none is given, removes what runs killed more than
// an hour ago left, and builds the run's image.
func Prepare(ctx context.Context, cfg PrepareConfig) (rt *Runtime, err error) {
	logf := cfg.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	e, err := Connect(ctx, logf)
	if err != nil {
		return nil, err
	}
	made := &Runtime{Engine: e, Binary: cfg.Binary}
	rt = made
	defer func() {
		// NB: every error return sets rt to nil first: close what was
		// made, not rt.
		if err != nil {
			made.Close(context.WithoutCancel(ctx))
			rt = nil
		}
	}()
	busybox, err := FindBusybox()
	if err != nil {
		return nil, err
	}
	moduleDir := cfg.ModuleDir
	if moduleDir == "" {
		if moduleDir, err = ModuleRoot(); err != nil {
			return nil, err
		}
	}
	if rt.Binary == "" {
		if rt.binDir, err = os.MkdirTemp("", "slapgo-cluster-bin-"); err != nil {
			return nil, err
		}
		logf("no static slapgo given: building one")
		if rt.Binary, err = BuildStaticBinary(ctx, moduleDir, rt.binDir); err != nil {
			return nil, err
		}
	}
	if n, err := e.Sweep(ctx, time.Hour); err != nil {
		logf("sweeping what earlier runs left: %v", err)
	} else if n > 0 {
		logf("removed %d resources earlier runs left behind", n)
	}
	rt.Image, err = e.BuildImage(ctx, ImageConfig{Binary: rt.Binary, Busybox: busybox,
		Software: filepath.Join(moduleDir, "fixtures", "software")})
	if err != nil {
		return nil, err
	}
	logf("run %s ready in %v (binary %s, busybox %s)", e.Run(), time.Since(start).Round(time.Millisecond), rt.Binary, busybox)
	return rt, nil
}

// Close removes the image (and what the root engine made) and a binary
// Prepare built. Close every Sub engine first.
func (rt *Runtime) Close(ctx context.Context) error {
	err := rt.Engine.Close(ctx)
	if rt.binDir != "" {
		os.RemoveAll(rt.binDir)
	}
	return err
}

// ModuleRoot is the directory of the slapgo module the current directory
// is in.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("cluster: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("cluster: not inside the slapgo module: give PrepareConfig.ModuleDir")
	}
	return filepath.Dir(gomod), nil
}

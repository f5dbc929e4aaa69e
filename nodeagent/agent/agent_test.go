package agent

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/nodeagent/config"
)

func TestWipe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "slappart3")
	outside := filepath.Join(t.TempDir(), "precious")
	os.WriteFile(outside, []byte("not the partition's"), 0o644)
	for _, d := range []string{"etc/service", "var/log", "srv/ro/deep", StateDir} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "etc", "service", "web"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "srv", "ro", "deep", "file"), []byte("x"), 0o444)
	os.Chmod(filepath.Join(dir, "srv", "ro", "deep"), 0o555) // read-only tree
	os.Chmod(filepath.Join(dir, "srv", "ro"), 0o555)
	os.Symlink(outside, filepath.Join(dir, "link-out"))
	os.Symlink(filepath.Dir(outside), filepath.Join(dir, "software_release"))
	os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o600)
	os.WriteFile(filepath.Join(dir, StateDir, "state.json"), []byte("{}"), 0o644)
	os.WriteFile(filepath.Join(dir, StateDir, instanceKeyFile), []byte("key"), 0o600)
	os.WriteFile(filepath.Join(dir, StateDir, instanceCertFile), []byte("cert"), 0o600)
	os.Chmod(dir, 0o700)

	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	if err := Wipe(dir, cred); err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, rel)
		}
		return nil
	})
	if want := []string{StateDir, filepath.Join(StateDir, "state.json")}; !slices.Equal(left, want) {
		t.Fatalf("left after wipe: %v, want %v (the record only: certificates go)", left, want)
	}
	if data, err := os.ReadFile(outside); err != nil || string(data) != "not the partition's" {
		t.Fatalf("a link was followed: %q %v", data, err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("directory after wipe: %v %v, want kept, 0750", fi.Mode(), err)
	}
	if cred != nil {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Fatalf("owner after wipe %d:%d, want 65534:65534", st.Uid, st.Gid)
		}
	}
	if err := Wipe(filepath.Join(dir, "missing"), nil); err == nil {
		t.Fatal("wiping a missing directory succeeded")
	}
}

func TestPartitionStateRecord(t *testing.T) {
	dir := t.TempDir()
	st, err := loadPartitionState(dir)
	if err != nil || !st.clean() {
		t.Fatalf("missing record: %+v %v, want clean", st, err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st = &partitionState{AppliedVersion: 7, InstanceGUID: "SOFTINST-1", LastSuccess: now, Running: true,
		Unreported: &stateReport{State: model.ReportedStarted}}
	if err := savePartitionState(dir, st); err != nil {
		t.Fatal(err)
	}
	back, err := loadPartitionState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.AppliedVersion != 7 || back.InstanceGUID != "SOFTINST-1" || !back.LastSuccess.Equal(now) || !back.Running || back.Unreported == nil {
		t.Fatalf("round trip: %+v", back)
	}
	if pa := back.actual(); pa.AppliedVersion != 7 || !pa.Running {
		t.Fatalf("actual: %+v", pa)
	}
	// A clean record is no file at all, and no .slapgo directory.
	if err := savePartitionState(dir, &partitionState{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateDir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("clean record left %s: %v", StateDir, err)
	}
	os.MkdirAll(filepath.Join(dir, StateDir), 0o755)
	os.WriteFile(statePath(dir), []byte("{broken"), 0o644)
	if _, err := loadPartitionState(dir); err == nil || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("corrupt record: %v", err)
	}
}

func TestLock(t *testing.T) {
	cfg := config.Default()
	cfg.InstanceRoot = t.TempDir()
	release, err := Lock(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(cfg)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second lock: %v", err)
	}
	release()
	again, err := Lock(cfg)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again()
}

func TestSoftwareDirName(t *testing.T) {
	// SlapOS names software directories md5(url): echo -n URL | md5sum.
	if got := SoftwareDirName("http://example.org/software.cfg"); got != "bc1395bc61d2561a166c18d50ca3964f" {
		t.Fatalf("SoftwareDirName = %q", got)
	}
}

func TestTailOf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "build.log")
	os.WriteFile(p, []byte(strings.Repeat("a", 5000)+"é"+"the end"), 0o644)
	// 8 bytes cut inside "é": the partial rune is dropped.
	if got := tailOf(p, 8); got != "the end" {
		t.Fatalf("tailOf(8) = %q", got)
	}
	if got := tailOf(p, 9); got != "éthe end" {
		t.Fatalf("tailOf(9) = %q", got)
	}
	if tailOf(filepath.Join(t.TempDir(), "none"), 10) != "" {
		t.Fatal("tail of a missing file")
	}
}

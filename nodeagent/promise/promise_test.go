package promise

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func partition(t *testing.T, promises map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "etc", "promise"), 0o755)
	for name, body := range promises {
		if err := os.WriteFile(filepath.Join(dir, "etc", "promise", name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRun(t *testing.T) {
	dir := partition(t, map[string]string{
		"ok":      `test "$HOME" = "$PWD" && echo fine`,
		"fails":   `echo "port 8080 closed" >&2; exit 2`,
		"hangs":   `echo waiting; sleep 30 & wait`,
		"killed":  `kill -9 $$`,
		"z-noisy": `i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); done; exit 1`,
	})
	os.WriteFile(filepath.Join(dir, "etc", "promise", "notes.txt"), []byte("not a promise"), 0o644)
	began := time.Now()
	results, err := Run(context.Background(), dir, Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("Run took %s: the hanging promise was not killed at its timeout", took)
	}
	want := []struct {
		name, err, output string
	}{
		{"fails", "exited with status 2", "port 8080 closed"},
		{"hangs", "no answer within 2s (killed)", "waiting"},
		{"killed", "killed by signal killed", ""},
		{"ok", "", "fine"},
		{"z-noisy", "exited with status 1", "line 299"},
	}
	if len(results) != len(want) {
		t.Fatalf("got %d results, want %d: %+v", len(results), len(want), results)
	}
	for i, w := range want {
		r := results[i]
		gotErr := ""
		if r.Err != nil {
			gotErr = r.Err.Error()
		}
		if r.Name != w.name || gotErr != w.err || !strings.Contains(r.Output, w.output) {
			t.Errorf("result %d = {%s, %q, %q}, want {%s, %q, contains %q}", i, r.Name, gotErr, r.Output, w.name, w.err, w.output)
		}
		if len(r.Output) > outputTail {
			t.Errorf("%s: output of %d bytes kept, want at most %d", r.Name, len(r.Output), outputTail)
		}
	}
	if results[1].Duration > 5*time.Second {
		t.Errorf("hanging promise took %s", results[1].Duration)
	}
}

func TestCheck(t *testing.T) {
	if err := Check(context.Background(), partition(t, map[string]string{"a": "true", "b": "exit 0"}), Options{}); err != nil {
		t.Fatalf("holding promises: %v", err)
	}
	if err := Check(context.Background(), t.TempDir(), Options{}); err != nil {
		t.Fatalf("no promise directory: %v", err)
	}
	err := Check(context.Background(), partition(t, map[string]string{"a": "true", "port": "echo refused; exit 1"}), Options{})
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "port: exited with status 1: refused") || strings.Contains(err.Error(), "a:") {
		t.Fatalf("Check = %v", err)
	}
}

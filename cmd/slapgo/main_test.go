package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// testRoot assembles a fresh command tree: the real root and version
// commands plus two commands exercising the error paths.
func testRoot() *cobra.Command {
	root := newRootCmd()
	root.AddCommand(newVersionCmd(),
		&cobra.Command{
			Use:  "fail",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				return errors.New("partition slappart3: directory mode 0777, want 0750")
			},
		},
		&cobra.Command{
			Use:  "log",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				slog.Debug("debug event", "partition", "slappart0")
				slog.Info("info event", "partition", "slappart1")
				return nil
			},
		},
		&cobra.Command{
			Use:  "needs-flag",
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, args []string) error { return nil },
		},
	)
	needsFlag, _, _ := root.Find([]string{"needs-flag"})
	needsFlag.Flags().String("computer", "", "computer id")
	if err := needsFlag.MarkFlagRequired("computer"); err != nil {
		panic(err)
	}
	return root
}

func TestExecute(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string // substrings
		wantUsage  bool     // usage printed on stderr
	}{
		{
			name:       "version",
			args:       []string{"version"},
			wantStdout: []string{"slapgo ", "\ncommit: ", "\ngo: " + runtime.Version()},
		},
		{
			name:       "--version prints what version prints",
			args:       []string{"--version"},
			wantStdout: []string{"slapgo ", "\ncommit: ", "\ngo: " + runtime.Version()},
		},
		{
			name:       "run error: message, no usage",
			args:       []string{"fail"},
			wantCode:   1,
			wantStderr: []string{"slapgo: partition slappart3: directory mode 0777, want 0750\n"},
		},
		{
			name:       "unknown command is a usage error",
			args:       []string{"nope"},
			wantCode:   1,
			wantStderr: []string{`slapgo: unknown command "nope" for "slapgo"`},
			wantUsage:  true,
		},
		{
			name:       "unknown flag is a usage error",
			args:       []string{"version", "--bogus"},
			wantCode:   1,
			wantStderr: []string{"slapgo: unknown flag: --bogus"},
			wantUsage:  true,
		},
		{
			name:       "unexpected argument is a usage error",
			args:       []string{"fail", "extra"},
			wantCode:   1,
			wantStderr: []string{`slapgo: unknown command "extra" for "slapgo fail"`},
			wantUsage:  true,
		},
		{
			name:       "missing required flag is a usage error",
			args:       []string{"needs-flag"},
			wantCode:   1,
			wantStderr: []string{`slapgo: required flag(s) "computer" not set`},
			wantUsage:  true,
		},
		{
			name:       "bad log format",
			args:       []string{"--log-format", "xml", "version"},
			wantCode:   1,
			wantStderr: []string{`slapgo: --log-format "xml": want text or json`},
			wantUsage:  true,
		},
		{
			name:       "bad log level",
			args:       []string{"--log-level", "loud", "version"},
			wantCode:   1,
			wantStderr: []string{`slapgo: --log-level "loud": want debug, info, warn or error`},
			wantUsage:  true,
		},
		{
			name:       "log level filters events",
			args:       []string{"log", "--log-level", "info"},
			wantStderr: []string{"level=INFO", "partition=slappart1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			restoreDefaultLogger(t)
			var stdout, stderr bytes.Buffer
			code := execute(context.Background(), testRoot(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			for _, want := range tt.wantStdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout = %q, want it to contain %q", stdout.String(), want)
				}
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr = %q, want it to contain %q", stderr.String(), want)
				}
			}
			if gotUsage := strings.Contains(stderr.String(), "Usage:"); gotUsage != tt.wantUsage {
				t.Errorf("usage printed = %v, want %v (stderr %q)", gotUsage, tt.wantUsage, stderr.String())
			}
			if strings.Contains(stdout.String(), "Usage:") {
				t.Errorf("usage went to stdout: %q", stdout.String())
			}
			if strings.Contains(stderr.String(), "debug event") {
				t.Errorf("debug event logged at level info: %q", stderr.String())
			}
		})
	}
}

func TestLogFormatJSON(t *testing.T) {
	restoreDefaultLogger(t)
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), testRoot(), []string{"--log-format", "json", "--log-level", "debug", "log"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code = %d, stderr %q", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("stderr has %d lines, want 2 events: %q", len(lines), stderr.String())
	}
	wantMsgs := []string{"debug event", "info event"}
	for i, line := range lines {
		var event struct {
			Level     string `json:"level"`
			Msg       string `json:"msg"`
			Partition string `json:"partition"`
		}
		if err := json.Unmarshal([]byte(line), &event); err != nil {
			t.Fatalf("line %d is not JSON: %v: %q", i, err, line)
		}
		if event.Msg != wantMsgs[i] {
			t.Errorf("line %d msg = %q, want %q", i, event.Msg, wantMsgs[i])
		}
	}
}

func TestSubcommandHooksKeepLoggingSetup(t *testing.T) {
	restoreDefaultLogger(t)
	root := testRoot()
	var hookRan bool
	root.AddCommand(&cobra.Command{
		Use:               "hooked",
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { hookRan = true; return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			slog.Info("hooked event")
			return nil
		},
	})
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), root, []string{"--log-format", "json", "hooked"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code = %d, stderr %q", code, stderr.String())
	}
	if !hookRan {
		t.Error("sub-command PersistentPreRunE did not run")
	}
	if !strings.Contains(stderr.String(), `"msg":"hooked event"`) {
		t.Errorf("stderr = %q, want the event logged as JSON by the root's set-up", stderr.String())
	}
}

func TestExecuteInterrupted(t *testing.T) {
	restoreDefaultLogger(t)
	root := testRoot()
	root.AddCommand(&cobra.Command{
		Use: "wait",
		RunE: func(cmd *cobra.Command, args []string) error {
			<-cmd.Context().Done()
			return cmd.Context().Err()
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	if code := execute(ctx, root, []string{"wait"}, &stdout, &stderr); code != 1 {
		t.Errorf("exit code = %d, want 1", code)
	}
	if got, want := stderr.String(), "slapgo: interrupted\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
}

func TestRootRegistersVersion(t *testing.T) {
	if cmd, _, err := rootCmd.Find([]string{"version"}); err != nil || cmd.Name() != "version" {
		t.Fatalf("rootCmd.Find(version) = %v, %v; want the version command registered by init", cmd, err)
	}
}

// restoreDefaultLogger puts back the process logger that execute replaces.
func restoreDefaultLogger(t *testing.T) {
	t.Helper()
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
}

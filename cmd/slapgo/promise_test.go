package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestPromiseCommand(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	open := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := strconv.Itoa(l2.Addr().(*net.TCPAddr).Port)
	l2.Close()
	defer l.Close()

	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{[]string{"promise", "port", "127.0.0.1", open, "--timeout", "2s"}, 0, "", ""},
		{[]string{"promise", "port", "127.0.0.1", closed, "--timeout", "1s"}, 1, "", "slapgo: nothing listens on 127.0.0.1:" + closed},
		{[]string{"promise", "port", "127.0.0.1"}, 1, "", "expected HOST PORT"},
		{[]string{"promise", "--help"}, 0, "port HOST PORT", ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			root := newRootCmd()
			root.AddCommand(newPromiseCmd())
			var stdout, stderr bytes.Buffer
			code := execute(t.Context(), root, tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

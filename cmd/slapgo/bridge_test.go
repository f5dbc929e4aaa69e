package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the command's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestBridgeCommand runs `slapgo bridge` from IPv6 to an IPv4-only echo
// server, then stops it as SIGTERM does: exit status 0.
func TestBridgeCommand(t *testing.T) {
	restoreDefaultLogger(t)
	echo, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	host := "[::1]"
	if l, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		host = "127.0.0.1"
	} else {
		l.Close()
	}
	free, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	listen := free.Addr().String()
	free.Close()

	root := newRootCmd()
	root.AddCommand(newBridgeCmd())
	ctx, cancel := context.WithCancel(context.Background())
	var stdout bytes.Buffer
	var stderr lockedBuffer
	code := make(chan int, 1)
	go func() {
		code <- execute(ctx, root, []string{"bridge", "--listen", listen, "--target", echo.Addr().String(), "--idle-timeout", "1m"}, &stdout, &stderr)
	}()
	var c net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err = net.Dial("tcp", listen); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("the bridge does not listen on %s: %v\n%s", listen, err, stderr.String())
	}
	c.Write([]byte("ping"))
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "ping" {
		t.Fatalf("echo through the bridge: %q, %v", got, err)
	}
	cancel()
	select {
	case n := <-code:
		if n != 0 {
			t.Fatalf("exit status %d after the stop, want 0:\n%s", n, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge did not stop")
	}
	for _, want := range []string{"bridge: forwarding", "bytes_up=4", "bridge: stopped"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

func TestBridgeCommandUsage(t *testing.T) {
	restoreDefaultLogger(t)
	root := newRootCmd()
	root.AddCommand(newBridgeCmd())
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), root, []string{"bridge", "--listen", "[::1]:8080"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `required flag(s) "target" not set`) || !strings.Contains(stderr.String(), "Usage:") {
		t.Errorf("without --target: status %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := execute(context.Background(), root, []string{"bridge", "--listen", "::1:8080", "--target", "127.0.0.1:80"}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), `--listen "::1:8080": expected ADDRESS:PORT`) {
		t.Errorf("bad --listen: status %d, stderr %q", code, stderr.String())
	}
}

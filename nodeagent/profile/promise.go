package profile

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// CheckPort succeeds when a TCP connection to host:port opens within
// timeout: the check-port-listening promise.
func CheckPort(ctx context.Context, host, port string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return fmt.Errorf("nothing listens on %s: %w", net.JoinHostPort(host, port), err)
	}
	return c.Close()
}

// CheckHTTP succeeds when a GET of url answers status within timeout: the
// check-url-available promise. Redirects are not followed.
func CheckHTTP(ctx context.Context, url string, status int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != status {
		return fmt.Errorf("GET %s answered %s, expected %d", url, resp.Status, status)
	}
	return nil
}

// PromiseUsage documents the arguments RunPromise takes: what the promise
// scripts written by Deploy pass to "slapgo promise".
const PromiseUsage = `port HOST PORT [--timeout 5s]
    succeed when a TCP connection to HOST:PORT opens
http URL [--expect-status 200] [--timeout 5s]
    succeed when a GET of URL answers the expected status`

// RunPromise runs the check named by args (see PromiseUsage): the
// implementation of "slapgo promise", kept here beside the scripts that
// call it so both sides of the command line stay in step.
func RunPromise(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("promise: expected a kind of check:\n%s", PromiseUsage)
	}
	fs := flag.NewFlagSet("promise "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	status := fs.Int("expect-status", http.StatusOK, "expected HTTP status (http only)")
	// Flags may follow the positional arguments, as the scripts write them.
	var pos []string
	rest := args[1:]
	for len(rest) > 0 {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return fmt.Errorf("usage:\n%s", PromiseUsage)
			}
			return err
		}
		rest = fs.Args()
		if len(rest) > 0 {
			pos = append(pos, rest[0])
			rest = rest[1:]
		}
	}
	if *timeout <= 0 {
		return fmt.Errorf("promise: --timeout %s: expected a positive duration", *timeout)
	}
	switch args[0] {
	case "port":
		if len(pos) != 2 {
			return fmt.Errorf("promise port: expected HOST PORT, got %d arguments", len(pos))
		}
		if n, err := strconv.Atoi(pos[1]); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("promise port: %q is not a TCP port number", pos[1])
		}
		return CheckPort(ctx, pos[0], pos[1], *timeout)
	case "http":
		if len(pos) != 1 {
			return fmt.Errorf("promise http: expected one URL, got %d arguments", len(pos))
		}
		return CheckHTTP(ctx, pos[0], *status, *timeout)
	}
	return fmt.Errorf("promise: unknown check %q, expected:\n%s", args[0], PromiseUsage)
}

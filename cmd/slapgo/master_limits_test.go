package main

import (
	"context"
	"crypto/tls"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/master/api"
)

// TestMasterServeLimitFlags: the limit, quota and local-URL flags of
// `master serve` reach the master's decisions.
func TestMasterServeLimitFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	var initOut, initErr syncBuffer
	if code := execute(context.Background(), masterRoot(), []string{"master", "init", "--data", dir}, &initOut, &initErr); code != 0 {
		t.Fatalf("init: %s", initErr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, masterRoot(), []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0",
			"--quota-instances", "1", "--max-parameters", "1"}, &out, &errb)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop after cancellation")
		}
	}()
	re := regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+)`)
	var m []string
	for deadline := time.Now().Add(10 * time.Second); m == nil; {
		if m = re.FindStringSubmatch(out.String()); m == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no listening line; stdout %q stderr %q", out.String(), errb.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	admin, err := api.NewClient(m[1], filepath.Join(dir, "admin.crt"), filepath.Join(dir, "admin.key"), filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := admin.AddPerson(ctx, api.AddPersonRequest{Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(p.Credentials.CertificatePEM), []byte(p.Credentials.KeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := api.TLSConfig("", "", filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Certificates = []tls.Certificate{cert}
	alice, err := api.NewClientTLS(m[1], cfg)
	if err != nil {
		t.Fatal(err)
	}
	const sr = "https://example.org/software.cfg"
	for _, tc := range []struct {
		name   string
		req    api.InstanceRequest
		status int
		want   string
	}{
		{"over --max-parameters", api.InstanceRequest{Title: "a", SoftwareRelease: sr, Parameters: map[string]string{"x": "1", "y": "2"}}, 400, "max-parameters=1"},
		{"local URL without --allow-local-software-urls", api.InstanceRequest{Title: "a", SoftwareRelease: "file:///srv/sr.cfg"}, 400, "--allow-local-software-urls"},
		{"within the quota", api.InstanceRequest{Title: "a", SoftwareRelease: sr}, 0, ""},
		{"over --quota-instances", api.InstanceRequest{Title: "b", SoftwareRelease: sr}, 403, "1 used of 1 (quota max-instances)"},
	} {
		_, err := alice.Request(ctx, tc.req)
		var ae *api.Error
		switch {
		case tc.status == 0 && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.status != 0 && (!errors.As(err, &ae) || ae.Status != tc.status || !strings.Contains(ae.Message, tc.want)):
			t.Errorf("%s: %v, want %d with %q", tc.name, err, tc.status, tc.want)
		}
	}
}

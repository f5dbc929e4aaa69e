package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

const waitURL = "https://example.org/hello/software.cfg"

// waitGrid is a master with a person and one computer of two partitions,
// the software supplied; the test plays the computer's node through the
// API with the computer's own certificate.
type waitGrid struct {
	person []string
	node   *api.Client
}

func newWaitGrid(t *testing.T) waitGrid {
	t.Helper()
	admin := startMaster(t)
	person := personFlags(t, admin, "PERSON-W")
	creds := t.TempDir()
	for _, args := range [][]string{
		{"computer", "add", "COMP-W", "--out", creds},
		{"supply", waitURL, "--computer", "COMP-W"},
	} {
		if code, stderr := runClient(t, person, nil, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	node, err := api.NewClient(admin[1], filepath.Join(creds, "COMP-W.crt"), filepath.Join(creds, "COMP-W.key"), admin[7])
	if err != nil {
		t.Fatal(err)
	}
	err = node.SetCapacity(context.Background(), "COMP-W", api.CapacityRequest{Partitions: []api.PartitionCapacity{
		{ID: "slappart0", Addresses: []model.Address{{Iface: "lo", Addr: "127.0.0.2"}}},
		{ID: "slappart1", Addresses: []model.Address{{Iface: "lo", Addr: "127.0.0.3"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return waitGrid{person: person, node: node}
}

// request runs `slapgo request` (table output) and returns the exit
// status, stdout and stderr.
func (g waitGrid) request(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), clientRoot(), append(append([]string{"request"}, args...), g.person...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func wantOutcome(t *testing.T, what string, code int, stderr string, wantCode int, wantStderr ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d; stderr:\n%s", what, code, wantCode, stderr)
	}
	for _, w := range wantStderr {
		if !strings.Contains(stderr, w) {
			t.Errorf("%s: stderr lacks %q:\n%s", what, w, stderr)
		}
	}
}

// TestRequestWaitOutcomes: each outcome of --wait has its exit status and
// says why on stderr.
func TestRequestWaitOutcomes(t *testing.T) {
	g := newWaitGrid(t)
	ctx := context.Background()
	fast := []string{"--wait", "--timeout", "600ms", "--interval", "50ms"}

	code, _, stderr := g.request(append([]string{"far", waitURL, "--sla", "region=mars"}, fast...)...)
	wantOutcome(t, "pending", code, stderr, exitStillPending, "pending: ", "region", "still pending after 600ms")

	code, _, stderr = g.request(append([]string{"silent", waitURL}, fast...)...)
	wantOutcome(t, "timeout", code, stderr, exitTimeout, "waiting: placed on COMP-W/slappart0, not reported yet", "not ready after 600ms")

	// The node reports an error on the partition "silent" holds.
	if err := g.node.ReportPartition(ctx, "COMP-W", "slappart0", api.PartitionStateRequest{State: model.ReportedError,
		Error: "buildout: section [hello] missing\n  while installing"}); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := g.request(append([]string{"silent", waitURL}, fast...)...)
	wantOutcome(t, "error", code, stderr, exitInstanceError, "is in error: buildout: section [hello] missing")
	if !strings.Contains(stdout, "Error:") || !strings.Contains(stdout, "node reported error: buildout: section [hello] missing") {
		t.Errorf("the description of an instance in error shows no error or event:\n%s", stdout)
	}

	code, _, stderr = g.request("x", waitURL, "--wait", "--timeout", "0s")
	wantOutcome(t, "zero timeout", code, stderr, 1, "must be positive")
}

// TestRequestWaitUntilReady: --wait follows the instance while its node
// starts it and publishes its connection parameters, then exits 0.
func TestRequestWaitUntilReady(t *testing.T) {
	g := newWaitGrid(t)
	ctx := context.Background()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := g.request("hello", waitURL, "--param", "name=Alice", "--wait", "--timeout", "30s", "--interval", "50ms")
		done <- result{code, stdout, stderr}
	}()
	// Play the node: once the instance is placed, start it, then publish.
	var inst api.Instance
	for deadline := time.Now().Add(20 * time.Second); inst.PartitionID == ""; time.Sleep(20 * time.Millisecond) {
		view, _, _, err := g.node.ComputerView(ctx, "COMP-W", "")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range view.Partitions {
			if p.InstanceGUID != "" {
				inst.GUID, inst.PartitionID = p.InstanceGUID, p.ID
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the instance was not placed")
		}
	}
	if err := g.node.ReportPartition(ctx, "COMP-W", inst.PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}); err != nil {
		t.Fatal(err)
	}
	if err := g.node.SetConnection(ctx, "COMP-W", inst.PartitionID, api.ConnectionRequest{Parameters: map[string]string{"url": "http://127.0.0.2:8080/"}}); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("request --wait did not return")
	}
	wantOutcome(t, "ready", r.code, r.stderr, 0, "waiting: placed on COMP-W/"+inst.PartitionID, "ready: started on COMP-W/"+inst.PartitionID+", 1 connection parameters published")
	for _, w := range []string{"GUID:", inst.GUID, "Software:", waitURL, "Parameters:\n  name = Alice", "Connection:\n  url = http://127.0.0.2:8080/", "Events:", "node reported started"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("description lacks %q:\n%s", w, r.stdout)
		}
	}
}

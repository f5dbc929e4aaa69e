package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// startMaster initialises a master data directory and serves it on
// loopback until the test ends; it returns the client flags of the admin.
func startMaster(t *testing.T) []string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	var initOut, initErr bytes.Buffer
	if code := execute(context.Background(), masterRoot(), []string{"master", "init", "--data", dir}, &initOut, &initErr); code != 0 {
		t.Fatalf("init: %s", initErr.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- execute(ctx, masterRoot(), []string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0"}, &out, &errb)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop after cancellation")
		}
	})
	re := regexp.MustCompile(`listening on (https://127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return []string{"--master", m[1], "--cert", filepath.Join(dir, "admin.crt"), "--key", filepath.Join(dir, "admin.key"),
				"--ca", filepath.Join(dir, "ca.crt"), "--client-config", filepath.Join(dir, "no-client.yaml")}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no listening line; stdout %q stderr %q", out.String(), errb.String())
		}
	}
}

func clientRoot() *cobra.Command {
	root := newRootCmd()
	root.AddCommand(newClientCommands()...)
	return root
}

// runClient runs a client command with the admin's flags and decodes its
// --json output into out (when not nil); it returns the exit code and stderr.
func runClient(t *testing.T, admin []string, out any, args ...string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), clientRoot(), append(append(args, "--json"), admin...), &stdout, &stderr)
	if code == 0 && out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			t.Fatalf("%s: output is not JSON: %v\n%s", strings.Join(args, " "), err, stdout.String())
		}
	}
	return code, stderr.String()
}

// TestComputerSetAndInstanceRename changes a computer's settings and renames
// an instance through the commands, and reads the changes back from the
// master.
func TestComputerSetAndInstanceRename(t *testing.T) {
	admin := startMaster(t)
	creds := t.TempDir()
	if code, stderr := runClient(t, admin, nil, "person", "add", "PERSON-A", "--out", creds); code != 0 {
		t.Fatalf("person add: exit %d: %s", code, stderr)
	}
	// The person's flags: the admin's with the person's certificate and key.
	person := slices.Clone(admin)
	person[3], person[5] = filepath.Join(creds, "PERSON-A.crt"), filepath.Join(creds, "PERSON-A.key")
	mustRun := func(out any, args ...string) {
		t.Helper()
		if code, stderr := runClient(t, person, out, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	mustRun(nil, "computer", "add", "COMP-T", "--region", "eu", "--out", t.TempDir())

	var set model.Computer
	mustRun(&set, "computer", "set", "COMP-T", "--region", "jp", "--scope", "closed", "--attr", "disk=ssd")
	var shown api.ComputerDetails
	mustRun(&shown, "computer", "show", "COMP-T")
	for _, c := range []model.Computer{set, shown.Computer} {
		if c.Region != "jp" || c.Scope != model.ScopeClosed || c.Attributes["disk"] != "ssd" {
			t.Errorf("after set: region %q scope %q attributes %v; want jp, closed, disk=ssd", c.Region, c.Scope, c.Attributes)
		}
	}
	mustRun(&set, "computer", "set", "COMP-T", "--network", "lan-1")
	if c := set; c.Network != "lan-1" || c.Region != "jp" || c.Scope != model.ScopeClosed {
		t.Errorf("after setting the network alone: network %q region %q scope %q; want lan-1, jp, closed", c.Network, c.Region, c.Scope)
	}
	if code, stderr := runClient(t, person, nil, "computer", "set", "COMP-T"); code != 1 || !strings.Contains(stderr, "nothing to change") {
		t.Errorf("set without a flag: exit %d, stderr %q; want 1 and \"nothing to change\"", code, stderr)
	}

	var inst api.Instance
	mustRun(&inst, "request", "solo", "https://example.org/software.cfg")
	var renamed, again api.Instance
	mustRun(&renamed, "instance", "rename", inst.GUID, "solo-2")
	mustRun(&again, "instance", "show", inst.GUID)
	if renamed.Title != "solo-2" || again.Title != "solo-2" {
		t.Errorf("after rename: titles %q (answer) and %q (shown), want solo-2", renamed.Title, again.Title)
	}
}

// personFlags adds a person through the admin and returns the client flags
// of that person.
func personFlags(t *testing.T, admin []string, id string) []string {
	t.Helper()
	creds := t.TempDir()
	if code, stderr := runClient(t, admin, nil, "person", "add", id, "--out", creds); code != 0 {
		t.Fatalf("person add: exit %d: %s", code, stderr)
	}
	person := slices.Clone(admin)
	person[3], person[5] = filepath.Join(creds, id+".crt"), filepath.Join(creds, id+".key")
	return person
}

// TestInstanceStateVerbsKeepParameters stops, starts and destroys an
// instance named by title or GUID: only its state changes. A request, which
// sends the whole desired instance, replaces the parameters.
func TestInstanceStateVerbsKeepParameters(t *testing.T) {
	admin := startMaster(t)
	person := personFlags(t, admin, "PERSON-A")
	mustRun := func(out any, args ...string) {
		t.Helper()
		if code, stderr := runClient(t, person, out, args...); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
	}
	const url = "https://example.org/hello/software.cfg"
	var inst api.Instance
	mustRun(&inst, "request", "hello", url, "--param", "name=Alice", "--sla", "region=mars", "--type", "web")
	keeps := func(what string, i api.Instance, state model.RequestedState) {
		t.Helper()
		if i.GUID != inst.GUID || i.RequestedState != state || i.Parameters["name"] != "Alice" || i.SLA["region"] != "mars" || i.SoftwareType != "web" {
			t.Errorf("after %s: %s state %s parameters %v SLA %v type %q; want %s, %s, name=Alice, region=mars, web",
				what, i.GUID, i.RequestedState, i.Parameters, i.SLA, i.SoftwareType, inst.GUID, state)
		}
	}
	var got api.Instance
	mustRun(&got, "instance", "stop", "hello")
	keeps("stop hello", got, model.StateStopped)
	mustRun(&got, "instance", "start", inst.GUID)
	keeps("start GUID", got, model.StateStarted)
	mustRun(&got, "instance", "show", "hello")
	keeps("show hello", got, model.StateStarted)

	// Table output names the instance and its state.
	var stdout, stderr bytes.Buffer
	if code := execute(context.Background(), clientRoot(), append([]string{"instance", "stop", "hello"}, person...), &stdout, &stderr); code != 0 ||
		stdout.String() != inst.GUID+" (hello): requested stopped\n" {
		t.Errorf("instance stop (table): exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}

	// request sends the whole instance: no --param means no parameters.
	var again api.Instance
	mustRun(&again, "request", "hello", url, "--sla", "region=mars", "--type", "web")
	if again.GUID != inst.GUID || len(again.Parameters) != 0 {
		t.Errorf("request without --param: %s kept the parameters %v: it sends the whole desired instance", again.GUID, again.Parameters)
	}

	if code, stderr := runClient(t, person, nil, "instance", "stop", "nope"); code != 1 || !strings.Contains(stderr, `no instance titled "nope"`) {
		t.Errorf("stop of an unknown title: exit %d, stderr %q", code, stderr)
	}
	other := personFlags(t, admin, "PERSON-B")
	if code, stderr := runClient(t, other, nil, "instance", "destroy", inst.GUID); code != 1 || !strings.Contains(stderr, "does not exist") {
		t.Errorf("destroy of another person's instance: exit %d, stderr %q", code, stderr)
	}
	mustRun(&got, "instance", "destroy", "hello")
	if got.Status != api.StatusDestroyed {
		t.Errorf("after destroy: status %s, want destroyed", got.Status)
	}
	if code, stderr := runClient(t, person, nil, "instance", "start", inst.GUID); code != 1 || !strings.Contains(stderr, "is destroyed") {
		t.Errorf("start of a destroyed instance: exit %d, stderr %q", code, stderr)
	}
}

// TestErrorTexts: a refusal reads as the master's sentence once, without
// package prefixes or doubled words; a refused connection says what to
// start.
func TestErrorTexts(t *testing.T) {
	admin := startMaster(t)
	person := personFlags(t, admin, "PERSON-E")
	code, stderr := runClient(t, person, nil, "person", "list")
	want := "slapgo: person:PERSON-E may not list persons: admin only (the master answered 403 forbidden)\n"
	if code != 1 || stderr != want {
		t.Errorf("refusal: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	code, stderr = runClient(t, person, nil, "instance", "show", "SOFTINST-404")
	want = "slapgo: instance SOFTINST-404 does not exist (the master answered 404 not_found)\n"
	if code != 1 || stderr != want {
		t.Errorf("not found: exit %d, stderr %q; want 1 and %q", code, stderr, want)
	}
	code, stderr = runClient(t, person, nil, "request", "x", "https://example.org/s.cfg", "--sla", "computer_guid=COMP-1", "--shared", "--state", "started", "--type", "")
	if code != 0 {
		t.Errorf("request: exit %d: %s", code, stderr)
	}
	for _, bad := range []string{"master:", "model:", "api:", "server:", "forbidden: forbidden", "invalid input: invalid"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr %q contains %q", stderr, bad)
		}
	}

	// A master that is not there: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	gone := slices.Clone(person)
	gone[1] = "https://" + addr
	code, stderr = runClient(t, gone, nil, "instance", "list")
	if code != 1 || !strings.HasPrefix(stderr, "slapgo: cannot reach the master at https://"+addr+": dial tcp "+addr+": connect: connection refused\n") ||
		!strings.HasSuffix(stderr, "slapgo: is the master running? (make run / slapgo master serve)\n") {
		t.Errorf("refused connection: exit %d, stderr %q", code, stderr)
	}
}

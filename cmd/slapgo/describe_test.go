package main

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// run runs a client command with flags and returns exit, stdout, stderr.
func run(flags []string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := execute(context.Background(), clientRoot(), append(args, flags...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func mustOut(t *testing.T, flags []string, args ...string) string {
	t.Helper()
	code, stdout, stderr := run(flags, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d: %s", strings.Join(args, " "), code, stderr)
	}
	return stdout
}

func wantLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: no line matches %q:\n%s", what, p, out)
		}
	}
}

func refuseLines(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: a line matches %q:\n%s", what, p, out)
		}
	}
}

// TestListsAndDescriptions: the list filters and formats, and the errors
// shown where people look.
func TestListsAndDescriptions(t *testing.T) {
	g := newWaitGrid(t)
	ctx := context.Background()
	p := g.person
	var a, b, far api.Instance
	for _, r := range []struct {
		out  *api.Instance
		args []string
	}{
		{&a, []string{"request", "a", waitURL, "--param", "name=A"}},
		{&b, []string{"request", "b", "https://example.org/other/software.cfg"}},
		{&far, []string{"request", "far", waitURL, "--sla", "region=mars"}},
	} {
		if code, stderr := runClient(t, p, r.out, r.args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", r.args, code, stderr)
		}
	}
	// b's software is not supplied on COMP-W: pending too.
	list := mustOut(t, p, "instance", "list", "--state", "pending")
	wantLines(t, "--state pending", list, `(?m)^`+b.GUID+`\s+b\s`, `(?m)^`+far.GUID+`\s+far\s`)
	refuseLines(t, "--state pending", list, `(?m)^`+a.GUID+`\s`)
	list = mustOut(t, p, "instance", "list", "--computer", "COMP-W")
	wantLines(t, "--computer", list, `(?m)^`+a.GUID+`\s+a\s+started\s+allocated\s+COMP-W/slappart0`)
	refuseLines(t, "--computer", list, `(?m)^`+b.GUID+`\s`)
	list = mustOut(t, p, "instance", "list", "--software", "other", "-o", "wide")
	wantLines(t, "--software -o wide", list, `(?m)^GUID\s+TITLE.*SOFTWARE\s+TYPE\s+TREE\s+CREATED$`,
		`(?m)^`+b.GUID+`\s.*https://example.org/other/software.cfg\s+default\s+b\s+\d{4}-`)
	refuseLines(t, "--software", list, `(?m)^`+a.GUID+`\s`)
	if code, _, stderr := run(p, "instance", "list", "--state", "sleeping"); code != 1 || !strings.Contains(stderr, `--state "sleeping": expected`) {
		t.Errorf("--state sleeping: exit %d, stderr %q", code, stderr)
	}

	// Destroyed instances vanish from the list, not from --all.
	mustOut(t, p, "instance", "destroy", "far")
	refuseLines(t, "list after destroy", mustOut(t, p, "instance", "list"), `(?m)^`+far.GUID+`\s`)
	wantLines(t, "list --all", mustOut(t, p, "instance", "list", "--all"), `(?m)^`+far.GUID+`\s+far\s+destroyed\s+destroyed`)
	wantLines(t, "--state destroyed", mustOut(t, p, "instance", "list", "--state", "destroyed"), `(?m)^`+far.GUID+`\s`)

	// -o yaml and -o json carry the same fields.
	yml := mustOut(t, p, "instance", "show", "a", "-o", "yaml")
	wantLines(t, "show -o yaml", yml, `(?m)^guid: `+a.GUID+`$`, `(?m)^parameters:\n  name: A$`, `(?m)^version: \d+$`)
	if code, _, stderr := run(p, "instance", "list", "-o", "xml"); code != 1 || !strings.Contains(stderr, `-o "xml": expected table, wide, json or yaml`) {
		t.Errorf("-o xml: exit %d, stderr %q", code, stderr)
	}

	// a runs a while (its hosting is invoiced), then fails.
	if err := g.node.ReportPartition(ctx, "COMP-W", "slappart0", api.PartitionStateRequest{State: model.ReportedStarted}); err != nil {
		t.Fatal(err)
	}
	wantLines(t, "computer list -o wide", mustOut(t, p, "computer", "list", "-o", "wide"),
		`(?m)^ID\s+REGION\s+SCOPE\s+PRICE/H\s+LAST CONTACT\s+TITLE\s+OWNER\s+NETWORK\s+HARDWARE$`, `(?m)^COMP-W\s+open\s+0 EUR\s+\S+\s+COMP-W\s+PERSON-W\s*$`)
	wantLines(t, "request -o yaml", mustOut(t, p, "request", "a", waitURL, "--param", "name=A", "-o", "yaml"),
		`(?m)^guid: `+a.GUID+`$`, `(?m)^status: allocated$`)

	// Invoices name their currency (the hosting of a, running, counts).
	wantLines(t, "invoice list", mustOut(t, p, "invoice", "list"), `(?m)^PERSON\s+RESOURCE\s+QUANTITY\s+AMOUNT\s+CURRENCY$`,
		`(?m)^PERSON-W\s+hosting\s+\S+ hour\s+\S+\s+EUR$`, `(?m)^PERSON-W\s+TOTAL\s+\S+\s+EUR$`)

	// Errors where people look: the software's and the partition's.
	if err := g.node.ReportSoftware(ctx, "COMP-W", api.SoftwareStateRequest{URL: waitURL, State: model.SoftwareError,
		Error: "download failed: 404\nfull log in /srv/slapgo/log"}); err != nil {
		t.Fatal(err)
	}
	if err := g.node.ReportPartition(ctx, "COMP-W", "slappart0", api.PartitionStateRequest{State: model.ReportedError,
		Error: "promise port 8080 failed\nmore"}); err != nil {
		t.Fatal(err)
	}
	show := mustOut(t, p, "computer", "show", "COMP-W")
	wantLines(t, "computer show", show, `(?m)^ID:\s+COMP-W$`, `(?m)^Owner:\s+PERSON-W$`, `(?m)^Scope:\s+open$`,
		`(?m)^SOFTWARE\s+REQUESTED\s+REPORTED\s+ERROR$`, `(?m)^`+regexp.QuoteMeta(waitURL)+`\s+available\s+error\s+download failed: 404$`,
		`(?m)^slappart0\s+busy\s+`+a.GUID+`\s+error\s+127.0.0.2\s+promise port 8080 failed$`, `(?m)^slappart1\s+free\s+-\s+-\s+127.0.0.3\s+-$`)
	// Empty fields are left out: no region, network, attributes or hardware were given.
	refuseLines(t, "computer show", show, `(?m)^(Region|Network|Attributes|Hardware|Title):`, "full log")
	desc := mustOut(t, p, "instance", "show", a.GUID)
	wantLines(t, "instance show", desc, `(?m)^Error:\s+promise port 8080 failed$`, `(?m)^Readiness:\s+error: promise port 8080 failed$`,
		`(?m)^Software:\s+`+regexp.QuoteMeta(waitURL)+`$`, `(?m)^Parameters:\n  name = A$`, `(?m)^SLA: none$`, `(?m)^Connection: none$`,
		`(?m)^  \d+s\s+reported\s+node reported error: promise port 8080 failed$`)
	if code, _, stderr := run(p, "instance", "show", "nope"); code != 1 || !strings.Contains(stderr, `no instance titled "nope": give the GUID`) {
		t.Errorf("instance show nope: exit %d, stderr %q", code, stderr)
	}

}

// TestPersonList: the admin lists persons; a person may not.
func TestPersonList(t *testing.T) {
	admin := startMaster(t)
	person := personFlags(t, admin, "PERSON-L")
	wantLines(t, "person list", mustOut(t, admin, "person", "list"), `(?m)^ID\s+NAME\s+EMAIL$`, `(?m)^PERSON-L\s`)
	var ps []model.Person
	if code, stderr := runClient(t, admin, &ps, "person", "list"); code != 0 || len(ps) != 1 || ps[0].ID != "PERSON-L" {
		t.Errorf("person list --json: exit %d %s, %+v", code, stderr, ps)
	}
	if code, _, stderr := run(person, "person", "list"); code != 1 || !strings.Contains(stderr, "may not list persons: admin only") {
		t.Errorf("person list by a person: exit %d, stderr %q", code, stderr)
	}
}

// TestInstanceShowEvents: `instance show` lists what happened to an
// instance, oldest first, from the history the master keeps: a stopped
// then started instance shows both changes and its node's reports, in
// order; -o json carries them.
func TestInstanceShowEvents(t *testing.T) {
	g := newWaitGrid(t)
	ctx := context.Background()
	p := g.person
	var a api.Instance
	if code, stderr := runClient(t, p, &a, "request", "a", waitURL); code != 0 {
		t.Fatalf("request: exit %d: %s", code, stderr)
	}
	report := func(st model.ReportedState) {
		t.Helper()
		if err := g.node.ReportPartition(ctx, "COMP-W", a.PartitionID, api.PartitionStateRequest{State: st}); err != nil {
			t.Fatal(err)
		}
	}
	report(model.ReportedStarted)
	mustOut(t, p, "instance", "stop", "a")
	report(model.ReportedStopped)
	mustOut(t, p, "instance", "start", a.GUID)
	report(model.ReportedStarted)

	show := mustOut(t, p, "instance", "show", "a")
	wantLines(t, "instance show", show, `(?m)^Events:\n  AGE\s+KIND\s+MESSAGE\n`+
		`  \d+s\s+requested\s+requested started \(type default\)\n`+
		`  \d+s\s+placed\s+placed on COMP-W/slappart0\n`+
		`  \d+s\s+reported\s+node reported started\n`+
		`  \d+s\s+state\s+stopped requested\n`+
		`  \d+s\s+reported\s+node reported stopped\n`+
		`  \d+s\s+state\s+started requested\n`+
		`  \d+s\s+reported\s+node reported started\n\z`)

	var described struct {
		GUID   string      `json:"guid"`
		Events []api.Event `json:"events"`
	}
	if err := json.Unmarshal([]byte(mustOut(t, p, "instance", "show", "a", "-o", "json")), &described); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range described.Events {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"requested", "placed", "reported", "state", "reported", "state", "reported"}; described.GUID != a.GUID || !slices.Equal(kinds, want) {
		t.Errorf("show -o json: guid %s, event kinds %v, want %v", described.GUID, kinds, want)
	}
	wantLines(t, "show -o yaml", mustOut(t, p, "instance", "show", "a", "-o", "yaml"),
		`(?m)^events:\n  - at: `, `(?m)^    kind: requested$`, `(?m)^    message: started requested$`)
}

// TestAge: how long ago an event happened, in the units a reader expects.
func TestAge(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {45 * time.Second, "45s"}, {119 * time.Second, "119s"},
		{2 * time.Minute, "2m"}, {119 * time.Minute, "119m"}, {2 * time.Hour, "2h"}, {47 * time.Hour, "47h"}, {72 * time.Hour, "3d"},
	} {
		if got := age(tc.d); got != tc.want {
			t.Errorf("age(%s) = %s, want %s", tc.d, got, tc.want)
		}
	}
}

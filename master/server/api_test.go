package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// TestPersonComputerInstanceFlow walks the life of a deployment through
// the API: person, computer, supply, request, poll, report, publish,
// child request by an instance, shared instance, bang, usage, invoice,
// destruction.
func TestPersonComputerInstanceFlow(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	alice, alicePerson := m.person("Alice")
	who, err := alice.WhoAmI(ctx)
	noErr(t, err)
	if who.Identity != (model.Actor{Kind: model.KindPerson, ID: alicePerson.ID}) {
		t.Fatalf("whoami = %v, want person %s", who.Identity, alicePerson.ID)
	}
	comp := m.computer(alice, "COMP-1", 3, "eu")

	// A request placed at once answers 200 with its partition.
	status, body, _ := call(t, alice, "POST", api.Prefix+"/instances",
		api.InstanceRequest{Title: "db", SoftwareRelease: softURL, Parameters: map[string]string{"size": "10"}})
	if status != http.StatusOK {
		t.Fatalf("request: %d %s, want 200", status, body)
	}
	var db api.Instance
	noErr(t, json.Unmarshal(body, &db))
	if db.Status != api.StatusAllocated || db.ComputerID != "COMP-1" || db.PartitionID != "slappart0" || len(db.Addresses) != 2 {
		t.Fatalf("instance = %+v, want allocated on COMP-1/slappart0 with its addresses", db)
	}
	// The same request again is idempotent.
	again, err := alice.Request(ctx, api.InstanceRequest{Title: "db", SoftwareRelease: softURL, Parameters: map[string]string{"size": "10"}})
	noErr(t, err)
	if again.GUID != db.GUID || again.Version != db.Version {
		t.Errorf("repeated request: %s v%d, want %s v%d unchanged", again.GUID, again.Version, db.GUID, db.Version)
	}

	// The node polls its view, then polls again with the ETag: 304.
	view, etag, notModified, err := comp.ComputerView(ctx, "COMP-1", "")
	noErr(t, err)
	if notModified || etag == "" || len(view.Partitions) != 3 || len(view.Software) != 1 {
		t.Fatalf("view: notModified=%v etag=%q %d partitions %d software", notModified, etag, len(view.Partitions), len(view.Software))
	}
	p0 := view.Partitions[0]
	if p0.InstanceGUID != db.GUID || p0.RequestedState != model.StateStarted || p0.Parameters["size"] != "10" || p0.Title != "db" {
		t.Errorf("partition view = %+v, want db started with size=10", p0)
	}
	if view.Partitions[1].RequestedState != model.StateDestroyed || !view.Partitions[1].Free() {
		t.Errorf("free partition view = %+v, want destroyed and free", view.Partitions[1])
	}
	_, etag2, notModified, err := comp.ComputerView(ctx, "COMP-1", etag)
	noErr(t, err)
	if !notModified || etag2 != etag {
		t.Errorf("conditional poll: notModified=%v etag %q, want 304 with %q", notModified, etag2, etag)
	}

	// The node reports and publishes; the requester sees it.
	noErr(t, comp.ReportPartition(ctx, "COMP-1", "slappart0", api.PartitionStateRequest{State: model.ReportedStarted}))
	noErr(t, comp.SetConnection(ctx, "COMP-1", "slappart0", api.ConnectionRequest{Parameters: map[string]string{"url": "https://[fd00::2]:5432"}}))
	got, err := alice.Instance(ctx, db.GUID)
	noErr(t, err)
	if got.Connection["url"] != "https://[fd00::2]:5432" || got.ReportedState != model.ReportedStarted {
		t.Errorf("instance after report = %+v", got)
	}
	// Publishing does not change the view (SlapOS: no timestamp bump).
	if _, _, nm, err := comp.ComputerView(ctx, "COMP-1", etag); err != nil || !nm {
		t.Errorf("view after publishing: notModified=%v err=%v, want 304", nm, err)
	}

	// The node fetches the instance's certificate; the instance requests a
	// child in its own tree.
	creds, err := comp.PartitionCertificate(ctx, "COMP-1", "slappart0")
	noErr(t, err)
	if creds.Identity != (model.Actor{Kind: model.KindInstance, ID: db.GUID}) {
		t.Fatalf("partition certificate identity = %v, want instance %s", creds.Identity, db.GUID)
	}
	inst := m.client(creds)
	child, err := inst.Request(ctx, api.InstanceRequest{Title: "replica", SoftwareRelease: softURL})
	noErr(t, err)
	if child.RootTitle != "db" || child.Owner != alicePerson.ID || child.Status != api.StatusAllocated {
		t.Errorf("child = %+v, want allocated in tree db of %s", child, alicePerson.ID)
	}
	tree, err := inst.Instances(ctx)
	noErr(t, err)
	if len(tree) != 2 {
		t.Errorf("the instance sees %d instances, want its tree of 2", len(tree))
	}

	// A shared instance is hosted by db; the host publishes for it.
	shared, err := alice.Request(ctx, api.InstanceRequest{Title: "db-user", SoftwareRelease: softURL, Shared: true,
		SLA: map[string]string{"instance_guid": db.GUID}})
	noErr(t, err)
	if shared.HostGUID != db.GUID || shared.Status != api.StatusAllocated {
		t.Fatalf("shared = %+v, want hosted by %s", shared, db.GUID)
	}
	view, etag3, _, err := comp.ComputerView(ctx, "COMP-1", etag)
	noErr(t, err)
	if etag3 == etag || len(view.Partitions[0].SharedInstances) != 1 || view.Partitions[0].SharedInstances[0].GUID != shared.GUID {
		t.Fatalf("view after shared request: etag %q (was %q), shared %+v", etag3, etag, view.Partitions[0].SharedInstances)
	}
	noErr(t, comp.SetConnection(ctx, "COMP-1", "slappart0", api.ConnectionRequest{SharedGUID: shared.GUID,
		Parameters: map[string]string{"user": "u1"}}))
	if got, _ := alice.Instance(ctx, shared.GUID); got.Connection["user"] != "u1" {
		t.Errorf("shared instance connection = %v, want user=u1", got.Connection)
	}

	// Bang bumps the tree: the view changes.
	banged, err := inst.Bang(ctx, db.GUID, "service died")
	noErr(t, err)
	if banged.Version <= db.Version {
		t.Errorf("bang: version %d, want > %d", banged.Version, db.Version)
	}
	if _, _, nm, _ := comp.ComputerView(ctx, "COMP-1", etag3); nm {
		t.Error("view unchanged after a bang")
	}

	// Usage journal, priced into an invoice; the same journal again is a duplicate.
	start := m.clock.Now().Add(-2 * time.Hour).Truncate(time.Second)
	j := account.BuildJournal("COMP-1", start, start.Add(time.Hour), map[string][]account.JournalMovement{
		"slappart0": {{Resource: "cpu_time", Quantity: 3600, Price: 0}},
	}, "EUR")
	xmlBody, err := account.EncodeJournal(j)
	noErr(t, err)
	ur, err := comp.PostUsage(ctx, "COMP-1", xmlBody)
	noErr(t, err)
	if ur.Movements != 1 || ur.Duplicate {
		t.Errorf("usage = %+v, want 1 movement", ur)
	}
	ur, err = comp.PostUsage(ctx, "COMP-1", xmlBody)
	noErr(t, err)
	if ur.Movements != 0 || !ur.Duplicate {
		t.Errorf("usage again = %+v, want a duplicate", ur)
	}
	invs, err := alice.Invoices(ctx, start.Add(-time.Hour), m.clock.Now().Add(time.Hour), "")
	noErr(t, err)
	if len(invs) != 1 || invs[0].Person != alicePerson.ID || invs[0].Movements == 0 {
		t.Errorf("invoices = %+v, want one for %s", invs, alicePerson.ID)
	}

	// Rename, then destroy a lone instance down to a free partition.
	solo, err := alice.Request(ctx, api.InstanceRequest{Title: "solo", SoftwareRelease: softURL})
	noErr(t, err)
	renamed, err := alice.Rename(ctx, solo.GUID, "solo-2")
	noErr(t, err)
	if renamed.Title != "solo-2" {
		t.Errorf("rename: title %q", renamed.Title)
	}
	gone, err := alice.Request(ctx, api.InstanceRequest{Title: "solo-2", SoftwareRelease: softURL, State: model.StateDestroyed})
	noErr(t, err)
	if gone.Status != api.StatusDestroyed {
		t.Errorf("destroy request: status %q", gone.Status)
	}
	noErr(t, comp.PartitionDestroyed(ctx, "COMP-1", solo.PartitionID))
	det, err := alice.ComputerDetails(ctx, "COMP-1")
	noErr(t, err)
	for _, p := range det.Partitions {
		if p.ID == solo.PartitionID && p.Status != model.PartitionFree {
			t.Errorf("partition %s after destruction: %s, want free", p.ID, p.Status)
		}
	}
	comps, err := alice.Computers(ctx)
	noErr(t, err)
	if len(comps) != 1 || comps[0].ID != "COMP-1" {
		t.Errorf("computers = %+v", comps)
	}

	// Metrics saw all this.
	status, body, _ = call(t, m.anonymous(), "GET", "/metrics", nil)
	for _, want := range []string{
		`slapgo_master_http_requests_total{code="200",route="POST /api/v1/instances"}`,
		`slapgo_master_http_request_duration_seconds_bucket{route="GET /api/v1/computers/{id}"`,
		`slapgo_master_instance_requests_total{outcome="allocated"}`,
		`slapgo_master_partitions{status="busy"} 2`,
		`slapgo_master_partitions{status="free"} 1`,
		`slapgo_master_computers{last_contact="1m"} 1`,
		`slapgo_master_commit_batch_size_count`,
		`slapgo_master_store_up 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics (%d) lacks %s", status, want)
		}
	}
}

func TestViewETagAndCaching(t *testing.T) {
	m := startMaster(t, nil)
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", 2, "eu")
	path := api.Prefix + "/computers/COMP-1"
	status, body, h := call(t, comp, "GET", path, nil)
	if status != http.StatusOK {
		t.Fatalf("GET view: %d %s", status, body)
	}
	etag := h.Get("ETag")
	var v model.ComputerView
	noErr(t, json.Unmarshal(body, &v))
	if etag != `"`+jsonNumber(v.Version)+`"` {
		t.Errorf("ETag %s, want the view version %d quoted", etag, v.Version)
	}
	if cc := h.Get("Cache-Control"); cc != viewCacheControl {
		t.Errorf("Cache-Control %q, want %q", cc, viewCacheControl)
	}
	for _, tc := range []struct {
		inm  string
		want int
	}{
		{etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified},
		{`"1", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"999999"`, http.StatusOK},
		{`garbage`, http.StatusOK},
	} {
		status, body, h := call(t, comp, "GET", path, nil, "If-None-Match", tc.inm)
		if status != tc.want {
			t.Errorf("If-None-Match %s: %d, want %d", tc.inm, status, tc.want)
		}
		if status == http.StatusNotModified && (len(body) != 0 || h.Get("ETag") != etag) {
			t.Errorf("304 with body %q and ETag %s", body, h.Get("ETag"))
		}
	}
	// A view under gzipMinBytes is sent as is, even when gzip is accepted.
	status, body, h = call(t, comp, "GET", path, nil, "Accept-Encoding", "gzip")
	if status != http.StatusOK || h.Get("Content-Encoding") != "" || len(body) >= gzipMinBytes || !json.Valid(body) {
		t.Fatalf("small view with gzip accepted: %d, Content-Encoding %q, %d bytes", status, h.Get("Content-Encoding"), len(body))
	}
	// A change gives a new version; the old ETag gets the new view.
	_, err := alice.Request(context.Background(), api.InstanceRequest{Title: "x", SoftwareRelease: softURL})
	noErr(t, err)
	status, _, h = call(t, comp, "GET", path, nil, "If-None-Match", etag)
	if status != http.StatusOK || h.Get("ETag") == etag {
		t.Errorf("after a change: %d with ETag %s, want 200 and a new ETag", status, h.Get("ETag"))
	}
	// The admin may read a view; it does not count as the node's contact.
	if status, _, _ := call(t, m.admin, "GET", path, nil); status != http.StatusOK {
		t.Errorf("admin reading a view: %d", status)
	}
}

// TestViewGzip: views of gzipMinBytes or more are compressed when the
// client accepts gzip, by compressors shared between requests: views of
// several computers fetched at once each decode to their own view.
func TestViewGzip(t *testing.T) {
	m := startMaster(t, nil)
	alice, _ := m.person("Alice")
	const n = 6
	comps := make([]*api.Client, n)
	for i := range comps {
		comps[i] = m.computer(alice, fmt.Sprintf("COMP-%d", i), 20+i, "eu")
	}
	errs := make(chan error, 4*n)
	var wg sync.WaitGroup
	for round := range 4 {
		for i, c := range comps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("COMP-%d", i)
				if round == 2 { // a new version of every view midway
					if _, err := alice.Supply(context.Background(), id, api.SupplyRequest{URL: softURL + "?v=" + id, State: model.SoftwareAvailable}); err != nil {
						errs <- err
						return
					}
				}
				status, body, h := call(t, c, "GET", api.Prefix+"/computers/"+id, nil, "Accept-Encoding", "gzip")
				if status != http.StatusOK || h.Get("Content-Encoding") != "gzip" {
					errs <- fmt.Errorf("%s: %d, Content-Encoding %q", id, status, h.Get("Content-Encoding"))
					return
				}
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					errs <- fmt.Errorf("%s: %w", id, err)
					return
				}
				plain, err := io.ReadAll(zr)
				var v model.ComputerView
				if err == nil {
					err = json.Unmarshal(plain, &v)
				}
				if err != nil || v.ComputerID != id || len(v.Partitions) != 20+i || len(plain) < gzipMinBytes {
					errs <- fmt.Errorf("%s: gzipped view decodes to %s with %d partitions (%d bytes), %v", id, v.ComputerID, len(v.Partitions), len(plain), err)
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func jsonNumber(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestPendingAnswers202ThenPlaced(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", 1, "eu")
	status, body, _ := call(t, alice, "POST", api.Prefix+"/instances", api.InstanceRequest{Title: "jp", SoftwareRelease: softURL,
		SLA: map[string]string{"region": "jp"}})
	var jp api.Instance
	noErr(t, json.Unmarshal(body, &jp))
	if status != http.StatusAccepted || jp.Status != api.StatusPending || !strings.Contains(jp.PendingReason, "region") {
		t.Fatalf("request for region jp: %d %+v, want 202 pending because of the region", status, jp)
	}
	first, err := alice.Request(ctx, api.InstanceRequest{Title: "a", SoftwareRelease: softURL})
	noErr(t, err)
	if first.Status != api.StatusAllocated {
		t.Fatalf("first request: %+v", first)
	}
	status, body, _ = call(t, alice, "POST", api.Prefix+"/instances", api.InstanceRequest{Title: "b", SoftwareRelease: softURL})
	var b api.Instance
	noErr(t, json.Unmarshal(body, &b))
	if status != http.StatusAccepted || !strings.Contains(b.PendingReason, "no free partition") {
		t.Fatalf("request on a full computer: %d %+v, want 202 with no free partition", status, b)
	}
	pend, err := m.admin.Pending(ctx)
	noErr(t, err)
	if len(pend) != 2 {
		t.Fatalf("pending = %+v, want 2", pend)
	}
	// New capacity places the waiting request.
	noErr(t, comp.SetCapacity(ctx, "COMP-1", capacity(2)))
	got, err := alice.Instance(ctx, b.GUID)
	noErr(t, err)
	if got.Status != api.StatusAllocated || got.PartitionID != "slappart1" {
		t.Errorf("after new capacity: %+v, want allocated on slappart1", got)
	}
	_, body, _ = call(t, m.anonymous(), "GET", "/metrics", nil)
	for _, want := range []string{
		`slapgo_master_instance_requests_pending_total{reason="region"} 1`,
		`slapgo_master_instance_requests_pending_total{reason="free_partition"} 1`,
		`slapgo_master_pending_placed_total 1`,
		`slapgo_master_pending_requests{reason="region"} 1`,
		`slapgo_master_pending_requests_count 1`,
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestComputerComingBackGetsPendingRequests: with --online-within, a
// request waits while its only computer is offline and is placed when the
// computer polls again, or by the periodic retry.
func TestComputerComingBackGetsPendingRequests(t *testing.T) {
	m := startMaster(t, func(o *Options) {
		o.OnlineWithin = time.Hour
		o.RetryEvery = 20 * time.Millisecond
	})
	ctx := context.Background()
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", 2, "eu")
	m.clock.Advance(2 * time.Hour)
	a, err := alice.Request(ctx, api.InstanceRequest{Title: "a", SoftwareRelease: softURL})
	noErr(t, err)
	if a.Status != api.StatusPending || !strings.Contains(a.PendingReason, "offline") {
		t.Fatalf("request while the computer is offline: %+v, want pending (offline)", a)
	}
	view, _, _, err := comp.ComputerView(ctx, "COMP-1", "")
	noErr(t, err)
	if view.Partitions[0].InstanceGUID != a.GUID {
		t.Errorf("the poll that brings the computer back shows %+v, want %s placed", view.Partitions[0], a.GUID)
	}
	// Time alone: the computer goes silent, a request waits; the clock is
	// then set back (the computer counts as online again) and the periodic
	// retry places it without any poll.
	m.clock.Advance(2 * time.Hour)
	b, err := alice.Request(ctx, api.InstanceRequest{Title: "b", SoftwareRelease: softURL})
	noErr(t, err)
	if b.Status != api.StatusPending {
		t.Fatalf("second request: %+v, want pending", b)
	}
	m.clock.Advance(-2 * time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := alice.Instance(ctx, b.GUID)
		noErr(t, err)
		if got.Status == api.StatusAllocated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the periodic retry did not place %s: %+v", b.GUID, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTokenRegistration(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	alice, _ := m.person("Alice")
	reg, err := alice.RegisterComputer(ctx, api.RegisterComputerRequest{ID: "COMP-T", Token: true})
	noErr(t, err)
	if reg.Token == "" || reg.Credentials != nil {
		t.Fatalf("token registration = %+v, want a token and no credentials", reg)
	}
	anon := m.anonymous()
	creds, err := anon.ExchangeToken(ctx, reg.Token)
	noErr(t, err)
	if creds.Identity != (model.Actor{Kind: model.KindComputer, ID: "COMP-T"}) {
		t.Fatalf("exchanged identity %v", creds.Identity)
	}
	comp := m.client(creds)
	noErr(t, comp.SetCapacity(ctx, "COMP-T", capacity(1)))
	if _, err := anon.ExchangeToken(ctx, reg.Token); !api.IsStatus(err, http.StatusUnauthorized) || !strings.Contains(err.Error(), "already used") {
		t.Errorf("second exchange = %v, want 401 already used", err)
	}
	if _, err := anon.ExchangeToken(ctx, "not-a-token"); !api.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("unknown token = %v, want 401", err)
	}
	late, err := alice.RegisterComputer(ctx, api.RegisterComputerRequest{ID: "COMP-LATE", Token: true})
	noErr(t, err)
	m.clock.Advance(TokenValidity + time.Minute)
	if _, err := anon.ExchangeToken(ctx, late.Token); !api.IsStatus(err, http.StatusUnauthorized) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired token = %v, want 401 expired", err)
	}
	// A used token stays used after a restart.
	m.stop()
	m.start(nil)
	if _, err := m.anonymous().ExchangeToken(ctx, reg.Token); !api.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("used token after restart = %v, want 401", err)
	}
}

// TestRestartKeepsState: what was acknowledged is there after a clean
// restart, equal entity by entity.
func TestRestartKeepsState(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", 3, "eu")
	a, err := alice.Request(ctx, api.InstanceRequest{Title: "a", SoftwareRelease: softURL, Parameters: map[string]string{"k": "v"}})
	noErr(t, err)
	noErr(t, comp.ReportPartition(ctx, "COMP-1", a.PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}))
	_, err = alice.Request(ctx, api.InstanceRequest{Title: "far", SoftwareRelease: softURL, SLA: map[string]string{"region": "jp"}})
	noErr(t, err)
	before := m.snapshot()
	m.stop()
	m.start(nil)
	if after := m.snapshot(); !bytes.Equal(before, after) {
		t.Errorf("state after restart differs:\nbefore %s\nafter  %s", before, after)
	}
	alice.BaseURL = m.url
	got, err := alice.Instance(ctx, a.GUID)
	noErr(t, err)
	if got.Parameters["k"] != "v" || got.ReportedState != model.ReportedStarted {
		t.Errorf("instance after restart = %+v", got)
	}
	// Its history too, served to its owner.
	ev, err := alice.InstanceEvents(ctx, a.GUID)
	noErr(t, err)
	var kinds []string
	for _, e := range ev {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"requested", "placed", "reported"}; !slices.Equal(kinds, want) || ev[2].Message != "node reported started" {
		t.Errorf("events after restart = %+v, want kinds %v", ev, want)
	}
}

func TestHealthzAndClosedStore(t *testing.T) {
	m := startMaster(t, nil)
	anon := m.anonymous()
	if status, body, _ := call(t, anon, "GET", "/healthz", nil); status != http.StatusOK {
		t.Fatalf("/healthz: %d %s", status, body)
	}
	// A store that stopped accepting writes answers 503.
	noErr(t, m.srv.store.Close())
	status, body, _ := call(t, m.admin, "POST", api.Prefix+"/persons", api.AddPersonRequest{Name: "x"})
	var eb api.ErrorBody
	noErr(t, json.Unmarshal(body, &eb))
	if status != http.StatusServiceUnavailable || eb.Code != api.CodeUnavailable {
		t.Errorf("write on a closed store: %d %+v, want 503 unavailable", status, eb)
	}
}

// TestPollRecordsContactDurably: the poll that brings a computer back is a
// command (master.Contact): its time survives a restart, and a poll right
// after it applies nothing (it stays a lookup).
func TestPollRecordsContactDurably(t *testing.T) {
	m := startMaster(t, func(o *Options) { o.OnlineWithin = time.Hour })
	ctx := context.Background()
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", 2, "eu")
	m.clock.Advance(2 * time.Hour)
	_, etag, _, err := comp.ComputerView(ctx, "COMP-1", "")
	noErr(t, err)
	polled := m.clock.Now()
	before := m.snapshot()
	_, _, notModified, err := comp.ComputerView(ctx, "COMP-1", etag)
	noErr(t, err)
	if !notModified || !bytes.Equal(m.snapshot(), before) {
		t.Errorf("a poll right after a contact: 304=%v, state changed=%v", notModified, !bytes.Equal(m.snapshot(), before))
	}
	m.stop()
	m.start(func(o *Options) { o.OnlineWithin = time.Hour })
	m.srv.mu.Lock()
	c, err := m.srv.state.Computer(model.Admin, "COMP-1")
	m.srv.mu.Unlock()
	noErr(t, err)
	if d := polled.Sub(c.LastContact); d < 0 || d > time.Minute {
		t.Errorf("last contact after a restart: %s, want the poll's (%s)", c.LastContact, polled)
	}
}

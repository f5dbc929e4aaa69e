package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap"
)

// slapTLS is the TLS configuration of credentials, for slap.Client.
func slapTLS(t *testing.T, m *testMaster, creds api.Credentials) *tls.Config {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(creds.CertificatePEM), []byte(creds.KeyPEM))
	noErr(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(m.srv.Authority().Certificate())
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}
}

// TestSLAPClientAgainstMaster: slap.Client, the node agent's SLAP side,
// against a real master: what it sends is what the master reads, and what
// it reads back is the view /api/v1 gives.
func TestSLAPClientAgainstMaster(t *testing.T) {
	m := startMaster(t, nil)
	ctx := context.Background()
	alice, _ := m.person("Alice")
	reg, err := alice.RegisterComputer(ctx, api.RegisterComputerRequest{ID: "COMP-S"})
	noErr(t, err)
	c, err := slap.NewClient(m.url, slapTLS(t, m, *reg.Credentials))
	noErr(t, err)
	apiComp := m.client(*reg.Credentials)

	noErr(t, c.SetCapacity(ctx, "COMP-S", capacity(3)))
	_, err = alice.Supply(ctx, "COMP-S", api.SupplyRequest{URL: softURL, State: model.SoftwareAvailable})
	noErr(t, err)
	noErr(t, c.ReportSoftware(ctx, "COMP-S", api.SoftwareStateRequest{URL: softURL, State: model.SoftwareError, Error: "no compiler"}))
	noErr(t, c.ReportSoftware(ctx, "COMP-S", api.SoftwareStateRequest{URL: softURL, State: model.SoftwareReadyAvailable}))
	root, err := alice.Request(ctx, api.InstanceRequest{Title: "root", SoftwareRelease: softURL, SoftwareType: "default",
		Parameters: map[string]string{"_": `{"x": [1, 2]}`}, SLA: map[string]string{"computer_guid": "COMP-S"}})
	noErr(t, err)
	host, err := alice.Request(ctx, api.InstanceRequest{Title: "host", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-S"}})
	noErr(t, err)
	shared, err := alice.Request(ctx, api.InstanceRequest{Title: "site", SoftwareRelease: softURL, Shared: true,
		Parameters: map[string]string{"domain": "a.example"}, SLA: map[string]string{"instance_guid": host.GUID}})
	noErr(t, err)
	if shared.HostGUID != host.GUID {
		t.Fatalf("shared instance %+v", shared)
	}

	// The view read over SLAP is the one /api/v1 gives (but the view
	// version and the fields SLAP does not carry).
	got, etag, notModified, err := c.ComputerView(ctx, "COMP-S", "")
	noErr(t, err)
	if notModified || etag == "" {
		t.Fatalf("first view: notModified %v, etag %q", notModified, etag)
	}
	want, _, _, err := apiComp.ComputerView(ctx, "COMP-S", "")
	noErr(t, err)
	if len(got.Software) != 1 || got.Software[0] != want.Software[0] || len(got.Partitions) != len(want.Partitions) {
		t.Fatalf("software %+v / %+v, %d partitions / %d", got.Software, want.Software, len(got.Partitions), len(want.Partitions))
	}
	for i, w := range want.Partitions {
		g := got.Partitions[i]
		if g.ID != w.ID || g.RequestedState != w.RequestedState || g.InstanceGUID != w.InstanceGUID || g.Title != w.Title ||
			g.RootTitle != w.RootTitle || g.SoftwareRelease != w.SoftwareRelease || g.SoftwareType != w.SoftwareType ||
			g.Version != w.Version || len(g.Parameters) != len(w.Parameters) || len(g.SharedInstances) != len(w.SharedInstances) ||
			len(g.Addresses) != len(w.Addresses) || g.SLA["computer_guid"] != w.SLA["computer_guid"] {
			t.Errorf("partition %s over SLAP %+v, over /api/v1 %+v", w.ID, g, w)
		}
		for k, v := range w.Parameters {
			if g.Parameters[k] != v {
				t.Errorf("partition %s parameter %s = %q, want %q", w.ID, k, g.Parameters[k], v)
			}
		}
		for j, a := range w.Addresses {
			if g.Addresses[j] != a {
				t.Errorf("partition %s address %d = %+v, want %+v", w.ID, j, g.Addresses[j], a)
			}
		}
		for j, s := range w.SharedInstances {
			if gs := g.SharedInstances[j]; gs.GUID != s.GUID || gs.Title != s.Title || gs.Parameters["domain"] != s.Parameters["domain"] {
				t.Errorf("partition %s shared %+v, want %+v", w.ID, gs, s)
			}
		}
	}
	if _, _, notModified, err := c.ComputerView(ctx, "COMP-S", etag); err != nil || !notModified {
		t.Errorf("view with its ETag: notModified %v, %v", notModified, err)
	}

	// The instance side: a partition's client requests a child and bangs.
	creds, err := c.PartitionCertificate(ctx, "COMP-S", root.PartitionID)
	noErr(t, err)
	creds.CAPEM = string(m.srv.Authority().CertPEM())
	ic, err := slap.ForPartition(m.url, slapTLS(t, m, creds), "COMP-S", root.PartitionID)
	noErr(t, err)
	child, err := ic.Request(ctx, api.InstanceRequest{Title: "child", SoftwareRelease: softURL, Parameters: map[string]string{"n": "1"},
		SLA: map[string]string{"computer_guid": "COMP-S"}, State: model.StateStopped})
	noErr(t, err)
	info, err := alice.Instance(ctx, child.GUID)
	noErr(t, err)
	if child.Status != api.StatusAllocated || info.RootTitle != "root" || info.RequestedState != model.StateStopped || child.PartitionID != info.PartitionID {
		t.Fatalf("child over SLAP %+v, /api/v1 %+v", child, info)
	}
	// No partition left: pending reads as such (408).
	late, err := ic.Request(ctx, api.InstanceRequest{Title: "late", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-S"}})
	noErr(t, err)
	if late.Status != api.StatusPending || late.GUID != "" {
		t.Errorf("a request with no partition left: %+v, want pending", late)
	}
	before, err := alice.Instance(ctx, root.GUID)
	noErr(t, err)
	_, err = ic.Bang(ctx, root.GUID, "promise failed")
	noErr(t, err)
	_, err = c.Bang(ctx, host.GUID, "service died") // the computer, through the partition of its last view
	noErr(t, err)
	after, err := alice.Instance(ctx, root.GUID)
	noErr(t, err)
	if after.Version == before.Version {
		t.Error("bang over SLAP did not bump the tree")
	}
	if _, err := c.Bang(ctx, "SOFTINST-404", "x"); err == nil {
		t.Error("bang of an instance no view placed: accepted")
	}

	// Node reports.
	noErr(t, c.ReportPartition(ctx, "COMP-S", root.PartitionID, api.PartitionStateRequest{State: model.ReportedStarted}))
	noErr(t, c.SetConnection(ctx, "COMP-S", root.PartitionID, api.ConnectionRequest{Parameters: map[string]string{"url": "http://x/"}}))
	noErr(t, c.SetConnection(ctx, "COMP-S", host.PartitionID, api.ConnectionRequest{SharedGUID: shared.GUID, Parameters: map[string]string{"site": "https://a.example"}}))
	s, err := alice.Instance(ctx, shared.GUID)
	noErr(t, err)
	if s.Connection["site"] != "https://a.example" {
		t.Errorf("shared instance connection %v", s.Connection)
	}
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	journal, err := account.EncodeJournal(account.BuildJournal("COMP-S", start, start.Add(time.Hour),
		map[string][]account.JournalMovement{root.PartitionID: {{Resource: "cpu_time", Quantity: 3}}}, "EUR"))
	noErr(t, err)
	_, err = c.PostUsage(ctx, "COMP-S", journal)
	noErr(t, err)
	_, err = alice.Request(ctx, api.InstanceRequest{Title: "host", SoftwareRelease: softURL, State: model.StateDestroyed})
	noErr(t, err)
	noErr(t, c.PartitionDestroyed(ctx, "COMP-S", host.PartitionID))
	// A refusal reads as the api package's error, with the status.
	err = c.ReportPartition(ctx, "COMP-S", "slappart99", api.PartitionStateRequest{State: model.ReportedStarted})
	if !api.IsStatus(err, http.StatusNotFound) {
		t.Errorf("report of an unknown partition: %v, want a 404 api.Error", err)
	}
}

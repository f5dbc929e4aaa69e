package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// getResumed sends GET path on a new connection of c (idle ones closed
// first) and returns the status, the body and whether the TLS session was
// resumed.
func getResumed(t *testing.T, c *api.Client, path string) (int, []byte, bool) {
	t.Helper()
	c.HTTP.CloseIdleConnections()
	resp, err := c.HTTP.Get(c.BaseURL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TLS == nil {
		t.Fatalf("GET %s: not over TLS", path)
	}
	return resp.StatusCode, body, resp.TLS.DidResume
}

func whoOf(t *testing.T, body []byte) model.Actor {
	t.Helper()
	var who api.WhoAmI
	if err := json.Unmarshal(body, &who); err != nil {
		t.Fatalf("whoami: %v: %s", err, body)
	}
	return who.Identity
}

// TestSessionResumptionKeepsAuthentication: the API clients resume TLS
// sessions when they reconnect, and a resumed session is authenticated as
// the certificate it began with, every time: it maps to the same identity,
// is authorized as that identity only, and stops working when that
// identity is gone. A client presenting another certificate never resumes
// it (each client keeps its own session cache).
func TestSessionResumptionKeepsAuthentication(t *testing.T) {
	ctx := context.Background()
	m := startMaster(t, nil)
	alice, _ := m.person("Alice")
	compA := m.computer(alice, "COMP-A", 2, "eu")
	compB := m.computer(alice, "COMP-B", 2, "eu")

	// The computer's client has connected during set-up: a new connection
	// resumes that session.
	status, body, resumed := getResumed(t, compA, api.Prefix+"/whoami")
	if !resumed {
		t.Fatal("the second connection did not resume the TLS session: the client keeps no session cache")
	}
	if want := (model.Actor{Kind: model.KindComputer, ID: "COMP-A"}); status != http.StatusOK || whoOf(t, body) != want {
		t.Errorf("whoami on a resumed session: %d %s, want %v", status, body, want)
	}
	// Authorized as COMP-A only: its own view, not COMP-B's.
	if status, body, resumed := getResumed(t, compA, api.Prefix+"/computers/COMP-A"); status != http.StatusOK || !resumed {
		t.Errorf("own view on a resumed session: %d (resumed %v) %s", status, resumed, body)
	}
	if status, _, resumed := getResumed(t, compA, api.Prefix+"/computers/COMP-B"); status != http.StatusForbidden || !resumed {
		t.Errorf("another computer's view on a resumed session: %d (resumed %v), want 403", status, resumed)
	}
	// Another client, another certificate: its own sessions and identity,
	// never COMP-A's.
	status, body, resumed = getResumed(t, compB, api.Prefix+"/whoami")
	if !resumed || status != http.StatusOK || whoOf(t, body).ID != "COMP-B" {
		t.Errorf("COMP-B on a new connection: %d, resumed %v, %s; want its own session, as COMP-B", status, resumed, body)
	}
	cacheOf := func(c *api.Client) tls.ClientSessionCache {
		return c.HTTP.Transport.(*http.Transport).TLSClientConfig.ClientSessionCache
	}
	if cacheOf(compA) == nil || cacheOf(compA) == cacheOf(compB) {
		t.Errorf("session caches of COMP-A and COMP-B: %p and %p, want one per client", cacheOf(compA), cacheOf(compB))
	}

	// An identity that is gone cannot ride its resumed session: an
	// instance's certificate stops working once the instance is destroyed.
	db, err := alice.Request(ctx, api.InstanceRequest{Title: "db", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-A"}})
	noErr(t, err)
	creds, err := compA.PartitionCertificate(ctx, "COMP-A", db.PartitionID)
	noErr(t, err)
	inst := m.client(creds)
	if status, body, resumed := getResumed(t, inst, api.Prefix+"/whoami"); status != http.StatusOK || resumed {
		t.Fatalf("a new client's first connection: %d, resumed %v, %s; want a full handshake", status, resumed, body)
	}
	if status, body, resumed := getResumed(t, inst, api.Prefix+"/whoami"); status != http.StatusOK || !resumed || whoOf(t, body).ID != db.GUID {
		t.Fatalf("instance on a resumed session: %d, resumed %v, %s", status, resumed, body)
	}
	_, err = alice.Request(ctx, api.InstanceRequest{Title: "db", SoftwareRelease: softURL, State: model.StateDestroyed})
	noErr(t, err)
	if status, body, resumed := getResumed(t, inst, api.Prefix+"/whoami"); status != http.StatusUnauthorized || !resumed {
		t.Errorf("destroyed instance on a resumed session: %d (resumed %v) %s, want 401", status, resumed, body)
	}

	// A configuration given with its own session cache keeps it.
	cache := tls.NewLRUClientSessionCache(1)
	cfg := m.tlsConfig()
	cfg.ClientSessionCache = cache
	c, err := api.NewClientTLS(m.url, cfg)
	noErr(t, err)
	defer c.HTTP.CloseIdleConnections()
	if got := cacheOf(c); got != cache {
		t.Errorf("the client replaced the session cache it was given")
	}
}

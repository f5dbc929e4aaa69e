package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// addrListener is a listener that says it listens on another address.
type addrListener struct {
	net.Listener
	addr net.Addr
}

func (l addrListener) Addr() net.Addr { return l.addr }

func TestSLAPLoopbackRefusesOtherAddressesAndUnknownPersons(t *testing.T) {
	m := startMaster(t, nil)
	_, alice := m.person("Alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	defer ln.Close()
	for _, ip := range []string{"0.0.0.0", "192.0.2.7", "::", "2001:db8::1"} {
		fake := addrListener{ln, &net.TCPAddr{IP: net.ParseIP(ip), Port: 8080}}
		if err := m.srv.EnableSLAPLoopback(fake, alice.ID); err == nil || !strings.Contains(err.Error(), "not on a loopback address") {
			t.Errorf("listener on %s: %v, want a refusal", ip, err)
		}
	}
	if err := m.srv.EnableSLAPLoopback(ln, "PERSON-404"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown person: %v", err)
	}
	if m.srv.loopback != nil {
		t.Error("a refused listener was kept")
	}
}

// TestSLAPLoopbackActsForItsPerson: without certificates, format registers
// the computer for the person, supply and request act for it, node calls
// act as its computers only, and browser-made requests are refused.
func TestSLAPLoopbackActsForItsPerson(t *testing.T) {
	m := startMaster(t, nil)
	_, p := m.person("Alice")
	alice := p.ID
	bobC, _ := m.person("Bob")
	m.computer(bobC, "COMP-B", 1, "eu")
	m.stop()
	// The same data, served again with the loopback listener enabled
	// before Serve.
	srv, err := Open(Options{DataDir: m.dir, Logger: m.srv.log, Now: m.clock.Now})
	noErr(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	noErr(t, srv.EnableSLAPLoopback(ln, alice))
	apiLn, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, apiLn, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		noErr(t, srv.Close())
	}()
	plain := &api.Client{BaseURL: "http://" + ln.Addr().String(), HTTP: &http.Client{Timeout: 20 * time.Second}}
	defer plain.HTTP.CloseIdleConnections()
	const get, post = http.MethodGet, http.MethodPost

	slapOK(t, plain, post, "loadComputerConfigurationFromXML", "xml", pyFormat)
	slapOK(t, plain, post, "supplySupply", "url", softURL, "computer_id", "COMP-A", "state", "available")
	si := pickle(t, slapOK(t, plain, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
		"partition_reference", "main", "partition_parameter_xml", pyEmptyDict, "filter_xml", pyPinToCompA, "state", pyStarted, "shared_xml", pyFalse), "SoftwareInstance")
	pid := getStr(t, si, "slap_computer_partition_id")
	comp := pickle(t, slapOK(t, plain, get, "getFullComputerInformation", "computer_id", "COMP-A"), "Computer")
	if getStr(t, partitionOf(t, comp, pid), "_requested_state") != "started" {
		t.Error("the requested instance is not in the view")
	}
	// A child requested from the partition acts as its instance.
	child := pickle(t, slapOK(t, plain, post, "requestComputerPartition", "software_release", softURL, "software_type", "default",
		"partition_reference", "child", "partition_parameter_xml", pyEmptyDict, "filter_xml", pyPinToCompA, "state", pyStarted, "shared_xml", pyFalse,
		"computer_id", "COMP-A", "computer_partition_id", pid), "SoftwareInstance")
	srv.mu.Lock()
	info, err := srv.state.Instance(model.Admin, getStr(t, child, "_instance_guid"))
	srv.mu.Unlock()
	noErr(t, err)
	if info.GUID != getStr(t, child, "_instance_guid") || info.RootTitle != "main" {
		t.Errorf("child %+v", info)
	}
	slapOK(t, plain, post, "startedComputerPartition", "computer_id", "COMP-A", "computer_partition_id", pid)

	// Bob's computer does not exist for Alice (as on /api/v1): 404, and
	// formatting it changes nothing.
	if status, body := slapCall(t, plain, get, "getFullComputerInformation", "computer_id", "COMP-B"); status != http.StatusNotFound {
		t.Errorf("Bob's computer: %d %s, want 404", status, body)
	}
	srv.mu.Lock()
	bobParts := len(srv.state.Partitions("COMP-B"))
	srv.mu.Unlock()
	if status, _ := slapCall(t, plain, post, "loadComputerConfigurationFromXML", "xml", strings.ReplaceAll(pyFormat, "COMP-A", "COMP-B")); status != http.StatusNotFound {
		t.Errorf("formatting Bob's computer: %d, want 404", status)
	}
	srv.mu.Lock()
	if n := len(srv.state.Partitions("COMP-B")); n != bobParts {
		t.Errorf("Bob's computer has %d partitions after a refused format, want %d", n, bobParts)
	}
	srv.mu.Unlock()
	// Requests a browser could send are refused.
	for _, h := range [][2]string{{"Origin", "https://evil.example"}, {"Sec-Fetch-Mode", "no-cors"}, {"Host", "evil.example:8080"}} {
		req, _ := http.NewRequest(post, plain.BaseURL+"/supplySupply", strings.NewReader(url.Values{"url": {otherURL}, "computer_id": {"COMP-A"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if h[0] == "Host" {
			req.Host = h[1]
		} else {
			req.Header.Set(h[0], h[1])
		}
		resp, err := plain.HTTP.Do(req)
		noErr(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("with %s: %d %s, want 403", h[0], resp.StatusCode, body)
		}
	}
	srv.mu.Lock()
	sw := srv.state.Software("COMP-A")
	srv.mu.Unlock()
	if len(sw) != 1 {
		t.Errorf("a refused supply was stored: %+v", sw)
	}
	// The /api/v1 routes are not on this listener.
	if status, _ := slapCall(t, plain, get, "api/v1/whoami"); status != http.StatusNotFound {
		t.Errorf("/api/v1 on the insecure listener: %d, want 404", status)
	}
}

package profile

import (
	"errors"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
)

const bridgeHeader = "#!/bin/sh\n# Written by slapgo from [b] at each deployment: change the profile, not this file.\n"

func TestDeployBridge(t *testing.T) {
	publish := "\n[publish]\nrecipe = publish\nlisten = ${b:listen}\ntarget = ${b:target}\nurl = http://[${b:ipv6}]:${b:ipv6-port}/\n"
	tests := []struct {
		name    string
		options string
		script  string // etc/service/<name>
		file    string
		publish map[string]string
	}{
		{
			name:    "defaults: the partition's first addresses, the same port",
			options: "ipv4-port = 8080\n",
			file:    "b",
			script:  bridgeHeader + "exec /usr/bin/slapgo bridge --listen '[2001:db8::4]:8080' --target 10.0.0.4:8080\n",
			publish: map[string]string{"listen": "[2001:db8::4]:8080", "target": "10.0.0.4:8080", "url": "http://[2001:db8::4]:8080/"},
		},
		{
			name: "every option",
			options: "name = web\nipv6 = [2001:db8::99]\nipv6-port = 80\nipv4 = 10.0.0.5\nipv4-port = ${params:configuration.port}\n" +
				"max-connections = 50\nidle-timeout = 2h\n",
			file: "web",
			script: bridgeHeader + "exec /usr/bin/slapgo bridge --listen '[2001:db8::99]:80' --target 10.0.0.5:9000" +
				" --max-connections 50 --idle-timeout 2h\n",
			publish: map[string]string{"listen": "[2001:db8::99]:80", "target": "10.0.0.5:9000", "url": "http://[2001:db8::99]:80/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := softwareDir(t, "[buildout]\nparts = publish\n\n[params]\nrecipe = slapconfiguration\n\n[b]\nrecipe = bridge\n"+tt.options+publish, nil)
			ic := baseContext(t, sw)
			dep, err := Deploy(t.Context(), ic)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(ic.PartitionDir, ServiceDir, tt.file)
			if !slices.Equal(dep.Services, []string{path}) {
				t.Errorf("Services = %q, want [%s]", dep.Services, path)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tt.script {
				t.Errorf("%s:\n%s\nwant:\n%s", path, data, tt.script)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v (%v), want 0755", path, fi.Mode(), err)
			}
			if !maps.Equal(dep.Publish, tt.publish) {
				t.Errorf("Publish = %v, want %v", dep.Publish, tt.publish)
			}
		})
	}
}

func TestDeployBridgeErrors(t *testing.T) {
	only4 := []model.Address{{Iface: "lo", Addr: "10.0.0.4"}}
	tests := []struct {
		name, options string
		addrs         []model.Address // nil: baseContext's
		kind          error
		want          string
	}{
		{"no IPv6 address", "ipv4-port = 80\n", only4, ErrMissingOption,
			"[b] ipv6: profile: missing option: the partition has no IPv6 address: set ipv6 = <address>"},
		{"no IPv4 address", "ipv4-port = 80\n", []model.Address{{Addr: "2001:db8::4"}}, ErrMissingOption,
			"the partition has no IPv4 address: set ipv4 = <address>"},
		{"no port", "ipv6 = ::1\n", nil, ErrMissingOption, "recipe bridge needs ipv4-port = <TCP port the program listens on>"},
		{"bad port", "ipv4-port = http\n", nil, ErrBadValue, `[b] ipv4-port: profile: bad option value: "http": expected a TCP port number (1-65535)`},
		{"port out of range", "ipv4-port = 80\nipv6-port = 65536\n", nil, ErrBadValue, `"65536": expected a TCP port number`},
		{"IPv6 given as ipv4", "ipv4 = 2001:db8::1\nipv4-port = 80\n", nil, ErrBadValue, `"2001:db8::1" is an IPv6 address: expected an IPv4 address`},
		{"IPv4 given as ipv6", "ipv6 = 10.0.0.1\nipv4-port = 80\n", nil, ErrBadValue, `"10.0.0.1" is an IPv4 address: expected an IPv6 address`},
		{"not an address", "ipv6 = localhost\nipv4-port = 80\n", nil, ErrBadValue, `"localhost": expected an IPv6 address`},
		{"bad idle timeout", "ipv4-port = 80\nidle-timeout = soon\n", nil, ErrBadValue, `"soon": expected a duration such as 15m`},
		{"bad connection limit", "ipv4-port = 80\nmax-connections = 0\n", nil, ErrBadValue, `"0": expected a number of connections`},
		{"unknown option", "ipv4-port = 80\nport = 80\n", nil, ErrRecipeOption, `recipe "bridge" does not understand option "port"`},
		{"bad name", "ipv4-port = 80\nname = a/b\n", nil, ErrBadValue, `"a/b" cannot be a file name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := softwareDir(t, "[buildout]\nparts = b\n\n[b]\nrecipe = bridge\n"+tt.options, nil)
			ic := baseContext(t, sw)
			if tt.addrs != nil {
				ic.Addresses = tt.addrs
			}
			_, err := Deploy(t.Context(), ic)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant %v containing %q", err, tt.kind, tt.want)
			}
			if _, err := os.Stat(filepath.Join(ic.PartitionDir, ServiceDir, "b")); err == nil {
				t.Error("the service was written despite the error")
			}
		})
	}
}

// TestLegacyIPv4 builds and deploys the legacy-ipv4 fixture: hello
// listens on the partition's IPv4 address only, and answers over IPv6
// through the bridge service.
func TestLegacyIPv4(t *testing.T) {
	requireCompiler(t)
	testenv.RequireIPv6Loopback(t, "the bridge fixture needs ::1")
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Fatal(err)
	}
	port6 := strconv.Itoa(probe.Addr().(*net.TCPAddr).Port)
	probe.Close()
	sw, _ := buildFixture(t, "legacy-ipv4/software.cfg")
	part := filepath.Join(t.TempDir(), "slappart0")
	if err := os.Mkdir(part, 0o750); err != nil {
		t.Fatal(err)
	}
	port4 := freePort(t)
	dep, err := Deploy(t.Context(), InstanceContext{
		SoftwareDir: sw, PartitionDir: part, ComputerID: "COMP-1", PartitionID: "slappart0",
		SoftwareRelease: "file://" + fixture(t, "legacy-ipv4/software.cfg"),
		Parameters:      map[string]string{"port": port4, "ipv6-port": port6, "name": "tester"},
		Addresses:       []model.Address{{Iface: "lo", Addr: "127.0.0.1"}, {Iface: "lo", Addr: "::1"}},
		RequestedState:  model.StateStarted,
		SlapgoBinary:    testBinary(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	hello, bridge := filepath.Join(part, ServiceDir, "hello"), filepath.Join(part, ServiceDir, "hello-ipv6")
	if !slices.Equal(dep.Services, []string{hello, bridge}) {
		t.Fatalf("Services = %q, want hello then its bridge", dep.Services)
	}
	url := "http://[::1]:" + port6 + "/"
	if dep.Publish["url"] != url {
		t.Errorf("Publish = %v, want url=%s", dep.Publish, url)
	}
	script, err := os.ReadFile(bridge)
	if err != nil {
		t.Fatal(err)
	}
	if want := "exec " + testBinary(t) + " bridge --listen '[::1]:" + port6 + "' --target 127.0.0.1:" + port4 + "\n"; !strings.HasSuffix(string(script), want) {
		t.Errorf("%s:\n%s\nwant it to end with %q", bridge, script, want)
	}
	startService(t, hello)
	startService(t, bridge)
	for _, p := range dep.Promises {
		waitPromise(t, p)
	}
	if _, body := httpGet(t, url); body != "Hello tester from slappart0\n" {
		t.Errorf("GET %s = %q through the bridge", url, body)
	}
	// The program itself still listens on IPv4 only.
	if c, err := net.DialTimeout("tcp6", "[::1]:"+port4, time.Second); err == nil {
		c.Close()
		t.Errorf("hello answers on [::1]:%s: the fixture's program must be IPv4 only", port4)
	}
}

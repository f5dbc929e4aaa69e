package localgrid

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/nodeagent/config"
)

func TestSubnetForStaysInItsRange(t *testing.T) {
	low, high := netip.MustParseAddr("127.20.0.0"), netip.MustParseAddr("127.99.249.0")
	seen := map[netip.Prefix]string{}
	for _, dir := range []string{"/work/main/.local-grid", "/home/ada/slapgo/.local-grid", "/tmp/x", "/", "/srv/grid-ünicode"} {
		p := subnetFor(dir)
		if p != subnetFor(dir) {
			t.Errorf("subnetFor(%q) is not stable", dir)
		}
		if p.Bits() != 24 || p.Addr().Compare(low) < 0 || p.Addr().Compare(high) > 0 || p.Addr().As4()[3] != 0 {
			t.Errorf("subnetFor(%q) = %s, want a /24 from 127.20.0.0 to 127.99.249.0", dir, p)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("subnetFor(%q) = subnetFor(%q) = %s", dir, other, p)
		}
		seen[p] = dir
	}
}

// The configuration written for the node parses, with its paths under the
// folder.
func TestNodeConfigParses(t *testing.T) {
	dir := t.TempDir()
	l := Layout{Dir: dir}
	for _, tc := range []struct {
		url    string
		subnet string
		poll   time.Duration
	}{
		{"https://127.0.0.1:8443", "127.42.7.0/24", 5 * time.Second},
		{"https://127.0.0.1:40123", "127.99.249.0/24", 1500 * time.Millisecond},
	} {
		data := nodeConfig(tc.url, netip.MustParsePrefix(tc.subnet), tc.poll)
		c, err := config.Parse(l.NodeConfig(), data)
		if err != nil {
			t.Fatalf("%s", err)
		}
		if c.ComputerID != ComputerID || c.MasterURL != tc.url || c.Format.PartitionAmount != PartitionAmount ||
			c.Format.IPv4LocalNetwork.String() != tc.subnet || c.Grid.PollInterval != tc.poll {
			t.Errorf("parsed %+v", c)
		}
		for got, want := range map[string]string{c.SoftwareRoot: filepath.Join(l.Dir, "software"), c.InstanceRoot: l.InstanceRoot(),
			c.CertFile: filepath.Join(l.NodeCredDir(), "computer.crt"), c.KeyFile: filepath.Join(l.NodeCredDir(), "computer.key"),
			c.CAFile: filepath.Join(l.NodeCredDir(), "ca.crt")} {
			if got != want {
				t.Errorf("path %s, want %s", got, want)
			}
		}
		// An existing configuration keeps its subnet.
		if err := os.WriteFile(l.NodeConfig(), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := l.subnet().String(); got != tc.subnet {
			t.Errorf("subnet of an existing configuration: %s, want %s", got, tc.subnet)
		}
	}
}

func TestPartitionRange(t *testing.T) {
	for _, tc := range []struct{ subnet, want string }{
		{"127.42.7.0/24", "127.42.7.1-5"},
		{"127.20.0.0/24", "127.20.0.1-5"},
	} {
		if got := partitionRange(netip.MustParsePrefix(tc.subnet)); got != tc.want {
			t.Errorf("partitionRange(%s) = %q, want %q", tc.subnet, got, tc.want)
		}
	}
}

func TestModulePath(t *testing.T) {
	for _, tc := range []struct{ gomod, want string }{
		{"module github.com/slapgo/slapgo\n\ngo 1.26\n", "github.com/slapgo/slapgo"},
		{"// comment\nmodule \"github.com/slapgo/slapgo\"\n", "github.com/slapgo/slapgo"},
		{"module\tgithub.com/other/thing\n", "github.com/other/thing"},
		{"modulex github.com/slapgo/slapgo\n", ""},
		{"go 1.26\n", ""},
	} {
		if got := modulePath([]byte(tc.gomod)); got != tc.want {
			t.Errorf("modulePath(%q) = %q, want %q", tc.gomod, got, tc.want)
		}
	}
}

func TestFindCheckout(t *testing.T) {
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(deep, 0o755)
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/slapgo/slapgo\n"), 0o644)
	os.WriteFile(filepath.Join(root, "a", "go.mod"), []byte("module example.com/nested\n"), 0o644)
	got, err := FindCheckout(deep)
	if err != nil || got != root {
		t.Errorf("FindCheckout(%s) = %q, %v; want %s", deep, got, err, root)
	}
	if _, err := FindCheckout(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not inside a slapgo checkout") {
		t.Errorf("outside a checkout: %v", err)
	}
}

// A folder that slapgo demo did not make is neither used, stopped nor
// wiped; a missing or empty one is nothing to stop.
func TestFolderGuards(t *testing.T) {
	foreign := t.TempDir()
	keep := filepath.Join(foreign, "precious.txt")
	os.WriteFile(keep, []byte("mine"), 0o644)
	var out bytes.Buffer
	if err := Reset(foreign, &out); !errors.Is(err, ErrNotGrid) {
		t.Errorf("Reset of a foreign folder: %v, want ErrNotGrid", err)
	}
	if _, err := Stop(foreign, &out); !errors.Is(err, ErrNotGrid) {
		t.Errorf("Stop of a foreign folder: %v, want ErrNotGrid", err)
	}
	if err := (Layout{Dir: foreign}).ensure(); !errors.Is(err, ErrNotGrid) {
		t.Errorf("using a foreign folder: %v, want ErrNotGrid", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("the foreign folder lost its file: %v", err)
	}

	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		out.Reset()
		n, err := Stop(dir, &out)
		if err != nil || n != 0 || !strings.Contains(out.String(), "nothing to stop") {
			t.Errorf("Stop(%s) = %d, %v, printed %q", dir, n, err, out.String())
		}
		if err := Reset(dir, &out); err != nil {
			t.Errorf("Reset(%s): %v", dir, err)
		}
	}

	// A folder made by ensure is a grid: Stop finds nothing running, Reset
	// wipes it.
	grid := filepath.Join(t.TempDir(), "grid")
	l := Layout{Dir: grid}
	if err := l.ensure(); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(l.Dir, "software", "ro", "sub"), 0o755)
	os.Chmod(filepath.Join(l.Dir, "software", "ro"), 0o555)
	out.Reset()
	if n, err := Stop(grid, &out); err != nil || n != 0 || !strings.Contains(out.String(), "nothing was running") {
		t.Errorf("Stop of an idle grid = %d, %v, printed %q", n, err, out.String())
	}
	if err := Reset(grid, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(grid); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Reset: %v, want the folder gone", err)
	}
}

// A pid file names a live process only with its start time and a command
// line holding the mark.
func TestRunningProcess(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "x.pid")
	if err := writePidFile(pidFile, os.Getpid()); err != nil {
		t.Fatal(err)
	}
	self, _ := readPidFile(pidFile)
	for _, tc := range []struct {
		name    string
		content string // "" keeps what writePidFile wrote
		mark    string
		want    bool
	}{
		{"this process", "", os.Args[0], true},
		{"another folder's process", "", "/elsewhere/node.cfg", false},
		{"a reused pid", strings.Fields(readFile(t, pidFile))[0] + " 1\n", os.Args[0], false},
		{"garbage", "not a pid\n", os.Args[0], false},
		{"pid 1", "1 1\n", os.Args[0], false},
	} {
		if tc.content != "" {
			os.WriteFile(pidFile, []byte(tc.content), 0o644)
		}
		r, ok := runningProcess(pidFile, tc.mark)
		if ok != tc.want || (ok && r != self) {
			t.Errorf("%s: runningProcess = %+v, %v; want %v", tc.name, r, ok, tc.want)
		}
	}
	if _, ok := runningProcess(filepath.Join(dir, "missing.pid"), os.Args[0]); ok {
		t.Error("a missing pid file names a process")
	}
	exe, _ := os.Executable()
	if !self.sameBinary(exe) {
		t.Errorf("this process does not run %s", exe)
	}
	if self.sameBinary(pidFile) {
		t.Errorf("this process runs %s", pidFile)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

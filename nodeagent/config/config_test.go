package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `# a node
[slapos]
computer_id = COMP-1
master_url = https://127.0.0.1:8443
software_root = soft
instance_root: /srv/inst
key_file = computer.key
cert_file = computer.crt
ca_file = ca.crt

[slapformat]
partition_amount = 3
interface_name = lo
ipv4_local_network = 127.10.0.0/24
create_tap = no

; timings
[slapgrid]
maximum_periodicity = 3600
poll_interval = 5s
RETRY_BASE = 2s
retry_max = 1m
promise_timeout = 0.5
usage_interval = 1h
build_workers = 3
`

func TestParseGood(t *testing.T) {
	c, err := Parse("/etc/slapgo/node.cfg", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"computer", c.ComputerID, "COMP-1"},
		{"software_root relative to the file", c.SoftwareRoot, "/etc/slapgo/soft"},
		{"instance_root absolute", c.InstanceRoot, "/srv/inst"},
		{"cert", c.CertFile, "/etc/slapgo/computer.crt"},
		{"amount", c.Format.PartitionAmount, 3},
		{"base name default", c.Format.PartitionBaseName, "slappart"},
		{"ipv6_interface defaults to interface_name", c.Format.IPv6Interface, "lo"},
		{"network", c.Format.IPv4LocalNetwork, netip.MustParsePrefix("127.10.0.0/24")},
		{"seconds", c.Grid.MaximumPeriodicity, time.Hour},
		{"upper-case key", c.Grid.RetryBase, 2 * time.Second},
		{"fraction of seconds", c.Grid.PromiseTimeout, 500 * time.Millisecond},
		{"default kept", c.Grid.StopGrace, 10 * time.Second},
		{"workers", c.Grid.BuildWorkers, 3},
		{"no IPv6 range by default", c.Format.PartitionHasIPv6Range, false},
		{"prefix shift default", c.Format.IPv6PrefixShift, 16},
		{"partition id", c.PartitionID(2), "slappart2"},
		{"user", c.PartitionUser(2), "slapuser2"},
		{"index", c.PartitionIndex("slappart12"), 12},
		{"foreign index", c.PartitionIndex("other1"), -1},
		{"leading zero index", c.PartitionIndex("slappart01"), -1},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s: got %v, want %v", ch.what, ch.got, ch.want)
		}
	}
}

func TestParseIPv6Range(t *testing.T) {
	tests := []struct {
		lines  string
		ranges bool
		shift  int
	}{
		{"partition_has_ipv6_range = true\n", true, 16},
		{"partition_has_ipv6_range = yes\nipv6_prefixshift = 8\n", true, 8},
		{"PARTITION_HAS_IPV6_RANGE = off\nipv6_prefixshift = 126\n", false, 126},
		{"ipv6_prefixshift = 2\n", false, 2},
	}
	for _, tc := range tests {
		c, err := Parse("n.cfg", []byte("[slapos]\ncomputer_id = COMP-1\n[slapformat]\n"+tc.lines))
		if err != nil {
			t.Errorf("%q: %v", tc.lines, err)
			continue
		}
		if c.Format.PartitionHasIPv6Range != tc.ranges || c.Format.IPv6PrefixShift != tc.shift {
			t.Errorf("%q: ranges %v shift %d, want %v %d", tc.lines, c.Format.PartitionHasIPv6Range, c.Format.IPv6PrefixShift, tc.ranges, tc.shift)
		}
	}
}

func TestParseContinuation(t *testing.T) {
	c, err := Parse("x.cfg", []byte("[slapos]\ncomputer_id =\n  COMP-9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ComputerID != "COMP-9" {
		t.Fatalf("continuation: computer_id = %q", c.ComputerID)
	}
}

func TestParseErrors(t *testing.T) {
	base := "[slapos]\ncomputer_id = COMP-1\n"
	tests := []struct {
		name string
		text string
		want []string // fragments of the message
	}{
		{"unknown section", base + "[networkcache]\nx = 1\n", []string{"node.cfg:3", "[networkcache]", "unknown"}},
		{"unknown key", base + "[slapgrid]\npoll_intervall = 5s\n", []string{"node.cfg:4", "[slapgrid]", `"poll_intervall"`, "poll_interval"}},
		{"bad duration", base + "[slapgrid]\npoll_interval = soon\n", []string{"node.cfg:4", "[slapgrid] poll_interval", `"soon"`}},
		{"negative seconds", base + "[slapgrid]\nretry_base = -3\n", []string{"node.cfg:4", "retry_base"}},
		{"bad amount", base + "[slapformat]\npartition_amount = many\n", []string{"node.cfg:4", "partition_amount", "integer"}},
		{"bad bool", base + "[slapformat]\ncreate_tap = maybe\n", []string{"node.cfg:4", "create_tap"}},
		{"ipv6 network as ipv4", base + "[slapformat]\nipv4_local_network = fd00::/64\n", []string{"node.cfg:4", "ipv4_local_network"}},
		{"network too small", base + "[slapformat]\npartition_amount = 20\nipv4_local_network = 10.0.0.0/28\n", []string{"ipv4_local_network", "too few"}},
		{"duplicate key", base + "computer_id = COMP-2\n", []string{"node.cfg:3", "computer_id given twice", "line 2"}},
		{"duplicate section", base + "[slapos]\n", []string{"node.cfg:3", "[slapos] given twice"}},
		{"outside section", "computer_id = x\n", []string{"node.cfg:1", "outside any section"}},
		{"no equal sign", base + "just words\n", []string{"node.cfg:3", "expected key = value"}},
		{"unclosed header", "[slapos\n", []string{"node.cfg:1", "closing"}},
		{"missing computer", "[slapformat]\npartition_amount = 1\n", []string{"[slapos] computer_id", "not set"}},
		{"bad master url", base + "master_url = ftp://x\n", []string{"master_url", "https://"}},
		{"retry max below base", base + "[slapgrid]\nretry_base = 1h\nretry_max = 1m\n", []string{"retry_max", "shorter"}},
		{"zero poll", base + "[slapgrid]\npoll_interval = 0\n", []string{"poll_interval", "> 0"}},
		{"name with slash", base + "[slapformat]\npartition_base_name = a/b\n", []string{"partition_base_name"}},
		{"stray continuation", "  indented\n", []string{"node.cfg:1", "continues no value"}},
		{"bad range flag", base + "[slapformat]\npartition_has_ipv6_range = sometimes\n", []string{"node.cfg:4", "partition_has_ipv6_range", "true or false"}},
		{"shift not a number", base + "[slapformat]\nipv6_prefixshift = wide\n", []string{"node.cfg:4", "ipv6_prefixshift", "integer >= 2"}},
		{"shift too small", base + "[slapformat]\nipv6_prefixshift = 1\n", []string{"node.cfg:4", "ipv6_prefixshift", "integer >= 2"}},
		{"shift too large", base + "[slapformat]\nipv6_prefixshift = 127\n", []string{"[slapformat] ipv6_prefixshift", "127", "2 to 126"}},
		{"misspelt shift", base + "[slapformat]\nipv6_prefix_shift = 16\n", []string{"node.cfg:4", `"ipv6_prefix_shift"`, "ipv6_prefixshift", "partition_has_ipv6_range"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("/etc/node.cfg", []byte(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "node.cfg")
	if err := os.WriteFile(f, []byte("[slapos]\ncomputer_id = COMP-1\ninstance_root = inst\nsoftware_root = soft\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if c.InstanceRoot != filepath.Join(dir, "inst") || c.File != f {
		t.Fatalf("Load: instance_root %q file %q", c.InstanceRoot, c.File)
	}
	if _, err := Load(filepath.Join(dir, "missing.cfg")); !errors.Is(err, ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(good)
	f.Add("[slapos]\ncomputer_id = x\n  y\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse("f.cfg", []byte(text))
		if err == nil && c.ComputerID == "" {
			t.Fatal("accepted a configuration without computer_id")
		}
	})
}

// TestRelativePathsFollowTheFile: a relative path in node.cfg names a file
// next to node.cfg (as the local grid writes it), wherever the command
// runs from; README documents the rule.
func TestRelativePathsFollowTheFile(t *testing.T) {
	root := t.TempDir()
	etc := filepath.Join(root, "etc", "slapgo")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	text := "[slapos]\ncomputer_id = COMP-1\nsoftware_root = ./soft\ninstance_root = ../../srv/inst\n" +
		"key_file = node/computer.key\ncert_file = computer.crt\nca_file = /abs/ca.crt\n"
	if err := os.WriteFile(filepath.Join(etc, "node.cfg"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(root, "work")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(elsewhere)
	c, err := Load("../etc/slapgo/node.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, got, want string }{
		{"software_root", c.SoftwareRoot, filepath.Join(etc, "soft")},
		{"instance_root", c.InstanceRoot, filepath.Join(root, "srv", "inst")},
		{"key_file", c.KeyFile, filepath.Join(etc, "node", "computer.key")},
		{"cert_file", c.CertFile, filepath.Join(etc, "computer.crt")},
		{"ca_file", c.CAFile, "/abs/ca.crt"},
		{"file", c.File, filepath.Join(etc, "node.cfg")},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q (relative to node.cfg's folder, not to the working directory)", tc.key, tc.got, tc.want)
		}
	}
	// Without a file (a configuration built in code) nothing anchors a
	// relative root: it is refused, naming the key.
	if _, err := Parse("", []byte("[slapos]\ncomputer_id = COMP-1\nsoftware_root = soft\n")); err == nil ||
		!strings.Contains(err.Error(), `[slapos] software_root: "soft": expected an absolute directory`) {
		t.Errorf("relative software_root without a file: %v", err)
	}
}

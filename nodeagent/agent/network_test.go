package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/slapgo/slapgo/core/account"
	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/nodeagent/config"
	"github.com/slapgo/slapgo/nodeagent/netacct"
)

func TestNetOwners(t *testing.T) {
	pc := func(id, rng string, addrs ...string) api.PartitionCapacity {
		p := api.PartitionCapacity{ID: id, IPv6Range: rng}
		for _, a := range addrs {
			p.Addresses = append(p.Addresses, model.Address{Iface: "br0", Addr: a})
		}
		return p
	}
	tests := []struct {
		name  string
		parts []api.PartitionCapacity
		want  []string // "prefix=partition", sorted; nil with err
		err   string
	}{
		{"addresses and ranges", []api.PartitionCapacity{
			pc("slappart0", "2001:db8::4001:0:0:0/80", "10.0.0.1", "2001:db8::2"),
			pc("slappart1", "2001:db8::4002:0:0:0/80", "10.0.0.2", "2001:db8::3"),
		}, []string{
			"10.0.0.1/32=slappart0", "10.0.0.2/32=slappart1",
			"2001:db8::2/128=slappart0", "2001:db8::3/128=slappart1",
			"2001:db8:0:0:4001::/80=slappart0", "2001:db8:0:0:4002::/80=slappart1",
		}, ""},
		{"no range", []api.PartitionCapacity{pc("slappart0", "", "127.5.0.1")}, []string{"127.5.0.1/32=slappart0"}, ""},
		{"range with host bits is masked", []api.PartitionCapacity{pc("slappart0", "2001:db8::4001:0:0:9/80")}, []string{"2001:db8:0:0:4001::/80=slappart0"}, ""},
		{"bad range", []api.PartitionCapacity{pc("slappart0", "somewhere")}, nil, `slappart0: IPv6 range "somewhere"`},
		{"IPv4 range", []api.PartitionCapacity{pc("slappart0", "10.0.0.0/24")}, nil, `IPv6 range "10.0.0.0/24"`},
		{"range twice", []api.PartitionCapacity{pc("slappart0", "2001:db8::4001:0:0:0/80"), pc("slappart1", "2001:db8::4001:0:0:0/80")}, nil, "announced by both slappart0 and slappart1"},
		{"address twice", []api.PartitionCapacity{pc("slappart0", "", "10.0.0.1"), pc("slappart1", "", "10.0.0.1")}, nil, "both slappart0 and slappart1"},
	}
	for _, tc := range tests {
		owners, err := netOwners(api.CapacityRequest{Partitions: tc.parts})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		var got []string
		for p, id := range owners {
			got = append(got, p.String()+"="+id)
		}
		slices.Sort(tc.want)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: owners %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCaptureInterfaces(t *testing.T) {
	tests := []struct {
		iface, v6 string
		want      []string
	}{
		{"br0", "br0", []string{"br0", "lo"}},
		{"br0", "eth1", []string{"br0", "eth1", "lo"}},
		{"lo", "lo", []string{"lo"}},
		{"", "", []string{"lo"}},
		{"", "eth1", []string{"eth1", "lo"}},
	}
	for _, tc := range tests {
		cfg := config.Default()
		cfg.Format.InterfaceName, cfg.Format.IPv6Interface = tc.iface, tc.v6
		if got := captureInterfaces(&cfg); !slices.Equal(got, tc.want) {
			t.Errorf("interface_name %q ipv6_interface %q: %v, want %v", tc.iface, tc.v6, got, tc.want)
		}
	}
}

// netAgent is an agent on a configuration of its own, with no master.
func netAgent(t *testing.T, amount int, opts Options) (*Agent, *syncWriter) {
	t.Helper()
	cfg := config.Default()
	root := t.TempDir()
	cfg.ComputerID = "COMP-NET"
	cfg.InstanceRoot = filepath.Join(root, "inst")
	cfg.SoftwareRoot = filepath.Join(root, "soft")
	cfg.Format.PartitionAmount = amount
	cfg.Format.InterfaceName = "lo"
	cfg.Grid.PollInterval = 200 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for n := range amount {
		os.MkdirAll(cfg.PartitionDir(cfg.PartitionID(n)), 0o750)
	}
	log := &syncWriter{}
	opts.Logger = slog.New(slog.NewTextHandler(log, nil))
	a := newAgent(cfg, nil, opts)
	t.Cleanup(a.Close)
	return a, log
}

// syncWriter is a log written by several goroutines and read by the test.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// networkOf returns the network movements of the meter, per partition.
func networkOf(t *testing.T, a *Agent) map[string][2]float64 {
	t.Helper()
	rep, err := a.reporter()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][2]float64{}
	for id, ms := range rep.Meter.Movements(a.now()) {
		for _, m := range ms {
			v := out[id]
			switch m.Resource {
			case account.ResourceNetworkInBytes:
				v[0] += m.Quantity
			case account.ResourceNetworkOutBytes:
				v[1] += m.Quantity
			}
			out[id] = v
		}
	}
	return out
}

// TestSampleUsageAddsNetwork feeds the agent's counter from a pcap file
// (as an offline capture would) and checks each sample moves what was
// counted into the usage meter, once.
func TestSampleUsageAddsNetwork(t *testing.T) {
	a, log := netAgent(t, 2, Options{Unprivileged: true})
	a.setNetOwners(api.CapacityRequest{Partitions: []api.PartitionCapacity{
		{ID: "slappart0", Addresses: []model.Address{{Iface: "lo", Addr: "127.66.0.1"}}},
		{ID: "slappart1", Addresses: []model.Address{{Iface: "lo", Addr: "127.66.0.2"}}, IPv6Range: "2001:db8::4002:0:0:0/80"},
	}})
	c := a.netCounter()
	if c == nil {
		t.Fatalf("no counter after setNetOwners:\n%s", log)
	}
	// 0 → 1: 3 UDP packets of 100 bytes of payload (128 at IP level);
	// outside → 1's range: 1 of 1000 (1028); 1 → outside: 2 of 10 (38).
	udp := func(src, dst string, payload int) []byte {
		s, d := net.ParseIP(src), net.ParseIP(dst)
		var ip gopacket.NetworkLayer
		if s.To4() != nil {
			ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.To4(), DstIP: d.To4()}
		} else {
			ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: s, DstIP: d}
		}
		u := &layers.UDP{SrcPort: 4000, DstPort: 53}
		u.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip.(gopacket.SerializableLayer), u, gopacket.Payload(make([]byte, payload))); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	feed := func(frames ...[]byte) {
		t.Helper()
		var file bytes.Buffer
		w, err := netacct.NewPcapWriter(&file, layers.LinkTypeRaw, 65535)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(f), Length: len(f)}, f); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := netacct.CountPcap(&file, c); err != nil {
			t.Fatal(err)
		}
	}
	feed(udp("127.66.0.1", "127.66.0.2", 100), udp("127.66.0.1", "127.66.0.2", 100), udp("127.66.0.1", "127.66.0.2", 100),
		udp("2001:db8:99::1", "2001:db8::4002:0:0:7", 1000-20), // IPv6 header is 40: 1028 bytes
		udp("127.66.0.2", "192.0.2.1", 10), udp("127.66.0.2", "192.0.2.1", 10))
	if err := a.SampleUsage(false); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]float64{"slappart0": {0, 384}, "slappart1": {384 + 1028, 76}}
	if got := networkOf(t, a); !maps.Equal(got, want) {
		t.Fatalf("after the first sample: %v, want %v", got, want)
	}
	// A second sample adds only what was counted since.
	if err := a.SampleUsage(false); err != nil {
		t.Fatal(err)
	}
	feed(udp("192.0.2.1", "127.66.0.1", 72)) // 100 bytes in
	if err := a.SampleUsage(false); err != nil {
		t.Fatal(err)
	}
	want["slappart0"] = [2]float64{100, 384}
	if got := networkOf(t, a); !maps.Equal(got, want) {
		t.Fatalf("after three samples: %v, want %v", got, want)
	}
	// What was sampled is saved: a new agent on the same spool sees it.
	b := newAgent(a.cfg, nil, Options{Unprivileged: true, Logger: a.log})
	if got := networkOf(t, b); !maps.Equal(got, want) {
		t.Fatalf("reopened meter: %v, want %v", got, want)
	}
}

// TestNetworkAccountingCapturesLoopback runs the daemon's accounting as
// root on lo: traffic between two partition addresses of 127.0.0.0/8
// (which lo answers without any set-up) reaches the usage meter.
func TestNetworkAccountingCapturesLoopback(t *testing.T) {
	testenv.RequireRoot(t, "capturing traffic needs root")
	a, log := netAgent(t, 2, Options{})
	if !a.privileged {
		t.Fatal("root agent not privileged")
	}
	// An interface that does not exist is retried with back-off while lo
	// is counted.
	missing := fmt.Sprintf("sgnone%05d", rand.IntN(100000))
	a.cfg.Format.InterfaceName = missing
	base := fmt.Sprintf("127.%d.%d.", 100+rand.IntN(100), rand.IntN(250))
	a0, a1 := base+"1", base+"2"
	a.setNetOwners(api.CapacityRequest{Partitions: []api.PartitionCapacity{
		{ID: "slappart0", Addresses: []model.Address{{Iface: "lo", Addr: a0}}},
		{ID: "slappart1", Addresses: []model.Address{{Iface: "lo", Addr: a1}}},
	}})
	// The daemon's schedule, its format done: the captures only.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	s := agentcore.NewSchedule(agentcore.ScheduleConfig{PollInterval: a.cfg.Grid.PollInterval, RetryMax: a.cfg.Grid.RetryMax,
		Captures: captureInterfaces(&a.cfg)}, a.now())
	s.Done(a.now(), agentcore.Task{Duty: agentcore.DutyCapacity}, agentcore.DutyOutcome{})
	wg.Go(func() { a.runSchedule(ctx, s) })
	eventually(t, "lo captured", 10*time.Second, func() string {
		a.net.mu.Lock()
		defer a.net.mu.Unlock()
		if a.net.captures["lo"] == nil {
			return "no capture of lo yet:\n" + log.String()
		}
		return ""
	})

	// slappart1 sends 1 MB to slappart0 over TCP.
	ln, err := net.Listen("tcp4", a0+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 1 << 20
	got := make(chan int64, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		n, _ := io.Copy(io.Discard, conn)
		conn.Close()
		got <- n
	}()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(a1)}}
	conn, err := d.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	tc := conn.(*net.TCPConn)
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != size {
		t.Fatalf("received %d bytes, want %d", n, size)
	}
	// Every segment slappart1 sent, the data and the handshake's, the
	// acknowledgements and the FIN: the kernel's own count. After the
	// peer's close, our acknowledgement of its FIN may come after this
	// reading: one segment more at most.
	segs := sentSegments(t, tc)
	conn.Close()
	// Each segment adds its IPv4 header (20 bytes, no options here) and
	// its TCP header (20 to 60 bytes): how many segments carry the MiB
	// depends on the receiver's window, so on the machine's load, and the
	// bounds follow the kernel's count rather than a guess of it.
	low, high := float64(size+40*segs), float64(size+80*(segs+1))
	// The ring hands blocks over within its timeout (50ms).
	var last map[string][2]float64
	eventually(t, "the transfer is in the usage meter", 10*time.Second, func() string {
		if err := a.SampleUsage(false); err != nil {
			return err.Error()
		}
		last = networkOf(t, a)
		if in, out := last["slappart0"][0], last["slappart1"][1]; in < low || out < low {
			return fmt.Sprintf("slappart0 in %v, slappart1 out %v, want >= %v (%d bytes in %d segments)", in, out, low, size, segs)
		}
		return ""
	})
	for _, v := range []float64{last["slappart0"][0], last["slappart1"][1]} {
		if v > high {
			t.Errorf("counted %v bytes for %d sent in %d segments: want between %v and %v (%v)", v, size, segs, low, high, last)
		}
	}
	t.Logf("1 MiB over TCP on lo in %d segments counted as %.0f bytes received by slappart0, %.0f sent by slappart1", segs, last["slappart0"][0], last["slappart1"][1])
	eventually(t, "the missing interface retried with back-off", 10*time.Second, func() string {
		for _, w := range []string{"failures=1 retry_in=2", "failures=2 retry_in=4"} {
			if !slices.ContainsFunc(strings.Split(log.String(), "\n"), func(line string) bool {
				return strings.Contains(line, "interface="+missing) && strings.Contains(line, w)
			}) {
				return "no retry with " + w + " yet:\n" + log.String()
			}
		}
		return ""
	})
	began := time.Now()
	cancel()
	wg.Wait()
	if waited := time.Since(began); waited > 2*time.Second {
		t.Errorf("captures took %s to stop", waited)
	}
	l := log.String()
	if !strings.Contains(l, "network accounting: capturing") || !strings.Contains(l, "interface="+missing) || !strings.Contains(l, "no such network interface") {
		t.Errorf("log does not show lo captured and %s retried:\n%s", missing, l)
	}
}

// eventually polls cond every 50ms until it returns "" or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s, %s: %s", timeout, what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sentSegments is the number of segments the kernel sent on c so far
// (TCP_INFO's tcpi_segs_out).
func sentSegments(t *testing.T, c *net.TCPConn) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) {
		info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatalf("TCP_INFO of the sender: %v", serr)
	}
	return int(info.Segs_out)
}

package netacct

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"golang.org/x/sys/unix"
)

func TestOpenCaptureNoSuchInterface(t *testing.T) {
	c := mustCounter(t, testOwners)
	const name = "slapgo-none0"
	_, err := OpenCapture(name, c, CaptureOptions{})
	if !errors.Is(err, ErrNoInterface) || !strings.Contains(err.Error(), `"`+name+`"`) || !strings.Contains(err.Error(), "nothing captured") {
		t.Fatalf("OpenCapture(%s) = %v, want ErrNoInterface naming it", name, err)
	}
	if _, err := OpenCapture("lo", c, CaptureOptions{SnapLen: 10}); err == nil || !strings.Contains(err.Error(), "SnapLen 10") {
		t.Errorf("OpenCapture with SnapLen 10 = %v, want an error naming SnapLen", err)
	}
}

// startCapture opens a capture of dev in ns and runs it until the
// returned stop is called; stop returns what Run returned and the stats.
func startCapture(t *testing.T, ns *netns, dev string, c *Counter) (stop func() (CaptureStats, error)) {
	t.Helper()
	var cp *Capture
	if err := ns.do(func() (err error) {
		cp, err = OpenCapture(dev, c, CaptureOptions{BlockTimeout: 20 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	var once sync.Once
	var st CaptureStats
	var runErr error
	stop = func() (CaptureStats, error) {
		once.Do(func() {
			cancel()
			runErr = <-done
			st = cp.Stats()
		})
		return st, runErr
	}
	t.Cleanup(func() { stop() })
	return stop
}

// tcpFlow is what one side of a TCP connection sent, from the kernel's
// own count (TCP_INFO): payload bytes (retransmissions included) and
// segments, and the size of its IP and TCP headers.
type tcpFlow struct {
	bytes, segs uint64
	hdr         uint64
}

// wire is the IP-level size of what the side sent: each segment carries
// the headers (SYN and FIN options differ by a few bytes: noise).
func (f tcpFlow) wire() Counts {
	return Counts{OutBytes: f.bytes + f.segs*f.hdr, OutPackets: f.segs}
}

func tcpInfo(conn *net.TCPConn) (tcpFlow, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return tcpFlow{}, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return tcpFlow{}, err
	}
	if ierr != nil {
		return tcpFlow{}, ierr
	}
	hdr := uint64(20 + 20)
	if conn.LocalAddr().(*net.TCPAddr).IP.To4() == nil {
		hdr = 40 + 20
	}
	if info.Options&1 != 0 { // TCPI_OPT_TIMESTAMPS
		hdr += 12
	}
	return tcpFlow{bytes: info.Bytes_sent, segs: uint64(info.Segs_out), hdr: hdr}, nil
}

// tcpExchange: the client (dialled in client) sends up bytes to addr,
// half-closes, the server answers down bytes and half-closes. It returns
// the IP-level traffic each side sent.
func tcpExchange(t *testing.T, node, client *netns, addr string, up, down int) (fromClient, fromServer Counts) {
	t.Helper()
	var ln *net.TCPListener
	if err := node.do(func() error {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			ln = l.(*net.TCPListener)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientDone := make(chan struct{})
	type result struct {
		flow tcpFlow
		err  error
	}
	srv := make(chan result, 1)
	go func() {
		conn, err := ln.AcceptTCP()
		if err != nil {
			srv <- result{err: err}
			return
		}
		defer conn.Close()
		n, err := io.Copy(io.Discard, conn)
		if err == nil && n != int64(up) {
			err = fmt.Errorf("server received %d bytes, want %d", n, up)
		}
		if err == nil {
			_, err = conn.Write(make([]byte, down))
		}
		if err == nil {
			err = conn.CloseWrite()
		}
		<-clientDone
		var f tcpFlow
		if err == nil {
			f, err = tcpInfo(conn)
		}
		srv <- result{f, err}
	}()
	var cf tcpFlow
	err := client.do(func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		conn := c.(*net.TCPConn)
		defer conn.Close()
		defer close(clientDone)
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(make([]byte, up)); err != nil {
			return err
		}
		if err := conn.CloseWrite(); err != nil {
			return err
		}
		n, err := io.Copy(io.Discard, conn)
		if err != nil {
			return err
		}
		if n != int64(down) {
			return fmt.Errorf("client received %d bytes, want %d", n, down)
		}
		cf, err = tcpInfo(conn)
		return err
	})
	if err != nil {
		t.Fatalf("tcp client to %s: %v", addr, err)
	}
	r := <-srv
	if r.err != nil {
		t.Fatalf("tcp server %s: %v", addr, r.err)
	}
	return cf.wire(), r.flow.wire()
}

// udpEcho: the client sends n datagrams of size bytes to addr, one at a
// time, and the server echoes each. It returns the IP-level traffic each
// side sent.
func udpEcho(t *testing.T, node, client *netns, addr string, n, size int) (fromClient, fromServer Counts) {
	t.Helper()
	var srv *net.UDPConn
	if err := node.do(func() error {
		c, err := net.ListenPacket("udp", addr)
		if err == nil {
			srv = c.(*net.UDPConn)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	echoed := make(chan int, 1)
	go func() {
		buf := make([]byte, 65536)
		k := 0
		for {
			m, from, err := srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				echoed <- k
				return
			}
			if _, err := srv.WriteToUDPAddrPort(buf[:m], from); err == nil {
				k++
			}
		}
	}()
	sent := 0
	err := client.do(func() error {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		buf, msg := make([]byte, 65536), make([]byte, size)
		for range n {
			if _, err := c.Write(msg); err != nil {
				return err
			}
			sent++
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if m, err := c.Read(buf); err != nil || m != size {
				return fmt.Errorf("echo %d: %d bytes, %v", sent, m, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("udp client to %s: %v", addr, err)
	}
	srv.Close()
	hdr := 20 + 8
	if netip.MustParseAddrPort(addr).Addr().Is6() {
		hdr = 40 + 8
	}
	per := uint64(size + hdr)
	k := uint64(<-echoed)
	return Counts{OutBytes: uint64(sent) * per, OutPackets: uint64(sent)}, Counts{OutBytes: k * per, OutPackets: k}
}

// received turns what was sent to a partition (Out of the peer) into In.
func received(c Counts) Counts { return Counts{InBytes: c.OutBytes, InPackets: c.OutPackets} }

// within1pc checks every field of got against want, within 1%; packets
// may also differ by two (the last ACK and FIN can leave after the kernel's
// count was read: on lo, where packets are 64 KiB, a transfer of a few
// MiB takes fewer than a hundred).
func within1pc(got, want Counts) bool {
	near := func(g, w uint64, slack float64) bool {
		return math.Abs(float64(g)-float64(w)) <= max(0.01*float64(w), slack)
	}
	return near(got.InBytes, want.InBytes, 0) && near(got.OutBytes, want.OutBytes, 0) &&
		near(got.InPackets, want.InPackets, 2) && near(got.OutPackets, want.OutPackets, 2)
}

// TestCaptureTwoPartitions: a node namespace holds the addresses of two
// partitions on a veth; a client namespace sends known traffic to each
// (TCP both ways, UDP echoes, over IPv4 and IPv6). The capture of the
// node's interface, and the usage journal built from it, match what the
// kernel sent within 1%.
func TestCaptureTwoPartitions(t *testing.T) {
	requireNetns(t)
	node, client := newNetns(t, "node"), newNetns(t, "client")
	vethPair(t, node, "n0", client, "c0")
	for _, a := range []string{"10.203.0.1/24", "fd00:5a9::1/64", "10.203.0.11/32", "fd00:5a9::11/128", "10.203.0.12/32", "fd00:5a9::12/128"} {
		node.addAddr(t, "n0", a)
	}
	client.addAddr(t, "c0", "10.203.0.2/24")
	client.addAddr(t, "c0", "fd00:5a9::2/64")

	c := mustCounter(t, map[string]string{
		"10.203.0.11/32": "slappart0", "fd00:5a9::11/128": "slappart0",
		"10.203.0.12/32": "slappart1", "fd00:5a9::12/128": "slappart1",
	})
	start := time.Now().UTC()
	stop := startCapture(t, node, "n0", c)

	want := map[string]Counts{}
	add := func(id string, fromClient, fromServer Counts) {
		want[id] = want[id].Add(received(fromClient)).Add(Counts{OutBytes: fromServer.OutBytes, OutPackets: fromServer.OutPackets})
	}
	cl, sv := tcpExchange(t, node, client, "[fd00:5a9::11]:7001", 3<<20, 1<<20)
	add("slappart0", cl, sv)
	cl, sv = udpEcho(t, node, client, "10.203.0.11:7002", 400, 1200)
	add("slappart0", cl, sv)
	cl, sv = tcpExchange(t, node, client, "10.203.0.12:7001", 2<<20, 512<<10)
	add("slappart1", cl, sv)
	cl, sv = udpEcho(t, node, client, "[fd00:5a9::12]:7002", 300, 900)
	add("slappart1", cl, sv)

	st, err := stop()
	if err != nil {
		t.Fatalf("capture: %v", err)
	}
	stop2 := time.Now().UTC()
	got := c.EndPeriod()
	for _, id := range []string{"slappart0", "slappart1"} {
		if !within1pc(got[id], want[id]) {
			t.Errorf("%s: captured %+v, sent %+v: not within 1%% (capture %+v, counter %+v)", id, got[id], want[id], st, c.Stats())
		} else {
			t.Logf("%s: captured %+v, sent %+v", id, got[id], want[id])
		}
	}
	if !st.Offloads {
		t.Log("the kernel gave no offload headers: offloaded packets counted once")
	}

	// The usage journal carries the same figures.
	j := account.BuildJournal("COMP-test", start, stop2, Movements(got), "EUR")
	data, err := account.EncodeJournal(j)
	if err != nil {
		t.Fatal(err)
	}
	back, err := account.DecodeJournal(data)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := account.UsageMovements(back)
	if err != nil {
		t.Fatal(err)
	}
	journal := map[string]Counts{}
	for _, m := range ms {
		cs := journal[m.PartitionID]
		switch m.Resource {
		case account.ResourceNetworkInBytes:
			cs.InBytes = uint64(m.Quantity)
		case account.ResourceNetworkOutBytes:
			cs.OutBytes = uint64(m.Quantity)
		}
		journal[m.PartitionID] = cs
	}
	for _, id := range []string{"slappart0", "slappart1"} {
		w := Counts{InBytes: want[id].InBytes, OutBytes: want[id].OutBytes}
		if !within1pc(journal[id], w) {
			t.Errorf("journal: %s network_in_bytes %d network_out_bytes %d, sent %d / %d: not within 1%%",
				id, journal[id].InBytes, journal[id].OutBytes, w.InBytes, w.OutBytes)
		}
	}
}

// TestCaptureLoopback: traffic between two partitions of the node crosses
// lo, where Linux shows every packet twice; it is counted once, as Out of
// one partition and In of the other, and the sent copies do not even reach
// the ring.
func TestCaptureLoopback(t *testing.T) {
	requireNetns(t)
	node := newNetns(t, "lo")
	for _, a := range []string{"10.204.0.11/32", "10.204.0.12/32"} {
		node.addAddr(t, "lo", a)
	}
	c := mustCounter(t, map[string]string{"10.204.0.11/32": "slappart0", "10.204.0.12/32": "slappart1"})
	stop := startCapture(t, node, "lo", c)

	// The client binds slappart0's address: a partition calling another.
	var ln net.Listener
	if err := node.do(func() (err error) { ln, err = net.Listen("tcp", "10.204.0.12:7001"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const up, down = 4 << 20, 1 << 20
	srv := make(chan error, 1)
	var sf tcpFlow
	clientDone := make(chan struct{})
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			srv <- err
			return
		}
		defer conn.Close()
		io.Copy(io.Discard, conn)
		conn.Write(make([]byte, down))
		conn.(*net.TCPConn).CloseWrite()
		<-clientDone
		sf, err = tcpInfo(conn.(*net.TCPConn))
		srv <- err
	}()
	var cf tcpFlow
	if err := node.do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(10, 204, 0, 11)}}
		conn, err := d.Dial("tcp", "10.204.0.12:7001")
		if err != nil {
			return err
		}
		defer conn.Close()
		defer close(clientDone)
		conn.Write(make([]byte, up))
		conn.(*net.TCPConn).CloseWrite()
		if n, _ := io.Copy(io.Discard, conn); n != down {
			return fmt.Errorf("received %d bytes, want %d", n, down)
		}
		cf, err = tcpInfo(conn.(*net.TCPConn))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := <-srv; err != nil {
		t.Fatal(err)
	}
	st, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	got := c.EndPeriod()
	a, b := cf.wire(), sf.wire()
	want := map[string]Counts{
		"slappart0": {OutBytes: a.OutBytes, OutPackets: a.OutPackets, InBytes: b.OutBytes, InPackets: b.OutPackets},
		"slappart1": {OutBytes: b.OutBytes, OutPackets: b.OutPackets, InBytes: a.OutBytes, InPackets: a.OutPackets},
	}
	for id, w := range want {
		if !within1pc(got[id], w) {
			t.Errorf("%s: captured %+v, sent %+v: not within 1%% (capture %+v, counter %+v)", id, got[id], w, st, c.Stats())
		}
	}
	// The kernel filter dropped the sent copies: each packet reached the
	// ring once.
	if s := c.Stats(); st.Frames != s.Counted {
		t.Errorf("capture %+v, counter %+v: %d frames for %d packets counted", st, s, st.Frames, s.Counted)
	}
}

// TestCaptureInterfaceChanges: an interface set down and up again keeps
// its capture; one removed ends it with ErrNoInterface.
func TestCaptureInterfaceChanges(t *testing.T) {
	requireNetns(t)
	a, b := newNetns(t, "a"), newNetns(t, "b")
	vethPair(t, a, "va", b, "vb")
	a.addAddr(t, "va", "10.205.0.1/24")
	b.addAddr(t, "vb", "10.205.0.2/24")
	c := mustCounter(t, map[string]string{"10.205.0.1/32": "slappart0"})
	var cp *Capture
	if err := a.do(func() (err error) {
		cp, err = OpenCapture("va", c, CaptureOptions{BlockTimeout: 10 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cp.Run(context.Background()) }()
	// The interface stays down for several block timeouts, so that the
	// capture sees it down (ENETDOWN) before it is up again.
	a.ip(t, "link", "set", "va", "down")
	time.Sleep(10 * 10 * time.Millisecond)
	a.ip(t, "link", "set", "va", "up")
	// Up again, the same capture counts the partition's traffic: send a
	// datagram from its address until one is counted.
	deadline := time.Now().Add(30 * time.Second)
	for c.Stats().Counted == 0 {
		select {
		case err := <-done:
			t.Fatalf("the capture ended when its interface was set down: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing counted 30s after the interface was up again: capture %+v, counter %+v", cp.Stats(), c.Stats())
		}
		if err := a.do(func() error {
			conn, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 205, 0, 1)}, &net.UDPAddr{IP: net.IPv4(10, 205, 0, 2), Port: 9})
			if err != nil {
				return err
			}
			defer conn.Close()
			_, err = conn.Write([]byte("after up"))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cp.Close(); err == nil {
		t.Error("Close of a running capture = nil, want an error")
	}
	a.ip(t, "link", "del", "va")
	select {
	case err := <-done:
		if !errors.Is(err, ErrNoInterface) || !strings.Contains(err.Error(), "va went away") {
			t.Fatalf("Run after the interface was removed = %v, want ErrNoInterface naming va", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the capture still runs 30s after its interface was removed")
	}
	if err := cp.Run(context.Background()); err == nil {
		t.Error("a second Run = nil, want an error")
	}
}

func TestOpenCaptureWithoutPrivilege(t *testing.T) {
	// Run as root too: the capture is opened on a thread of its own that
	// first drops CAP_NET_RAW from its effective capabilities (a no-op for
	// an unprivileged user, who has none).
	counter := mustCounter(t, testOwners)
	result := make(chan error, 1)
	go func() {
		// NB: the thread is never unlocked, so it ends with this goroutine
		// instead of serving others without the capability.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			result <- fmt.Errorf("capget: %w", err)
			return
		}
		data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			result <- fmt.Errorf("capset: %w", err)
			return
		}
		cp, err := OpenCapture("lo", counter, CaptureOptions{})
		if err == nil {
			cp.Close()
		}
		result <- err
	}()
	err := <-result
	if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "capturing on lo needs CAP_NET_RAW") {
		t.Fatalf("OpenCapture(lo) without CAP_NET_RAW = %v, want ErrPermission naming lo", err)
	}
}

// TestCaptureBridgedPartition: a legacy program listens on a partition's
// IPv4 address only; "slapgo bridge" (a process in the node's namespace)
// makes it reachable on the partition's IPv6 address; a client in another
// namespace uses it over IPv6. The captures of the node's interface and of
// lo count the client's traffic once for the partition, the bridge's hop
// from its IPv6 to its own IPv4 address being internal.
func TestCaptureBridgedPartition(t *testing.T) {
	requireNetns(t)
	node, client := newNetns(t, "node"), newNetns(t, "client")
	vethPair(t, node, "n0", client, "c0")
	for _, a := range []string{"fd00:5a9::1/64", "fd00:5a9::11/128", "10.203.0.11/32"} {
		node.addAddr(t, "n0", a)
	}
	client.addAddr(t, "c0", "fd00:5a9::2/64")
	c := mustCounter(t, map[string]string{"10.203.0.11/32": "slappart0", "fd00:5a9::11/128": "slappart0"})
	stopN0 := startCapture(t, node, "n0", c)
	stopLo := startCapture(t, node, "lo", c)

	// The legacy program: IPv4 only; it answers a request with 1 MiB once
	// the request has ended.
	var legacy net.Listener
	if err := node.do(func() (err error) { legacy, err = net.Listen("tcp4", "10.203.0.11:8080"); return err }); err != nil {
		t.Fatal(err)
	}
	defer legacy.Close()
	go func() {
		for {
			conn, err := legacy.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(io.Discard, conn)
				conn.Write(make([]byte, 1<<20))
			}()
		}
	}()

	bridgeCmd := exec.Command("ip", "netns", "exec", node.name, os.Args[0], "bridge",
		"--listen", "[fd00:5a9::11]:8080", "--target", "10.203.0.11:8080")
	stderr, err := bridgeCmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := bridgeCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer bridgeCmd.Process.Kill()
	logs := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs <- sc.Text()
		}
		close(logs)
	}()
	var seen []string
	for line := range logs {
		seen = append(seen, line)
		if strings.Contains(line, "bridge: forwarding") {
			break
		}
	}
	if len(seen) == 0 || !strings.Contains(seen[len(seen)-1], "bridge: forwarding") {
		t.Fatalf("the bridge did not start: %q", seen)
	}

	var sent, got tcpFlow
	if err := client.do(func() error {
		conn, err := net.DialTimeout("tcp", "[fd00:5a9::11]:8080", 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		tc := conn.(*net.TCPConn)
		tc.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := tc.Write(make([]byte, 2<<20)); err != nil {
			return err
		}
		tc.CloseWrite()
		n, err := io.Copy(io.Discard, tc)
		if err != nil || n != 1<<20 {
			return fmt.Errorf("received %d bytes through the bridge, want 1 MiB (%v)", n, err)
		}
		if sent, err = tcpInfo(tc); err != nil {
			return err
		}
		got, err = tcpReceived(tc)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	// SIGTERM: the bridge ends cleanly.
	bridgeCmd.Process.Signal(syscall.SIGTERM)
	for line := range logs {
		seen = append(seen, line)
	}
	if err := bridgeCmd.Wait(); err != nil {
		t.Errorf("the bridge exited with %v after SIGTERM, want status 0:\n%s", err, strings.Join(seen, "\n"))
	}
	if all := strings.Join(seen, "\n"); !strings.Contains(all, "bytes_up=2097152 bytes_down=1048576") || !strings.Contains(all, "bridge: stopped") {
		t.Errorf("bridge logs lack the connection's figures or the stop:\n%s", all)
	}
	for _, stop := range []func() (CaptureStats, error){stopN0, stopLo} {
		if _, err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	s, r := sent.wire(), got.wire()
	want := Counts{InBytes: s.OutBytes, InPackets: s.OutPackets, OutBytes: r.OutBytes, OutPackets: r.OutPackets}
	if p := c.EndPeriod()["slappart0"]; !within1pc(p, want) {
		t.Errorf("slappart0: captured %+v, the client sent and received %+v: not within 1%% (%+v)", p, want, c.Stats())
	} else {
		t.Logf("slappart0: captured %+v, the client sent and received %+v (%+v)", p, want, c.Stats())
	}
	if st := c.Stats(); st.Internal == 0 {
		t.Errorf("stats %+v: the bridge's hop to the IPv4 address was not seen as internal", st)
	}
}

// tcpReceived is what the peer of conn sent it, from conn's own count:
// payload bytes and segments received (GRO merged or not).
func tcpReceived(conn *net.TCPConn) (tcpFlow, error) {
	f, err := tcpInfo(conn)
	if err != nil {
		return f, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return f, err
	}
	var info *unix.TCPInfo
	var ierr error
	if err := raw.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		return f, err
	}
	if ierr != nil {
		return f, ierr
	}
	return tcpFlow{bytes: info.Bytes_received, segs: uint64(info.Segs_in), hdr: f.hdr}, nil
}

package netacct

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// benchOwners are the addresses of a node with parts partitions: one IPv4
// and one IPv6 each.
func benchOwners(parts int) map[netip.Prefix]string {
	m := map[netip.Prefix]string{}
	for i := range parts {
		id := fmt.Sprintf("slappart%d", i)
		m[netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)] = id
		m[netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i), 14: byte(i >> 8)}), 128)] = id
	}
	return m
}

// writeBenchPcap writes a capture of n frames as tcpdump -s 128 would
// keep them on a node's interface: Ethernet; 45% TCP over IPv4, 35% TCP
// over IPv6, 15% UDP over IPv4, 5% ARP; data segments of 1514 bytes and
// ACKs of 66; each to or from a random partition, a tenth of them between
// two partitions. It returns the IP bytes owned traffic adds up to.
func writeBenchPcap(b *testing.B, path string, n, parts int) (bytes uint64) {
	b.Helper()
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w, err := NewPcapWriter(bw, layers.LinkTypeEthernet, 128)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	addr := func(v6 bool, part int) string {
		if part < 0 {
			if v6 {
				return "2001:db8:ffff::7"
			}
			return "198.51.100.7"
		}
		if v6 {
			return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(part), 14: byte(part >> 8)}).String()
		}
		return netip.AddrFrom4([4]byte{10, 0, byte(part >> 8), byte(part)}).String()
	}
	// A few hundred distinct frames, written in random order.
	type sample struct {
		data []byte
		wire int
		ip   uint64
	}
	var samples []sample
	for range 512 {
		x := rng.IntN(100)
		v6 := x >= 45 && x < 80
		p := pkt{proto: layers.IPProtocolTCP, tcpOpts: true, payload: 1448}
		if v6 {
			p.payload = 1428
		}
		if rng.IntN(3) == 0 {
			p.payload = 0 // an ACK
		}
		if x >= 80 {
			p = pkt{proto: layers.IPProtocolUDP, payload: rng.IntN(1400)}
		}
		a, c := rng.IntN(parts), -1
		if rng.IntN(10) == 0 {
			c = rng.IntN(parts)
		}
		p.src, p.dst = addr(v6, a), addr(v6, c)
		if rng.IntN(2) == 0 {
			p.src, p.dst = p.dst, p.src
		}
		var s sample
		if x >= 95 {
			s.data = serialize(b, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
				&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}})
			s.wire = len(s.data)
		} else {
			frame, ipLen := p.ethernet(b)
			s = sample{data: frame, wire: len(frame), ip: uint64(ipLen)}
			if c >= 0 && c != a {
				s.ip *= 2 // Out of one partition, In of the other
			}
			if c == a {
				s.ip = 0 // internal
			}
		}
		samples = append(samples, s)
	}
	for range n {
		s := samples[rng.IntN(len(samples))]
		if err := w.WritePacket(gopacket.CaptureInfo{Length: s.wire}, s.data); err != nil {
			b.Fatal(err)
		}
		bytes += s.ip
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return bytes
}

// BenchmarkDecodePcap counts a pcap file of a node with 300 partitions,
// read from disk (page cache) on one core; an op is the whole file.
func BenchmarkDecodePcap(b *testing.B) {
	const parts = 300
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("packets=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "node.pcap")
			want := writeBenchPcap(b, path, n, parts)
			c, err := NewCounter(benchOwners(parts))
			if err != nil {
				b.Fatal(err)
			}
			count := func() int {
				f, err := os.Open(path)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				got, err := CountPcap(f, c)
				if err != nil {
					b.Fatal(err)
				}
				return got
			}
			got := count()
			var sum uint64
			for _, cs := range c.Total() {
				sum += cs.InBytes + cs.OutBytes
			}
			if got != n || sum != want {
				b.Fatalf("counted %d frames, %d bytes; want %d frames, %d bytes", got, sum, n, want)
			}
			if fi, err := os.Stat(path); err == nil {
				b.SetBytes(fi.Size())
			}
			b.ReportAllocs()
			// One thread: its CPU time is what the decoder costs on one
			// core, whatever else the machine runs.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			cpu0 := threadCPU()
			for b.Loop() {
				count()
			}
			cpu := time.Duration(threadCPU() - cpu0)
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpps")
			b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds()/1e6, "Mpps/cpu")
		})
	}
}

// BenchmarkDecode decodes one frame already in memory.
func BenchmarkDecode(b *testing.B) {
	c, err := NewCounter(benchOwners(300))
	if err != nil {
		b.Fatal(err)
	}
	eth4, _ := pkt{src: "10.0.0.7", dst: "198.51.100.7", payload: 1448, tcpOpts: true}.ethernet(b)
	eth6, _ := pkt{src: "2001:db8:ffff::7", dst: "2001:db8::9", payload: 1428, tcpOpts: true}.ethernet(b)
	sll4, _ := pkt{src: "10.0.0.7", dst: "10.0.1.9", proto: layers.IPProtocolUDP, payload: 100}.sll(b, layers.LinuxSLLPacketTypeHost, 1)
	frames := []struct {
		name string
		link layers.LinkType
		data []byte
	}{
		{"tcp4", layers.LinkTypeEthernet, eth4[:min(len(eth4), 128)]},
		{"tcp6", layers.LinkTypeEthernet, eth6[:min(len(eth6), 128)]},
		{"udp4-sll", layers.LinkTypeLinuxSLL, sll4},
	}
	for _, f := range frames {
		b.Run("frame="+f.name, func(b *testing.B) {
			d := NewDecoder(c)
			if v := d.Decode(f.link, f.data, 1514, Offload{}); v != Counted {
				b.Fatalf("Decode = %v, want counted", v)
			}
			b.ReportAllocs()
			for b.Loop() {
				d.Decode(f.link, f.data, 1514, Offload{})
			}
		})
	}
}

// cpuTime is the CPU time (user + system) of the whole process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// transfer sends size bytes over TCP on lo, from one partition address to
// another, inside ns.
func transfer(b *testing.B, ns *netns, size int64) {
	b.Helper()
	var ln net.Listener
	if err := ns.do(func() (err error) { ln, err = net.Listen("tcp", "10.206.0.12:0"); return err }); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		n, _ := io.CopyBuffer(io.Discard, conn, make([]byte, 256<<10))
		got <- n
	}()
	err := ns.do(func() error {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(10, 206, 0, 11)}}
		conn, err := d.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		buf := make([]byte, 256<<10)
		for sent := int64(0); sent < size; {
			n, err := conn.Write(buf[:min(int64(len(buf)), size-sent)])
			sent += int64(n)
			if err != nil {
				conn.Close()
				return err
			}
		}
		return conn.Close()
	})
	if err != nil {
		b.Fatal(err)
	}
	if n := <-got; n != size {
		b.Fatalf("received %d bytes, want %d", n, size)
	}
}

// BenchmarkLoopbackTransfer measures what a capture costs a TCP transfer
// of 1 GiB between two partition addresses on lo (in a namespace of its
// own): throughput (MB/s) and the process's CPU time per GiB, without and
// with a capture of lo running. Needs root; run with -benchtime=1x or 3x.
func BenchmarkLoopbackTransfer(b *testing.B) {
	requireNetns(b)
	const size = 1 << 30
	ns := newNetns(b, "bench")
	ns.addAddr(b, "lo", "10.206.0.11/32")
	ns.addAddr(b, "lo", "10.206.0.12/32")
	for _, capture := range []bool{false, true} {
		b.Run(fmt.Sprintf("capture=%v", capture), func(b *testing.B) {
			c := mustCounter(b, map[string]string{"10.206.0.11/32": "slappart0", "10.206.0.12/32": "slappart1"})
			if capture {
				var cp *Capture
				if err := ns.do(func() (err error) { cp, err = OpenCapture("lo", c, CaptureOptions{}); return err }); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- cp.Run(ctx) }()
				defer func() {
					cancel()
					if err := <-done; err != nil {
						b.Error(err)
					}
					st := cp.Stats()
					if st.Drops > 0 {
						b.Logf("the capture dropped %d frames of %d", st.Drops, st.Frames+st.Drops)
					}
					b.ReportMetric(st.CPU.Seconds()/float64(b.N), "capture-cpu-s/GiB")
					b.ReportMetric(float64(st.Frames)/float64(b.N), "frames/GiB")
					if got := c.Total()["slappart0"].OutBytes; got < uint64(b.N)*size {
						b.Errorf("slappart0 sent %d bytes, want at least %d", got, uint64(b.N)*size)
					}
				}()
			}
			transfer(b, ns, 1<<20) // warm up, and the capture is running
			b.SetBytes(size)
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for range b.N {
				transfer(b, ns, size)
			}
			b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/GiB")
		})
	}
}

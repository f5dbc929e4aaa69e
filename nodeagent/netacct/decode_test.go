package netacct

import (
	"encoding/binary"
	"maps"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var testOwners = map[string]string{
	"10.0.0.11/32":          "slappart0",
	"10.0.0.13/32":          "slappart0",
	"2001:db8::11/128":      "slappart0",
	"10.0.0.12/32":          "slappart1",
	"2001:db8::12/128":      "slappart1",
	"2001:db8:0:100::/56":   "slappart1", // a range
	"2001:db8:0:100::5/128": "slappart0", // inside it: the longest prefix wins
	"192.168.7.0/24":        "slappart1",
}

func TestDecode(t *testing.T) {
	const ext4, ext6 = "198.51.100.7", "2001:db8:ffff::7"
	type frame struct {
		link    layers.LinkType
		data    []byte
		wire    int // 0: len(data)
		off     Offload
		ipBytes int // IP-level bytes of one packet
	}
	eth := func(p pkt) frame {
		d, n := p.ethernet(t)
		return frame{link: layers.LinkTypeEthernet, data: d, ipBytes: n}
	}
	tests := []struct {
		name  string
		f     frame
		want  Verdict
		parts map[string]Counts // nil: nothing counted
	}{
		{name: "tcp4 out", f: eth(pkt{src: "10.0.0.11", dst: ext4, payload: 100}), want: Counted,
			parts: map[string]Counts{"slappart0": {OutBytes: 140, OutPackets: 1}}},
		{name: "udp6 in", f: eth(pkt{src: ext6, dst: "2001:db8::12", proto: layers.IPProtocolUDP, payload: 1000}), want: Counted,
			parts: map[string]Counts{"slappart1": {InBytes: 1048, InPackets: 1}}},
		{name: "between partitions", f: eth(pkt{src: "10.0.0.11", dst: "10.0.0.12", proto: layers.IPProtocolUDP, payload: 10}), want: Counted,
			parts: map[string]Counts{"slappart0": {OutBytes: 38, OutPackets: 1}, "slappart1": {InBytes: 38, InPackets: 1}}},
		{name: "partition to itself", f: eth(pkt{src: "10.0.0.13", dst: "10.0.0.11", payload: 10}), want: Internal},
		{name: "unowned", f: eth(pkt{src: ext4, dst: "10.0.0.99", payload: 10}), want: Unowned},
		{name: "range", f: eth(pkt{src: "2001:db8:0:1ff::9", dst: ext6, payload: 60}), want: Counted,
			parts: map[string]Counts{"slappart1": {OutBytes: 120, OutPackets: 1}}},
		{name: "longest prefix wins", f: eth(pkt{src: ext6, dst: "2001:db8:0:100::5", payload: 60}), want: Counted,
			parts: map[string]Counts{"slappart0": {InBytes: 120, InPackets: 1}}},
		{name: "ipv4 range", f: eth(pkt{src: ext4, dst: "192.168.7.200", proto: layers.IPProtocolUDP}), want: Counted,
			parts: map[string]Counts{"slappart1": {InBytes: 28, InPackets: 1}}},
		{name: "802.1Q", f: eth(pkt{src: "10.0.0.12", dst: ext4, payload: 5, vlan: 42}), want: Counted,
			parts: map[string]Counts{"slappart1": {OutBytes: 45, OutPackets: 1}}},
		{name: "truncated to the headers counts the whole packet", f: func() frame {
			f := eth(pkt{src: ext4, dst: "10.0.0.11", payload: 1400, tcpOpts: true})
			f.wire, f.data = len(f.data), f.data[:66]
			return f
		}(), want: Counted, parts: map[string]Counts{"slappart0": {InBytes: 1452, InPackets: 1}}},
		{name: "TSO length left to the card", f: func() frame {
			f := eth(pkt{src: "10.0.0.11", dst: ext4, payload: 3000})
			binary.BigEndian.PutUint16(f.data[14+2:], 0)
			return f
		}(), want: Counted, parts: map[string]Counts{"slappart0": {OutBytes: 3040, OutPackets: 1}}},
		{name: "offloaded tcp4: counted as its segments", f: func() frame {
			f := eth(pkt{src: "10.0.0.11", dst: ext4, payload: 4000, tcpOpts: true})
			f.off = Offload{Type: offloadTCPv4, Size: 1448}
			return f
		}(), want: Counted, parts: map[string]Counts{"slappart0": {OutBytes: 4000 + 3*52, OutPackets: 3}}},
		{name: "offloaded tcp6 with ECN bit", f: func() frame {
			f := eth(pkt{src: ext6, dst: "2001:db8::11", payload: 2 * 1428, tcpOpts: true})
			f.off = Offload{Type: offloadTCPv6 | offloadECN, Size: 1428}
			return f
		}(), want: Counted, parts: map[string]Counts{"slappart0": {InBytes: 2*1428 + 2*72, InPackets: 2}}},
		{name: "offloaded udp segments", f: func() frame {
			f := eth(pkt{src: "10.0.0.12", dst: ext4, proto: layers.IPProtocolUDP, payload: 2500})
			f.off = Offload{Type: offloadUDPL4, Size: 1000}
			return f
		}(), want: Counted, parts: map[string]Counts{"slappart1": {OutBytes: 2500 + 3*28, OutPackets: 3}}},
		{name: "offload smaller than a segment", f: func() frame {
			f := eth(pkt{src: "10.0.0.12", dst: ext4, payload: 100})
			f.off = Offload{Type: offloadTCPv4, Size: 1448}
			return f
		}(), want: Counted, parts: map[string]Counts{"slappart1": {OutBytes: 140, OutPackets: 1}}},
		{name: "raw ipv6", f: func() frame {
			d, n := pkt{src: "2001:db8::12", dst: ext6, proto: layers.IPProtocolUDP, payload: 7}.raw(t)
			return frame{link: layers.LinkTypeRaw, data: d, ipBytes: n}
		}(), want: Counted, parts: map[string]Counts{"slappart1": {OutBytes: 55, OutPackets: 1}}},
		{name: "raw ipv4 (DLT 12)", f: func() frame {
			d, n := pkt{src: ext4, dst: "10.0.0.12", payload: 7}.raw(t)
			return frame{link: linkRawAlt, data: d, ipBytes: n}
		}(), want: Counted, parts: map[string]Counts{"slappart1": {InBytes: 47, InPackets: 1}}},
		{name: "raw, not IP", f: frame{link: layers.LinkTypeRaw, data: []byte{0x20, 0, 0, 0}}, want: NotIP},
		{name: "linux cooked, received", f: func() frame {
			d, n := pkt{src: ext4, dst: "10.0.0.11", payload: 1}.sll(t, layers.LinuxSLLPacketTypeHost, 1)
			return frame{link: layers.LinkTypeLinuxSLL, data: d, ipBytes: n}
		}(), want: Counted, parts: map[string]Counts{"slappart0": {InBytes: 41, InPackets: 1}}},
		{name: "linux cooked, sent on an ethernet", f: func() frame {
			d, n := pkt{src: "10.0.0.11", dst: ext4, payload: 1}.sll(t, layers.LinuxSLLPacketTypeOutgoing, 1)
			return frame{link: layers.LinkTypeLinuxSLL, data: d, ipBytes: n}
		}(), want: Counted, parts: map[string]Counts{"slappart0": {OutBytes: 41, OutPackets: 1}}},
		{name: "linux cooked, sent on lo: the duplicate", f: func() frame {
			d, n := pkt{src: "10.0.0.11", dst: "10.0.0.12", payload: 1}.sll(t, layers.LinuxSLLPacketTypeOutgoing, arphrdLoopback)
			return frame{link: layers.LinkTypeLinuxSLL, data: d, ipBytes: n}
		}(), want: Duplicate},
		{name: "bsd loopback ipv6", f: func() frame {
			d, n := pkt{src: "2001:db8::11", dst: "2001:db8::12", payload: 3}.null(t)
			return frame{link: layers.LinkTypeNull, data: d, ipBytes: n}
		}(), want: Counted, parts: map[string]Counts{"slappart0": {OutBytes: 63, OutPackets: 1}, "slappart1": {InBytes: 63, InPackets: 1}}},
		{name: "ip in ip: the outer header", f: func() frame {
			inner, _ := pkt{src: "10.0.0.12", dst: ext4, payload: 8}.raw(t)
			d := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeIPv4},
				&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: []byte{10, 0, 0, 11}, DstIP: []byte{198, 51, 100, 7}},
				gopacket.Payload(inner))
			return frame{link: layers.LinkTypeEthernet, data: d}
		}(), want: Counted, parts: map[string]Counts{"slappart0": {OutBytes: 20 + 48, OutPackets: 1}}},
		{name: "arp", f: func() frame {
			d := serialize(t, &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: layers.EthernetTypeARP},
				&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
					Operation: 1, SourceHwAddress: macA, SourceProtAddress: []byte{10, 0, 0, 11}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 12}})
			return frame{link: layers.LinkTypeEthernet, data: d}
		}(), want: NotIP},
		{name: "ipv4 header cut", f: func() frame {
			f := eth(pkt{src: "10.0.0.11", dst: ext4, payload: 10})
			f.data = f.data[:14+12]
			return f
		}(), want: Undecodable},
		{name: "ethernet too short", f: frame{link: layers.LinkTypeEthernet, data: []byte{1, 2, 3}}, want: Undecodable},
		{name: "linux cooked address length lies", f: frame{link: layers.LinkTypeLinuxSLL, data: []byte{0, 0, 0, 1, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0}}, want: Undecodable},
		{name: "unsupported link type", f: frame{link: layers.LinkTypeIEEE802_11, data: make([]byte, 64)}, want: Undecodable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCounter(t, testOwners)
			d := NewDecoder(c)
			if got := d.Decode(tt.f.link, tt.f.data, tt.f.wire, tt.f.off); got != tt.want {
				t.Fatalf("Decode = %v, want %v", got, tt.want)
			}
			got := map[string]Counts{}
			for id, cs := range c.Snapshot() {
				if !cs.IsZero() {
					got[id] = cs
				}
			}
			want := tt.parts
			if want == nil {
				want = map[string]Counts{}
			}
			if !maps.Equal(got, want) {
				t.Errorf("counts = %+v, want %+v", got, want)
			}
			st := c.Stats()
			if total := st.Counted + st.Unowned + st.Internal + st.NotIP + st.Undecodable + st.Duplicates; total != 1 {
				t.Errorf("stats %+v: %d frames, want 1", st, total)
			}
		})
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	c := mustCounter(t, testOwners)
	d := NewDecoder(c)
	f4, _ := pkt{src: "10.0.0.11", dst: "10.0.0.12", payload: 100, tcpOpts: true}.ethernet(t)
	f6, _ := pkt{src: "2001:db8:0:1ff::9", dst: "2001:db8::11", proto: layers.IPProtocolUDP, payload: 100}.ethernet(t)
	fs, _ := pkt{src: "10.0.0.11", dst: "10.0.0.12"}.sll(t, layers.LinuxSLLPacketTypeOutgoing, arphrdLoopback)
	allocs := testing.AllocsPerRun(1000, func() {
		d.Decode(layers.LinkTypeEthernet, f4, 0, Offload{Type: offloadTCPv4, Size: 1448})
		d.Decode(layers.LinkTypeEthernet, f6, 0, Offload{})
		d.Decode(layers.LinkTypeLinuxSLL, fs, 0, Offload{})
	})
	if allocs != 0 {
		t.Errorf("Decode allocates %v times per 3 frames, want 0", allocs)
	}
	if st := c.Stats(); st.Counted == 0 || st.Duplicates == 0 {
		t.Errorf("stats %+v: the frames were not decoded", st)
	}
}

func TestCheckLink(t *testing.T) {
	for _, l := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw, linkRawAlt, layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeIPv4, layers.LinkTypeIPv6} {
		if err := CheckLink(l); err != nil {
			t.Errorf("CheckLink(%d) = %v", l, err)
		}
	}
	if err := CheckLink(layers.LinkTypeIEEE802_11); err == nil {
		t.Error("CheckLink(802.11) = nil, want an error")
	}
}

// FuzzDecode: any bytes, any link type: no panic, one verdict, and
// counts only ever for owned addresses.
func FuzzDecode(f *testing.F) {
	for _, p := range []pkt{{src: "10.0.0.11", dst: "198.51.100.7", payload: 10, tcpOpts: true}, {src: "2001:db8::12", dst: "2001:db8::11", proto: layers.IPProtocolUDP}} {
		d, _ := p.ethernet(f)
		f.Add(uint8(0), d)
		r, _ := p.raw(f)
		f.Add(uint8(2), r)
		s, _ := p.sll(f, layers.LinuxSLLPacketTypeHost, 1)
		f.Add(uint8(1), s)
	}
	links := []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeRaw, layers.LinkTypeNull}
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		c := mustCounter(t, testOwners)
		d := NewDecoder(c)
		v := d.Decode(links[int(link)%len(links)], data, 0, Offload{Type: offloadTCPv4, Size: 100})
		if v > Duplicate {
			t.Fatalf("verdict %d", v)
		}
		for id, cs := range c.Snapshot() {
			if v != Counted && !cs.IsZero() {
				t.Fatalf("verdict %v but %s counted %+v", v, id, cs)
			}
		}
	})
}

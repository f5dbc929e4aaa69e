package netacct

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// pkt describes a test frame.
type pkt struct {
	src, dst string // IP addresses (the family follows)
	proto    layers.IPProtocol
	payload  int  // bytes above the transport header
	tcpOpts  bool // a 12-byte timestamp option, as Linux sends
	vlan     uint16
}

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// ipLayers returns the IP and transport layers of p, and the IP packet's
// length.
func (p pkt) ipLayers(t testing.TB) ([]gopacket.SerializableLayer, layers.EthernetType, int) {
	t.Helper()
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	proto := p.proto
	if proto == 0 {
		proto = layers.IPProtocolTCP
	}
	var l4 []gopacket.SerializableLayer
	l4len := 0
	switch proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 80, Seq: 1, ACK: true, Window: 512}
		l4len = 20
		if p.tcpOpts {
			tcp.Options = []layers.TCPOption{
				{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
				{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
			}
			l4len = 32
		}
		l4 = []gopacket.SerializableLayer{tcp}
	case layers.IPProtocolUDP:
		l4 = []gopacket.SerializableLayer{&layers.UDP{SrcPort: 40000, DstPort: 53}}
		l4len = 8
	default:
		l4len = 0
	}
	pay := gopacket.Payload(make([]byte, p.payload))
	var ip gopacket.SerializableLayer
	var et layers.EthernetType
	iplen := 0
	if src.Is4() {
		ip = &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		et, iplen = layers.EthernetTypeIPv4, 20+l4len+p.payload
	} else {
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		et, iplen = layers.EthernetTypeIPv6, 40+l4len+p.payload
	}
	out := append([]gopacket.SerializableLayer{ip}, l4...)
	return append(out, pay), et, iplen
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ethernet is p in an Ethernet frame (802.1Q tagged if p.vlan); it returns
// the frame and the IP packet's length.
func (p pkt) ethernet(t testing.TB) ([]byte, int) {
	t.Helper()
	ls, et, n := p.ipLayers(t)
	eth := &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: et}
	head := []gopacket.SerializableLayer{eth}
	if p.vlan != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		head = append(head, &layers.Dot1Q{VLANIdentifier: p.vlan, Type: et})
	}
	return serialize(t, append(head, ls...)...), n
}

// raw is p as a bare IP packet.
func (p pkt) raw(t testing.TB) ([]byte, int) {
	t.Helper()
	ls, _, n := p.ipLayers(t)
	return serialize(t, ls...), n
}

// sll is p behind a Linux cooked header of the given packet and hardware
// types.
func (p pkt) sll(t testing.TB, packetType layers.LinuxSLLPacketType, hatype uint16) ([]byte, int) {
	t.Helper()
	ip, n := p.raw(t)
	_, et, _ := p.ipLayers(t)
	h := make([]byte, 16)
	binary.BigEndian.PutUint16(h[0:2], uint16(packetType))
	binary.BigEndian.PutUint16(h[2:4], hatype)
	binary.BigEndian.PutUint16(h[4:6], 6)
	copy(h[6:], macA)
	binary.BigEndian.PutUint16(h[14:16], uint16(et))
	return append(h, ip...), n
}

// null is p behind a BSD loopback header.
func (p pkt) null(t testing.TB) ([]byte, int) {
	t.Helper()
	ls, et, n := p.ipLayers(t)
	fam := layers.ProtocolFamilyIPv4
	if et == layers.EthernetTypeIPv6 {
		fam = layers.ProtocolFamilyIPv6Linux
	}
	return serialize(t, append([]gopacket.SerializableLayer{&layers.Loopback{Family: fam}}, ls...)...), n
}

func mustCounter(t testing.TB, owners map[string]string) *Counter {
	t.Helper()
	m := map[netip.Prefix]string{}
	for p, part := range owners {
		m[netip.MustParsePrefix(p)] = part
	}
	c, err := NewCounter(m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

package netacct

import (
	"encoding/binary"
	"fmt"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Verdict says what a Decoder did with one frame.
type Verdict uint8

const (
	// Counted: attributed to the partition owning its source, its
	// destination, or both.
	Counted Verdict = iota
	// Unowned: an IP packet between addresses no partition owns.
	Unowned
	// Internal: an IP packet from a partition to itself.
	Internal
	// NotIP: a frame carrying something else than IPv4 or IPv6.
	NotIP
	// Undecodable: truncated or malformed.
	Undecodable
	// Duplicate: the outgoing copy of a loopback packet (see Stats).
	Duplicate
)

var verdictNames = [...]string{"counted", "unowned", "internal", "not-ip", "undecodable", "duplicate"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("Verdict(%d)", uint8(v))
}

// Offload describes a packet captured before the kernel or the card cut it
// into segments (GSO, TSO) or after it merged segments (GRO): one captured
// packet standing for several on the wire. It is what Linux's
// virtio_net_hdr says (PACKET_VNET_HDR); the zero value means none.
type Offload struct {
	Type uint8  // VIRTIO_NET_HDR_GSO_*: 1 TCPv4, 3 UDP (fragments), 4 TCPv6, 5 UDP segments; 0x80 (ECN) is ignored
	Size uint16 // payload bytes per segment (the MSS for TCP)
}

// Offload types (linux/virtio_net.h).
const (
	offloadTCPv4 = 1
	offloadUDP   = 3
	offloadTCPv6 = 4
	offloadUDPL4 = 5
	offloadECN   = 0x80
)

// Link-layer types a Decoder reads (pcap LINKTYPE_ values).
var decodedLinks = []layers.LinkType{
	layers.LinkTypeNull, layers.LinkTypeEthernet, layers.LinkTypeRaw, layers.LinkTypeLoop,
	layers.LinkTypeLinuxSLL, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
}

// linkRawAlt is LINKTYPE_RAW's other number (12 on most systems for DLT_RAW).
const linkRawAlt layers.LinkType = 12

// CheckLink returns an error naming link if a Decoder cannot read it.
func CheckLink(link layers.LinkType) error {
	if link == linkRawAlt {
		return nil
	}
	for _, l := range decodedLinks {
		if l == link {
			return nil
		}
	}
	return fmt.Errorf("netacct: link-layer type %d (%s) is not supported: expected Ethernet (1), Linux cooked (113), BSD loopback (0, 108) or raw IP (101, 228, 229)", link, link)
}

// The IP layers stop the parser: a tunnel's inner header must not replace
// the outer one, which holds the partition's address.
type ipv4Layer struct{ layers.IPv4 }

func (*ipv4Layer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

type ipv6Layer struct{ layers.IPv6 }

func (*ipv6Layer) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// ARPHRD_LOOPBACK, the hardware type of lo in a Linux cooked header.
const arphrdLoopback = 772

// Decoder decodes frames with gopacket's DecodingLayerParser (Ethernet,
// 802.1Q, Linux cooked, BSD loopback, IPv4, IPv6: nothing above IP) and
// counts each IP packet into its Counter. It allocates nothing per frame.
// A Decoder is for one goroutine; give each capture its own, all feeding
// one Counter.
type Decoder struct {
	c *Counter

	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	lo    layers.Loopback
	ip4   ipv4Layer
	ip6   ipv6Layer

	fromEthernet, fromSLL, fromLoopback, fromIPv4, fromIPv6 *gopacket.DecodingLayerParser
	decoded                                                 []gopacket.LayerType
}

// NewDecoder returns a Decoder counting into c.
func NewDecoder(c *Counter) *Decoder {
	d := &Decoder{c: c, decoded: make([]gopacket.LayerType, 0, 8)}
	parser := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		p := gopacket.NewDecodingLayerParser(first)
		var dlc gopacket.DecodingLayerContainer = gopacket.DecodingLayerSparse(nil)
		for _, l := range []gopacket.DecodingLayer{&d.eth, &d.dot1q, &d.sll, &d.lo, &d.ip4, &d.ip6} {
			dlc = dlc.Put(l)
		}
		p.SetDecodingLayerContainer(dlc)
		// ARP, LLDP…: stop there without an error (counted as NotIP).
		p.IgnoreUnsupported = true
		return p
	}
	d.fromEthernet = parser(layers.LayerTypeEthernet)
	d.fromSLL = parser(layers.LayerTypeLinuxSLL)
	d.fromLoopback = parser(layers.LayerTypeLoopback)
	d.fromIPv4 = parser(layers.LayerTypeIPv4)
	d.fromIPv6 = parser(layers.LayerTypeIPv6)
	return d
}

// Decode counts one frame: data starts at the link-layer header of type
// link (raw IP types start at the IP header) and may be truncated to its
// headers; wireLen is the frame's length before truncation (0: len(data)).
// off describes an offloaded packet (zero: none).
//
// The bytes counted are the IP packet's (header included, link layer
// excluded), from its length field, so a truncated capture counts the
// same; an offloaded packet counts as the segments it stands for, each
// with its own IP and transport headers.
func (d *Decoder) Decode(link layers.LinkType, data []byte, wireLen int, off Offload) Verdict {
	v := d.decode(link, data, wireLen, off)
	c := d.c
	switch v {
	case Counted:
		c.counted.Add(1)
	case Unowned:
		c.unowned.Add(1)
	case Internal:
		c.internal.Add(1)
	case NotIP:
		c.notIP.Add(1)
	case Undecodable:
		c.undecodable.Add(1)
	case Duplicate:
		c.duplicates.Add(1)
	}
	return v
}

func (d *Decoder) decode(link layers.LinkType, data []byte, wireLen int, off Offload) Verdict {
	if wireLen < len(data) {
		wireLen = len(data)
	}
	var p *gopacket.DecodingLayerParser
	switch link {
	case layers.LinkTypeEthernet:
		p = d.fromEthernet
	case layers.LinkTypeLinuxSLL:
		p = d.fromSLL
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		p = d.fromLoopback
	case layers.LinkTypeRaw, linkRawAlt, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		if len(data) == 0 {
			return Undecodable
		}
		switch data[0] >> 4 {
		case 4:
			p = d.fromIPv4
		case 6:
			p = d.fromIPv6
		default:
			return NotIP
		}
	default:
		return Undecodable
	}
	d.decoded = d.decoded[:0]
	if err := p.DecodeLayers(data, &d.decoded); err != nil {
		return Undecodable
	}
	for _, lt := range d.decoded {
		switch lt {
		case layers.LayerTypeLinuxSLL:
			if d.sll.PacketType == layers.LinuxSLLPacketTypeOutgoing && d.sll.AddrType == arphrdLoopback {
				return Duplicate
			}
		case layers.LayerTypeIPv4:
			return d.count4(data, wireLen, off)
		case layers.LayerTypeIPv6:
			return d.count6(data, wireLen, off)
		}
	}
	return NotIP
}

// offset is where sub starts in data (sub is a sub-slice of data).
func offset(data, sub []byte) int { return cap(data) - cap(sub) }

func (d *Decoder) count4(data []byte, wireLen int, off Offload) Verdict {
	ip := &d.ip4.IPv4
	hdr := ip.Contents
	if len(hdr) < 20 {
		return Undecodable
	}
	size := int(binary.BigEndian.Uint16(hdr[2:4]))
	if size == 0 { // TSO with the length left to the card: the frame's
		size = wireLen - offset(data, hdr)
	}
	t := d.c.tab.Load()
	src, dst := t.lookup4([4]byte(ip.SrcIP)), t.lookup4([4]byte(ip.DstIP))
	if v := ownership(src, dst); v != Counted {
		return v
	}
	l4 := 0
	switch ip.Protocol {
	case layers.IPProtocolTCP:
		l4 = tcpHeaderLen(ip.Payload)
	case layers.IPProtocolUDP:
		l4 = 8
	}
	bytes, packets := segments(size, len(hdr), l4, off)
	add(src, dst, bytes, packets)
	return Counted
}

func (d *Decoder) count6(data []byte, wireLen int, off Offload) Verdict {
	ip := &d.ip6.IPv6
	if len(ip.Contents) < 40 {
		return Undecodable
	}
	size := 40 + int(binary.BigEndian.Uint16(ip.Contents[4:6]))
	hdr := 40
	next := ip.NextHeader
	if ip.HopByHop != nil {
		hdr += ip.HopByHop.ActualLength
		next = ip.HopByHop.NextHeader
	}
	if size == 40 { // jumbogram, or BIG TCP: the length is the frame's
		size = wireLen - offset(data, ip.Contents)
	}
	t := d.c.tab.Load()
	src, dst := t.lookup6([16]byte(ip.SrcIP)), t.lookup6([16]byte(ip.DstIP))
	if v := ownership(src, dst); v != Counted {
		return v
	}
	l4 := 0
	switch next {
	case layers.IPProtocolTCP:
		l4 = tcpHeaderLen(ip.Payload)
	case layers.IPProtocolUDP:
		l4 = 8
	}
	bytes, packets := segments(size, hdr, l4, off)
	add(src, dst, bytes, packets)
	return Counted
}

func ownership(src, dst *counters) Verdict {
	switch {
	case src == nil && dst == nil:
		return Unowned
	case src == dst:
		return Internal
	}
	return Counted
}

func add(src, dst *counters, bytes, packets uint64) {
	if src != nil {
		src.outBytes.Add(bytes)
		src.outPackets.Add(packets)
	}
	if dst != nil {
		dst.inBytes.Add(bytes)
		dst.inPackets.Add(packets)
	}
}

// tcpHeaderLen reads the data offset of a TCP header (20 when truncated).
func tcpHeaderLen(seg []byte) int {
	if len(seg) < 13 {
		return 20
	}
	if n := int(seg[12]>>4) * 4; n >= 20 {
		return n
	}
	return 20
}

// segments returns the bytes and packets an IP packet of size bytes (with
// l3 bytes of IP headers and l4 of transport header) stands for on the
// wire: itself, or the segments an offloaded packet is cut into, each
// carrying the headers again.
func segments(size, l3, l4 int, off Offload) (uint64, uint64) {
	if off.Size == 0 || size <= 0 {
		return uint64(max(size, 0)), 1
	}
	hdr := l3 + l4
	switch off.Type &^ offloadECN {
	case offloadTCPv4, offloadTCPv6, offloadUDPL4:
	case offloadUDP: // IP fragments: only the first carries the UDP header
		hdr = l3
	default:
		return uint64(size), 1
	}
	payload := size - hdr
	seg := int(off.Size)
	if payload <= seg {
		return uint64(size), 1
	}
	n := (payload + seg - 1) / seg
	return uint64(size + (n-1)*hdr), uint64(n)
}

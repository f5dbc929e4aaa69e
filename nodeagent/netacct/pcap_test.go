package netacct

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestPcapRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, layers.LinkTypeEthernet, 96)
	if err != nil {
		t.Fatal(err)
	}
	f0, _ := pkt{src: "10.0.0.11", dst: "198.51.100.7", payload: 1000}.ethernet(t)
	f1, _ := pkt{src: "2001:db8::12", dst: "2001:db8::11", proto: layers.IPProtocolUDP, payload: 3}.ethernet(t)
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	for i, f := range [][]byte{f0, f1} {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts.Add(time.Duration(i) * time.Second), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewPcapReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet || r.SnapLen() != 96 {
		t.Errorf("header: link %v snaplen %d, want Ethernet 96", r.LinkType(), r.SnapLen())
	}
	for i, f := range [][]byte{f0, f1} {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			t.Fatalf("record %d: %v", i+1, err)
		}
		want := f[:min(len(f), 96)]
		if !bytes.Equal(data, want) || ci.CaptureLength != len(want) || ci.Length != len(f) {
			t.Errorf("record %d: %d bytes (caplen %d, len %d), want %d (len %d)", i+1, len(data), ci.CaptureLength, ci.Length, len(want), len(f))
		}
		if wantTS := ts.Add(time.Duration(i) * time.Second); !ci.Timestamp.Equal(wantTS) {
			t.Errorf("record %d: time %v, want %v", i+1, ci.Timestamp, wantTS)
		}
	}
	if _, _, err := r.ReadPacketData(); err != io.EOF {
		t.Errorf("after the last record: %v, want io.EOF", err)
	}
}

// bigEndianMicro is a pcap file as a big-endian machine writes it, with
// microsecond time stamps: one raw IPv4 record.
func bigEndianMicro(t *testing.T) ([]byte, int) {
	ip, n := pkt{src: "198.51.100.7", dst: "10.0.0.12", proto: layers.IPProtocolUDP, payload: 20}.raw(t)
	var b bytes.Buffer
	h := make([]byte, 24)
	binary.BigEndian.PutUint32(h[0:], pcapMagicMicro)
	binary.BigEndian.PutUint16(h[4:], 2)
	binary.BigEndian.PutUint16(h[6:], 4)
	binary.BigEndian.PutUint32(h[16:], 65535)
	binary.BigEndian.PutUint32(h[20:], uint32(layers.LinkTypeRaw))
	b.Write(h)
	rec := make([]byte, 16)
	binary.BigEndian.PutUint32(rec[0:], 1700000000)
	binary.BigEndian.PutUint32(rec[4:], 250000)
	binary.BigEndian.PutUint32(rec[8:], uint32(len(ip)))
	binary.BigEndian.PutUint32(rec[12:], uint32(len(ip)))
	b.Write(rec)
	b.Write(ip)
	return b.Bytes(), n
}

func TestPcapBigEndianMicroseconds(t *testing.T) {
	file, n := bigEndianMicro(t)
	r, err := NewPcapReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	_, ci, err := r.ZeroCopyReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1700000000, 250000000).UTC(); !ci.Timestamp.Equal(want) || ci.Length != n {
		t.Errorf("record: time %v len %d, want %v len %d", ci.Timestamp, ci.Length, want, n)
	}
	c := mustCounter(t, testOwners)
	if got, err := CountPcap(bytes.NewReader(file), c); err != nil || got != 1 {
		t.Fatalf("CountPcap = %d, %v; want 1 frame", got, err)
	}
	if got, want := c.Snapshot()["slappart1"], (Counts{InBytes: uint64(n), InPackets: 1}); got != want {
		t.Errorf("slappart1 = %+v, want %+v", got, want)
	}
}

func TestPcapErrors(t *testing.T) {
	good, _ := bigEndianMicro(t)
	huge := bytes.Clone(good)
	binary.BigEndian.PutUint32(huge[24+8:], 1<<30)
	hugeSnap := bytes.Clone(huge)
	binary.BigEndian.PutUint32(hugeSnap[16:], 0xffffffff) // the header allows anything
	pcapng := []byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	v3 := bytes.Clone(good)
	binary.BigEndian.PutUint16(v3[4:], 3)
	wifi := bytes.Clone(good)
	binary.BigEndian.PutUint32(wifi[20:], uint32(layers.LinkTypeIEEE802_11))
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "reading the file header"},
		{"text", []byte("this is not a capture file at all"), "magic number"},
		{"pcapng", pcapng, "pcapng file"},
		{"version", v3, "format version 3.4"},
		{"record header cut", good[:24+10], "record 1: header"},
		{"record data cut", good[:len(good)-3], "record 1: 48 bytes expected"},
		{"corrupt length", huge, "record 1: captured length 1073741824 exceeds 262144"},
		{"corrupt length, any snapshot length", hugeSnap, "record 1: captured length 1073741824 exceeds 262144"},
		{"link type", wifi, "link-layer type 105"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CountPcap(bytes.NewReader(tt.file), mustCounter(t, testOwners))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CountPcap = %v, want an error with %q", err, tt.want)
			}
			if tt.name != "link type" && !errors.Is(err, ErrPcap) {
				t.Errorf("%v does not wrap ErrPcap", err)
			}
		})
	}
}

// TestCountPcap writes a capture of known traffic and counts it back.
func TestCountPcap(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, layers.LinkTypeLinuxSLL, 128)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Counts{"slappart0": {}, "slappart1": {}}
	add := func(id string, c Counts) { want[id] = want[id].Add(c) }
	for i := range 300 {
		p := pkt{src: "198.51.100.7", dst: "10.0.0.11", payload: i}
		typ := layers.LinuxSLLPacketTypeHost
		switch i % 3 {
		case 1:
			p = pkt{src: "2001:db8::12", dst: "2001:db8:ffff::1", proto: layers.IPProtocolUDP, payload: i}
			typ = layers.LinuxSLLPacketTypeOutgoing
		case 2: // lo: the sent copy of a packet between partitions
			p = pkt{src: "10.0.0.11", dst: "10.0.0.12", payload: i}
			typ = layers.LinuxSLLPacketTypeOutgoing
		}
		f, n := p.sll(t, typ, map[bool]uint16{true: arphrdLoopback, false: 1}[i%3 == 2])
		if err := w.WritePacket(gopacket.CaptureInfo{Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
		switch i % 3 {
		case 0:
			add("slappart0", Counts{InBytes: uint64(n), InPackets: 1})
		case 1:
			add("slappart1", Counts{OutBytes: uint64(n), OutPackets: 1})
		case 2: // the received copy
			f, _ := p.sll(t, layers.LinuxSLLPacketTypeHost, arphrdLoopback)
			if err := w.WritePacket(gopacket.CaptureInfo{Length: len(f)}, f); err != nil {
				t.Fatal(err)
			}
			add("slappart0", Counts{OutBytes: uint64(n), OutPackets: 1})
			add("slappart1", Counts{InBytes: uint64(n), InPackets: 1})
		}
	}
	c := mustCounter(t, testOwners)
	n, err := CountPcap(&buf, c)
	if err != nil || n != 400 {
		t.Fatalf("CountPcap = %d, %v; want 400 frames", n, err)
	}
	if got := c.Snapshot(); !maps.Equal(got, want) {
		t.Errorf("counts = %+v, want %+v", got, want)
	}
	if st := c.Stats(); st.Duplicates != 100 || st.Counted != 300 {
		t.Errorf("stats = %+v, want 300 counted and 100 duplicates", st)
	}
}

// FuzzPcapReader: no panic, no record larger than the limit, and a reader
// that accepted a header reads records until EOF or an ErrPcap.
func FuzzPcapReader(f *testing.F) {
	var buf bytes.Buffer
	w, _ := NewPcapWriter(&buf, layers.LinkTypeEthernet, 0)
	fr, _ := pkt{src: "10.0.0.11", dst: "10.0.0.12", payload: 10}.ethernet(f)
	w.WritePacket(gopacket.CaptureInfo{}, fr)
	f.Add(buf.Bytes())
	f.Add([]byte{0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4})
	f.Fuzz(func(t *testing.T, file []byte) {
		r, err := NewPcapReader(bytes.NewReader(file))
		if err != nil {
			if !errors.Is(err, ErrPcap) {
				t.Fatalf("header error %v does not wrap ErrPcap", err)
			}
			return
		}
		for {
			data, ci, err := r.ZeroCopyReadPacketData()
			if err == io.EOF {
				return
			}
			if err != nil {
				if !errors.Is(err, ErrPcap) {
					t.Fatalf("record error %v does not wrap ErrPcap", err)
				}
				return
			}
			if len(data) > pcapMaxRecordLen || ci.Length < ci.CaptureLength {
				t.Fatalf("record of %d bytes (length %d)", len(data), ci.Length)
			}
			NewDecoder(mustCounter(t, testOwners)).Decode(r.LinkType(), data, ci.Length, Offload{})
		}
	})
}

// TestPcapLargeRecord: records larger than the reader's buffer (jumbo
// frames, offloaded packets kept whole) are read too.
func TestPcapLargeRecord(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf, layers.LinkTypeEthernet, 0)
	if err != nil {
		t.Fatal(err)
	}
	big, n := pkt{src: "10.0.0.11", dst: "198.51.100.7", payload: 65000, tcpOpts: true}.ethernet(t)
	small, _ := pkt{src: "10.0.0.11", dst: "198.51.100.7", payload: 1}.ethernet(t)
	for _, f := range [][]byte{small, big, small} {
		if err := w.WritePacket(gopacket.CaptureInfo{}, f); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewPcapReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{small, big, small} {
		data, _, err := r.ZeroCopyReadPacketData()
		if err != nil || !bytes.Equal(data, want) {
			t.Fatalf("record %d: %d bytes, %v; want %d bytes", i+1, len(data), err, len(want))
		}
	}
	if n != 65052 {
		t.Errorf("the large packet is %d bytes", n)
	}
}

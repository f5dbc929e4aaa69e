package netacct

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// ErrPcap is wrapped by every error about a capture file's contents.
var ErrPcap = errors.New("netacct: invalid pcap file")

// Classic libpcap file format (https://www.tcpdump.org/manpages/pcap-savefile.5.html).
const (
	pcapMagicMicro   = 0xa1b2c3d4
	pcapMagicNano    = 0xa1b23c4d
	pcapngMagic      = 0x0a0d0d0a
	pcapHeaderLen    = 24
	pcapRecordLen    = 16
	pcapMaxRecordLen = 256 << 10 // libpcap's MAXIMUM_SNAPLEN: no record is larger
)

// PcapReader reads a classic libpcap capture file (tcpdump -w), in either
// byte order, with microsecond or nanosecond time stamps. It implements
// gopacket.ZeroCopyPacketDataSource and gopacket.PacketDataSource.
type PcapReader struct {
	r       *bufio.Reader
	order   binary.ByteOrder
	nano    bool
	link    layers.LinkType
	snaplen uint32
	record  int
	buf     []byte // records larger than the reader's buffer
}

// NewPcapReader reads the file header from r. A pcapng file, or anything
// else than a pcap file, is an error wrapping ErrPcap.
func NewPcapReader(r io.Reader) (*PcapReader, error) {
	pr := &PcapReader{r: bufio.NewReaderSize(r, 1<<16)}
	var h [pcapHeaderLen]byte
	if _, err := io.ReadFull(pr.r, h[:]); err != nil {
		return nil, fmt.Errorf("%w: reading the file header: %v", ErrPcap, err)
	}
	switch le, be := binary.LittleEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[:4]); {
	case le == pcapMagicMicro:
		pr.order = binary.LittleEndian
	case le == pcapMagicNano:
		pr.order, pr.nano = binary.LittleEndian, true
	case be == pcapMagicMicro:
		pr.order = binary.BigEndian
	case be == pcapMagicNano:
		pr.order, pr.nano = binary.BigEndian, true
	case le == pcapngMagic:
		return nil, fmt.Errorf("%w: this is a pcapng file: expected a classic pcap file (convert it with editcap -F pcap, or capture with tcpdump -w)", ErrPcap)
	default:
		return nil, fmt.Errorf("%w: magic number %#08x: expected %#08x or %#08x", ErrPcap, le, pcapMagicMicro, pcapMagicNano)
	}
	if major := pr.order.Uint16(h[4:6]); major != 2 {
		return nil, fmt.Errorf("%w: format version %d.%d: expected 2.4", ErrPcap, major, pr.order.Uint16(h[6:8]))
	}
	pr.snaplen = pr.order.Uint32(h[16:20])
	pr.link = layers.LinkType(pr.order.Uint32(h[20:24]) & 0xffff) // upper bits: FCS flags
	return pr, nil
}

// LinkType is the link-layer type of every record.
func (pr *PcapReader) LinkType() layers.LinkType { return pr.link }

// SnapLen is the snapshot length the file declares.
func (pr *PcapReader) SnapLen() uint32 { return pr.snaplen }

// ZeroCopyReadPacketData returns the next record. The data is valid until
// the next call. At the end of the file the error is io.EOF; a record cut
// short is io.ErrUnexpectedEOF.
func (pr *PcapReader) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	hdr, err := pr.r.Peek(pcapRecordLen)
	if err != nil {
		if err == io.EOF && len(hdr) == 0 {
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: record %d: header: %w", ErrPcap, pr.record+1, io.ErrUnexpectedEOF)
	}
	pr.record++
	sec, frac := pr.order.Uint32(hdr[0:4]), pr.order.Uint32(hdr[4:8])
	caplen, length := pr.order.Uint32(hdr[8:12]), pr.order.Uint32(hdr[12:16])
	pr.r.Discard(pcapRecordLen)
	// Whatever snapshot length the header claims, no record is larger than
	// libpcap's maximum: a corrupt or hostile file cannot make the reader
	// allocate gigabytes.
	if caplen > pcapMaxRecordLen {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: record %d: captured length %d exceeds %d: the file is corrupt", ErrPcap, pr.record, caplen, pcapMaxRecordLen)
	}
	var data []byte
	if int(caplen) <= pr.r.Size() {
		// In the reader's buffer: valid until the next read, no copy.
		if data, err = pr.r.Peek(int(caplen)); err == nil {
			pr.r.Discard(int(caplen))
		}
	} else {
		if uint32(cap(pr.buf)) < caplen {
			pr.buf = make([]byte, caplen)
		}
		data = pr.buf[:caplen]
		_, err = io.ReadFull(pr.r, data)
	}
	if err != nil {
		return nil, gopacket.CaptureInfo{}, fmt.Errorf("%w: record %d: %d bytes expected: %w", ErrPcap, pr.record, caplen, io.ErrUnexpectedEOF)
	}
	nsec := int64(frac)
	if !pr.nano {
		nsec *= 1000
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(int64(sec), nsec).UTC(),
		CaptureLength: int(caplen),
		Length:        int(max(length, caplen)),
	}
	return data, ci, nil
}

// ReadPacketData is ZeroCopyReadPacketData with a copy of the data.
func (pr *PcapReader) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := pr.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, err
	}
	return append([]byte(nil), data...), ci, nil
}

// PcapWriter writes a classic libpcap file with nanosecond time stamps,
// in little-endian order, that tcpdump and PcapReader read.
type PcapWriter struct {
	w       io.Writer
	snaplen uint32
	hdr     [pcapRecordLen]byte
}

// NewPcapWriter writes the file header for frames of type link, kept up
// to snaplen bytes each (0: 262144).
func NewPcapWriter(w io.Writer, link layers.LinkType, snaplen uint32) (*PcapWriter, error) {
	if snaplen == 0 {
		snaplen = pcapMaxRecordLen
	}
	var h [pcapHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:4], pcapMagicNano)
	binary.LittleEndian.PutUint16(h[4:6], 2)
	binary.LittleEndian.PutUint16(h[6:8], 4)
	binary.LittleEndian.PutUint32(h[16:20], snaplen)
	binary.LittleEndian.PutUint32(h[20:24], uint32(link))
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("netacct: writing the pcap header: %w", err)
	}
	return &PcapWriter{w: w, snaplen: snaplen}, nil
}

// WritePacket appends one frame: data (cut to the snapshot length), with
// ci's time stamp and original length (ci.Length; 0 means len(data)).
func (pw *PcapWriter) WritePacket(ci gopacket.CaptureInfo, data []byte) error {
	length := max(ci.Length, len(data))
	if uint32(len(data)) > pw.snaplen {
		data = data[:pw.snaplen]
	}
	ts := ci.Timestamp
	binary.LittleEndian.PutUint32(pw.hdr[0:4], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(pw.hdr[4:8], uint32(ts.Nanosecond()))
	binary.LittleEndian.PutUint32(pw.hdr[8:12], uint32(len(data)))
	binary.LittleEndian.PutUint32(pw.hdr[12:16], uint32(length))
	if _, err := pw.w.Write(pw.hdr[:]); err != nil {
		return fmt.Errorf("netacct: writing a pcap record: %w", err)
	}
	if _, err := pw.w.Write(data); err != nil {
		return fmt.Errorf("netacct: writing a pcap record: %w", err)
	}
	return nil
}

// CountPcap decodes every frame of a pcap file into c and returns how many
// frames it read. The file's link type must be one a Decoder reads.
func CountPcap(r io.Reader, c *Counter) (int, error) {
	pr, err := NewPcapReader(r)
	if err != nil {
		return 0, err
	}
	if err := CheckLink(pr.LinkType()); err != nil {
		return 0, err
	}
	d := NewDecoder(c)
	link := pr.LinkType()
	n := 0
	for {
		data, ci, err := pr.ZeroCopyReadPacketData()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		d.Decode(link, data, ci.Length, Offload{})
		n++
	}
}

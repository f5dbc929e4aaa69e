package master

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Stored values come in two formats. Instances and partitions, which are
// nearly all of a large state's rows, are written in a compact binary
// format that decodes without parsing text; every other kind is JSON.
// A value's first byte tells them apart: JSON starts with '{', the binary
// format with formatBinaryV1. Values written by older versions (JSON for
// every kind) are read forever.
const formatBinaryV1 byte = 0x01

// Flag bits of the binary format's flags byte.
const (
	flagShared byte = 1 << iota
	flagFreed
	flagUniqueByNetwork
)

// Time encodings of the binary format: a zero time, a UTC time, a time with
// a fixed offset east of UTC.
const (
	timeZero byte = iota
	timeUTC
	timeOffset
)

// binaryKind reports whether values of kind are written in the binary
// format.
func binaryKind(kind EntityKind) bool { return kind == KindInstance || kind == KindPartition }

type encoder struct{ b []byte }

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) float(v float64)  { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

// strMap writes a map with its keys sorted: one state, one encoding.
func (e *encoder) strMap(m map[string]string) {
	e.uvarint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, timeZero)
		return
	}
	// NB: as in JSON, a time is kept with its offset, not its zone's name;
	// offset 0 is UTC.
	_, off := t.Zone()
	if off == 0 {
		e.b = append(e.b, timeUTC)
	} else {
		e.b = append(e.b, timeOffset)
		e.varint(int64(off))
	}
	e.varint(t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

func encodeInstance(i *model.Instance) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, formatBinaryV1)
	var flags byte
	if i.Shared {
		flags |= flagShared
	}
	if i.Freed {
		flags |= flagFreed
	}
	if i.SLA.UniqueByNetwork {
		flags |= flagUniqueByNetwork
	}
	e.b = append(e.b, flags)
	e.str(i.GUID)
	e.str(i.Title)
	e.str(i.Owner)
	e.str(i.RootTitle)
	e.str(i.RequesterGUID)
	e.str(i.SoftwareRelease)
	e.str(i.SoftwareType)
	e.strMap(i.Parameters)
	sla := &i.SLA
	e.str(sla.ComputerGUID)
	e.str(sla.InstanceGUID)
	e.str(sla.Region)
	e.str(sla.Network)
	e.str(sla.Arch)
	e.varint(sla.MinRAM)
	e.varint(sla.MinCPU)
	e.varint(sla.MinDisk)
	e.float(sla.MaxPrice)
	e.varint(sla.RetentionDelay)
	e.strMap(sla.Attributes)
	e.str(string(i.RequestedState))
	e.str(string(i.OwnState))
	e.str(i.ComputerID)
	e.str(i.PartitionID)
	e.str(i.HostGUID)
	e.str(i.PendingReason)
	e.strMap(i.Connection)
	e.str(string(i.ReportedState))
	e.str(i.ReportedError)
	e.uvarint(i.Version)
	e.time(i.CreatedAt)
	e.time(i.StartedAt)
	return e.b
}

func encodePartition(p *model.Partition) []byte {
	e := encoder{b: make([]byte, 0, 96)}
	e.b = append(e.b, formatBinaryV1)
	e.str(p.ComputerID)
	e.str(p.ID)
	e.uvarint(uint64(len(p.Addresses)))
	for _, a := range p.Addresses {
		e.str(a.Iface)
		e.str(a.Addr)
	}
	e.str(string(p.Status))
	e.str(p.InstanceGUID)
	e.str(string(p.ReportedState))
	e.str(p.ReportedError)
	e.time(p.ReportedAt)
	return e.b
}

// EntityDecoder decodes stored values (Mutation.Encode's output, of this
// version or an older one). It shares the memory of strings that repeat
// across entities (owners, software URLs, computer ids, states): a decoded
// state holds each such text once. Use one decoder per load; it is not
// safe for concurrent use.
type EntityDecoder struct {
	strs map[string]string
}

// NewEntityDecoder returns a decoder with an empty table of shared strings.
func NewEntityDecoder() *EntityDecoder {
	return &EntityDecoder{strs: map[string]string{}}
}

// DecodeEntity is Encode's inverse: it rebuilds a mutation from storage.
// Loading many entities, use an EntityDecoder.
func DecodeEntity(kind EntityKind, key string, data []byte) (Mutation, error) {
	return (&EntityDecoder{}).Decode(kind, key, data)
}

// Decode rebuilds a mutation from a stored value. It keeps no reference to
// data.
func (d *EntityDecoder) Decode(kind EntityKind, key string, data []byte) (Mutation, error) {
	if len(data) > 0 && data[0] == formatBinaryV1 {
		var v any
		var err error
		switch kind {
		case KindInstance:
			v, err = d.instance(data[1:])
		case KindPartition:
			v, err = d.partition(data[1:])
		default:
			err = fmt.Errorf("binary values are written for instances and partitions only")
		}
		if err != nil {
			return Mutation{}, fmt.Errorf("master: stored entity %s %q: %w", kind, key, err)
		}
		return Mutation{Kind: kind, Key: key, Value: v}, nil
	}
	return decodeJSONEntity(kind, key, data)
}

// reader walks a binary value; the first error sticks and makes every
// later read return zero.
type reader struct {
	b   []byte
	off int
	err error
	d   *EntityDecoder
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("binary value truncated or corrupt at byte %d (%s)", r.off+1, what)
	}
}

func (r *reader) byte1(what string) byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail(what)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail(what)
		return 0
	}
	r.off += n
	return v
}

func (r *reader) float(what string) float64 {
	if r.err != nil || len(r.b)-r.off < 8 {
		r.fail(what)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return v
}

func (r *reader) bytes(what string) []byte {
	n := r.uvarint(what)
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.fail(what)
		return nil
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// str reads a string of its own.
func (r *reader) str(what string) string { return string(r.bytes(what)) }

// shared reads a string that repeats across entities, stored once.
func (r *reader) shared(what string) string {
	b := r.bytes(what)
	if len(b) == 0 {
		return ""
	}
	if r.d.strs == nil {
		return string(b)
	}
	if s, ok := r.d.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	r.d.strs[s] = s
	return s
}

// strMap reads a map; its keys are shared, an empty map is nil (as JSON's
// omitempty gives).
func (r *reader) strMap(what string) map[string]string {
	n := r.uvarint(what)
	if r.err != nil || n == 0 {
		return nil
	}
	if n > uint64(len(r.b)-r.off) { // every entry takes at least one byte
		r.fail(what)
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := r.shared(what)
		m[k] = r.str(what)
	}
	return m
}

func (r *reader) time(what string) time.Time {
	var off int64
	switch r.byte1(what) {
	case timeZero:
		return time.Time{}
	case timeUTC:
	case timeOffset:
		off = r.varint(what)
		if off < -24*3600 || off > 24*3600 {
			r.fail(what + " offset")
		}
	default:
		r.fail(what)
	}
	sec := r.varint(what)
	nsec := r.uvarint(what)
	if nsec >= 1e9 {
		r.fail(what)
	}
	if r.err != nil {
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if off == 0 {
		return t.UTC()
	}
	return t.In(time.FixedZone("", int(off)))
}

func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("binary value has %d unexpected trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

func (d *EntityDecoder) instance(b []byte) (*model.Instance, error) {
	r := reader{b: b, d: d}
	i := &model.Instance{}
	flags := r.byte1("flags")
	if flags&^(flagShared|flagFreed|flagUniqueByNetwork) != 0 {
		r.fail("flags")
	}
	i.Shared = flags&flagShared != 0
	i.Freed = flags&flagFreed != 0
	i.SLA.UniqueByNetwork = flags&flagUniqueByNetwork != 0
	i.GUID = r.str("guid")
	i.Title = r.str("title")
	i.Owner = r.shared("owner")
	i.RootTitle = r.shared("root_title")
	i.RequesterGUID = r.shared("requester_guid")
	i.SoftwareRelease = r.shared("software_release")
	i.SoftwareType = r.shared("software_type")
	i.Parameters = r.strMap("parameters")
	sla := &i.SLA
	sla.ComputerGUID = r.shared("sla computer_guid")
	sla.InstanceGUID = r.shared("sla instance_guid")
	sla.Region = r.shared("sla region")
	sla.Network = r.shared("sla network")
	sla.Arch = r.shared("sla arch")
	sla.MinRAM = r.varint("sla min_ram")
	sla.MinCPU = r.varint("sla min_cpu")
	sla.MinDisk = r.varint("sla min_disk")
	sla.MaxPrice = r.float("sla max_price")
	sla.RetentionDelay = r.varint("sla retention_delay")
	sla.Attributes = r.strMap("sla attributes")
	i.RequestedState = model.RequestedState(r.shared("requested_state"))
	i.OwnState = model.RequestedState(r.shared("own_state"))
	i.ComputerID = r.shared("computer_id")
	i.PartitionID = r.shared("partition_id")
	i.HostGUID = r.shared("host_guid")
	i.PendingReason = r.shared("pending_reason")
	i.Connection = r.strMap("connection")
	i.ReportedState = model.ReportedState(r.shared("reported_state"))
	i.ReportedError = r.str("reported_error")
	i.Version = r.uvarint("version")
	i.CreatedAt = r.time("created_at")
	i.StartedAt = r.time("started_at")
	if err := r.end(); err != nil {
		return nil, err
	}
	return i, nil
}

func (d *EntityDecoder) partition(b []byte) (*model.Partition, error) {
	r := reader{b: b, d: d}
	p := &model.Partition{}
	p.ComputerID = r.shared("computer_id")
	p.ID = r.shared("id")
	n := r.uvarint("addresses")
	if n > uint64(len(b)) {
		r.fail("addresses")
	} else if n > 0 && r.err == nil {
		p.Addresses = make([]model.Address, n)
		for k := range p.Addresses {
			p.Addresses[k] = model.Address{Iface: r.shared("address iface"), Addr: r.str("address")}
		}
	}
	p.Status = model.PartitionStatus(r.shared("status"))
	p.InstanceGUID = r.str("instance_guid")
	p.ReportedState = model.ReportedState(r.shared("reported_state"))
	p.ReportedError = r.str("reported_error")
	p.ReportedAt = r.time("reported_at")
	if err := r.end(); err != nil {
		return nil, err
	}
	return p, nil
}

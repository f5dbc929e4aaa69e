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
	// flagPriced: the price factor follows the start time (instances
	// placed under a price policy; values without it are at list price).
	flagPriced
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
func binaryKind(kind EntityKind) bool {
	return kind == KindInstance || kind == KindPartition || kind == KindEvents
}

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
	if i.PriceFactor != 0 {
		flags |= flagPriced
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
	if i.PriceFactor != 0 {
		e.float(i.PriceFactor)
	}
	if !i.DestroyedAt.IsZero() {
		// Optional, last: absent from values written before it was recorded.
		e.time(i.DestroyedAt)
	}
	return e.b
}

func encodeEvents(h *eventHistory) []byte {
	e := encoder{b: make([]byte, 0, 16+48*len(h.recs))}
	e.b = append(e.b, formatBinaryV1)
	e.str(h.guid)
	e.uvarint(uint64(len(h.recs)))
	for _, r := range h.recs {
		e.varint(r.at)
		e.str(r.kind.String())
		e.str(r.msg)
	}
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
// state holds each such text once. The strings of a value's own (guid,
// title, parameter values, addresses) share one allocation per value, and
// instances are allocated in blocks: a large load makes few, large objects.
// Use one decoder per load; it is not safe for concurrent use.
type EntityDecoder struct {
	strs    map[string]string
	own     []ownString      // scratch: the strings of the value being decoded
	buf     []byte           // scratch: their bytes, before the one allocation
	insts   []model.Instance // the rest of the current block of instances
	nblocks int
	spare   *model.Instance // a zero instance to use before the block
}

// ownString is a string of a value's own, found at b[lo:hi] while decoding
// and stored once the value's bytes are known: in *dst, or as m[key].
type ownString struct {
	dst    *string
	m      map[string]string
	key    string
	lo, hi int
}

// instanceBlock bounds the blocks instances are allocated in. A block lives
// as long as any of its instances; core/master never forgets an instance.
const instanceBlock = 256

// NewEntityDecoder returns a decoder with an empty table of shared strings.
func NewEntityDecoder() *EntityDecoder {
	return &EntityDecoder{strs: map[string]string{}}
}

// newInstance returns a zero instance, from the current block when the
// decoder is one made by NewEntityDecoder.
func (d *EntityDecoder) newInstance() *model.Instance {
	if d.strs == nil {
		return &model.Instance{}
	}
	if i := d.spare; i != nil {
		d.spare = nil
		return i
	}
	if len(d.insts) == 0 {
		// NB: the first blocks are small, so that decoding a few values does
		// not hold a large block.
		n := min(instanceBlock, 4<<d.nblocks)
		if n < instanceBlock {
			d.nblocks++
		}
		d.insts = make([]model.Instance, n)
	}
	i := &d.insts[0]
	d.insts = d.insts[1:]
	return i
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
		case KindEvents:
			v, err = d.events(data[1:])
		default:
			err = fmt.Errorf("binary values are written for instances, partitions and events only")
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

func (d *EntityDecoder) newReader(b []byte) reader {
	d.own = d.own[:0]
	return reader{b: b, d: d}
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

// span reads a string's length and skips its bytes: they are r.b[lo:hi].
func (r *reader) span(what string) (lo, hi int) {
	n := r.uvarint(what)
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.fail(what)
		return 0, 0
	}
	lo = r.off
	r.off += int(n)
	return lo, r.off
}

// str reads a string of the value's own; end stores it in *dst.
func (r *reader) str(what string, dst *string) {
	if lo, hi := r.span(what); hi > lo {
		r.d.own = append(r.d.own, ownString{dst: dst, lo: lo, hi: hi})
	}
}

// shared reads a string that repeats across entities, stored once.
func (r *reader) shared(what string) string {
	lo, hi := r.span(what)
	if hi == lo {
		return ""
	}
	b := r.b[lo:hi]
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

// strMap reads a map; its keys are shared, its values are the value's own
// (end stores them), an empty map is nil (as JSON's omitempty gives).
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
		lo, hi := r.span(what)
		r.d.own = append(r.d.own, ownString{m: m, key: k, lo: lo, hi: hi})
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

// end checks that the whole value was read, then stores the value's own
// strings, made from one allocation.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("binary value has %d unexpected trailing bytes", len(r.b)-r.off)
	}
	if r.err != nil {
		return r.err
	}
	buf := r.d.buf[:0]
	for _, o := range r.d.own {
		buf = append(buf, r.b[o.lo:o.hi]...)
	}
	all := string(buf)
	r.d.buf = buf
	at := 0
	for _, o := range r.d.own {
		s := all[at : at+o.hi-o.lo]
		at += o.hi - o.lo
		if o.m != nil {
			o.m[o.key] = s
		} else {
			*o.dst = s
		}
	}
	clear(r.d.own) // drop the references to the value
	r.d.own = r.d.own[:0]
	return nil
}

func (d *EntityDecoder) instance(b []byte) (*model.Instance, error) {
	r := d.newReader(b)
	i := d.newInstance()
	flags := r.byte1("flags")
	if flags&^(flagShared|flagFreed|flagUniqueByNetwork|flagPriced) != 0 {
		r.fail("flags")
	}
	i.Shared = flags&flagShared != 0
	i.Freed = flags&flagFreed != 0
	i.SLA.UniqueByNetwork = flags&flagUniqueByNetwork != 0
	r.str("guid", &i.GUID)
	r.str("title", &i.Title)
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
	r.str("reported_error", &i.ReportedError)
	i.Version = r.uvarint("version")
	i.CreatedAt = r.time("created_at")
	i.StartedAt = r.time("started_at")
	if flags&flagPriced != 0 {
		i.PriceFactor = r.float("price_factor")
	}
	if r.err == nil && r.off < len(r.b) {
		i.DestroyedAt = r.time("destroyed_at")
	}
	if err := r.end(); err != nil {
		*i = model.Instance{}
		d.spare = i // a corrupt value takes no slot of a block
		return nil, err
	}
	return i, nil
}

func (d *EntityDecoder) events(b []byte) (*eventHistory, error) {
	r := d.newReader(b)
	h := &eventHistory{}
	r.str("guid", &h.guid)
	n := r.uvarint("events")
	if n > uint64(len(b)) { // every event takes at least three bytes
		r.fail("events")
	} else if n > 0 && r.err == nil {
		h.recs = make([]eventRecord, n)
		for k := range h.recs {
			rec := &h.recs[k]
			rec.at = r.varint("event time")
			kind, err := parseEventKind(r.shared("event kind"))
			if err != nil && r.err == nil {
				r.err = fmt.Errorf("event %d: %w", k+1, err)
			}
			rec.kind = kind
			r.str("event message", &rec.msg)
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	return h, nil
}

// partitionAddresses holds a partition and its addresses (two, usually: an
// IPv4 and an IPv6) in one allocation.
type partitionAddresses struct {
	p    model.Partition
	addr [2]model.Address
}

func (d *EntityDecoder) partition(b []byte) (*model.Partition, error) {
	r := d.newReader(b)
	pa := &partitionAddresses{}
	p := &pa.p
	p.ComputerID = r.shared("computer_id")
	p.ID = r.shared("id")
	n := r.uvarint("addresses")
	if n > uint64(len(b)) {
		r.fail("addresses")
	} else if n > 0 && r.err == nil {
		if n <= uint64(len(pa.addr)) {
			p.Addresses = pa.addr[:n:n]
		} else {
			p.Addresses = make([]model.Address, n)
		}
		for k := range p.Addresses {
			p.Addresses[k].Iface = r.shared("address iface")
			r.str("address", &p.Addresses[k].Addr)
		}
	}
	p.Status = model.PartitionStatus(r.shared("status"))
	r.str("instance_guid", &p.InstanceGUID)
	p.ReportedState = model.ReportedState(r.shared("reported_state"))
	r.str("reported_error", &p.ReportedError)
	p.ReportedAt = r.time("reported_at")
	if err := r.end(); err != nil {
		return nil, err
	}
	return p, nil
}

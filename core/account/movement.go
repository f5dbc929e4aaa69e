package account

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// MovementKind says where a movement comes from.
type MovementKind string

const (
	// KindHosting is time spent by a started instance in a partition,
	// measured by the master.
	KindHosting MovementKind = "hosting"
	// KindUsage is a quantity reported by a node in a usage journal.
	KindUsage MovementKind = "usage"
)

// Resources slapgo knows the unit of. Any other name is a custom resource,
// counted in "unit".
const (
	ResourceHosting         = "hosting"
	ResourceCPUTime         = "cpu_time"
	ResourceMemoryUsed      = "memory_used"
	ResourceDiskUsed        = "disk_used"
	ResourceNetworkInBytes  = "network_in_bytes"
	ResourceNetworkOutBytes = "network_out_bytes"
)

// serviceModulePrefix is how SlapOS's collector names resources (ERP5's
// service module: "service_module/memory_used").
const serviceModulePrefix = "service_module/"

// Movement is one priced or priceable quantity held by the master: hosting
// hours of an instance, or a quantity of a resource reported by a node.
type Movement struct {
	ID       string       `json:"id"`
	Kind     MovementKind `json:"kind"`
	Resource string       `json:"resource"`
	Quantity float64      `json:"quantity"`
	Unit     string       `json:"unit"`
	Start    time.Time    `json:"start"`
	Stop     time.Time    `json:"stop"`

	ComputerID   string `json:"computer_id"`
	PartitionID  string `json:"partition_id,omitempty"`
	InstanceGUID string `json:"instance_guid,omitempty"`
	Owner        string `json:"owner,omitempty"` // person invoiced

	UnitPrice float64 `json:"unit_price"` // per PriceUnit(Resource)
	Amount    float64 `json:"amount"`
	Currency  string  `json:"currency,omitempty"`

	// JournalRef is JournalRef(computer, start, stop) of the transaction a
	// usage movement came from; empty for hosting. A master that already
	// holds movements with this reference has seen the journal.
	JournalRef string `json:"journal_ref,omitempty"`
}

// JournalRef names one computer's usage over one period, whatever the
// textual form of its dates: "COMP-1@2024-01-01T00:00:00Z/2024-01-02T00:00:00Z".
func JournalRef(computerID string, start, stop time.Time) string {
	return computerID + "@" + start.UTC().Format(time.RFC3339Nano) + "/" + stop.UTC().Format(time.RFC3339Nano)
}

// HostingMovement is the hosting of inst in its partition over
// [start, stop]: resource "hosting", in hours. The caller chooses the period
// (typically from inst.StartedAt, or the end of the last billed period, to
// the moment the instance stopped or the period ends) and is responsible for
// inst being a started, non-shared instance with a partition.
//
// NB: a stop before start is read as an empty period (zero hours at start).
// The ID is derived from the instance and the period, so the same hosting
// period always yields the same movement.
func HostingMovement(inst *model.Instance, start, stop time.Time) Movement {
	if stop.Before(start) {
		stop = start
	}
	return Movement{
		ID:           hostingID(inst.GUID, start, stop),
		Kind:         KindHosting,
		Resource:     ResourceHosting,
		Quantity:     stop.Sub(start).Hours(),
		Unit:         DefaultUnit(ResourceHosting),
		Start:        start,
		Stop:         stop,
		ComputerID:   inst.ComputerID,
		PartitionID:  inst.PartitionID,
		InstanceGUID: inst.GUID,
		Owner:        inst.Owner,
	}
}

// hostingID is "hosting:<guid>@<start>/<stop>", dates in RFC 3339 UTC,
// built in one allocation (an invoice builds one per running instance).
func hostingID(guid string, start, stop time.Time) string {
	var buf [96]byte
	b := append(buf[:0], "hosting:"...)
	b = append(b, guid...)
	b = append(b, '@')
	b = start.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '/')
	b = stop.UTC().AppendFormat(b, time.RFC3339Nano)
	return string(b)
}

// UsageMovements turns a journal into movements, one per journal movement,
// in journal order. It checks j as DecodeJournal does (ErrJournal).
//
// Each movement covers its transaction's period, on the computer named by
// the transaction's reference, in the partition named by the movement's
// reference (empty for usage of the computer as a whole). Resource names are
// trimmed and lose SlapOS's "service_module/" prefix. The ID is
// "<JournalRef>#<transaction>.<movement>", so posting the same journal twice
// yields the same IDs.
//
// The caller fills Owner and InstanceGUID from the partition, then prices
// with Price: UnitPrice, Amount and the price the node wrote are not used.
// Currency is the transaction's, until Price sets it.
func UsageMovements(j Journal) ([]Movement, error) {
	if err := validateJournal(j); err != nil {
		return nil, err
	}
	n := 0
	for _, t := range j.Transactions {
		n += len(t.Movements)
	}
	var out []Movement
	if n > 0 {
		out = make([]Movement, 0, n)
	}
	for i, t := range j.Transactions {
		start, stop, err := t.Period()
		if err != nil {
			return nil, fmt.Errorf("transaction %d: %w", i+1, err)
		}
		ref := JournalRef(t.Reference, start, stop)
		prefix := ref + "#" + strconv.Itoa(i+1) + "."
		for k, jm := range t.Movements {
			resource := ResourceName(jm.Resource)
			out = append(out, Movement{
				ID:          prefix + strconv.Itoa(k+1),
				Kind:        KindUsage,
				Resource:    resource,
				Quantity:    jm.Quantity,
				Unit:        DefaultUnit(resource),
				Start:       start,
				Stop:        stop,
				ComputerID:  t.Reference,
				PartitionID: jm.Reference,
				Currency:    t.Currency,
				JournalRef:  ref,
			})
		}
	}
	return out, nil
}

// ResourceName is the name slapgo prices a reported resource under: blanks
// trimmed, SlapOS's "service_module/" prefix removed.
func ResourceName(reported string) string {
	return strings.TrimPrefix(strings.TrimSpace(reported), serviceModulePrefix)
}

// DefaultUnit is the unit a resource is counted in: hosting in hours,
// cpu_time in CPU seconds, memory_used in MiB·h, disk_used in GiB·day,
// network bytes in bytes, anything else in "unit".
func DefaultUnit(resource string) string {
	switch ResourceName(resource) {
	case ResourceHosting:
		return "hour"
	case ResourceCPUTime:
		return "s"
	case ResourceMemoryUsed:
		return "MiB·h"
	case ResourceDiskUsed:
		return "GiB·day"
	case ResourceNetworkInBytes, ResourceNetworkOutBytes:
		return "byte"
	}
	return "unit"
}

// PriceUnit is the unit a model.PriceList prices a resource in. It is
// DefaultUnit except for network traffic, counted in bytes but priced per GiB.
func PriceUnit(resource string) string {
	switch ResourceName(resource) {
	case ResourceNetworkInBytes, ResourceNetworkOutBytes:
		return "GiB"
	}
	return DefaultUnit(resource)
}

// dataSizes converts data units to bytes.
var dataSizes = map[string]float64{"byte": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}

// unitFactor converts a quantity in unit from into unit to: exact between
// data sizes, 1 between equal units, and 1 between units it does not know
// (an unknown unit is priced as it comes).
func unitFactor(from, to string) float64 {
	f, okFrom := dataSizes[from]
	t, okTo := dataSizes[to]
	if okFrom && okTo {
		return f / t
	}
	return 1
}

// Price prices m with prices: UnitPrice is the list's entry for m.Resource
// (0 when absent), Amount is the quantity, converted from m.Unit into
// PriceUnit(m.Resource), times UnitPrice, rounded to 1e-6; Currency becomes
// currency. For every resource but network traffic the conversion is the
// identity and Amount = Quantity × UnitPrice.
//
// NB: prices are taken as they are; a negative or non-finite entry gives a
// negative or non-finite amount. Validate price lists where they are set.
func Price(m Movement, prices model.PriceList, currency string) Movement {
	return PriceAt(m, prices, currency, 1)
}

// PriceAt prices m as Price does at factor times the list's price (the
// price a market policy quoted, as a factor of the list price): UnitPrice
// is the list's entry × factor. PriceAt(m, p, c, 1) is Price(m, p, c).
func PriceAt(m Movement, prices model.PriceList, currency string, factor float64) Movement {
	m.UnitPrice = prices[m.Resource]
	if factor != 1 {
		m.UnitPrice *= factor
	}
	m.Currency = currency
	m.Amount = roundAmount(m.Quantity * unitFactor(m.Unit, PriceUnit(m.Resource)) * m.UnitPrice)
	return m
}

// roundAmount rounds x to 1e-6, and leaves alone values where 1e-6 is below
// float64 resolution or that are not finite. It never returns -0.
func roundAmount(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || math.Abs(x) >= 1e15 {
		return x
	}
	r := math.Round(x*1e6) / 1e6
	if r == 0 {
		return 0
	}
	return r
}

package account

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

var day0 = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func TestHostingMovement(t *testing.T) {
	inst := &model.Instance{
		GUID: "SOFTINST-1", Owner: "PERSON-1", ComputerID: "COMP-1", PartitionID: "slappart3",
		RequestedState: model.StateStarted, StartedAt: day0,
	}
	tests := []struct {
		name        string
		start, stop time.Time
		wantStop    time.Time
		wantHours   float64
	}{
		{"ninety minutes", day0, day0.Add(90 * time.Minute), day0.Add(90 * time.Minute), 1.5},
		{"one day", day0, day0.Add(24 * time.Hour), day0.Add(24 * time.Hour), 24},
		{"empty", day0, day0, day0, 0},
		{"stop before start is empty", day0, day0.Add(-time.Hour), day0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := HostingMovement(inst, tt.start, tt.stop)
			want := Movement{
				ID:   "hosting:SOFTINST-1@" + tt.start.Format(time.RFC3339Nano) + "/" + tt.wantStop.Format(time.RFC3339Nano),
				Kind: KindHosting, Resource: ResourceHosting, Quantity: tt.wantHours, Unit: "hour",
				Start: tt.start, Stop: tt.wantStop,
				ComputerID: "COMP-1", PartitionID: "slappart3", InstanceGUID: "SOFTINST-1", Owner: "PERSON-1",
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("HostingMovement:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestUsageMovements(t *testing.T) {
	j := Journal{Transactions: []Transaction{
		{
			Type: TransactionType, StartDate: "2024-03-01T01:00:00+01:00", StopDate: "2024-03-02", Reference: "COMP-1",
			Currency: "EUR", Arrow: Arrow{Type: "Administration"},
			Movements: []JournalMovement{
				{Resource: "cpu_time", Reference: "slappart0", Quantity: 3600, Price: 99},
				{Resource: " service_module/memory_used ", Reference: "slappart1", Quantity: 512},
				{Resource: "service_module/cpu_load_percent", Quantity: 12.5},
			},
		},
		{
			Type: TransactionType, StartDate: "2024-03-02", StopDate: "2024-03-02", Reference: "COMP-1",
			Arrow: Arrow{Type: "Administration"},
		},
		{
			Type: TransactionType, StartDate: "2024-03-02 00:00:00", StopDate: "2024-03-02 at 12:00:00", Reference: "COMP-2",
			Arrow:     Arrow{Type: "Administration"},
			Movements: []JournalMovement{{Resource: "network_out_bytes", Reference: "slappart9", Quantity: 1 << 30}},
		},
	}}
	got, err := UsageMovements(j)
	if err != nil {
		t.Fatalf("UsageMovements: %v", err)
	}
	ref1 := "COMP-1@2024-03-01T00:00:00Z/2024-03-02T00:00:00Z"
	ref3 := "COMP-2@2024-03-02T00:00:00Z/2024-03-02T12:00:00Z"
	day1, noon1 := day0.Add(24*time.Hour), day0.Add(36*time.Hour)
	want := []Movement{
		{ID: ref1 + "#1.1", Kind: KindUsage, Resource: "cpu_time", Quantity: 3600, Unit: "s", Start: day0, Stop: day1,
			ComputerID: "COMP-1", PartitionID: "slappart0", Currency: "EUR", JournalRef: ref1},
		{ID: ref1 + "#1.2", Kind: KindUsage, Resource: "memory_used", Quantity: 512, Unit: "MiB·h", Start: day0, Stop: day1,
			ComputerID: "COMP-1", PartitionID: "slappart1", Currency: "EUR", JournalRef: ref1},
		{ID: ref1 + "#1.3", Kind: KindUsage, Resource: "cpu_load_percent", Quantity: 12.5, Unit: "unit", Start: day0, Stop: day1,
			ComputerID: "COMP-1", Currency: "EUR", JournalRef: ref1},
		{ID: ref3 + "#3.1", Kind: KindUsage, Resource: "network_out_bytes", Quantity: 1 << 30, Unit: "byte", Start: day1, Stop: noon1,
			ComputerID: "COMP-2", PartitionID: "slappart9", JournalRef: ref3},
	}
	if len(got) != len(want) {
		t.Fatalf("UsageMovements gave %d movements, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		// Compare instants, not time zones: the journal wrote +01:00.
		if !got[i].Start.Equal(want[i].Start) || !got[i].Stop.Equal(want[i].Stop) {
			t.Errorf("movement %d: period [%v, %v], want [%v, %v]", i, got[i].Start, got[i].Stop, want[i].Start, want[i].Stop)
		}
		got[i].Start, got[i].Stop = want[i].Start, want[i].Stop
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("movement %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	j.Transactions[1].Reference = ""
	if _, err := UsageMovements(j); !errors.Is(err, ErrJournal) {
		t.Errorf("UsageMovements of an invalid journal: error %v, want ErrJournal", err)
	}
}

func TestJournalRefIgnoresDateSpelling(t *testing.T) {
	a := JournalRef("COMP-1", day0, day0.Add(time.Hour))
	b := JournalRef("COMP-1", day0.In(time.FixedZone("X", -5*3600)), day0.Add(time.Hour).In(time.FixedZone("Y", 3600)))
	if a != b || a != "COMP-1@2024-03-01T00:00:00Z/2024-03-01T01:00:00Z" {
		t.Errorf("JournalRef = %q and %q, want both COMP-1@2024-03-01T00:00:00Z/2024-03-01T01:00:00Z", a, b)
	}
}

func TestUnits(t *testing.T) {
	tests := []struct{ resource, unit, priceUnit string }{
		{"hosting", "hour", "hour"},
		{"cpu_time", "s", "s"},
		{"memory_used", "MiB·h", "MiB·h"},
		{"disk_used", "GiB·day", "GiB·day"},
		{"network_in_bytes", "byte", "GiB"},
		{"network_out_bytes", "byte", "GiB"},
		{"service_module/memory_used", "MiB·h", "MiB·h"},
		{"requests_served", "unit", "unit"},
		{"", "unit", "unit"},
	}
	for _, tt := range tests {
		if got := DefaultUnit(tt.resource); got != tt.unit {
			t.Errorf("DefaultUnit(%q) = %q, want %q", tt.resource, got, tt.unit)
		}
		if got := PriceUnit(tt.resource); got != tt.priceUnit {
			t.Errorf("PriceUnit(%q) = %q, want %q", tt.resource, got, tt.priceUnit)
		}
	}
}

func TestPrice(t *testing.T) {
	prices := model.PriceList{
		"hosting": 0.02, "cpu_time": 0.0001, "memory_used": 1.0 / 3, "network_out_bytes": 0.05, "requests_served": 2,
	}
	tests := []struct {
		name       string
		m          Movement
		unitPrice  float64
		wantAmount float64
	}{
		{"hosting hours", Movement{Resource: "hosting", Unit: "hour", Quantity: 1.5}, 0.02, 0.03},
		{"cpu seconds", Movement{Resource: "cpu_time", Unit: "s", Quantity: 3600}, 0.0001, 0.36},
		{"rounded to 1e-6", Movement{Resource: "memory_used", Unit: "MiB·h", Quantity: 1}, 1.0 / 3, 0.333333},
		{"network bytes priced per GiB", Movement{Resource: "network_out_bytes", Unit: "byte", Quantity: 2 << 30}, 0.05, 0.1},
		{"network already in GiB", Movement{Resource: "network_out_bytes", Unit: "GiB", Quantity: 2}, 0.05, 0.1},
		{"custom resource", Movement{Resource: "requests_served", Unit: "unit", Quantity: 7}, 2, 14},
		{"not in the price list", Movement{Resource: "disk_used", Unit: "GiB·day", Quantity: 10}, 0, 0},
		{"zero quantity", Movement{Resource: "hosting", Unit: "hour"}, 0.02, 0},
		{"tiny amount rounds to zero", Movement{Resource: "cpu_time", Unit: "s", Quantity: 0.001}, 0.0001, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.ID = "m"
			tt.m.Currency = "USD"
			got := Price(tt.m, prices, "EUR")
			if got.UnitPrice != tt.unitPrice || got.Amount != tt.wantAmount || got.Currency != "EUR" {
				t.Errorf("Price = unit %v amount %v %s, want unit %v amount %v EUR", got.UnitPrice, got.Amount, got.Currency, tt.unitPrice, tt.wantAmount)
			}
			if math.Signbit(got.Amount) {
				t.Errorf("Amount is negative zero")
			}
			got.UnitPrice, got.Amount, got.Currency = tt.m.UnitPrice, tt.m.Amount, tt.m.Currency
			if !reflect.DeepEqual(got, tt.m) {
				t.Errorf("Price changed other fields: %+v", got)
			}
		})
	}
}

func TestRoundAmount(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0.1234564, 0.123456},
		{0.1234566, 0.123457},
		{-0.0000001, 0},
		{2.5e-7, 0},
		{123456789.1234567, 123456789.123457},
		{1e300, 1e300},
		{math.Inf(1), math.Inf(1)},
	}
	for _, tt := range tests {
		if got := roundAmount(tt.in); got != tt.want || math.Signbit(got) != math.Signbit(tt.want) {
			t.Errorf("roundAmount(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

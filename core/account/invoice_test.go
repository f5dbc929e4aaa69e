package account

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

func hours(n float64) time.Duration { return time.Duration(n * float64(time.Hour)) }

func TestBuildInvoicesAggregation(t *testing.T) {
	day1 := day0.Add(24 * time.Hour)
	ms := []Movement{
		{ID: "h1", Kind: KindHosting, Resource: "hosting", Unit: "hour", Quantity: 24, Amount: 0.48, Start: day0, Stop: day1, Owner: "PERSON-A", Currency: "EUR"},
		{ID: "u1", Kind: KindUsage, Resource: "cpu_time", Unit: "s", Quantity: 3600, Amount: 0.36, Start: day0, Stop: day0.Add(hours(12)), Owner: "PERSON-A", Currency: "EUR"},
		{ID: "u2", Kind: KindUsage, Resource: "cpu_time", Unit: "s", Quantity: 1800, Amount: 0.18, Start: day0, Stop: day0.Add(hours(20)), Owner: "PERSON-A", Currency: "EUR"},
		{ID: "h2", Kind: KindHosting, Resource: "hosting", Unit: "hour", Quantity: 10, Amount: 1, Start: day0, Stop: day0.Add(hours(10)), Owner: "PERSON-A", Currency: "USD"},
		{ID: "u3", Kind: KindUsage, Resource: "memory_used", Unit: "MiB·h", Quantity: 100, Amount: 5, Start: day0, Stop: day0.Add(hours(23)), Owner: "PERSON-B", Currency: "EUR"},
		{ID: "u4", Kind: KindUsage, Resource: "memory_used", Unit: "MiB·h", Quantity: 50, Amount: 2.5, Start: day0.Add(-hours(24)), Stop: day0, Owner: "PERSON-B", Currency: "EUR"},
		{ID: "u5", Kind: KindUsage, Resource: "memory_used", Unit: "MiB·h", Quantity: 70, Amount: 3.5, Start: day0, Stop: day1, Owner: "PERSON-B", Currency: "EUR"},
		{ID: "u6", Kind: KindUsage, Resource: "memory_used", Unit: "MiB·h", Quantity: 70, Amount: 3.5, Start: day0, Stop: day0.Add(-time.Second), Owner: "PERSON-B", Currency: "EUR"},
		{ID: "u7", Kind: KindUsage, Resource: "requests_served", Unit: "unit", Quantity: 7, Amount: 14, Start: day0, Stop: day0.Add(hours(1)), Currency: "EUR"},
	}
	got := BuildInvoices(pointers(ms), day0, day1)
	want := []Invoice{
		{Person: "", PeriodStart: day0, PeriodEnd: day1, Currency: "EUR", Movements: 1, Total: 14,
			Lines: []InvoiceLine{{Resource: "requests_served", Unit: "unit", Quantity: 7, Amount: 14}}},
		{Person: "PERSON-A", PeriodStart: day0, PeriodEnd: day1, Currency: "EUR", Movements: 3, Total: 1.02,
			Lines: []InvoiceLine{
				{Resource: "cpu_time", Unit: "s", Quantity: 5400, Amount: 0.54},
				{Resource: "hosting", Unit: "hour", Quantity: 24, Amount: 0.48},
			}},
		{Person: "PERSON-A", PeriodStart: day0, PeriodEnd: day1, Currency: "USD", Movements: 1, Total: 1,
			Lines: []InvoiceLine{{Resource: "hosting", Unit: "hour", Quantity: 10, Amount: 1}}},
		// u4 stops exactly at the period start: in; u5 exactly at its end: out; u6 before: out.
		{Person: "PERSON-B", PeriodStart: day0, PeriodEnd: day1, Currency: "EUR", Movements: 2, Total: 7.5,
			Lines: []InvoiceLine{{Resource: "memory_used", Unit: "MiB·h", Quantity: 150, Amount: 7.5}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("BuildInvoices:\n got %+v\nwant %+v", got, want)
	}
	if got := BuildInvoices(pointers(ms), day1, day1); got != nil {
		t.Errorf("BuildInvoices of an empty period = %+v, want nil", got)
	}
	if got := BuildInvoices(nil, day0, day1); got != nil {
		t.Errorf("BuildInvoices without movements = %+v, want nil", got)
	}
}

func TestBuildInvoicesProRata(t *testing.T) {
	// 48 hours of hosting from day 0 at noon to day 2 at noon, 0.96 in all.
	h := Movement{ID: "h", Kind: KindHosting, Resource: "hosting", Unit: "hour", Quantity: 48, Amount: 0.96,
		Start: day0.Add(hours(12)), Stop: day0.Add(hours(60)), Owner: "P", Currency: "EUR"}
	point := Movement{ID: "z", Kind: KindHosting, Resource: "hosting", Unit: "hour", Start: day0.Add(hours(24)), Stop: day0.Add(hours(24)), Owner: "P", Currency: "EUR"}
	tests := []struct {
		name          string
		ms            []Movement
		from, to      float64 // period, in hours after day 0
		wantQuantity  float64
		wantAmount    float64
		wantMovements int
	}{
		{"first day: the afternoon", []Movement{h}, 0, 24, 12, 0.24, 1},
		{"second day: all of it", []Movement{h}, 24, 48, 24, 0.48, 1},
		{"third day: the morning", []Movement{h}, 48, 72, 12, 0.24, 1},
		{"a period inside the movement", []Movement{h}, 30, 31, 1, 0.02, 1},
		{"a period covering it", []Movement{h}, -24, 96, 48, 0.96, 1},
		{"before it", []Movement{h}, 0, 12, 0, 0, 0},
		{"after it", []Movement{h}, 60, 72, 0, 0, 0},
		{"zero-length hosting belongs to the period of its stop", []Movement{point}, 24, 48, 0, 0, 1},
		{"zero-length hosting at the end is out", []Movement{point}, 0, 24, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := BuildInvoices(pointers(tt.ms), day0.Add(hours(tt.from)), day0.Add(hours(tt.to)))
			if tt.wantMovements == 0 {
				if inv != nil {
					t.Errorf("BuildInvoices = %+v, want no invoice", inv)
				}
				return
			}
			if len(inv) != 1 || len(inv[0].Lines) != 1 {
				t.Fatalf("BuildInvoices = %+v, want one invoice of one line", inv)
			}
			l := inv[0].Lines[0]
			if math.Abs(l.Quantity-tt.wantQuantity) > 1e-9 || l.Amount != tt.wantAmount || inv[0].Total != tt.wantAmount ||
				inv[0].Movements != tt.wantMovements {
				t.Errorf("line %+v total %v movements %d; want quantity %v amount %v movements %d",
					l, inv[0].Total, inv[0].Movements, tt.wantQuantity, tt.wantAmount, tt.wantMovements)
			}
		})
	}
}

// randomMovements makes priced movements over [day0, day0+span) for a few
// persons, currencies and resources.
func randomMovements(r *rand.Rand, n int, span time.Duration) []Movement {
	persons := []string{"PERSON-1", "PERSON-2", "PERSON-3", ""}
	currencies := []string{"EUR", "USD"}
	resources := []string{"hosting", "cpu_time", "memory_used", "network_out_bytes"}
	ms := make([]Movement, n)
	for i := range ms {
		res := resources[r.IntN(len(resources))]
		start := day0.Add(time.Duration(r.Int64N(int64(span))))
		stop := start.Add(time.Duration(r.Int64N(int64(48 * time.Hour))))
		kind := KindUsage
		if res == "hosting" {
			kind = KindHosting
		}
		m := Movement{
			ID: fmt.Sprintf("m%d", i), Kind: kind, Resource: res, Unit: DefaultUnit(res), Start: start, Stop: stop,
			Quantity: math.Round(r.Float64()*1e6) / 100, Owner: persons[r.IntN(len(persons))],
		}
		if kind == KindHosting {
			m.Quantity = stop.Sub(start).Hours()
		}
		ms[i] = Price(m, map[string]float64{"hosting": 0.02, "cpu_time": 0.0001, "memory_used": 0.00003, "network_out_bytes": 0.05},
			currencies[r.IntN(len(currencies))])
	}
	return ms
}

func TestBuildInvoicesAddUp(t *testing.T) {
	// Invoices of consecutive periods add up to the invoice of their union:
	// each hour of hosting and each usage movement is invoiced exactly once.
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		ms := randomMovements(r, 200, 10*24*time.Hour)
		begin, end := day0.Add(-hours(48)), day0.Add(hours(14*24))
		whole := totals(BuildInvoices(pointers(ms), begin, end))
		cuts := []time.Time{begin}
		for t := begin; ; {
			t = t.Add(time.Duration(1 + r.Int64N(int64(72*time.Hour))))
			if !t.Before(end) {
				break
			}
			cuts = append(cuts, t)
		}
		cuts = append(cuts, end)
		parts := map[string]float64{}
		for i := 1; i < len(cuts); i++ {
			for k, v := range totals(BuildInvoices(pointers(ms), cuts[i-1], cuts[i])) {
				parts[k] += v
			}
		}
		// Each period rounds each line to 1e-6.
		tolerance := float64(len(cuts)*8) * 1e-6
		for k, v := range whole {
			if math.Abs(parts[k]-v) > tolerance {
				t.Errorf("round %d, %s: whole period %v, sum of %d periods %v", round, k, v, len(cuts)-1, parts[k])
			}
		}
		for k := range parts {
			if _, ok := whole[k]; !ok {
				t.Errorf("round %d: %s invoiced in parts but not over the whole period", round, k)
			}
		}
	}
}

// totals maps "person currency resource" to quantity and amount sums.
func totals(invs []Invoice) map[string]float64 {
	out := map[string]float64{}
	for _, inv := range invs {
		for _, l := range inv.Lines {
			out[fmt.Sprintf("%s %s %s amount", inv.Person, inv.Currency, l.Resource)] += l.Amount
			out[fmt.Sprintf("%s %s %s quantity", inv.Person, inv.Currency, l.Resource)] += l.Quantity
		}
	}
	return out
}

func TestBuildInvoicesIgnoresOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ms := randomMovements(r, 500, 3*24*time.Hour)
	want := BuildInvoices(pointers(ms), day0.Add(hours(12)), day0.Add(hours(60)))
	if len(want) == 0 {
		t.Fatal("no invoice: the test data is broken")
	}
	for range 5 {
		shuffled := append([]Movement(nil), ms...)
		r.Shuffle(len(shuffled), func(i, k int) { shuffled[i], shuffled[k] = shuffled[k], shuffled[i] })
		if got := BuildInvoices(pointers(shuffled), day0.Add(hours(12)), day0.Add(hours(60))); !reflect.DeepEqual(got, want) {
			t.Fatalf("BuildInvoices depends on the order of its movements")
		}
	}
}

// pointers points at each of ms, as BuildInvoices takes them.
func pointers(ms []Movement) []*Movement {
	ps := make([]*Movement, len(ms))
	for i := range ms {
		ps[i] = &ms[i]
	}
	return ps
}

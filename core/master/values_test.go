package master_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// TestValuesStorageCannotKeepAreRefused: every command refuses a number that
// is not finite or out of range, and a text that is not valid UTF-8, with an
// ErrInvalid naming the field, and changes nothing.
func TestValuesStorageCannotKeepAreRefused(t *testing.T) {
	g := newGrid(t, 1, 2)
	a := g.request("a", nil)
	comp := computerActor("COMP-0")
	nan, inf := math.NaN(), math.Inf(1)
	str := func(s string) *string { return &s }
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	journal := func(q float64) account.Journal {
		return account.BuildJournal("COMP-0", start, start.Add(time.Hour),
			map[string][]account.JournalMovement{a.PartitionID: {{Resource: "cpu_time", Quantity: q}}}, "EUR")
	}
	req := func(sla map[string]string) master.Request {
		return master.Request{By: g.alice, Title: "n", SoftwareRelease: sr, SLA: sla}
	}
	cases := []struct {
		name string
		cmd  master.Command
		want string
	}{
		{"sla max_price NaN", req(map[string]string{"max_price": "NaN"}), "max_price"},
		{"sla max_price Inf", req(map[string]string{"max_price": "+Inf"}), "max_price"},
		{"sla max_price Infinity", req(map[string]string{"max_price": "Infinity"}), "max_price"},
		{"sla max_price huge", req(map[string]string{"max_price": "1e300"}), "max_price"},
		{"sla min_ram beyond int64", req(map[string]string{"min_ram": "1e30"}), "min_ram"},
		{"sla of an existing instance", master.Request{By: g.alice, Title: "a", SoftwareRelease: sr,
			SLA: map[string]string{"max_price": "NaN"}}, "max_price"},
		{"sla value not UTF-8", req(map[string]string{"region": "\xff"}), "sla region"},
		{"parameter not UTF-8", master.Request{By: g.alice, Title: "n", SoftwareRelease: sr,
			Parameters: map[string]string{"k": "v\xc3"}}, `parameter "k"`},
		{"software type not UTF-8", master.Request{By: g.alice, Title: "n", SoftwareRelease: sr, SoftwareType: "\xff"}, "software type"},
		{"title not UTF-8", master.Request{By: g.alice, Title: "\xff", SoftwareRelease: sr}, "title"},
		{"price NaN", master.RegisterComputer{By: g.alice, ID: "COMP-N", Prices: model.PriceList{"hosting": nan}}, `price of "hosting"`},
		{"price Inf", master.RegisterComputer{By: g.alice, ID: "COMP-N", Prices: model.PriceList{"hosting": inf}}, `price of "hosting"`},
		{"price huge", master.RegisterComputer{By: g.alice, ID: "COMP-N", Prices: model.PriceList{"cpu_time": 1e300}}, `price of "cpu_time"`},
		{"hardware negative", master.RegisterComputer{By: g.alice, ID: "COMP-N", Hardware: model.Hardware{Disk: -1}}, "hardware.disk"},
		{"hardware arch not UTF-8", master.RegisterComputer{By: g.alice, ID: "COMP-N", Hardware: model.Hardware{Arch: "\xff"}}, "hardware.arch"},
		{"region not UTF-8", master.RegisterComputer{By: g.alice, ID: "COMP-N", Region: "\xff"}, "region"},
		{"currency not UTF-8", master.RegisterComputer{By: g.alice, ID: "COMP-N", Currency: "\xff"}, "currency"},
		{"attribute not UTF-8", master.RegisterComputer{By: g.alice, ID: "COMP-N", Attributes: map[string]string{"gpu": "\xff"}}, `attribute "gpu"`},
		{"updated price NaN", master.UpdateComputer{By: g.alice, ComputerID: "COMP-0", Prices: model.PriceList{"hosting": nan}}, `price of "hosting"`},
		{"updated network not UTF-8", master.UpdateComputer{By: g.alice, ComputerID: "COMP-0", Network: str("\xff")}, "network"},
		{"capacity hardware negative", master.SetCapacity{By: comp, ComputerID: "COMP-0",
			Partitions: []master.PartitionSpec{{ID: "slappart0"}, {ID: "slappart1"}}, Hardware: &model.Hardware{CPU: -4}}, "hardware.cpu"},
		{"capacity address not UTF-8", master.SetCapacity{By: comp, ComputerID: "COMP-0",
			Partitions: []master.PartitionSpec{{ID: "slappart0", Addresses: []model.Address{{Iface: "lo", Addr: "\xfe"}}}, {ID: "slappart1"}}}, "address #1"},
		{"person name not UTF-8", master.AddPerson{By: model.Admin, ID: "bob", Name: "\xff"}, "person name"},
		{"connection not UTF-8", master.SetConnection{By: comp, ComputerID: "COMP-0", PartitionID: a.PartitionID,
			Parameters: map[string]string{"url": "\xff"}}, `parameter "url"`},
		{"usage quantity NaN", master.PostUsage{By: comp, ComputerID: "COMP-0", Journal: journal(nan)}, "quantity NaN"},
		{"usage quantity out of range", master.PostUsage{By: comp, ComputerID: "COMP-0", Journal: journal(1e300)}, "quantity 1e+300 is out of range"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := g.s.Snapshot()
			_, err := g.apply(tc.cmd)
			if !errors.Is(err, master.ErrInvalid) && !errors.Is(err, account.ErrJournal) {
				t.Fatalf("want an invalid-input error naming %q, got %v", tc.want, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
			if !reflect.DeepEqual(before, g.s.Snapshot()) {
				t.Fatal("a refused command changed the state")
			}
		})
	}
}

// TestReportedErrorIsKeptAsValidText: a node's error text is free text (a
// log excerpt): it is kept, cut to its last 4096 bytes on a character
// boundary, with invalid UTF-8 replaced, so that storage keeps it as is.
func TestReportedErrorIsKeptAsValidText(t *testing.T) {
	g := newGrid(t, 1, 1)
	a := g.request("a", nil)
	long := "\xffstart " + strings.Repeat("é", 3000) + " end\x00"
	g.muts = nil
	res := g.must(master.ReportPartition{By: computerActor("COMP-0"), ComputerID: "COMP-0", PartitionID: a.PartitionID,
		State: model.ReportedError, Error: long})
	got := res.Instance.ReportedError
	if err := model.ValidateText("error", got); err != nil {
		t.Errorf("kept error text: %v", err)
	}
	if !strings.HasSuffix(got, " end\uFFFD") || !strings.HasPrefix(got, "é") || len(got) > 4096 {
		t.Errorf("kept error text: %d bytes, %q…%q", len(got), got[:8], got[len(got)-8:])
	}
	if err := master.CheckValues(g.muts); err != nil {
		t.Error(err)
	}
}

// TestCheckValues: what storage could not keep is found and named.
func TestCheckValues(t *testing.T) {
	cases := []struct {
		name string
		mut  master.Mutation
		want string // "" = accepted
	}{
		{"valid instance", master.Mutation{Kind: master.KindInstance, Key: "I", Value: &model.Instance{GUID: "I", Title: "é",
			SLA: model.SLA{MaxPrice: 2}, Parameters: map[string]string{"k": "v"}}}, ""},
		{"deleted", master.Mutation{Kind: master.KindInstance, Key: "I", Delete: true}, ""},
		{"NaN in an SLA", master.Mutation{Kind: master.KindInstance, Key: "I", Value: &model.Instance{SLA: model.SLA{MaxPrice: math.NaN()}}},
			`instance "I": field SLA.MaxPrice: NaN is not a finite number`},
		{"Inf in a price list", master.Mutation{Kind: master.KindPartition, Key: "P", Value: &model.Computer{Prices: model.PriceList{"hosting": math.Inf(-1)}}},
			`field Prices[hosting]: -Inf`},
		{"map key not UTF-8", master.Mutation{Kind: master.KindInstance, Key: "I", Value: &model.Instance{Parameters: map[string]string{"\xff": "v"}}},
			"field Parameters key"},
		{"slice element not UTF-8", master.Mutation{Kind: master.KindPartition, Key: "P", Value: &model.Partition{Addresses: []model.Address{{Addr: "\xfe"}}}},
			"field Addresses[0].Addr"},
		{"time out of range", master.Mutation{Kind: master.KindInstance, Key: "I", Value: &model.Instance{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
			"field CreatedAt"},
		{"movement amount", master.Mutation{Kind: master.KindMovement, Key: "M", Value: &account.Movement{Amount: math.Inf(1)}},
			"field Amount"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := master.CheckValues([]master.Mutation{tc.mut})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, master.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("CheckValues = %v, want ErrInvalid containing %q", err, tc.want)
			}
		})
	}
}

// BenchmarkCheckValues: the cost the server adds to each command, for the
// mutations of a new instance request.
func BenchmarkCheckValues(b *testing.B) {
	s := master.New(master.DefaultConfig())
	alice := model.Actor{Kind: model.KindPerson, ID: "alice"}
	for _, cmd := range []master.Command{
		master.AddPerson{By: model.Admin, ID: "alice"},
		master.RegisterComputer{By: alice, ID: "C1", Region: "eu", Prices: model.PriceList{"hosting": 0.5}, Attributes: map[string]string{"gpu": "yes"}},
		master.SetCapacity{By: computerActor("C1"), ComputerID: "C1", Partitions: []master.PartitionSpec{{ID: "slappart0",
			Addresses: []model.Address{{Iface: "lo", Addr: "10.0.0.1"}, {Iface: "slapgo0", Addr: "fd00::2"}}}}},
		master.Supply{By: alice, ComputerID: "C1", URL: sr, State: model.SoftwareAvailable},
	} {
		if _, _, err := s.Apply(t0, cmd); err != nil {
			b.Fatal(err)
		}
	}
	_, muts, err := s.Apply(t0, master.Request{By: alice, Title: "web", SoftwareRelease: sr,
		Parameters: map[string]string{"a": "1", "b": "2", "c": "3"}, SLA: map[string]string{"region": "eu", "max_price": "1"}})
	if err != nil || len(muts) == 0 {
		b.Fatal(err, len(muts))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := master.CheckValues(muts); err != nil {
			b.Fatal(err)
		}
	}
}

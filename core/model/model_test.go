package model_test

import (
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/model"
)

func TestParseSLA(t *testing.T) {
	cases := []struct {
		name    string
		raw     map[string]string
		want    model.SLA
		wantErr string
	}{
		{name: "empty", raw: nil, want: model.SLA{}},
		{name: "region and price", raw: map[string]string{"region": "jp", "max_price": "0.5"},
			want: model.SLA{Region: "jp", MaxPrice: 0.5}},
		{name: "numbers", raw: map[string]string{"min_ram": "4096", "min_cpu": "2", "min_disk": "10", "retention_delay": "60"},
			want: model.SLA{MinRAM: 4096, MinCPU: 2, MinDisk: 10, RetentionDelay: 60}},
		{name: "attribute", raw: map[string]string{"attr.gpu": "a100"}, want: model.SLA{Attributes: map[string]string{"gpu": "a100"}}},
		{name: "unique", raw: map[string]string{"unique_by_network": "true"}, want: model.SLA{UniqueByNetwork: true}},
		{name: "unknown key", raw: map[string]string{"regoin": "jp"}, wantErr: `sla key "regoin" is unknown`},
		{name: "bare attr prefix", raw: map[string]string{"attr.": "x"}, wantErr: `sla key "attr." is unknown`},
		{name: "bad number", raw: map[string]string{"min_ram": "lots"}, wantErr: `min_ram="lots": expected a non-negative integer`},
		{name: "negative", raw: map[string]string{"min_cpu": "-1"}, wantErr: "non-negative integer"},
		{name: "bad price", raw: map[string]string{"max_price": "-2"}, wantErr: "max_price"},
		{name: "bad bool", raw: map[string]string{"unique_by_network": "maybe"}, wantErr: "true or false"},
		{name: "empty region", raw: map[string]string{"region": " "}, wantErr: "sla region is empty"},
		{name: "price NaN", raw: map[string]string{"max_price": "NaN"}, wantErr: `sla max_price="NaN": expected a finite number`},
		{name: "price +Inf", raw: map[string]string{"max_price": "+Inf"}, wantErr: `sla max_price="+Inf": expected a finite number`},
		{name: "price Infinity", raw: map[string]string{"max_price": "Infinity"}, wantErr: `sla max_price="Infinity"`},
		{name: "price beyond float64", raw: map[string]string{"max_price": "1e400"}, wantErr: `sla max_price="1e400"`},
		{name: "price out of range", raw: map[string]string{"max_price": "1e300"}, wantErr: `sla max_price="1e300"`},
		{name: "price at the bound", raw: map[string]string{"max_price": "1e9"}, want: model.SLA{MaxPrice: 1e9}},
		{name: "int beyond int64", raw: map[string]string{"min_ram": "9223372036854775808"}, wantErr: `sla min_ram="9223372036854775808"`},
		{name: "value not UTF-8", raw: map[string]string{"region": "\xff"}, wantErr: `sla region "\xff" is not valid UTF-8`},
		{name: "attribute not UTF-8", raw: map[string]string{"attr.gpu": "a\xc3"}, wantErr: "sla attr.gpu"},
		{name: "key not UTF-8", raw: map[string]string{"attr.\xff": "x"}, wantErr: "sla key"},
		{name: "NUL byte", raw: map[string]string{"arch": "x86\x00"}, wantErr: "NUL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := model.ParseSLA(tc.raw)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, model.ErrInvalid) {
					t.Fatalf("want error containing %q wrapping ErrInvalid, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got.Raw(), tc.want.Raw()) {
				t.Fatalf("got %+v want %+v", got, tc.want)
			}
			if got.IsZero() != (len(tc.raw) == 0) {
				t.Fatalf("IsZero=%v for %v", got.IsZero(), tc.raw)
			}
		})
	}
}

func TestValidation(t *testing.T) {
	cases := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"title ok", model.ValidateTitle("web"), ""},
		{"title empty", model.ValidateTitle("  "), "title is empty"},
		{"title control", model.ValidateTitle("a\nb"), "control character"},
		{"title long", model.ValidateTitle(strings.Repeat("x", 256)), "at most 255"},
		{"url ok", model.ValidateSoftwareURL("https://example.org/software.cfg"), ""},
		{"url file", model.ValidateSoftwareURL("file:///srv/software.cfg"), ""},
		{"url relative", model.ValidateSoftwareURL("software.cfg"), "not absolute"},
		{"url scheme", model.ValidateSoftwareURL("ftp://x/y"), `scheme "ftp" not supported`},
		{"url empty", model.ValidateSoftwareURL(""), "URL is empty"},
		{"url https without host", model.ValidateSoftwareURL("https:///software.cfg"), "has no host"},
		{"id ok", model.ValidateID("computer id", "COMP-1"), ""},
		{"id space", model.ValidateID("computer id", "COMP 1"), "only letters"},
		{"id empty", model.ValidateID("computer id", ""), "computer id is empty"},
		{"params ok", model.ValidateParameters(map[string]string{"a": "b"}), ""},
		{"params eq", model.ValidateParameters(map[string]string{"a=b": "c"}), "parameter key"},
		{"params value not UTF-8", model.ValidateParameters(map[string]string{"a": "\xff"}), `parameter "a"`},
		{"params key not UTF-8", model.ValidateParameters(map[string]string{"\xff": "b"}), "parameter key"},
		{"title not UTF-8", model.ValidateTitle("\xfe"), "title"},
		{"url not UTF-8", model.ValidateSoftwareURL("https://x/\xff"), "software release URL"},
		{"price ok", model.ValidatePrice("max_price", 0.25), ""},
		{"price NaN", model.ValidatePrice("max_price", math.NaN()), "max_price is NaN: expected a finite number"},
		{"price Inf", model.ValidatePrice("max_price", math.Inf(1)), "max_price is +Inf"},
		{"price negative", model.ValidatePrice("max_price", -1), "non-negative"},
		{"price huge", model.ValidatePrice("max_price", 1e10), "out of range"},
		{"price list NaN", model.ValidatePriceList(model.PriceList{"hosting": 1, "cpu_time": math.NaN()}), `price of "cpu_time" is NaN`},
		{"price list empty name", model.ValidatePriceList(model.PriceList{"": 1}), "empty resource name"},
		{"price list name not UTF-8", model.ValidatePriceList(model.PriceList{"\xff": 1}), "resource name"},
		{"hardware ok", model.ValidateHardware(model.Hardware{Arch: "x86_64", CPU: 8, RAM: 1 << 40}), ""},
		{"hardware negative", model.ValidateHardware(model.Hardware{RAM: -1}), "hardware.ram is -1"},
		{"hardware arch", model.ValidateHardware(model.Hardware{Arch: "\xff"}), "hardware.arch"},
		{"text NUL", model.ValidateText("region", "e\x00u"), "region"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantErr == "" {
				if tc.err != nil {
					t.Fatal(tc.err)
				}
				return
			}
			if tc.err == nil || !strings.Contains(tc.err.Error(), tc.wantErr) || !errors.Is(tc.err, model.ErrInvalid) {
				t.Fatalf("want %q, got %v", tc.wantErr, tc.err)
			}
		})
	}
}

func TestIsLocalSoftwareURL(t *testing.T) {
	for _, tc := range []struct {
		url   string
		local bool
	}{
		{"file:///srv/software.cfg", true},
		{"FILE:///srv/software.cfg", true},
		{"https://example.org/software.cfg", false},
		{"http://[::1]:8080/software.cfg", false},
	} {
		if err := model.ValidateSoftwareURL(tc.url); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if got := model.IsLocalSoftwareURL(tc.url); got != tc.local {
			t.Errorf("IsLocalSoftwareURL(%q) = %v, want %v", tc.url, got, tc.local)
		}
	}
}

func TestParseStates(t *testing.T) {
	if _, err := model.ParseRequestedState("running"); err == nil || !strings.Contains(err.Error(), "started, stopped, destroyed") {
		t.Fatalf("bad state word: %v", err)
	}
	for _, s := range []string{"started", "stopped", "destroyed", ""} {
		if _, err := model.ParseRequestedState(s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := model.ParseSoftwareState("ready"); err == nil {
		t.Fatal("ready is not a software state")
	}
	if _, err := model.ParseReportedState("destroyed"); err == nil {
		t.Fatal("destroyed is not a reported partition state")
	}
	if s, err := model.ParseScope(""); err != nil || s != model.ScopeOpen {
		t.Fatalf("empty scope means open: %v %v", s, err)
	}
}

func TestParseKeyValues(t *testing.T) {
	m, err := model.ParseKeyValues("param", []string{"a=1", "b=x=y", "c="})
	if err != nil || m["a"] != "1" || m["b"] != "x=y" || m["c"] != "" {
		t.Fatalf("got %v %v", m, err)
	}
	if _, err := model.ParseKeyValues("param", []string{"a=1", "novalue"}); err == nil || !strings.Contains(err.Error(), `param #2 "novalue"`) {
		t.Fatalf("missing '=': %v", err)
	}
	if _, err := model.ParseKeyValues("sla", []string{"a=1", "a=2"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("duplicate: %v", err)
	}
}

func TestComparePartitionIDs(t *testing.T) {
	ids := []string{"slappart10", "slappart2", "slappart1", "other", "slappart0"}
	slices.SortFunc(ids, model.ComparePartitionIDs)
	want := []string{"other", "slappart0", "slappart1", "slappart2", "slappart10"}
	if !slices.Equal(ids, want) {
		t.Fatalf("got %v", ids)
	}
}

// FuzzParseSLA: parsing never panics; what parses renders back to the same
// conditions.
func FuzzParseSLA(f *testing.F) {
	f.Add("region", "jp", "max_price", "1.5")
	f.Add("attr.gpu", "yes", "min_ram", "10")
	f.Add("unique_by_network", "1", "computer_guid", "COMP-1")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		raw := map[string]string{k1: v1, k2: v2}
		s, err := model.ParseSLA(raw)
		if err != nil {
			if !errors.Is(err, model.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		again, err := model.ParseSLA(s.Raw())
		if err != nil {
			t.Fatalf("rendered SLA does not parse: %v (%v)", err, s.Raw())
		}
		if !maps.Equal(again.Raw(), s.Raw()) {
			t.Fatalf("round trip: %v != %v", again.Raw(), s.Raw())
		}
	})
}

// FuzzParseKeyValues: parsing never panics and keeps every key.
func FuzzParseKeyValues(f *testing.F) {
	f.Add("a=1", "b=2")
	f.Add("=x", "y")
	f.Fuzz(func(t *testing.T, a, b string) {
		m, err := model.ParseKeyValues("param", []string{a, b})
		if err != nil {
			return
		}
		if len(m) != 2 {
			t.Fatalf("two words, %d keys", len(m))
		}
		if err := model.ValidateParameters(m); err == nil {
			for k := range m {
				if strings.Contains(k, "=") {
					t.Fatalf("key %q contains '='", k)
				}
			}
		}
	})
}

func TestSanitizeText(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"build failed: é", "build failed: é"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"nul\x00", "nul\uFFFD"},
		{"cut \xc3", "cut \uFFFD"},
	}
	for _, tc := range cases {
		got := model.SanitizeText(tc.in)
		if got != tc.want {
			t.Errorf("SanitizeText(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if err := model.ValidateText("text", got); err != nil {
			t.Errorf("SanitizeText(%q) = %q is not valid text: %v", tc.in, got, err)
		}
	}
}

// TestSLAEqual: Equal is equality of the Raw forms.
func TestSLAEqual(t *testing.T) {
	slas := []model.SLA{
		{},
		{MinRAM: -1},
		{MinRAM: 1},
		{MinRAM: 2},
		{MinCPU: 4},
		{MinDisk: 4},
		{RetentionDelay: 60},
		{RetentionDelay: -60},
		{MaxPrice: 0.5},
		{MaxPrice: -0.5},
		{MaxPrice: math.NaN()},
		{ComputerGUID: "COMP-1"},
		{InstanceGUID: "SOFTINST-1"},
		{Region: "eu"},
		{Network: "n1"},
		{Arch: "x86_64"},
		{UniqueByNetwork: true},
		{Attributes: map[string]string{}},
		{Attributes: map[string]string{"gpu": "yes"}},
		{Attributes: map[string]string{"gpu": ""}},
		{Attributes: map[string]string{"gpu": "no"}},
		{Region: "eu", Attributes: map[string]string{"gpu": "yes"}},
	}
	for i, a := range slas {
		for j, b := range slas {
			if got, want := a.Equal(b), maps.Equal(a.Raw(), b.Raw()); got != want {
				t.Errorf("#%d %+v Equal #%d %+v = %v, want %v (their Raw forms: %v, %v)", i, a, j, b, got, want, a.Raw(), b.Raw())
			}
		}
	}
}

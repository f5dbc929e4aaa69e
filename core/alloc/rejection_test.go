package alloc

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestRejectionError(t *testing.T) {
	tests := []struct {
		name string
		rej  Rejection
		want string
	}{
		{"empty market", Rejection{}, "no computer registered"},
		{"one computer", Rejection{Considered: 1, Counts: map[string]int{"offline": 1}}, "1 computer: 1 offline"},
		{"pipeline order, not count or alphabet", Rejection{Considered: 12, Counts: map[string]int{
			"region!=jp": 9, "no free partition": 3}}, "12 computers: 3 no free partition, 9 region!=jp"},
		{"every filter", Rejection{Considered: 14, Counts: map[string]int{
			"attr.gpu!=yes": 1, "network used by tree": 1, "network!=lan1": 1, "price>0.5": 1, "disk<100": 1,
			"cpu<4": 1, "ram<4096": 1, "arch!=x86_64": 1, "region!=jp": 1, "no free partition": 1,
			"software not supplied": 1, "offline": 1, "closed scope": 1, "computer_guid!=COMP-1": 1}},
			"14 computers: 1 computer_guid!=COMP-1, 1 closed scope, 1 offline, 1 software not supplied, " +
				"1 no free partition, 1 region!=jp, 1 arch!=x86_64, 1 ram<4096, 1 cpu<4, 1 disk<100, " +
				"1 price>0.5, 1 network!=lan1, 1 network used by tree, 1 attr.gpu!=yes"},
		{"attributes alphabetically", Rejection{Considered: 3, Counts: map[string]int{
			"attr.ssd!=yes": 1, "attr.gpu!=yes": 2}}, "3 computers: 2 attr.gpu!=yes, 1 attr.ssd!=yes"},
		{"unknown reasons last, zero counts omitted", Rejection{Considered: 3, Counts: map[string]int{
			"quarantined": 2, "offline": 1, "region!=eu": 0}}, "3 computers: 1 offline, 2 quarantined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rej.Error(); got != tt.want {
				t.Errorf("Error() = %q\nwant      %q", got, tt.want)
			}
			if !errors.Is(&tt.rej, ErrNoPlacement) {
				t.Errorf("%v does not unwrap to ErrNoPlacement", &tt.rej)
			}
		})
	}
}

func TestRejectionWraps(t *testing.T) {
	_, rej := Place(nil, fitRequest(), fitOptions())
	err := fmt.Errorf("instance %q pending: %w", "db", rej)
	var target *Rejection
	if !errors.As(err, &target) || target != rej || !errors.Is(err, ErrNoPlacement) {
		t.Fatalf("%v: the rejection is not reachable through wrapping", err)
	}
}

func TestReasonFilter(t *testing.T) {
	tests := map[string]string{
		"computer_guid!=COMP-1": "computer_guid",
		"closed scope":          "scope",
		"offline":               "online",
		"software not supplied": "software",
		"no free partition":     "free_partition",
		"region!=jp":            "region",
		"arch!=arm64":           "arch",
		"ram<4096":              "min_ram",
		"cpu<4":                 "min_cpu",
		"disk<100":              "min_disk",
		"price>0.5":             "max_price",
		"network!=lan1":         "network",
		"network used by tree":  "unique_by_network",
		"attr.gpu!=yes":         "attr",
		"quarantined":           "",
		"":                      "",
	}
	for reason, want := range tests {
		if got := ReasonFilter(reason); got != want {
			t.Errorf("ReasonFilter(%q) = %q, want %q", reason, got, want)
		}
	}
	// Every reason Place produces maps to a filter.
	var buf [maxStackAttrs]attrCond
	req := fitRequest()
	req.SLA.ComputerGUID, req.SLA.Region, req.SLA.Arch, req.SLA.Network = "COMP-1", "jp", "x86_64", "lan1"
	req.SLA.MinRAM, req.SLA.MinCPU, req.SLA.MinDisk, req.SLA.MaxPrice = 1, 2, 3, 4.5
	req.SLA.Attributes = map[string]string{"gpu": "yes"}
	opts := fitOptions()
	q := compile(&req, &opts, buf[:0])
	for id := range numFilters {
		reason := q.reason(id, 0)
		if got := reasonFilter(reason); got != id {
			t.Errorf("reason %q of filter %d maps back to filter %d", reason, id, got)
		}
	}
}

func TestRejectionReasons(t *testing.T) {
	rej := &Rejection{Considered: 4, Counts: map[string]int{"region!=jp": 2, "closed scope": 1, "attr.a!=b": 1}}
	want := []string{"closed scope", "region!=jp", "attr.a!=b"}
	if got := rej.Reasons(); !slices.Equal(got, want) {
		t.Fatalf("Reasons() = %q, want %q", got, want)
	}
}

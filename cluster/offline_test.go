package cluster

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
)

// Tests named TestOffline need no Docker engine: TestMain runs only them
// when none answers.

func TestOfflineNetworkBlock(t *testing.T) {
	cases := []struct {
		subnet string
		k      int
		want   string // "" = no such block
	}{
		{"10.120.0.0/16", 1, "10.120.1.0/24"},
		{"10.120.0.0/16", 255, "10.120.255.0/24"},
		{"10.120.0.0/16", 256, ""},
		{"10.120.0.0/16", 0, ""},
		{"10.120.4.0/22", 3, "10.120.7.0/24"},
		{"10.120.4.0/22", 4, ""},
		{"10.120.7.0/24", 1, ""},
	}
	for _, tc := range cases {
		n := &Network{Subnet: netip.MustParsePrefix(tc.subnet)}
		got := n.Block(tc.k)
		if (tc.want == "") != !got.IsValid() || (tc.want != "" && got.String() != tc.want) {
			t.Errorf("Block(%d) of %s = %v, want %q", tc.k, tc.subnet, got, tc.want)
		}
	}
}

func TestOfflineAllocate(t *testing.T) {
	n := &Network{Subnet: netip.MustParsePrefix("10.9.8.0/24"), next: netip.MustParseAddr("10.9.8.2")}
	if a, b := n.Allocate(), n.Allocate(); a.String() != "10.9.8.2" || b.String() != "10.9.8.3" {
		t.Fatalf("allocated %v then %v, want 10.9.8.2 then 10.9.8.3", a, b)
	}
}

func TestOfflineUsageChecks(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 1, 1, 0, min, 0, 0, time.UTC) }
	j := func(from, to int, sent bool, cpu float64) SpooledJournal {
		return SpooledJournal{Name: at(from).Format("1504") + "_" + at(to).Format("1504"), Sent: sent, Start: at(from), Stop: at(to),
			Movements: []account.Movement{{Resource: account.ResourceCPUTime, Quantity: cpu}}}
	}
	cases := []struct {
		name     string
		journals []SpooledJournal
		wantErr  string
		pending  int
		cpu      float64
	}{
		{"contiguous", []SpooledJournal{j(0, 10, true, 1), j(10, 20, true, 2), j(20, 25, false, 4)}, "", 1, 3},
		{"overlap", []SpooledJournal{j(0, 10, true, 1), j(5, 20, true, 2)}, "overlap", 0, 3},
		{"gap", []SpooledJournal{j(0, 10, true, 1), j(12, 20, true, 2)}, "2m0s of usage lost", 0, 3},
		{"empty", nil, "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := NodeUsage{ComputerID: "COMP-1", Journals: tc.journals}
			err := u.CheckContiguous()
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("CheckContiguous = %v, want an error containing %q", err, tc.wantErr)
			}
			if got := u.Pending(); got != tc.pending {
				t.Errorf("Pending = %d, want %d", got, tc.pending)
			}
			if got := u.SentTotals()[account.ResourceCPUTime]; got != tc.cpu {
				t.Errorf("sent cpu_time = %v, want %v", got, tc.cpu)
			}
		})
	}
}

func TestOfflineCompareTotals(t *testing.T) {
	cases := []struct {
		name          string
		master, nodes map[string]float64
		wantErr       string
	}{
		{"equal", map[string]float64{"cpu_time": 1.5, "memory_used": 20}, map[string]float64{"cpu_time": 1.5, "memory_used": 20}, ""},
		{"rounding", map[string]float64{"cpu_time": 0.1 + 0.2}, map[string]float64{"cpu_time": 0.3}, ""},
		{"counted twice", map[string]float64{"cpu_time": 3}, map[string]float64{"cpu_time": 1.5}, "cpu_time: master 3, nodes 1.5"},
		{"lost", map[string]float64{}, map[string]float64{"disk_used": 2}, "disk_used: master 0, nodes 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CompareTotals(tc.master, tc.nodes)
			if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("CompareTotals = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestOfflineTail(t *testing.T) {
	if got := tail("a\nb\nc\n", 2); got != "b\nc" {
		t.Fatalf("tail = %q", got)
	}
	if got := tail("a", 5); got != "a" {
		t.Fatalf("tail = %q", got)
	}
}

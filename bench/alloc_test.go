package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
)

// TestRunAllocShort runs a real, tiny grid: every cell must have placed
// instances in every repetition and be judged against the target.
func TestRunAllocShort(t *testing.T) {
	cfg := AllocConfig{
		Computers: []int{20}, Partitions: []int{10}, Fills: []int{0, 90},
		Policies:    []alloc.Policy{alloc.PolicyFirstFit, alloc.PolicyRandom},
		Repetitions: 3, RepTime: 5 * time.Millisecond, Warmup: time.Millisecond,
	}
	res, err := RunAlloc(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cells) != 4 {
		t.Fatalf("%d cells, want 2 fills × 2 policies", len(res.Cells))
	}
	for _, c := range res.Cells {
		if len(c.Rates) != 3 || c.Placements <= 0 || c.Median <= 0 || c.Min > c.Median || c.Max < c.Median {
			t.Errorf("cell %+v: expected 3 positive rates summarised", c)
		}
		switch {
		case c.Status == StatusNoVerdict && (c.Spread <= MaxSpread || c.Why == ""):
			t.Errorf("cell %s/%d%%: no verdict (%q) with spread %g", c.Policy, c.Fill, c.Why, c.Spread)
		case c.Status != StatusNoVerdict && c.Spread > MaxSpread:
			t.Errorf("cell %s/%d%%: status %q with spread %g above the bound", c.Policy, c.Fill, c.Status, c.Spread)
		case c.Status != StatusPass && c.Status != StatusMiss && c.Status != StatusNoVerdict:
			t.Errorf("cell %s/%d%%: status %q", c.Policy, c.Fill, c.Status)
		}
	}
	// 20 computers × 1 free partition at 90% fill: the market runs out
	// and is refilled many times in 15 ms.
	if c := res.Cells[2]; c.Fill != 90 || c.Resets == 0 {
		t.Errorf("cell %+v: expected resets on an almost full market", c)
	}
	sec := res.Section("slapgo bench alloc --computers 20")
	if len(sec.Tables) != 1 || len(sec.Tables[0].Rows) != 4 || len(sec.Figures) == 0 {
		t.Fatalf("section %+v: expected one table of 4 rows and a figure", sec)
	}
	if got := sec.Tables[0].Rows[0]; got[3] != "first-fit" || !strings.HasPrefix(got[7], ">= 50,000") {
		t.Errorf("first row %v: expected the policy and the target", got)
	}
}

func TestRunAllocRejectsBadGrid(t *testing.T) {
	for _, cfg := range []AllocConfig{
		{Computers: []int{10}, Partitions: []int{10}, Fills: []int{100}, Policies: alloc.Policies(), Repetitions: 1, RepTime: time.Millisecond},
		{Computers: []int{0}, Partitions: []int{10}, Fills: []int{0}, Policies: alloc.Policies(), Repetitions: 1, RepTime: time.Millisecond},
		{Computers: []int{10}, Partitions: []int{10}, Fills: []int{0}, Policies: alloc.Policies(), Repetitions: 0, RepTime: time.Millisecond},
	} {
		if _, err := RunAlloc(context.Background(), cfg); err == nil {
			t.Errorf("RunAlloc(%+v) accepted a grid it cannot measure", cfg)
		}
	}
}

func TestAllocMarketDeterministic(t *testing.T) {
	a, b := AllocMarket(50, 300, 50), AllocMarket(50, 300, 50)
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Region != b[i].Region || a[i].Price != b[i].Price || a[i].Free != 150 {
			t.Fatalf("candidate %d differs between two builds or has %d free, want 150", i, a[i].Free)
		}
		if i > 0 && a[i-1].ID >= a[i].ID {
			t.Fatalf("candidates not sorted by ID at %d", i)
		}
	}
}

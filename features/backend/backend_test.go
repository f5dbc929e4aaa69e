package backend

import (
	"testing"
	"time"
)

func TestPeakConcurrency(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	span := func(from, to int) ActionSpan {
		return ActionSpan{Kind: "configure-partition", Start: t0.Add(time.Duration(from) * time.Second), End: t0.Add(time.Duration(to) * time.Second)}
	}
	tests := []struct {
		name  string
		spans []ActionSpan
		want  int
	}{
		{"none", nil, 0},
		{"one", []ActionSpan{span(0, 1)}, 1},
		{"one after the other", []ActionSpan{span(0, 1), span(1, 2), span(2, 3)}, 1},
		{"instantaneous between two", []ActionSpan{span(0, 1), span(1, 1), span(1, 2)}, 1},
		{"overlapping", []ActionSpan{span(0, 2), span(1, 3)}, 2},
		{"nested, out of order", []ActionSpan{span(2, 3), span(0, 10), span(1, 4)}, 3},
		{"two then one", []ActionSpan{span(0, 2), span(1, 2), span(2, 5)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PeakConcurrency(tt.spans); got != tt.want {
				t.Errorf("PeakConcurrency = %d, want %d", got, tt.want)
			}
		})
	}
}

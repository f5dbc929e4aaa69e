package sim

import (
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// The periodic full check compares the whole master with the records and
// names the first record that disagrees.
func TestFullCheckReports(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, s *engine)
		want    string // invariant; "" for none
		detail  string // part of the detail
	}{
		{"consistent", func(*testing.T, *engine) {}, "", ""},
		{"record unknown to the master", func(_ *testing.T, s *engine) {
			s.insts = append(s.insts, &inst{title: "ghost", guid: "SOFTINST-ghost"})
		}, InvNoneLost, "instance SOFTINST-ghost (ghost) is unknown to the master: "},
		{"destroyed unasked", func(t *testing.T, s *engine) {
			r := s.insts[1]
			if _, _, err := s.m.Apply(s.time(), master.SetState{By: model.Admin, InstanceGUID: r.guid,
				State: model.StateDestroyed}); err != nil {
				t.Fatal(err)
			}
		}, InvNoneLost, " is destroyed but nobody asked it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setUpSmallBaseline(t)
			tt.corrupt(t, s)
			s.fullCheck()
			switch {
			case tt.want == "" && s.violation != nil:
				t.Fatalf("violation = %v, want none", s.violation)
			case tt.want == "":
			case s.violation == nil || s.violation.Invariant != tt.want || !strings.Contains(s.violation.Detail, tt.detail):
				t.Fatalf("violation = %+v, want %q with %q", s.violation, tt.want, tt.detail)
			}
		})
	}
}

// setUpSmallBaseline is an engine of the small baseline at t0, grid built
// and warm-start instances placed.
func setUpSmallBaseline(t *testing.T) *engine {
	t.Helper()
	s, err := newEngine(load(t, "baseline.yaml", smallBaseline), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.setup()
	if s.violation != nil {
		t.Fatalf("setup: %v", s.violation)
	}
	return s
}

package sim

import (
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// bind finds an instance's record through the holder of the partition it
// says it lives on, when that holder is the instance's: the answer is the
// one the table by GUID gives, for every instance of the master through a
// day of placements, destructions and crashes, and for an instance that
// names a partition another holds.
func TestBindByHolderIsByGUID(t *testing.T) {
	s := setUpSmallBaseline(t)
	var viaHolder int
	check := func() {
		t.Helper()
		for g, p := range s.m.Placements() {
			want, ok := s.byGUID[g]
			if !ok {
				want = -1
			}
			i := &model.Instance{GUID: g, ComputerID: p.ComputerID, PartitionID: p.PartitionID}
			at := p.Status == master.StatusAllocated
			var pk partKey
			if at {
				pk = s.key(p.ComputerID, p.PartitionID)
				if h, ok := s.holderOf(pk); ok && s.insts[h].guid == g {
					viaHolder++
				}
			}
			if got := s.bind(i, pk, at); got != want {
				t.Fatalf("at %s: bind(%s on %s/%s) = %d, by GUID %d", time.Duration(s.now), g, p.ComputerID, p.PartitionID, got, want)
			}
			// Another instance naming this partition is not its holder's.
			if at {
				other := &model.Instance{GUID: g + "-other", ComputerID: p.ComputerID, PartitionID: p.PartitionID}
				if got := s.bind(other, pk, true); got != -1 {
					t.Fatalf("bind(an unknown instance on %s/%s) = %d, want -1", p.ComputerID, p.PartitionID, got)
				}
			}
		}
	}
	check()
	for h := time.Duration(0); h < 6*time.Hour && s.violation == nil; h += 20 * time.Minute {
		s.runUntil(int64(h), nil)
		check()
	}
	if s.violation != nil {
		t.Fatal(s.violation)
	}
	if viaHolder == 0 {
		t.Fatal("no instance was found through its partition's holder: the test checks nothing")
	}
}

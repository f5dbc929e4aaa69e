package master

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/slapgo/slapgo/core/model"
)

// TestSortPartitionsIsNaturalOrder: Restore's sort gives the order
// model.ComparePartitionIDs defines, for ids with and without numbers.
func TestSortPartitionsIsNaturalOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ids := []string{"slappart", "a", "slappart01", "slappart1", "slappart1234567890123456789", "x9", "slappartX"}
	for n := range 300 {
		ids = append(ids, fmt.Sprintf("slappart%d", n), fmt.Sprintf("part%d", r.IntN(50)))
	}
	for seed := range 20 {
		r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
		parts := make([]*model.Partition, len(ids))
		for i, id := range ids {
			parts[i] = &model.Partition{ID: id}
		}
		sortPartitions(parts)
		if !slices.IsSortedFunc(parts, func(a, b *model.Partition) int { return model.ComparePartitionIDs(a.ID, b.ID) }) {
			t.Fatalf("seed %d: not in natural order", seed)
		}
	}
}

// TestCompactKeepsLastOfEach compares Compact with its definition on
// random lists, short (scanned) and long (indexed by a map): the last
// mutation of each (Kind, Key), in the order of those last mutations.
func TestCompactKeepsLastOfEach(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	kinds := []EntityKind{KindInstance, KindPartition, KindComputer}
	for trial := range 2000 {
		ms := make([]Mutation, r.IntN(3*compactScanMax))
		for i := range ms {
			ms[i] = Mutation{Kind: kinds[r.IntN(len(kinds))], Key: fmt.Sprint(r.IntN(6)), Value: i}
		}
		var want []Mutation
		for i, m := range ms {
			last := true
			for _, n := range ms[i+1:] {
				if n.Kind == m.Kind && n.Key == m.Key {
					last = false
				}
			}
			if last {
				want = append(want, m)
			}
		}
		got := Compact(ms)
		if len(got) != len(want) {
			t.Fatalf("trial %d: Compact of %d mutations kept %d, want %d", trial, len(ms), len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("trial %d: #%d = %+v, want %+v", trial, i, got[i], want[i])
			}
		}
	}
}

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

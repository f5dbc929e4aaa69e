package master

import (
	"strings"

	"github.com/slapgo/slapgo/core/model"
)

// partIndex finds a computer's partitions by id.
type partIndex = idIndex[model.Partition]

// idIndex finds values by partition id. A partition named slappartN (how a
// node names the partitions it formats), N written in at most
// maxNumberDigits digits without a leading zero, is held at index N of a
// slice: the commands of a node name a partition on every call, and a
// string's hash cost more than the rest of the lookup. Any other name is
// held in a map. The zero value is an empty index.
type idIndex[T any] struct {
	numbered []*T // by N; nil where no such partition
	named    map[string]*T
}

// maxNumberDigits bounds the numbers partIndex holds in its slice.
const maxNumberDigits = 4

// partitionNumber returns N for an id "slappartN" that partIndex holds by
// number.
func partitionNumber(id string) (int, bool) {
	d, ok := strings.CutPrefix(id, "slappart")
	if !ok || d == "" || len(d) > maxNumberDigits || (d[0] == '0' && len(d) > 1) {
		return 0, false
	}
	n := 0
	for i := range len(d) {
		c := d[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func (x *idIndex[T]) get(id string) *T {
	if n, ok := partitionNumber(id); ok {
		if n < len(x.numbered) {
			return x.numbered[n]
		}
		return nil
	}
	return x.named[id]
}

func (x *idIndex[T]) set(id string, v *T) {
	if n, ok := partitionNumber(id); ok {
		if n >= len(x.numbered) {
			x.numbered = append(x.numbered, make([]*T, n+1-len(x.numbered))...)
		}
		x.numbered[n] = v
		return
	}
	if x.named == nil {
		x.named = map[string]*T{}
	}
	x.named[id] = v
}

func (x *idIndex[T]) del(id string) {
	if n, ok := partitionNumber(id); ok {
		if n < len(x.numbered) {
			x.numbered[n] = nil
		}
		return
	}
	delete(x.named, id)
}

// clear empties the index, keeping its slice for reuse.
func (x *idIndex[T]) clear() {
	clear(x.numbered)
	x.numbered = x.numbered[:0]
	x.named = nil
}

// indexPartitions indexes exactly parts.
func indexPartitions(parts []*model.Partition) partIndex {
	var x partIndex
	for _, p := range parts {
		x.set(p.ID, p)
	}
	return x
}

package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
)

// SubSeed derives the seed of one named component from the root seed:
// the first 16 bytes of sha256("<root>/<name>"). Components draw from
// their own streams, so that adding a component (a fault kind, a burst)
// leaves every other stream, and the workload first, unchanged.
func SubSeed(root uint64, name string) (uint64, uint64) {
	h := sha256.Sum256([]byte(strconv.FormatUint(root, 10) + "/" + name))
	return binary.LittleEndian.Uint64(h[0:8]), binary.LittleEndian.Uint64(h[8:16])
}

// Stream returns the random stream of one named component.
func Stream(root uint64, name string) *rand.Rand {
	a, b := SubSeed(root, name)
	return rand.New(rand.NewPCG(a, b))
}

// hashFraction maps (root, name) to a number in [0, 1) without a stream:
// for per-entity draws that must not depend on the order of events (is this
// instance broken?).
func hashFraction(root uint64, name string) float64 {
	a, _ := SubSeed(root, name)
	return float64(a>>11) / (1 << 53)
}

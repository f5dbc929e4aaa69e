package impure

import (
	"math/rand/v2"
)

func globalRandom(items []string) int {
	n := rand.IntN(10)                                                                   // want: global-rand
	_ = rand.Float64()                                                                   // want: global-rand
	rand.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] }) // want: global-rand
	_ = rand.N[int64](5)                                                                 // want: global-rand
	draw := rand.Uint64                                                                  // want: global-rand
	_ = draw
	return n
}

// seededRandom is what core code does instead, and is accepted.
func seededRandom(seed uint64) (int, *rand.Rand) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var src rand.Source = rand.NewChaCha8([32]byte{1})
	_ = rand.NewZipf(rand.New(src), 1.1, 1, 100)
	return r.IntN(10), r
}

// shadowed names its parameter after the package: rand.IntN is then a method
// call on the *rand.Rand passed in, and is accepted.
func shadowed(rand *rand.Rand) int {
	return rand.IntN(3)
}

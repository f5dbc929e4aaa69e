package impure

import (
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// Test files are exempt from the purity contract: nothing here is reported.
func TestExempt(t *testing.T) {
	start := time.Now()
	go func() {}()
	_ = rand.IntN(3)
	_, _ = os.ReadFile("golden.txt")
	t.Log(time.Since(start))
}

package sim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// The tracer hashes its lines by blocks: its hash is the SHA-256 of every
// line ended, in order, whenever it is asked, and a line begun and not
// ended counts for nothing.
func TestTracerHashesEveryLineEnded(t *testing.T) {
	var out bytes.Buffer
	tr := newTracer(&out)
	var want bytes.Buffer
	for i := range 5000 {
		if i%7 == 3 {
			tr.begin(int64(i), "dropped")
			tr.str("k", "never ended")
		}
		tr.begin(int64(i), "event")
		tr.str("node", fmt.Sprintf("node-%d", i%13))
		tr.pair("part", "c", "slappart1")
		tr.num("v", uint64(i))
		tr.end()
		fmt.Fprintf(&want, "%d event node=node-%d part=c/slappart1 v=%d\n", i, i%13, i)
		if i%1000 == 999 || i == 17 {
			sum := sha256.Sum256(want.Bytes())
			if got := tr.sum(); got != hex.EncodeToString(sum[:]) {
				t.Fatalf("after %d lines: hash %s, want %x", i+1, got, sum)
			}
		}
	}
	if !bytes.Equal(out.Bytes(), want.Bytes()) {
		t.Fatalf("the copy of the lines differs from the lines")
	}
	if tr.lines != 5000 {
		t.Fatalf("lines = %d, want 5000", tr.lines)
	}
}

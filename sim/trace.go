package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"strconv"
)

// tracer hashes one canonical line per significant event (a command the
// master applied, an action a node finished, a fault): equal traces give
// equal hashes, and any difference in a decision changes the hash.
type tracer struct {
	h     hash.Hash
	buf   []byte
	lines uint64
	out   io.Writer // optional copy of every line
	err   error
}

func newTracer(out io.Writer) *tracer {
	return &tracer{h: sha256.New(), buf: make([]byte, 0, 256), out: out}
}

// begin starts a line with the virtual time in nanoseconds.
func (t *tracer) begin(at int64, what string) {
	t.buf = t.buf[:0]
	t.buf = strconv.AppendInt(t.buf, at, 10)
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, what...)
}

func (t *tracer) str(k, v string) {
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, k...)
	t.buf = append(t.buf, '=')
	t.buf = append(t.buf, v...)
}

// pair writes k=a/b (a partition: computer/partition).
func (t *tracer) pair(k, a, b string) {
	t.str(k, a)
	t.buf = append(t.buf, '/')
	t.buf = append(t.buf, b...)
}

func (t *tracer) num(k string, v uint64) {
	t.buf = append(t.buf, ' ')
	t.buf = append(t.buf, k...)
	t.buf = append(t.buf, '=')
	t.buf = strconv.AppendUint(t.buf, v, 10)
}

// end hashes the line.
func (t *tracer) end() {
	t.buf = append(t.buf, '\n')
	t.h.Write(t.buf)
	t.lines++
	if t.out != nil && t.err == nil {
		_, t.err = t.out.Write(t.buf)
	}
}

// sum is the hex sha256 of every line so far.
func (t *tracer) sum() string { return hex.EncodeToString(t.h.Sum(nil)) }

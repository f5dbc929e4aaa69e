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
//
// NB: the lines are hashed by blocks of about traceBlock bytes, not one at
// a time (the same hash: SHA-256 reads a stream): buf holds the lines not
// hashed yet, the line being written from start.
type tracer struct {
	h     hash.Hash
	buf   []byte
	start int // where the line being written begins in buf
	lines uint64
	out   io.Writer // optional copy of every line
	err   error
}

// traceBlock is how many bytes of lines the tracer hashes at a time.
const traceBlock = 8 << 10

func newTracer(out io.Writer) *tracer {
	return &tracer{h: sha256.New(), buf: make([]byte, 0, traceBlock+1024), out: out}
}

// flush hashes the lines ended, keeping the one being written.
func (t *tracer) flush() {
	t.h.Write(t.buf[:t.start])
	n := copy(t.buf, t.buf[t.start:])
	t.buf, t.start = t.buf[:n], 0
}

// begin starts a line with the virtual time in nanoseconds (a line begun
// and not ended is dropped).
func (t *tracer) begin(at int64, what string) {
	t.buf = t.buf[:t.start]
	if t.start >= traceBlock {
		t.flush()
	}
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

// end ends the line: it is kept for the hash, and written to out.
func (t *tracer) end() {
	t.buf = append(t.buf, '\n')
	if t.out != nil && t.err == nil {
		_, t.err = t.out.Write(t.buf[t.start:])
	}
	t.start = len(t.buf)
	t.lines++
}

// sum is the hex sha256 of every line so far.
func (t *tracer) sum() string {
	t.flush()
	return hex.EncodeToString(t.h.Sum(nil))
}

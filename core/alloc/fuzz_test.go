package alloc

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// fuzzBytes hands out fuzz input one byte at a time, then zeros.
type fuzzBytes []byte

func (b *fuzzBytes) next() byte {
	if len(*b) == 0 {
		return 0
	}
	x := (*b)[0]
	*b = (*b)[1:]
	return x
}

// of picks one of xs with the next byte.
func of[T any](b *fuzzBytes, xs ...T) T { return xs[int(b.next())%len(xs)] }

// fuzzMarket decodes a request and up to 32 candidates from data. Values
// come from small sets (plus raw bytes for sizes and prices) so that
// conditions match as often as they fail.
func fuzzMarket(data []byte) ([]*Candidate, Request, Options) {
	b := fuzzBytes(data)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	prices := []float64{0, 0.25, 0.5, 1, math.NaN(), math.Inf(1), -1}
	n := int(b.next()) % 33
	cands := make([]*Candidate, n)
	for i := range cands {
		c := &Candidate{
			ID:          fmt.Sprintf("COMP-%02d", i),
			Owner:       of(&b, "", "P1", "P2"),
			Region:      of(&b, "", "eu", "jp"),
			Network:     of(&b, "", "n1", "n2"),
			Arch:        of(&b, "", "x86_64", "arm64"),
			CPU:         int64(int8(b.next())),
			RAM:         int64(b.next()) * 64,
			Disk:        int64(b.next()),
			Price:       of(&b, prices...),
			Scope:       of[model.Scope](&b, "", model.ScopeOpen, model.ScopeClosed, "weird"),
			LastContact: now.Add(-time.Duration(int8(b.next())) * time.Minute),
			Free:        int(int8(b.next())) % 5,
		}
		c.Total = c.Free + int(b.next()%4)
		flags := b.next()
		if flags&1 != 0 {
			c.Software = map[string]bool{"sr1": flags&2 != 0, "sr2": flags&4 != 0}
		}
		if flags&8 != 0 {
			c.Attributes = map[string]string{"gpu": of(&b, "", "yes", "no")}
			if flags&16 != 0 {
				c.Attributes["ssd"] = of(&b, "yes", "no")
			}
		}
		cands[i] = c
	}
	req := Request{Person: of(&b, "", "P1", "P2"), SoftwareRelease: of(&b, "sr1", "sr2", ""), Key: string(data)}
	s := &req.SLA
	if pin := b.next(); pin%4 == 0 {
		s.ComputerGUID = fmt.Sprintf("COMP-%02d", pin%40)
	}
	s.Region = of(&b, "", "", "eu", "jp")
	s.Network = of(&b, "", "", "n1", "n2")
	s.Arch = of(&b, "", "", "x86_64", "arm64")
	s.MinCPU = int64(int8(b.next())) % 8
	s.MinRAM = int64(b.next()%8) * 1024
	s.MinDisk = int64(b.next() % 4 * 64)
	s.MaxPrice = of(&b, 0, 0, 0.3, 0.5, 1, math.NaN(), math.Inf(1))
	flags := b.next()
	s.UniqueByNetwork = flags&1 != 0
	if flags&2 != 0 {
		req.TreeNetworks = map[string]bool{of(&b, "", "n1", "n2"): true}
	}
	if flags&4 != 0 {
		s.Attributes = map[string]string{of(&b, "gpu", "ssd", "fpga"): of(&b, "", "yes", "no")}
	}
	opts := Options{Now: now, Policy: of(&b, append(Policies(), "", "bogus")...)}
	if flags&8 != 0 {
		opts.OnlineWithin = time.Duration(b.next()) * time.Minute
	}
	return cands, req, opts
}

// FuzzPlace checks the oracle's invariants on markets built from fuzz bytes:
// decisions feasible and ranked first, rejections exact, Place deterministic.
func FuzzPlace(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{3, 1, 1, 1, 1, 8, 64, 100, 2, 1, 0, 3, 1, 7, 1, 1, 1, 0})
	f.Add([]byte("\x10some market with several computers and a pinned request"))
	f.Add([]byte{32, 255, 254, 253, 252, 251, 250, 249, 248, 247, 246, 245, 244, 243, 242, 241, 240})
	f.Fuzz(func(t *testing.T, data []byte) {
		cands, req, opts := fuzzMarket(data)
		d1, rej1 := checkPlace(t, cands, req, opts)
		d2, rej2 := Place(cands, req, opts)
		if d1 != d2 || (rej1 == nil) != (rej2 == nil) || rej1 != nil && rej1.Error() != rej2.Error() {
			t.Fatalf("two runs differ: %+v %v / %+v %v", d1, rej1, d2, rej2)
		}
	})
}

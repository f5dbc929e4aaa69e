package account

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// benchJournal is an encoded journal of n movements spread over 100
// partitions.
func benchJournal(b *testing.B, n int) []byte {
	b.Helper()
	per := map[string][]JournalMovement{}
	resources := []string{"cpu_time", "memory_used", "disk_used", "network_in_bytes", "network_out_bytes"}
	for i := range n {
		p := fmt.Sprintf("slappart%d", i%100)
		per[p] = append(per[p], JournalMovement{Resource: resources[i%len(resources)], Title: "usage", Quantity: float64(i) * 1.5})
	}
	data, err := EncodeJournal(BuildJournal("COMP-1", day0, day0.Add(24*time.Hour), per, "EUR"))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkDecodeJournal(b *testing.B) {
	for _, n := range []int{10, 1000, 30000} {
		b.Run(fmt.Sprintf("movements=%d", n), func(b *testing.B) {
			data := benchJournal(b, n)
			j, err := DecodeJournal(data)
			if err != nil || len(j.Transactions[0].Movements) != n {
				b.Fatalf("DecodeJournal: %d movements, err %v; want %d", len(j.Transactions[0].Movements), err, n)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeJournal(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBuildInvoices(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprintf("movements=%d", n), func(b *testing.B) {
			ms := pointers(randomMovements(rand.New(rand.NewPCG(7, 8)), n, 30*24*time.Hour))
			start, end := day0.Add(10*24*time.Hour), day0.Add(20*24*time.Hour)
			if inv := BuildInvoices(ms, start, end); len(inv) == 0 {
				b.Fatal("no invoice")
			}
			b.ReportAllocs()
			for b.Loop() {
				BuildInvoices(ms, start, end)
			}
		})
	}
}

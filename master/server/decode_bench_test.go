package server

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/slapgo/slapgo/master/api"
)

// BenchmarkDecodeInstanceRequest: the cost of decoding an instance request
// (decode), and the part of it spent on the strictness walk (strict-walk:
// keys given twice, field name case, UTF-8), by number of parameters.
func BenchmarkDecodeInstanceRequest(b *testing.B) {
	for _, n := range []int{0, 10, 1000} {
		req := api.InstanceRequest{Title: "web", SoftwareRelease: softURL, SLA: map[string]string{"region": "eu"}, Parameters: map[string]string{}}
		for i := range n {
			req.Parameters[fmt.Sprintf("key-%d", i)] = fmt.Sprintf("value number %d", i)
		}
		data, err := json.Marshal(req)
		noErr(b, err)
		var v api.InstanceRequest
		noErr(b, decodeJSON(data, &v, false))
		if len(v.Parameters) != n {
			b.Fatalf("decoded %d parameters, want %d", len(v.Parameters), n)
		}
		b.Run(fmt.Sprintf("params=%d/decode", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var v api.InstanceRequest
				if err := decodeJSON(data, &v, false); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("params=%d/strict-walk", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := checkStrictJSON(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

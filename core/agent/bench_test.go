package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// BenchmarkQuietPass is the pass the simulator runs most: a converged node
// whose view did not change, with and without anomaly checks.
func BenchmarkQuietPass(b *testing.B) {
	for _, parts := range []int{10, 300} {
		for _, checks := range []bool{false, true} {
			b.Run(fmt.Sprintf("parts=%d/checks=%v", parts, checks), func(b *testing.B) {
				var ps []model.PartitionView
				for i := range parts {
					ps = append(ps, started(fmt.Sprintf("slappart%d", i), fmt.Sprintf("S-%d", i), 1))
				}
				cfg := Config{PollInterval: time.Minute, PromiseBudget: time.Hour}
				if !checks {
					cfg.PromiseInterval = -1
				}
				a := New(cfg, installed(swA))
				v := view(1, ps...)
				now := t0
				drive := func() int {
					n := 0
					for {
						e := a.Next(now)
						if e.Kind == Sleep {
							now = e.Until
							return n
						}
						n++
						o := OK()
						switch {
						case e.Kind == FetchView && a.View() == nil:
							o = ViewFetched(v)
						case e.Kind == FetchView:
							o = NotModified()
						}
						if err := a.Done(now, o); err != nil {
							b.Fatal(err)
						}
					}
				}
				drive()
				if n := drive(); n < 1 || !a.Converged() {
					b.Fatalf("a quiet pass ran %d effects, converged %v", n, a.Converged())
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					drive()
				}
			})
		}
	}
}

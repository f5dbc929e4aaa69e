package master

import (
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/slapgo/slapgo/core/model"
)

// TestSLARawsRenderAsRaw: the render slaRaws shares is what SLA.Raw gives,
// for random SLAs differing in any one field, with attributes or not, and
// slaRaws stays bounded.
func TestSLARawsRenderAsRaw(t *testing.T) {
	if got, want := reflect.TypeFor[slaKey]().NumField(), reflect.TypeFor[model.SLA]().NumField()-1; got != want {
		t.Fatalf("slaKey has %d fields, model.SLA %d besides its attributes: a field is missing from the key", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	num := func() int64 { return []int64{0, 0, 1, 7, -3}[r.IntN(5)] }
	var c slaRaws
	shared := 0
	for n := range 5 * maxSLARaws {
		sla := model.SLA{ComputerGUID: pick("", "", "COMP-1", "COMP-2"), InstanceGUID: pick("", "", "SOFTINST-1", "SOFTINST-2"),
			Region: pick("", "eu", "us"), Network: pick("", "n1"), Arch: pick("", "x86_64", "arm64"),
			MinRAM: num(), MinCPU: num(), MinDisk: num(), RetentionDelay: num(),
			MaxPrice: []float64{0, 0, 1.5, -1, 1e21}[r.IntN(5)], UniqueByNetwork: r.IntN(2) == 0}
		if r.IntN(5) == 0 {
			sla.Attributes = map[string]string{pick("gpu", "disk"): pick("yes", "ssd")}
		}
		if n >= 4*maxSLARaws {
			// Past the bound: as many SLAs as instances may name.
			sla.InstanceGUID = "SOFTINST-x" + string(rune('a'+n%26)) + string(rune('a'+n/26%26)) + string(rune('a'+n/676%26))
		}
		got, want := c.raw(sla), sla.Raw()
		if !maps.Equal(got, want) || got == nil {
			t.Fatalf("SLA %+v: slaRaws renders %v, Raw %v", sla, got, want)
		}
		if again := c.raw(sla); reflect.ValueOf(again).UnsafePointer() == reflect.ValueOf(got).UnsafePointer() {
			shared++
		}
		if len(c.m) > maxSLARaws {
			t.Fatalf("slaRaws holds %d renders, more than %d", len(c.m), maxSLARaws)
		}
	}
	if shared < 3*maxSLARaws {
		t.Errorf("only %d of %d renders shared: slaRaws does not keep them", shared, 5*maxSLARaws)
	}
}

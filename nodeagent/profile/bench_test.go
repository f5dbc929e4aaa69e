package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/model"
)

// syntheticProfile has n service parts with a promise each, in the shape
// of instance profiles.
func syntheticProfile(n int) string {
	var b strings.Builder
	b.WriteString("[buildout]\nparts =\n")
	for i := range n {
		fmt.Fprintf(&b, "    service-%d\n    promise-%d\n", i, i)
	}
	b.WriteString("    publish\n\n[params]\nrecipe = slapconfiguration\nconfiguration.port = 8000\n\n")
	for i := range n {
		fmt.Fprintf(&b, "[service-%d]\nrecipe = service\ncommand-line =\n    /opt/app/bin/server-%d\n        --listen ${params:ipv4-random}:${params:configuration.port}\n        --name ${slap-connection:partition-id}\nenvironment =\n    LANG=C.UTF-8\n\n", i, i)
		fmt.Fprintf(&b, "[promise-%d]\nrecipe = promise\nhost = ${params:ipv4-random}\nport = ${params:configuration.port}\n\n", i)
	}
	b.WriteString("[publish]\nrecipe = publish\nurl = http://${params:ipv4-random}:${params:configuration.port}/\n")
	return b.String()
}

func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		data := []byte(syntheticProfile(n))
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			f, err := Parse("bench.cfg", data)
			if err != nil || len(f.Sections) != 2*n+3 {
				b.Fatalf("Parse: %v, %d sections", err, len(f.Sections))
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				Parse("bench.cfg", data)
			}
		})
	}
}

// BenchmarkDeploy measures one reconfiguration of a partition whose files
// are already up to date: the common case of a reconfiguration storm.
func BenchmarkDeploy(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			sw := b.TempDir()
			if err := os.WriteFile(filepath.Join(sw, InstanceProfileFile), []byte(syntheticProfile(n)), 0o644); err != nil {
				b.Fatal(err)
			}
			ic := InstanceContext{
				SoftwareDir: sw, PartitionDir: b.TempDir(), PartitionID: "slappart0",
				Addresses:    []model.Address{{Iface: "lo", Addr: "10.0.0.1"}},
				SlapgoBinary: "/usr/bin/slapgo",
			}
			dep, err := Deploy(b.Context(), ic)
			if err != nil || len(dep.Services) != n || len(dep.Promises) != n || dep.Publish["url"] != "http://10.0.0.1:8000/" {
				b.Fatalf("Deploy: %v, %d services, %d promises, publish %v", err, len(dep.Services), len(dep.Promises), dep.Publish)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Deploy(b.Context(), ic); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

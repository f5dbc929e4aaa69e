package alloc

import (
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// TestAdmit: an instance holding a partition stays on its computer under a
// request exactly when Place would choose that computer with one partition
// free; the rejection names the first filter it fails.
func TestAdmit(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const sw = "https://example.org/sw.cfg"
	full := &Candidate{ID: "C1", Owner: "alice", Region: "eu", Network: "n1", Arch: "x86_64", RAM: 4096, Price: 0.5,
		Scope: model.ScopeOpen, LastContact: now, Software: map[string]bool{sw: true}, Free: 0, Total: 3,
		Attributes: map[string]string{"gpu": "yes"}}
	closed := *full
	closed.Scope = model.ScopeClosed
	cases := []struct {
		name string
		c    *Candidate
		req  Request
		want string // "" = admitted
	}{
		{"no condition, full computer", full, Request{Person: "bob", SoftwareRelease: sw}, ""},
		{"conditions met", full, Request{Person: "bob", SoftwareRelease: sw,
			SLA: model.SLA{Region: "eu", MaxPrice: 0.5, MinRAM: 4096, Attributes: map[string]string{"gpu": "yes"}}}, ""},
		{"region", full, Request{Person: "bob", SoftwareRelease: sw, SLA: model.SLA{Region: "jp"}}, "1 computer: 1 region!=jp"},
		{"price", full, Request{Person: "bob", SoftwareRelease: sw, SLA: model.SLA{MaxPrice: 0.1}}, "1 computer: 1 price>0.1"},
		{"ram", full, Request{Person: "bob", SoftwareRelease: sw, SLA: model.SLA{MinRAM: 8192}}, "1 computer: 1 ram<8192"},
		{"attribute", full, Request{Person: "bob", SoftwareRelease: sw, SLA: model.SLA{Attributes: map[string]string{"gpu": "no"}}}, "1 computer: 1 attr.gpu!=no"},
		{"another pin", full, Request{Person: "bob", SoftwareRelease: sw, SLA: model.SLA{ComputerGUID: "C2"}}, "1 computer: 1 computer_guid!=C2"},
		{"closed, not the owner", &closed, Request{Person: "bob", SoftwareRelease: sw}, "1 computer: 1 closed scope"},
		{"closed, the owner pinning it", &closed, Request{Person: "alice", SoftwareRelease: sw, SLA: model.SLA{ComputerGUID: "C1"}}, ""},
		{"software not supplied", full, Request{Person: "bob", SoftwareRelease: "https://example.org/other.cfg"}, "1 computer: 1 software not supplied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rej := Admit(tc.c, tc.req, Options{Now: now})
			got := ""
			if rej != nil {
				got = rej.Error()
			}
			if got != tc.want {
				t.Errorf("Admit = %q, want %q", got, tc.want)
			}
			if tc.c.Free != 0 {
				t.Error("Admit changed the candidate")
			}
		})
	}
}

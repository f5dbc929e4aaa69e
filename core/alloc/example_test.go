package alloc_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/alloc"
	"github.com/slapgo/slapgo/core/model"
)

// A request for a computer in Japan on a small market: nothing fits, and the
// rejection says why, computer by computer.
func ExamplePlace_rejection() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	kvm := "https://lab.example.net/slapos/software/kvm/software.cfg"
	supplied := map[string]bool{kvm: true}
	cands := []*alloc.Candidate{
		{ID: "COMP-1", Region: "eu", Scope: model.ScopeOpen, Software: supplied, Free: 4, LastContact: now},
		{ID: "COMP-2", Region: "jp", Scope: model.ScopeClosed, Software: supplied, Free: 4, LastContact: now},
		{ID: "COMP-3", Region: "jp", Scope: model.ScopeOpen, Software: supplied, Free: 0, LastContact: now},
		{ID: "COMP-4", Region: "us", Scope: model.ScopeOpen, Software: supplied, Free: 9, LastContact: now},
	}
	req := alloc.Request{Person: "PERSON-1", SoftwareRelease: kvm, SLA: model.SLA{Region: "jp"}, Key: "db"}
	_, rej := alloc.Place(cands, req, alloc.Options{Now: now, OnlineWithin: 10 * time.Minute})
	fmt.Println(rej)
	fmt.Println(errors.Is(rej, alloc.ErrNoPlacement))

	cands[2].Free = 2 // a partition is freed in Japan
	d, _ := alloc.Place(cands, req, alloc.Options{Now: now, OnlineWithin: 10 * time.Minute})
	fmt.Println(d.ComputerID)
	// Output:
	// 4 computers: 1 closed scope, 1 no free partition, 2 region!=jp
	// true
	// COMP-3
}

package master

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/slapgo/slapgo/core/model"
)

// TestValidateSoftwareURLRemembers: what validateSoftwareURL and
// checkSoftwareURL say of a URL does not change once it is remembered, and
// the memory stays bounded.
func TestValidateSoftwareURLRemembers(t *testing.T) {
	urls := []string{"https://example.org/a.cfg", "file:///srv/b.cfg", "FILE:///srv/c.cfg", "", "ftp://x/y.cfg",
		"relative/d.cfg", "http://", "https://example.org/%zz"}
	s := New(DefaultConfig())
	for pass := range 2 {
		for _, u := range urls {
			wantValid := model.ValidateSoftwareURL(u) == nil
			if got := s.validateSoftwareURL(u) == nil; got != wantValid {
				t.Errorf("pass %d: %q valid = %v, want %v", pass, u, got, wantValid)
			}
			if !wantValid {
				continue
			}
			if got, want := s.checkSoftwareURL(u) == nil, !model.IsLocalSoftwareURL(u); got != want {
				t.Errorf("pass %d: %q accepted = %v, want %v", pass, u, got, want)
			}
		}
	}
	for i := range 3 * maxSoftwareURLs {
		if err := s.validateSoftwareURL(fmt.Sprintf("https://example.org/%d.cfg", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.softwareURLs); n > maxSoftwareURLs {
		t.Errorf("%d URLs remembered, more than %d", n, maxSoftwareURLs)
	}
}

// TestIDIndex: an idIndex finds what a map by id finds, whatever the ids.
func TestIDIndex(t *testing.T) {
	ids := []string{"slappart0", "slappart", "a", "slappart01", "slappart1", "slappart9999", "slappart10000",
		"slappart1234567890123456789", "x9", "slappartX", "slappart-1", "SLAPPART1"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		ids = append(ids, fmt.Sprintf("slappart%d", r.IntN(400)))
	}
	var x idIndex[model.Partition]
	want := map[string]*model.Partition{}
	for step := range 5000 {
		id := ids[r.IntN(len(ids))]
		switch r.IntN(3) {
		case 0:
			p := &model.Partition{ID: id}
			x.set(id, p)
			want[id] = p
		case 1:
			x.del(id)
			delete(want, id)
		}
		for _, id := range ids {
			if got := x.get(id); got != want[id] {
				t.Fatalf("step %d: get(%q) = %p, want %p", step, id, got, want[id])
			}
		}
		if step == 4000 {
			x.clear()
			clear(want)
		}
	}
}

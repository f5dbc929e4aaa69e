package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// populate fills a master with persons×perPerson computers of parts
// partitions each, and as many instances as partitions, through the core
// commands (in-process: the API's encoding is not what is measured).
func populate(b *testing.B, m *testMaster, persons, perPerson, parts int) {
	ctx := context.Background()
	s := m.srv
	must := func(cmd master.Command) {
		if _, err := s.exec(ctx, cmd, nil); err != nil {
			b.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for p := range persons {
		pid := fmt.Sprintf("PERSON-%d", p+1)
		must(master.AddPerson{By: model.Admin, ID: pid, Name: fmt.Sprintf("Person %d", p+1)})
		who := model.Actor{Kind: model.KindPerson, ID: pid}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for c := range perPerson {
				id := fmt.Sprintf("COMP-%d-%d", p, c)
				must(master.RegisterComputer{By: who, ID: id, Title: "rack " + id, Region: []string{"eu", "jp", "us", "br"}[c%4],
					Prices: model.PriceList{"hosting": 0.1}, Currency: "EUR"})
				var specs []master.PartitionSpec
				for i := range parts {
					specs = append(specs, master.PartitionSpec{ID: fmt.Sprintf("slappart%d", i),
						Addresses: []model.Address{{Iface: "lo", Addr: fmt.Sprintf("10.%d.%d.%d", p, c, i+1)}}})
				}
				must(master.SetCapacity{By: model.Actor{Kind: model.KindComputer, ID: id}, ComputerID: id, Partitions: specs})
				must(master.Supply{By: who, ComputerID: id, URL: softURL, State: model.SoftwareAvailable})
				for i := range parts {
					must(master.Request{By: who, Title: fmt.Sprintf("inst-%d-%d", c, i), SoftwareRelease: softURL,
						Parameters: map[string]string{"n": fmt.Sprint(i)}, SLA: map[string]string{"computer_guid": id}})
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkPortalPages measures the server time of each portal page (its
// p99 over the iterations) and its weight, on a grid of 1,000 computers
// and 10,000 instances (100 persons of 10 computers of 10 partitions, all
// busy). The page is served by the master's handler in-process, signed in
// by a session.
func BenchmarkPortalPages(b *testing.B) {
	m := startMaster(b, nil)
	populate(b, m, 100, 10, 10)
	s := m.srv
	now := s.now()
	person := model.Actor{Kind: model.KindPerson, ID: "PERSON-7"}
	var inst string
	s.mu.Lock()
	for _, i := range s.state.Instances(person, false) {
		inst = i.GUID
		break
	}
	s.mu.Unlock()
	cookie := map[model.Actor]string{
		person:      sessionCookie + "=" + s.portal.sessions.start(person, now),
		model.Admin: sessionCookie + "=" + s.portal.sessions.start(model.Admin, now),
	}
	for _, pg := range []struct {
		name string
		who  model.Actor
		path string
	}{
		{"overview/person", person, ""},
		{"overview/admin", model.Admin, ""},
		{"overview/admin/page=100", model.Admin, "?page=100"},
		{"overview/admin/search", model.Admin, "?q=inst-3-7"},
		{"instance", person, "instances/" + inst},
		{"request", person, "request"},
		{"computers/person", person, "computers"},
		{"computers/admin", model.Admin, "computers"},
		{"computers/admin/region", model.Admin, "computers?region=jp&page=3"},
		{"computer", person, "computers/COMP-6-3"},
		{"invoices/person", person, "invoices"},
		{"invoices/admin", model.Admin, "invoices"},
		{"grid", model.Admin, "grid"},
		{"people", model.Admin, "people"},
	} {
		b.Run("page="+pg.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "https://master"+portalPrefix+pg.path, nil)
			req.Header.Set("Cookie", cookie[pg.who])
			serve := func() (int, int) {
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				return rec.Code, rec.Body.Len()
			}
			if code, _ := serve(); code != http.StatusOK {
				b.Fatalf("GET %s as %s: %d", pg.path, pg.who, code)
			}
			lat := make([]time.Duration, 0, b.N)
			size := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				_, size = serve()
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(size)/1024, "KB")
		})
	}
}

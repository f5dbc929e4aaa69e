package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/master/api"
)

// benchClients is how many clients (connections) load the master at once.
const benchClients = 16

// runLoad runs op from benchClients goroutines, each with its own client
// (its own keep-alive connection), and reports throughput and p99 latency.
func runLoad(b *testing.B, clients []*api.Client, op func(c *api.Client, i int64) error) {
	var next, seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism((benchClients + 1) / 2) // × GOMAXPROCS goroutines
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		c := clients[int(next.Add(1)-1)%len(clients)]
		local := make([]time.Duration, 0, 4096)
		for pb.Next() {
			t0 := time.Now()
			if err := op(c, seq.Add(1)); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// poll304 sends a conditional GET of a computer's view and expects 304.
func poll304(c *api.Client, id, etag string) error {
	_, _, notModified, err := c.ComputerView(context.Background(), id, etag)
	if err != nil {
		return err
	}
	if !notModified {
		return fmt.Errorf("poll of %s with %s: view sent, want 304", id, etag)
	}
	return nil
}

// BenchmarkPoll304: benchClients computers each polling its own unchanged
// view with If-None-Match.
func BenchmarkPoll304(b *testing.B) { benchStores(b, benchPoll304) }

// benchStores runs a benchmark on a master on SQLite, then on PostgreSQL.
func benchStores(b *testing.B, bench func(b *testing.B, m *testMaster)) {
	b.Run("store=sqlite", func(b *testing.B) { bench(b, startMaster(b, nil)) })
	b.Run("store=postgres", func(b *testing.B) {
		pg := pgtest.Start(b)
		bench(b, startMasterOn(b, pg.NewDatabase(b), nil))
	})
}

func benchPoll304(b *testing.B, m *testMaster) {
	alice, _ := m.person("Alice")
	var clients []*api.Client
	var ids, etags []string
	for i := range benchClients {
		id := fmt.Sprintf("COMP-%d", i)
		c := m.computer(alice, id, 10, "eu")
		_, etag, _, err := c.ComputerView(context.Background(), id, "")
		noErr(b, err)
		noErr(b, poll304(c, id, etag)) // checked before the timed loop
		clients, ids, etags = append(clients, c), append(ids, id), append(etags, etag)
	}
	index := map[*api.Client]int{}
	for i, c := range clients {
		index[c] = i
	}
	runLoad(b, clients, func(c *api.Client, _ int64) error {
		i := index[c]
		return poll304(c, ids[i], etags[i])
	})
}

// BenchmarkFullView: full GETs (no If-None-Match) of a computer whose
// partitions all hold an instance with parameters and a shared instance
// list, as a node after a restart. The client negotiates gzip like the
// node agent's client does; the body is read, not decoded (the decoding is
// the node's cost, checked once before the loop).
func BenchmarkFullView(b *testing.B) {
	for _, parts := range []int{30, 300} {
		b.Run("partitions="+strconv.Itoa(parts), func(b *testing.B) {
			m := startMaster(b, nil)
			alice, _ := m.person("Alice")
			comp := m.computer(alice, "COMP-1", parts, "eu")
			fillComputer(b, alice, "COMP-1", parts)
			view, _, _, err := comp.ComputerView(context.Background(), "COMP-1", "")
			noErr(b, err)
			for _, p := range view.Partitions {
				if p.Free() || len(p.Parameters) < 5 {
					b.Fatalf("partition %s is not filled: %+v", p.ID, p)
				}
			}
			clients := []*api.Client{comp}
			for range benchClients - 1 {
				clients = append(clients, m.client(compCredentials(b, m, "COMP-1")))
			}
			url := m.url + api.Prefix + "/computers/COMP-1"
			var size atomic.Int64
			runLoad(b, clients, func(c *api.Client, _ int64) error {
				resp, err := c.HTTP.Get(url)
				if err != nil {
					return err
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					return fmt.Errorf("full view: %d, %v", resp.StatusCode, err)
				}
				size.Store(n)
				return nil
			})
			b.ReportMetric(float64(size.Load())/1024, "KiB/view")
		})
	}
}

// fillComputer requests one instance per partition, each with parameters.
func fillComputer(b *testing.B, owner *api.Client, comp string, n int) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				_, err := owner.Request(context.Background(), api.InstanceRequest{
					Title: fmt.Sprintf("inst-%d", i), SoftwareRelease: softURL, SoftwareType: "default",
					Parameters: map[string]string{"size": "10G", "port": strconv.Itoa(8000 + i), "password": "s3cr3t-" + strconv.Itoa(i),
						"url": "https://example.org/backend/" + strconv.Itoa(i), "replicas": "3", "tls": "true"},
					SLA: map[string]string{"computer_guid": comp}})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// compCredentials issues more credentials of a computer (one per client).
func compCredentials(b *testing.B, m *testMaster, id string) api.Credentials {
	is, err := m.srv.Authority().Issue(model.Actor{Kind: model.KindComputer, ID: id}, m.clock.Now())
	noErr(b, err)
	return api.Credentials{Identity: is.Identity, CertificatePEM: string(is.CertPEM), KeyPEM: string(is.KeyPEM),
		CAPEM: string(m.srv.Authority().CertPEM())}
}

// BenchmarkRequestDurable: instance requests that each change an instance
// (new parameters), so each is applied, committed (group commit, fsync)
// and only then answered.
func BenchmarkRequestDurable(b *testing.B) { benchStores(b, benchRequestDurable) }

func benchRequestDurable(b *testing.B, m *testMaster) {
	alice, _ := m.person("Alice")
	m.computer(alice, "COMP-1", 64, "eu")
	ctx := context.Background()
	const titles = 64
	first, err := alice.Request(ctx, api.InstanceRequest{Title: "t0", SoftwareRelease: softURL, Parameters: map[string]string{"n": "0"}})
	noErr(b, err)
	second, err := alice.Request(ctx, api.InstanceRequest{Title: "t0", SoftwareRelease: softURL, Parameters: map[string]string{"n": "-1"}})
	noErr(b, err)
	if first.Status != api.StatusAllocated || second.Version <= first.Version || second.GUID != first.GUID {
		b.Fatalf("a changing request did not change the instance: %+v then %+v", first, second)
	}
	clients := []*api.Client{alice}
	for range benchClients - 1 {
		clients = append(clients, m.client(personCredentials(b, m, first.Owner)))
	}
	runLoad(b, clients, func(c *api.Client, i int64) error {
		inst, err := c.Request(ctx, api.InstanceRequest{Title: "t" + strconv.FormatInt(i%titles, 10), SoftwareRelease: softURL,
			Parameters: map[string]string{"n": strconv.FormatInt(i, 10)}})
		if err == nil && inst.Parameters["n"] != strconv.FormatInt(i, 10) {
			err = fmt.Errorf("request %d answered %v", i, inst.Parameters)
		}
		return err
	})
}

func personCredentials(b *testing.B, m *testMaster, id string) api.Credentials {
	is, err := m.srv.Authority().Issue(model.Actor{Kind: model.KindPerson, ID: id}, m.clock.Now())
	noErr(b, err)
	return api.Credentials{Identity: is.Identity, CertificatePEM: string(is.CertPEM), KeyPEM: string(is.KeyPEM),
		CAPEM: string(m.srv.Authority().CertPEM())}
}

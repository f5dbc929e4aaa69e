package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/slap/xmlm"
)

// runClients runs b.N operations from len(clients) goroutines, one client
// (one keep-alive connection) each, and reports throughput and p99.
func runClients(b *testing.B, clients []*api.Client, op func(c *api.Client, i int64) error) {
	var seq atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			for {
				i := seq.Add(1)
				if i > int64(b.N) {
					break
				}
				t0 := time.Now()
				if err := op(c, i); err != nil {
					b.Error(err)
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "ops/s")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// fetchView GETs a view in full, asking for gzip as python-requests and
// the node agent do, and returns its size on the wire. The body is read,
// not inflated nor decoded: that is the node's cost (checked once before
// the loops), not the master's.
func fetchView(c *api.Client, u string) (int64, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && (resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip") {
		err = fmt.Errorf("full view: %d, encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	return n, err
}

// BenchmarkSLAPComputerView: full views of a computer of 300 busy
// partitions (parameters in each), SLAP's getFullComputerInformation next
// to /api/v1's JSON view, from 1 and 8 concurrent clients.
func BenchmarkSLAPComputerView(b *testing.B) {
	const parts = 300
	m := startMaster(b, nil)
	alice, _ := m.person("Alice")
	comp := m.computer(alice, "COMP-1", parts, "eu")
	fillComputer(b, alice, "COMP-1", parts)
	// Checked before the timed loops: both views hold every instance.
	status, body := slapCall(b, comp, http.MethodGet, "getFullComputerInformation", "computer_id", "COMP-1")
	if status != http.StatusOK {
		b.Fatalf("SLAP view: %d %s", status, body)
	}
	v, err := xmlm.Unmarshal(body)
	noErr(b, err)
	list, _ := v.Get("_computer_partition_list")
	busy := 0
	for _, p := range list.Items {
		if st, _ := p.Get("_requested_state"); st.Str == "started" {
			busy++
		}
	}
	if busy != parts {
		b.Fatalf("SLAP view has %d started partitions, want %d", busy, parts)
	}
	view, _, _, err := comp.ComputerView(context.Background(), "COMP-1", "")
	noErr(b, err)
	if len(view.Partitions) != parts || view.Partitions[parts-1].Free() {
		b.Fatalf("JSON view: %d partitions", len(view.Partitions))
	}
	routes := map[string]string{
		"json": m.url + api.Prefix + "/computers/COMP-1",
		"slap": m.url + "/getFullComputerInformation?computer_id=COMP-1",
	}
	for _, proto := range []string{"json", "slap"} {
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("proto=%s/clients=%d", proto, n), func(b *testing.B) {
				clients := []*api.Client{}
				for range n {
					clients = append(clients, m.client(compCredentials(b, m, "COMP-1")))
				}
				var size atomic.Int64
				runClients(b, clients, func(c *api.Client, _ int64) error {
					s, err := fetchView(c, routes[proto])
					size.Store(s)
					return err
				})
				b.ReportMetric(float64(size.Load())/1024, "KiB-gz/view")
			})
		}
	}
}

// BenchmarkSLAPRequest: requests that each change an instance (new
// parameters), durable before the answer: SLAP's requestComputerPartition
// (form encoded, xml_marshaller payloads, SoftwareInstance answer) next to
// /api/v1's POST /instances, from 1 and 8 concurrent clients.
func BenchmarkSLAPRequest(b *testing.B) {
	m := startMaster(b, nil)
	alice, p := m.person("Alice")
	m.computer(alice, "COMP-1", 64, "eu")
	const titles = 64
	ctx := context.Background()
	for i := range titles {
		_, err := alice.Request(ctx, api.InstanceRequest{Title: "t" + strconv.Itoa(i), SoftwareRelease: softURL})
		noErr(b, err)
	}
	slapRequest := func(c *api.Client, i int64) error {
		form := url.Values{
			"software_release": {softURL}, "software_type": {"default"}, "partition_reference": {"t" + strconv.FormatInt(i%titles, 10)},
			"partition_parameter_xml": {`<marshal><dictionary id="i2"><string>n</string><string>` + strconv.FormatInt(i, 10) + `</string></dictionary></marshal>`},
			"filter_xml":              {pyEmptyDict}, "state": {pyNone}, "shared_xml": {pyFalse},
		}
		resp, err := c.HTTP.Post(c.BaseURL+"/requestComputerPartition", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("request %d: %d %s", i, resp.StatusCode, body)
		}
		v, err := xmlm.Unmarshal(body)
		if err != nil {
			return err
		}
		if n, _ := v.Get("_parameter_dict"); func() string { x, _ := n.Get("n"); return x.Str }() != strconv.FormatInt(i, 10) {
			return fmt.Errorf("request %d answered %+v", i, n)
		}
		return nil
	}
	jsonRequest := func(c *api.Client, i int64) error {
		inst, err := c.Request(ctx, api.InstanceRequest{Title: "t" + strconv.FormatInt(i%titles, 10), SoftwareRelease: softURL,
			Parameters: map[string]string{"n": strconv.FormatInt(i, 10)}})
		if err == nil && inst.Parameters["n"] != strconv.FormatInt(i, 10) {
			err = fmt.Errorf("request %d answered %v", i, inst.Parameters)
		}
		return err
	}
	noErr(b, slapRequest(alice, 1)) // checked before the timed loops
	for _, proto := range []string{"json", "slap"} {
		op := map[string]func(*api.Client, int64) error{"json": jsonRequest, "slap": slapRequest}[proto]
		for _, n := range []int{1, 8} {
			b.Run(fmt.Sprintf("proto=%s/clients=%d", proto, n), func(b *testing.B) {
				clients := []*api.Client{}
				for range n {
					clients = append(clients, m.client(personCredentials(b, m, p.ID)))
				}
				runClients(b, clients, op)
			})
		}
	}
}

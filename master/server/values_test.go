package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// TestNonFiniteNumbersAreRefusedAndMasterKeepsServing: a number the store
// could not hold (NaN, infinities, out of range) is refused with a 400 that
// names the field, changes nothing, and leaves the master serving; the
// master then restarts on its database as it was.
func TestNonFiniteNumbersAreRefusedAndMasterKeepsServing(t *testing.T) {
	w := newAuthzWorld(t)
	m := w.m
	raw := func(s string) []byte { return []byte(s) }
	request := func(sla string) []byte {
		return raw(`{"title":"dos","software_release":"` + softURL + `","sla":` + sla + `}`)
	}
	cases := []struct {
		name   string
		as     *api.Client
		method string
		path   string
		body   []byte
		want   string // in the message
	}{
		{"max_price NaN", w.alice, "POST", "/instances", request(`{"max_price":"NaN"}`), "max_price"},
		{"max_price +Inf", w.alice, "POST", "/instances", request(`{"max_price":"+Inf"}`), "max_price"},
		{"max_price Infinity", w.alice, "POST", "/instances", request(`{"max_price":"Infinity"}`), "max_price"},
		{"max_price -Inf", w.alice, "POST", "/instances", request(`{"max_price":"-Inf"}`), "max_price"},
		{"max_price beyond float64", w.alice, "POST", "/instances", request(`{"max_price":"1e400"}`), "max_price"},
		{"max_price huge", w.alice, "POST", "/instances", request(`{"max_price":"1e300"}`), "max_price"},
		{"min_ram beyond int64", w.alice, "POST", "/instances", request(`{"min_ram":"99999999999999999999"}`), "min_ram"},
		{"max_price on an existing instance", w.alice, "POST", "/instances",
			raw(`{"title":"a-root","software_release":"` + softURL + `","sla":{"computer_guid":"COMP-A","max_price":"NaN"}}`), "max_price"},
		{"price beyond float64", w.alice, "PATCH", "/computers/COMP-A", raw(`{"prices":{"hosting":1e400}}`), "prices"},
		{"price huge", w.alice, "PATCH", "/computers/COMP-A", raw(`{"prices":{"cpu_time":1e300}}`), "cpu_time"},
		{"price of a new computer", w.alice, "POST", "/computers", raw(`{"id":"COMP-N","prices":{"hosting":1e300}}`), "hosting"},
		{"negative hardware", w.alice, "POST", "/computers", raw(`{"id":"COMP-N","hardware":{"ram":-1}}`), "ram"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := m.snapshot()
			status, resp, _ := call(t, c.as, c.method, api.Prefix+c.path, c.body)
			var eb api.ErrorBody
			if err := json.Unmarshal(resp, &eb); err != nil {
				t.Fatalf("answer %d %q is not a JSON error", status, resp)
			}
			if status != http.StatusBadRequest || !strings.Contains(eb.Message, c.want) {
				t.Errorf("%d %s: %s, want 400 naming %q", status, eb.Code, eb.Message, c.want)
			}
			if !bytes.Equal(before, m.snapshot()) {
				t.Error("a refused request changed the state")
			}
			select {
			case err := <-m.done:
				m.cancel = nil
				t.Fatalf("the master stopped: %v", err)
			default:
			}
			// Later requests still work and are durable.
			if status, body, _ := call(t, w.alice, "GET", api.Prefix+"/whoami", nil); status != http.StatusOK {
				t.Fatalf("the master does not answer after %s: %d %s", c.name, status, body)
			}
		})
	}
	ctx := context.Background()
	ok, err := w.alice.Request(ctx, api.InstanceRequest{Title: "after", SoftwareRelease: softURL,
		SLA: map[string]string{"max_price": "0.5", "computer_guid": "COMP-A"}})
	noErr(t, err)
	if ok.Status != api.StatusAllocated {
		t.Errorf("a valid request after the refused ones: %+v", ok)
	}
	before := m.snapshot()
	m.stop()
	m.start(nil)
	if after := m.snapshot(); !bytes.Equal(before, after) {
		t.Errorf("state after restart differs:\nbefore %s\nafter  %s", before, after)
	}
	w.alice.BaseURL = m.url
	got, err := w.alice.Instance(ctx, ok.GUID)
	noErr(t, err)
	if got.SLA["max_price"] != "0.5" {
		t.Errorf("instance after restart: SLA %v", got.SLA)
	}
}

// TestUnstorableValueIsRefusedAndStateRebuilt: should the core ever accept
// a value the database cannot keep, the command is refused for its caller
// (400 naming the field), the state it changed in memory is rebuilt from the
// database, and the master keeps serving, its store intact.
func TestUnstorableValueIsRefusedAndStateRebuilt(t *testing.T) {
	w := newAuthzWorld(t)
	m := w.m
	before := m.snapshot()

	m.srv.mu.Lock()
	_, muts, err := m.srv.state.Apply(m.clock.Now(), master.Request{By: model.Actor{Kind: model.KindPerson, ID: w.aliceID},
		Title: "slipped-through", SoftwareRelease: softURL, SLA: map[string]string{"computer_guid": "COMP-A"}})
	if err != nil {
		m.srv.mu.Unlock()
		t.Fatal(err)
	}
	// The command's mutations as a defective core would return them.
	var bad []master.Mutation
	for _, mut := range muts {
		if inst, ok := mut.Value.(*model.Instance); ok {
			inst.SLA.MaxPrice = math.NaN()
		}
		bad = append(bad, mut)
	}
	err = m.srv.discardUnstorable(context.Background(), "request", bad)
	m.srv.mu.Unlock()

	if !errors.Is(err, master.ErrInvalid) || !strings.Contains(err.Error(), "MaxPrice") {
		t.Errorf("discardUnstorable = %v, want master.ErrInvalid naming MaxPrice", err)
	}
	if status := toAPIError(err).status; status != http.StatusBadRequest {
		t.Errorf("answered %d, want 400", status)
	}
	if after := m.snapshot(); !bytes.Equal(before, after) {
		t.Errorf("the refused command left changes:\nbefore %s\nafter  %s", before, after)
	}
	if err := m.srv.store.Err(); err != nil {
		t.Errorf("the store failed: %v", err)
	}
	// The master keeps serving, from the rebuilt state.
	i, err := w.alice.Request(context.Background(), api.InstanceRequest{Title: "after", SoftwareRelease: softURL,
		SLA: map[string]string{"computer_guid": "COMP-A"}})
	noErr(t, err)
	if i.Status != api.StatusAllocated {
		t.Errorf("request after the refusal: %+v", i)
	}
	select {
	case err := <-m.done:
		m.cancel = nil
		t.Fatalf("the master stopped: %v", err)
	default:
	}
}

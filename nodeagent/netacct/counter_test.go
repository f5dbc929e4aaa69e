package netacct

import (
	"errors"
	"maps"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/gopacket/layers"
	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
)

func TestSetOwnersErrors(t *testing.T) {
	tests := []struct {
		name   string
		owners map[netip.Prefix]string
		want   string
	}{
		{"host bits in a range", map[netip.Prefix]string{netip.MustParsePrefix("2001:db8::7/64"): "slappart0"},
			"slappart0: 2001:db8::7/64 has host bits: write 2001:db8::/64 for the range or 2001:db8::7/128 for the address"},
		{"empty partition", map[netip.Prefix]string{netip.MustParsePrefix("10.0.0.1/32"): " "}, "10.0.0.1/32 is owned by an empty partition id"},
		{"invalid prefix", map[netip.Prefix]string{{}: "slappart0"}, "partition slappart0: invalid prefix"},
		{"one address, two partitions", map[netip.Prefix]string{
			netip.MustParsePrefix("10.0.0.1/32"):         "slappart0",
			netip.MustParsePrefix("::ffff:10.0.0.1/128"): "slappart1",
		}, "10.0.0.1/32 is owned by both slappart0 and slappart1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCounter(t, map[string]string{"10.9.9.9/32": "slappart9"})
			err := c.SetOwners(tt.owners)
			if !errors.Is(err, ErrOwners) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("SetOwners = %v, want ErrOwners with %q", err, tt.want)
			}
			if got := c.Owners(); len(got) != 1 || got[netip.MustParsePrefix("10.9.9.9/32")] != "slappart9" {
				t.Errorf("the table changed after an error: %v", got)
			}
		})
	}
}

func TestOwnersFromAddresses(t *testing.T) {
	got, err := OwnersFromAddresses(map[string][]model.Address{
		"slappart0": {{Iface: "lo", Addr: "10.0.0.1"}, {Iface: "eth0", Addr: "2001:db8::2/64"}},
		"slappart1": {{Iface: "lo", Addr: "::ffff:10.0.0.2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Prefix]string{
		netip.MustParsePrefix("10.0.0.1/32"):     "slappart0",
		netip.MustParsePrefix("2001:db8::2/128"): "slappart0",
		netip.MustParsePrefix("10.0.0.2/32"):     "slappart1",
	}
	if !maps.Equal(got, want) {
		t.Errorf("OwnersFromAddresses = %v, want %v", got, want)
	}
	for name, in := range map[string]map[string][]model.Address{
		"not an address": {"slappart0": {{Iface: "eth0", Addr: "eth0"}}},
		"shared":         {"slappart0": {{Addr: "10.0.0.1"}}, "slappart1": {{Addr: "10.0.0.1/24"}}},
	} {
		if _, err := OwnersFromAddresses(in); !errors.Is(err, ErrOwners) {
			t.Errorf("%s: err = %v, want ErrOwners", name, err)
		}
	}
}

// TestPeriodsLoseNothing cuts periods while four decoders count: the
// periods add up to exactly what was sent, and to Total.
func TestPeriodsLoseNothing(t *testing.T) {
	c := mustCounter(t, testOwners)
	f0, n0 := pkt{src: "10.0.0.11", dst: "198.51.100.7", payload: 100}.ethernet(t)
	f1, n1 := pkt{src: "2001:db8::11", dst: "2001:db8::12", proto: layers.IPProtocolUDP, payload: 1}.ethernet(t)
	const workers, frames = 4, 20000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			d := NewDecoder(c)
			for i := range frames {
				if i%2 == 0 {
					d.Decode(layers.LinkTypeEthernet, f0, 0, Offload{})
				} else {
					d.Decode(layers.LinkTypeEthernet, f1, 0, Offload{})
				}
			}
		})
	}
	sum := map[string]Counts{}
	periods := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		for id, cs := range c.EndPeriod() {
			sum[id] = sum[id].Add(cs)
		}
		periods++
	}
	half := uint64(workers * frames / 2)
	want := map[string]Counts{
		"slappart0": {OutBytes: half * uint64(n0+n1), OutPackets: 2 * half},
		"slappart1": {InBytes: half * uint64(n1), InPackets: half},
	}
	if !maps.Equal(sum, want) {
		t.Errorf("sum of %d periods = %+v, want %+v", periods, sum, want)
	}
	if total := c.Total(); !maps.Equal(total, want) {
		t.Errorf("Total = %+v, want %+v", total, want)
	}
	for id, cs := range c.Snapshot() {
		if !cs.IsZero() {
			t.Errorf("after the last period %s still has %+v", id, cs)
		}
	}
}

// TestOwnersChange: a partition that loses its address keeps what it
// counted until the period that holds it is reported, then is forgotten;
// one that comes back resumes its counters.
func TestOwnersChange(t *testing.T) {
	c := mustCounter(t, map[string]string{"10.0.0.1/32": "slappart0", "10.0.0.2/32": "slappart1"})
	d := NewDecoder(c)
	f, n := pkt{src: "10.0.0.1", dst: "10.0.0.2", proto: layers.IPProtocolUDP}.ethernet(t)
	d.Decode(layers.LinkTypeEthernet, f, 0, Offload{})
	if err := c.SetOwners(map[netip.Prefix]string{netip.MustParsePrefix("10.0.0.2/32"): "slappart1"}); err != nil {
		t.Fatal(err)
	}
	d.Decode(layers.LinkTypeEthernet, f, 0, Offload{}) // slappart0's address is no longer owned
	one := Counts{OutBytes: uint64(n), OutPackets: 1}
	in2 := Counts{InBytes: 2 * uint64(n), InPackets: 2}
	if got, want := c.EndPeriod(), (map[string]Counts{"slappart0": one, "slappart1": in2}); !maps.Equal(got, want) {
		t.Fatalf("first period = %v, want %v", got, want)
	}
	if got, want := c.EndPeriod(), (map[string]Counts{"slappart1": {}}); !maps.Equal(got, want) {
		t.Fatalf("second period = %v, want %v (slappart0 forgotten)", got, want)
	}
	if _, ok := c.Total()["slappart0"]; ok {
		t.Error("slappart0 is still in Total after it was reported and lost its address")
	}
	if err := c.SetOwners(map[netip.Prefix]string{netip.MustParsePrefix("10.0.0.1/32"): "slappart0", netip.MustParsePrefix("10.0.0.2/32"): "slappart1"}); err != nil {
		t.Fatal(err)
	}
	d.Decode(layers.LinkTypeEthernet, f, 0, Offload{})
	if got, want := c.Snapshot(), (map[string]Counts{"slappart0": one, "slappart1": {InBytes: uint64(n), InPackets: 1}}); !maps.Equal(got, want) {
		t.Errorf("third period = %v, want %v", got, want)
	}
}

func TestMovements(t *testing.T) {
	got := Movements(map[string]Counts{
		"slappart0": {InBytes: 1500, OutBytes: 40, InPackets: 1, OutPackets: 1},
		"slappart1": {OutBytes: 1 << 40, OutPackets: 9},
		"slappart2": {},
	})
	want := map[string][]account.JournalMovement{
		"slappart0": {
			{Resource: "network_in_bytes", Title: TitleNetworkIn, Quantity: 1500},
			{Resource: "network_out_bytes", Title: TitleNetworkOut, Quantity: 40},
		},
		"slappart1": {{Resource: "network_out_bytes", Title: TitleNetworkOut, Quantity: 1 << 40}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Movements = %+v, want %+v", got, want)
	}
	for _, ms := range got {
		for _, m := range ms {
			if u := account.DefaultUnit(m.Resource); u != "byte" {
				t.Errorf("%s is counted in %q by core/account: expected bytes", m.Resource, u)
			}
		}
	}
}

package master_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
)

// fillAll sets every field of the value v points to, recursively, to a
// non-zero value derived from seed: a field the codec forgets cannot
// survive the round trip unnoticed.
func fillAll(t *testing.T, v reflect.Value, seed int) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d-é", seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(1000003 * (seed + 1)))
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(uint64(7919 * (seed + 1)))
	case reflect.Float64:
		v.SetFloat(0.25 + float64(seed))
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for k := range 2 {
			key, val := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fillAll(t, key, seed*10+k)
			fillAll(t, val, seed*10+k+5)
			m.SetMapIndex(key, val)
		}
		v.Set(m)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for k := range 2 {
			fillAll(t, s.Index(k), seed*10+k)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 3, 1, 12, 0, seed%60, 123456789+seed, time.UTC)))
			return
		}
		for f := range v.NumField() {
			if !v.Type().Field(f).IsExported() {
				t.Fatalf("%s.%s is not exported: teach fillAll about it", v.Type(), v.Type().Field(f).Name)
			}
			fillAll(t, v.Field(f), seed*31+f)
		}
	default:
		t.Fatalf("fillAll: field kind %s (%s) is new: teach fillAll and core/master's codec about it", v.Kind(), v.Type())
	}
}

func roundTrip(t *testing.T, kind master.EntityKind, key string, v any) any {
	t.Helper()
	data, err := master.Mutation{Kind: kind, Key: key, Value: v}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m, err := master.NewEntityDecoder().Decode(kind, key, data)
	if err != nil {
		t.Fatal(err)
	}
	return m.Value
}

// TestCodecKeepsEveryField: every field of an instance and of a partition,
// each set, survives Encode then Decode; and a value stored as JSON by
// older versions decodes to the same.
func TestCodecKeepsEveryField(t *testing.T) {
	inst := &model.Instance{}
	fillAll(t, reflect.ValueOf(inst).Elem(), 1)
	part := &model.Partition{}
	fillAll(t, reflect.ValueOf(part).Elem(), 2)
	offset := inst.Clone()
	offset.CreatedAt = time.Date(2025, 3, 1, 14, 0, 0, 5, time.FixedZone("", 2*3600))
	offset.StartedAt = time.Time{}
	empty := &model.Instance{GUID: "SOFTINST-1", Parameters: map[string]string{}}
	for _, tc := range []struct {
		name string
		kind master.EntityKind
		v    any
	}{
		{"instance", master.KindInstance, inst},
		{"partition", master.KindPartition, part},
		{"instance with an offset time", master.KindInstance, offset},
		{"instance with empty maps", master.KindInstance, empty},
		{"empty partition", master.KindPartition, &model.Partition{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := roundTrip(t, tc.kind, "k", tc.v)
			fromJSON, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			old, err := master.DecodeEntity(tc.kind, "k", fromJSON)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			if string(gotJSON) != string(fromJSON) {
				t.Errorf("round trip changed the value:\n got %s\nwant %s", gotJSON, fromJSON)
			}
			if !reflect.DeepEqual(got, old.Value) {
				t.Errorf("binary and JSON decodings differ:\nbinary %#v\n  json %#v", got, old.Value)
			}
		})
	}
}

// TestDecodeRefusesCorruptValues: a truncated or padded binary value is an
// error naming the entity, never a partial entity.
func TestDecodeRefusesCorruptValues(t *testing.T) {
	inst := &model.Instance{}
	fillAll(t, reflect.ValueOf(inst).Elem(), 3)
	data, err := master.Mutation{Kind: master.KindInstance, Key: "SOFTINST-9", Value: inst}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kind master.EntityKind
		data []byte
	}{
		{"truncated", master.KindInstance, data[:len(data)-3]},
		{"trailing bytes", master.KindInstance, append(append([]byte{}, data...), 0)},
		{"binary for a kind written as JSON", master.KindComputer, data},
		{"unknown flags", master.KindInstance, append([]byte{data[0], 0x80}, data[2:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := master.DecodeEntity(tc.kind, "SOFTINST-9", tc.data)
			if err == nil || !strings.Contains(err.Error(), `"SOFTINST-9"`) {
				t.Fatalf("err = %v, want an error naming the entity", err)
			}
		})
	}
}

// FuzzDecodeEntity: no input makes the decoder panic, and what it accepts
// encodes back to a value that decodes the same.
func FuzzDecodeEntity(f *testing.F) {
	inst := &model.Instance{}
	fillAll(&testing.T{}, reflect.ValueOf(inst).Elem(), 4)
	part := &model.Partition{}
	fillAll(&testing.T{}, reflect.ValueOf(part).Elem(), 5)
	for _, m := range []master.Mutation{{Kind: master.KindInstance, Value: inst}, {Kind: master.KindPartition, Value: part}} {
		data, err := m.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(m.Kind == master.KindInstance, data)
	}
	f.Fuzz(func(t *testing.T, isInstance bool, data []byte) {
		kind := master.KindPartition
		if isInstance {
			kind = master.KindInstance
		}
		m, err := master.DecodeEntity(kind, "k", data)
		if err != nil {
			return
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", m.Value, err)
		}
		m2, err := master.NewEntityDecoder().Decode(kind, "k", again)
		if err != nil {
			t.Fatalf("re-decoding %#v: %v", m.Value, err)
		}
		// NB: compared encoded, since a NaN is not equal to itself.
		if third, err := m2.Encode(); err != nil || string(third) != string(again) {
			t.Fatalf("re-decoding differs: %v\n%#v\n%#v", err, m.Value, m2.Value)
		}
	})
}

// TestDecoderManyValues: one decoder decoding many values, corrupt ones
// among them, gives each value its own instance (they come from shared
// blocks) and its own strings, equal to what was encoded.
func TestDecoderManyValues(t *testing.T) {
	dec := master.NewEntityDecoder()
	var want []*model.Instance
	var got []*model.Instance
	for n := range 700 {
		inst := &model.Instance{}
		fillAll(t, reflect.ValueOf(inst).Elem(), n)
		data, err := master.Mutation{Kind: master.KindInstance, Key: inst.GUID, Value: inst}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if n%97 == 0 {
			if _, err := dec.Decode(master.KindInstance, inst.GUID, data[:len(data)-3]); err == nil {
				t.Fatalf("value %d, truncated, decoded", n)
			}
		}
		m, err := dec.Decode(master.KindInstance, inst.GUID, data)
		if err != nil {
			t.Fatal(err)
		}
		clear(data) // the decoder keeps no reference to it
		want = append(want, inst)
		got = append(got, m.Value.(*model.Instance))
	}
	for n := range want {
		if !reflect.DeepEqual(got[n], want[n]) {
			t.Fatalf("value %d:\n got %#v\nwant %#v", n, got[n], want[n])
		}
		if n > 0 && got[n] == got[n-1] {
			t.Fatalf("values %d and %d share an instance", n-1, n)
		}
	}
	part := &model.Partition{}
	fillAll(t, reflect.ValueOf(part).Elem(), 3)
	part.Addresses = append(part.Addresses, model.Address{Iface: "eth1", Addr: "10.0.0.9"})
	for _, addrs := range [][]model.Address{nil, part.Addresses[:1], part.Addresses[:2], part.Addresses} {
		p := *part
		p.Addresses = addrs
		data, err := master.Mutation{Kind: master.KindPartition, Key: p.Key(), Value: &p}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		m, err := dec.Decode(master.KindPartition, p.Key(), data)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Value.(*model.Partition); !reflect.DeepEqual(got, &p) {
			t.Fatalf("%d addresses:\n got %#v\nwant %#v", len(addrs), got, &p)
		}
	}
}

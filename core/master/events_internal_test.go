package master

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEventHistoryCodec: a history survives Encode then Decode (binary),
// decodes the same from JSON, and a corrupt value is an error naming it.
func TestEventHistoryCodec(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	h := &eventHistory{GUID: "SOFTINST-7", Events: []Event{
		{At: at, Kind: EventRequested, Message: "requested started: é"},
		{At: at.Add(time.Second).In(time.FixedZone("", 3600)), Kind: EventPending, Message: ""},
		{At: at.Add(2 * time.Second), Kind: EventPlaced, Message: "placed on COMP-0/slappart0"},
	}}
	for _, tc := range []*eventHistory{h, {GUID: "SOFTINST-8"}} {
		data, err := Mutation{Kind: KindEvents, Key: tc.GUID, Value: tc}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != formatBinaryV1 {
			t.Fatalf("%s: not written in the binary format", tc.GUID)
		}
		m, err := NewEntityDecoder().Decode(KindEvents, tc.GUID, data)
		if err != nil {
			t.Fatal(err)
		}
		js, _ := json.Marshal(tc)
		old, err := DecodeEntity(KindEvents, tc.GUID, js)
		if err != nil {
			t.Fatal(err)
		}
		gotJSON, _ := json.Marshal(m.Value)
		if string(gotJSON) != string(js) || !reflect.DeepEqual(m.Value, old.Value) {
			t.Fatalf("%s: round trip gives %s, want %s", tc.GUID, gotJSON, js)
		}
		for _, bad := range [][]byte{data[:len(data)-1], append(append([]byte{}, data...), 0)} {
			if _, err := DecodeEntity(KindEvents, tc.GUID, bad); err == nil || !strings.Contains(err.Error(), tc.GUID) {
				t.Fatalf("%s: corrupt value: %v", tc.GUID, err)
			}
		}
	}
}

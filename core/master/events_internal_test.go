package master

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEventHistoryCodec: a history survives Encode then Decode, and a
// corrupt value, or one naming a kind this version lacks, is an error
// naming it.
func TestEventHistoryCodec(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	h := &eventHistory{guid: "SOFTINST-7", recs: []eventRecord{
		{at: unixNanos(at), kind: EventRequested, msg: "requested started: é"},
		{at: unixNanos(time.Time{}), kind: EventPending},
		{at: unixNanos(at.Add(time.Second)), kind: EventDestroyed, msg: "destroyed: partition COMP-0/slappart0 is free"},
	}}
	for _, tc := range []*eventHistory{h, {guid: "SOFTINST-8"}} {
		data, err := Mutation{Kind: KindEvents, Key: tc.guid, Value: tc}.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != formatBinaryV1 {
			t.Fatalf("%s: not written in the binary format", tc.guid)
		}
		m, err := NewEntityDecoder().Decode(KindEvents, tc.guid, data)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m.Value, tc) {
			t.Fatalf("%s: round trip gives %+v, want %+v", tc.guid, m.Value, tc)
		}
		for _, bad := range [][]byte{data[:len(data)-1], append(append([]byte{}, data...), 0)} {
			if _, err := DecodeEntity(KindEvents, tc.guid, bad); err == nil || !strings.Contains(err.Error(), tc.guid) {
				t.Fatalf("%s: corrupt value: %v", tc.guid, err)
			}
		}
	}
	if got := h.recs[1].public(); !got.At.IsZero() || got.Kind != EventPending {
		t.Fatalf("the zero time comes back as %+v", got)
	}
	future := encodeEvents(&eventHistory{guid: "SOFTINST-9", recs: []eventRecord{{kind: EventKind(200)}}})
	if _, err := DecodeEntity(KindEvents, "SOFTINST-9", future); err == nil || !strings.Contains(err.Error(), `"EventKind(200)" is unknown`) {
		t.Fatalf("an unknown kind: %v", err)
	}
}

package account

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

func addFixtureSeeds(f *testing.F) {
	paths, err := filepath.Glob(filepath.Join(fixtures, "*.xml"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no fixture in %s (err %v)", fixtures, err)
	}
	for _, p := range paths {
		f.Add(readFixture(f, filepath.Base(p)))
	}
}

// FuzzDecodeJournal: DecodeJournal never panics, fails only with ErrJournal,
// and what it accepts encodes, decodes back to the same value, and turns
// into movements.
func FuzzDecodeJournal(f *testing.F) {
	addFixtureSeeds(f)
	f.Add([]byte(validJournal))
	f.Add([]byte(`<journal><transaction type="Sale Packing List"><start_date>2024-01-01</start_date><stop_date>2024-01-01</stop_date>` +
		`<reference>C</reference><currency/><payment_mode/><arrow type="a"/></transaction></journal>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := DecodeJournal(data)
		if err != nil {
			if !errors.Is(err, ErrJournal) {
				t.Fatalf("error %v does not wrap ErrJournal", err)
			}
			return
		}
		enc, err := EncodeJournal(j)
		if err != nil {
			t.Fatalf("EncodeJournal of a decoded journal: %v", err)
		}
		back, err := DecodeJournal(enc)
		if err != nil {
			t.Fatalf("DecodeJournal(EncodeJournal(j)): %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(back, j) {
			t.Fatalf("round trip changed the journal:\n got %#v\nwant %#v", back, j)
		}
		ms, err := UsageMovements(j)
		if err != nil {
			t.Fatalf("UsageMovements of a decoded journal: %v", err)
		}
		n := 0
		for _, tx := range j.Transactions {
			n += len(tx.Movements)
		}
		if len(ms) != n {
			t.Fatalf("UsageMovements gave %d movements for %d journal movements", len(ms), n)
		}
	})
}

// FuzzDecodeConsumption: DecodeConsumption never panics, fails only with
// ErrConsumption, and what it accepts round-trips.
func FuzzDecodeConsumption(f *testing.F) {
	addFixtureSeeds(f)
	f.Add([]byte(validConsumption))
	f.Add([]byte(`<consumption><movement><resource>r</resource><quantity>1e-3</quantity><price>.5</price><VAT/></movement></consumption>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConsumption(data)
		if err != nil {
			if !errors.Is(err, ErrConsumption) {
				t.Fatalf("error %v does not wrap ErrConsumption", err)
			}
			return
		}
		enc, err := encodeConsumption(c)
		if err != nil {
			t.Fatalf("encodeConsumption of a decoded report: %v", err)
		}
		back, err := DecodeConsumption(enc)
		if err != nil {
			t.Fatalf("DecodeConsumption(encodeConsumption(c)): %v\n%s", err, enc)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("round trip changed the report:\n got %#v\nwant %#v", back, c)
		}
	})
}

package account

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const fixtures = "../../fixtures/usage"

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFixtureJournal(t *testing.T) {
	j, err := DecodeJournal(readFixture(t, "journal.xml"))
	if err != nil {
		t.Fatalf("journal.xml: %v", err)
	}
	ms, err := UsageMovements(j)
	if err != nil {
		t.Fatalf("UsageMovements(journal.xml): %v", err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.PartitionID+" "+m.Resource+" "+m.Unit)
	}
	want := []string{
		"slappart0 cpu_time s",
		"slappart0 memory_used MiB·h",
		"slappart0 network_out_bytes byte",
		"slappart2 disk_used GiB·day",
		"slappart10 requests_served unit",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("movements of journal.xml:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ms[4].Quantity != 1.25e6 || ms[4].JournalRef != "COMP-42@2024-03-01T00:00:00Z/2024-03-02T00:00:00Z" {
		t.Errorf("last movement = %+v", ms[4])
	}
}

func TestFixtureConsumption(t *testing.T) {
	c, err := DecodeConsumption(readFixture(t, "consumption.xml"))
	if err != nil {
		t.Fatalf("consumption.xml: %v", err)
	}
	if len(c.Movements) != 2 || c.Movements[0].Quantity != 1250000 || c.Movements[1].Resource != "cpu_time" {
		t.Errorf("consumption.xml = %+v", c)
	}
	j := BuildJournal("COMP-42", day0, day0, map[string][]JournalMovement{"slappart10": c.Movements}, "EUR")
	if _, err := EncodeJournal(j); err != nil {
		t.Errorf("a journal built from consumption.xml does not encode: %v", err)
	}
}

// TestFixtureSlapgridJournal: a journal as slapgrid writes it (empty
// start_date, "at" in stop_date) is read, its period at stop_date.
func TestFixtureSlapgridJournal(t *testing.T) {
	j, err := DecodeJournal(readFixture(t, "slapgrid-journal.xml"))
	if err != nil {
		t.Fatalf("slapgrid-journal.xml: %v", err)
	}
	ms, err := UsageMovements(j)
	if err != nil {
		t.Fatalf("UsageMovements(slapgrid-journal.xml): %v", err)
	}
	at := time.Date(2024, 3, 1, 23, 59, 59, 0, time.UTC)
	if len(ms) != 1 || ms[0].ComputerID != "COMP-42" || !ms[0].Start.Equal(at) || !ms[0].Stop.Equal(at) {
		t.Errorf("movements of slapgrid-journal.xml = %+v: want one on COMP-42 from and to %v", ms, at)
	}
}

func TestFixturesBad(t *testing.T) {
	want := map[string]string{
		"bad-quantity.xml":          `transaction 1 movement 3: quantity "abc" is not a number (line 37)`,
		"bad-stop-before-start.xml": `transaction 1: stop_date "2024-03-01 00:00:00" is before start_date "2024-03-02 00:00:00" (line 6)`,
		"bad-unknown-element.xml":   "transaction 1 movement 1: unknown element <discount> in <movement>",
		"bad-missing-reference.xml": "transaction 2: <reference> is missing from <transaction> (line 25)",
		"bad-negative-quantity.xml": "transaction 1 movement 1: quantity -3 is negative",
		"bad-transaction-type.xml":  `transaction 1: type "Purchase Packing List" is not supported`,
		"bad-nan-quantity.xml":      `transaction 1 movement 1: quantity "NaN" is not a number`,
		"bad-huge-quantity.xml":     "transaction 1 movement 1: quantity 1e+30 is out of range",
		"bad-not-well-formed.xml":   "not well-formed XML",
		"bad-root.xml":              "root element is <consumption>: expected <journal> (line 3)",
	}
	files, err := filepath.Glob(filepath.Join(fixtures, "bad-*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bad-*.xml fixture in %s (err %v)", fixtures, err)
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			w, ok := want[name]
			if !ok {
				t.Fatalf("%s has no expected error in this test: add one", name)
			}
			_, err := DecodeJournal(readFixture(t, name))
			if !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), w) {
				t.Errorf("DecodeJournal(%s) error:\n got %v\nwant ErrJournal containing %s", name, err, w)
			}
		})
		delete(want, name)
	}
	for name := range want {
		t.Errorf("fixture %s is expected but missing", name)
	}
}

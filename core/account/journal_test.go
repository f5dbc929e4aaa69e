package account

import (
	"bytes"
	"encoding/xml"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// validJournal is a well-formed journal; error cases each change one thing.
// Line numbers matter: the quantity of transaction 1 movement 2 is on line 28.
const validJournal = `<?xml version="1.0" encoding="UTF-8"?>
<journal>
  <transaction type="Sale Packing List">
    <title>Resource consumptions</title>
    <start_date>2024-03-01T00:00:00Z</start_date>
    <stop_date>2024-03-02T00:00:00Z</stop_date>
    <reference>COMP-1</reference>
    <currency>EUR</currency>
    <payment_mode></payment_mode>
    <category></category>
    <arrow type="Administration">
      <source></source>
      <destination></destination>
    </arrow>
    <movement>
      <resource>cpu_time</resource>
      <title>cpu</title>
      <reference>slappart0</reference>
      <quantity>3600</quantity>
      <price>0</price>
      <VAT></VAT>
      <category></category>
    </movement>
    <movement>
      <resource>memory_used</resource>
      <title>ram</title>
      <reference>slappart1</reference>
      <quantity>512</quantity>
      <price>0</price>
      <VAT></VAT>
      <category></category>
    </movement>
  </transaction>
</journal>
`

func TestDecodeJournalValid(t *testing.T) {
	got, err := DecodeJournal([]byte(validJournal))
	if err != nil {
		t.Fatalf("DecodeJournal: %v", err)
	}
	want := Journal{Transactions: []Transaction{{
		Type:      TransactionType,
		Title:     "Resource consumptions",
		StartDate: "2024-03-01T00:00:00Z",
		StopDate:  "2024-03-02T00:00:00Z",
		Reference: "COMP-1",
		Currency:  "EUR",
		Arrow:     Arrow{Type: "Administration"},
		Movements: []JournalMovement{
			{Resource: "cpu_time", Title: "cpu", Reference: "slappart0", Quantity: 3600},
			{Resource: "memory_used", Title: "ram", Reference: "slappart1", Quantity: 512},
		},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeJournal:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeJournalErrorMessage(t *testing.T) {
	_, err := DecodeJournal([]byte(strings.Replace(validJournal, "<quantity>512<", "<quantity>abc<", 1)))
	want := `invalid usage journal: transaction 1 movement 2: quantity "abc" is not a number (line 28)`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n got %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrJournal) {
		t.Errorf("error %v does not wrap ErrJournal", err)
	}
}

func TestDecodeJournalErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace the first old by new in validJournal
		doc      string // or the whole document
		want     string
	}{
		{name: "empty document", doc: " ", want: "the document is empty"},
		{name: "not XML", doc: "journal", want: "text \"journal\" outside the root element"},
		{name: "unclosed", old: "</journal>", new: "", want: "not well-formed XML"},
		{name: "mismatched tags", old: "</title>", new: "</titel>", want: "not well-formed XML"},
		{name: "wrong root", doc: "<consumption/>", want: "root element is <consumption>: expected <journal> (line 1)"},
		{name: "journal attribute", old: "<journal>", new: `<journal version="2">`, want: `<journal> has an attribute "version": expected none (line 2)`},
		{name: "no transaction", doc: "<journal>\n</journal>", want: "<journal> holds no <transaction>: expected at least one (line 1)"},
		{name: "text in journal", old: "<journal>", new: "<journal>hello", want: `unexpected text "hello" inside <journal>`},
		{name: "unknown element in journal", old: "<journal>", new: "<journal><invoice/>", want: "unknown element <invoice> in <journal>: expected <transaction> (line 2)"},
		{name: "latin-1", old: `encoding="UTF-8"`, new: `encoding="ISO-8859-1"`, want: `encoding "ISO-8859-1" is not supported: write the document in UTF-8`},
		{name: "second root", old: "</journal>\n", new: "</journal>\n<journal/>", want: "second root element <journal>"},
		{name: "text after root", old: "</journal>\n", new: "</journal>\ntrailing", want: `text "trailing" outside the root element`},
		{name: "namespace", old: "<journal>", new: `<journal xmlns="urn:tio">`, want: `element <journal> is in namespace "urn:tio"`},
		{name: "transaction without type", old: ` type="Sale Packing List"`, new: "", want: `transaction 1: <transaction> has no type attribute: expected type="Sale Packing List" (line 3)`},
		{name: "transaction type", old: `"Sale Packing List"`, new: `"Purchase Packing List"`, want: `transaction 1: type "Purchase Packing List" is not supported: expected "Sale Packing List" (line 3)`},
		{name: "transaction unknown attribute", old: `<transaction type`, new: `<transaction id="1" type`, want: `transaction 1: <transaction> has an unknown attribute "id": expected type (line 3)`},
		{name: "transaction duplicate attribute", old: `<transaction type="Sale Packing List"`, new: `<transaction type="Sale Packing List" type="x"`, want: `transaction 1: <transaction> has the attribute "type" twice (line 3)`},
		{name: "missing start_date", old: "<start_date>2024-03-01T00:00:00Z</start_date>", new: "", want: "transaction 1: <start_date> is missing from <transaction> (line 3)"},
		{name: "missing currency", old: "<currency>EUR</currency>", new: "", want: "transaction 1: <currency> is missing from <transaction>"},
		{name: "missing arrow", old: "<arrow type=\"Administration\">\n      <source></source>\n      <destination></destination>\n    </arrow>", new: "", want: "transaction 1: <arrow> is missing from <transaction>"},
		{name: "duplicate reference", old: "<reference>COMP-1</reference>", new: "<reference>COMP-1</reference><reference>COMP-2</reference>", want: "transaction 1: <reference> appears twice in <transaction> (first on line 7): expected at most one (line 7)"},
		{name: "two categories", old: "<category></category>", new: "<category>a</category><category>b</category>", want: "transaction 1: <category> appears twice in <transaction>"},
		{name: "two arrows", old: "</arrow>", new: "</arrow><arrow type=\"x\"/>", want: "transaction 1: <arrow> appears twice in <transaction>"},
		{name: "unknown element in transaction", old: "<currency>", new: "<vat_rate>20</vat_rate><currency>", want: "transaction 1: unknown element <vat_rate> in <transaction>: expected <title>, <start_date>"},
		{name: "text in transaction", old: "<currency>", new: "oops<currency>", want: `transaction 1: unexpected text "oops" inside <transaction>`},
		{name: "start_date not a date", old: "2024-03-01T00:00:00Z", new: "yesterday", want: `transaction 1: start_date "yesterday" is not a date: expected RFC 3339 ("2006-01-02T15:04:05Z"), "2006-01-02" or "2006-01-02 15:04:05" (UTC), or nothing (line 5)`},
		{name: "date without zone", old: "2024-03-01T00:00:00Z", new: "2024-03-01T00:00:00", want: `start_date "2024-03-01T00:00:00" is not a date`},
		{name: "stop before start", old: "2024-03-02T00:00:00Z", new: "2024-02-29T23:59:59Z", want: `transaction 1: stop_date "2024-02-29T23:59:59Z" is before start_date "2024-03-01T00:00:00Z" (line 6)`},
		{name: "blank reference", old: "<reference>COMP-1</reference>", new: "<reference>  </reference>", want: "transaction 1: reference is empty: expected the computer id (line 7)"},
		{name: "field with attribute", old: "<currency>", new: `<currency code="x">`, want: `transaction 1: <currency> has an attribute "code": expected none (line 8)`},
		{name: "field with element", old: "<title>Resource consumptions</title>", new: "<title>Resource <b>consumptions</b></title>", want: "transaction 1: <title> contains element <b>: expected text only (line 4)"},
		{name: "arrow without type", old: `<arrow type="Administration">`, new: "<arrow>", want: `transaction 1: arrow type is empty: expected e.g. "Administration" (line 11)`},
		{name: "arrow unknown attribute", old: `<arrow type="Administration">`, new: `<arrow type="Administration" kind="x">`, want: `transaction 1: <arrow> has an unknown attribute "kind": expected type (line 11)`},
		{name: "arrow unknown element", old: "<source></source>", new: "<via/>", want: "transaction 1: unknown element <via> in <arrow>: expected <source>, <destination> (line 12)"},
		{name: "quantity empty", old: "<quantity>512</quantity>", new: "<quantity> </quantity>", want: `transaction 1 movement 2: quantity "" is empty: expected a number (line 28)`},
		{name: "quantity hexadecimal", old: "<quantity>512<", new: "<quantity>0x200<", want: `transaction 1 movement 2: quantity "0x200" is not a number`},
		{name: "quantity with underscore", old: "<quantity>512<", new: "<quantity>5_12<", want: `quantity "5_12" is not a number`},
		{name: "quantity infinite", old: "<quantity>512<", new: "<quantity>INF<", want: `quantity "INF" is not a number`},
		{name: "quantity NaN", old: "<quantity>512<", new: "<quantity>NaN<", want: `quantity "NaN" is not a number`},
		{name: "quantity out of range", old: "<quantity>512<", new: "<quantity>1e400<", want: `transaction 1 movement 2: quantity "1e400" is out of range`},
		{name: "quantity negative", old: "<quantity>512<", new: "<quantity>-1.5<", want: "transaction 1 movement 2: quantity -1.5 is negative: expected a number >= 0 (line 28)"},
		{name: "quantity missing", old: "<quantity>512</quantity>", new: "", want: "transaction 1 movement 2: <quantity> is missing from <movement> (line 24)"},
		{name: "price negative", old: "<price>0</price>", new: "<price>-2</price>", want: "transaction 1 movement 1: price -2 is negative"},
		{name: "price not a number", old: "<price>0</price>", new: "<price>free</price>", want: `transaction 1 movement 1: price "free" is not a number (line 20)`},
		{name: "price missing", old: "<price>0</price>", new: "", want: "transaction 1 movement 1: <price> is missing from <movement>"},
		{name: "VAT missing", old: "<VAT></VAT>", new: "", want: "transaction 1 movement 1: <VAT> is missing from <movement>"},
		{name: "resource blank", old: "<resource>cpu_time</resource>", new: "<resource> </resource>", want: "transaction 1 movement 1: resource is empty: expected a resource name such as cpu_time or memory_used (line 16)"},
		{name: "resource missing", old: "<resource>cpu_time</resource>", new: "", want: "transaction 1 movement 1: <resource> is missing from <movement> (line 15)"},
		{name: "unknown element in movement", old: "<VAT></VAT>", new: "<VAT></VAT><discount>10</discount>", want: "transaction 1 movement 1: unknown element <discount> in <movement>: expected <resource>, <title>, <reference>, <quantity>, <price>, <VAT>, <category> (line 21)"},
		{name: "duplicate quantity", old: "<quantity>3600</quantity>", new: "<quantity>3600</quantity><quantity>1</quantity>", want: "transaction 1 movement 1: <quantity> appears twice in <movement>"},
		{name: "movement attribute", old: "<movement>", new: `<movement id="m1">`, want: `transaction 1 movement 1: <movement> has an attribute "id": expected none (line 15)`},
		{name: "nested too deep", old: "<title>cpu</title>", new: "<title>" + strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20) + "</title>", want: "nested more than 16 levels deep"},
		{name: "field element inside field", old: "<title>cpu</title>", new: "<title><quantity>1</quantity></title>", want: "transaction 1 movement 1: <title> contains element <quantity>: expected text only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := tt.doc
			if doc == "" {
				if !strings.Contains(validJournal, tt.old) {
					t.Fatalf("test is broken: %q is not in validJournal", tt.old)
				}
				doc = strings.Replace(validJournal, tt.old, tt.new, 1)
			}
			j, err := DecodeJournal([]byte(doc))
			if err == nil {
				t.Fatalf("DecodeJournal accepted the document: %+v", j)
			}
			if !errors.Is(err, ErrJournal) {
				t.Errorf("error %v does not wrap ErrJournal", err)
			}
			if errors.Is(err, ErrConsumption) {
				t.Errorf("a journal error %v wraps ErrConsumption", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n got %v\nwant it to contain %s", err, tt.want)
			}
		})
	}
}

func TestDecodeJournalAccepts(t *testing.T) {
	mustDecode := func(t *testing.T, doc string) Journal {
		t.Helper()
		j, err := DecodeJournal([]byte(doc))
		if err != nil {
			t.Fatalf("DecodeJournal: %v", err)
		}
		return j
	}
	t.Run("date layouts", func(t *testing.T) {
		for _, tt := range []struct{ start, stop string }{
			{"2024-03-01", "2024-03-02"},
			{"2024-03-01 00:00:00", "2024-03-01 23:59:59"},
			{"2024-03-01 at 00:00:00", "2024-03-01 at 23:59:59"},
			{"2024-03-01T01:00:00+01:00", "2024-03-01T00:00:00Z"}, // the same instant
			{"2024-03-01T00:00:00.5Z", "2024-03-01T00:00:00.75Z"},
			{" 2024-03-01 ", "\n2024-03-02\n"},
		} {
			doc := strings.Replace(validJournal, "2024-03-01T00:00:00Z", tt.start, 1)
			doc = strings.Replace(doc, "2024-03-02T00:00:00Z", tt.stop, 1)
			j := mustDecode(t, doc)
			if got := j.Transactions[0].StartDate; got != tt.start {
				t.Errorf("StartDate = %q, want it kept as written %q", got, tt.start)
			}
		}
	})
	t.Run("slapgrid's journal: empty start_date", func(t *testing.T) {
		// What slapos.core 1.24.0's slapgrid (Slapgrid.asXML) posted to
		// useComputer in a run of slapos node report.
		const doc = `<?xml version="1.0"?><journal><transaction type="Sale Packing List"><title>Resource consumptions</title><start_date></start_date><stop_date>2026-12-06 at 21:23:54</stop_date><reference>COMP-A</reference><currency></currency><payment_mode></payment_mode><category></category><arrow type="Administration"><source></source><destination></destination></arrow><movement><resource>CPU Consumption</resource><title>cpu</title><reference>slappart0</reference><quantity>12.5</quantity><price>0.0</price><VAT>None</VAT><category>None</category></movement></transaction></journal>`
		j := mustDecode(t, doc)
		start, stop, err := j.Transactions[0].Period()
		if err != nil {
			t.Fatalf("Period: %v", err)
		}
		at := time.Date(2026, 12, 6, 21, 23, 54, 0, time.UTC)
		if !start.Equal(at) || !stop.Equal(at) {
			t.Errorf("Period = %v, %v: want both at stop_date %v", start, stop, at)
		}
		ms, err := UsageMovements(j)
		if err != nil {
			t.Fatalf("UsageMovements: %v", err)
		}
		if len(ms) != 1 || ms[0].PartitionID != "slappart0" || ms[0].Quantity != 12.5 || !ms[0].Start.Equal(at) || !ms[0].Stop.Equal(at) {
			t.Errorf("UsageMovements = %+v: want one movement of 12.5 in slappart0 at %v", ms, at)
		}
		for _, blank := range []string{"<start_date/>", "<start_date> </start_date>"} {
			mustDecode(t, strings.Replace(doc, "<start_date></start_date>", blank, 1))
		}
	})
	t.Run("any order, optional fields absent, comments, CDATA", func(t *testing.T) {
		doc := `<?xml version="1.0"?>
<!-- usage -->
<journal>
  <transaction type="Sale Packing List">
    <arrow type="Destination"/>
    <movement><VAT/><price>0.0</price><quantity> 1.5e3 </quantity><resource><![CDATA[service_module/cpu_load_percent]]></resource></movement>
    <reference>COMP-<!-- x -->9</reference>
    <payment_mode/><currency/>
    <stop_date>2024-03-01 23:59:59</stop_date>
    <start_date>2024-03-01 00:00:00</start_date>
  </transaction>
</journal>`
		j := mustDecode(t, doc)
		want := Journal{Transactions: []Transaction{{
			Type: TransactionType, StartDate: "2024-03-01 00:00:00", StopDate: "2024-03-01 23:59:59",
			Reference: "COMP-9", Arrow: Arrow{Type: "Destination"},
			Movements: []JournalMovement{{Resource: "service_module/cpu_load_percent", Quantity: 1500}},
		}}}
		if !reflect.DeepEqual(j, want) {
			t.Errorf("got %+v\nwant %+v", j, want)
		}
	})
	t.Run("as SlapOS's collector writes it", func(t *testing.T) {
		doc := `<?xml version='1.0' encoding='utf-8'?><journal><transaction type="Sale Packing List">` +
			`<title>Eco Information for COMP-1 </title><start_date>2024-03-01 00:00:00</start_date>` +
			`<stop_date>2024-03-01 23:59:59</stop_date><reference>2024-03-01-global</reference><currency></currency>` +
			`<payment_mode></payment_mode><category></category><arrow type="Destination" />` +
			`<movement><resource>service_module/memory_used</resource><title>Memory Used Average for slapuser0</title>` +
			`<reference>slapuser0</reference><quantity>96.12890625</quantity><price>0.0</price><VAT></VAT><category></category>` +
			`</movement></transaction></journal>`
		j := mustDecode(t, doc)
		if m := j.Transactions[0].Movements[0]; m.Quantity != 96.12890625 || m.Reference != "slapuser0" {
			t.Errorf("movement = %+v", m)
		}
	})
	t.Run("byte order mark, ASCII declaration", func(t *testing.T) {
		mustDecode(t, "\uFEFF"+validJournal)
		mustDecode(t, strings.Replace(validJournal, `encoding="UTF-8"`, `encoding="US-ASCII"`, 1))
	})
	t.Run("transaction without movement, several transactions", func(t *testing.T) {
		empty := "  <transaction type=\"Sale Packing List\"><start_date>2024-03-02</start_date><stop_date>2024-03-02</stop_date>" +
			"<reference>COMP-1</reference><currency/><payment_mode/><arrow type=\"Administration\"/></transaction>\n</journal>"
		j := mustDecode(t, strings.Replace(validJournal, "</journal>", empty, 1))
		if len(j.Transactions) != 2 || len(j.Transactions[1].Movements) != 0 {
			t.Errorf("got %+v, want a second transaction without movement", j)
		}
	})
	t.Run("text kept exactly", func(t *testing.T) {
		j := mustDecode(t, strings.Replace(validJournal, "<title>cpu</title>", "<title>  a &amp; b &lt;c&gt; &#xD;\n été </title>", 1))
		if got, want := j.Transactions[0].Movements[0].Title, "  a & b <c> \r\n été "; got != want {
			t.Errorf("Title = %q, want %q", got, want)
		}
	})
}

func TestJournalRoundTrip(t *testing.T) {
	tricky := "a <b> & \"c\" 'd'\n\ttab \r été 漢字 🙂"
	tests := []Journal{
		{Transactions: []Transaction{{
			Type: TransactionType, StartDate: "2024-03-01", StopDate: "2024-03-01 at 23:59:59", Reference: "COMP-1",
			Arrow: Arrow{Type: "Administration"},
		}}},
		{Transactions: []Transaction{
			{
				Type: TransactionType, Title: tricky, StartDate: " 2024-03-01T00:00:00+02:00 ", StopDate: "2024-03-02T00:00:00Z",
				Reference: tricky, Currency: "EUR", PaymentMode: tricky, Category: tricky,
				Arrow: Arrow{Type: tricky, Source: tricky, Destination: tricky},
				Movements: []JournalMovement{
					{Resource: tricky, Title: tricky, Reference: tricky, Quantity: 0.1, Price: 1e-7, VAT: tricky, Category: tricky},
					{Resource: "r", Quantity: 1e20, Price: 123456789.123456789},
					{Resource: "r", Quantity: math.SmallestNonzeroFloat64, Price: math.MaxFloat64},
					{Resource: "r", Quantity: 999999999999999.9, Price: 1e-6},
				},
			},
			{
				Type: TransactionType, StartDate: "2024-03-02", StopDate: "2024-03-03", Reference: "COMP-1",
				Arrow: Arrow{Type: "Administration"}, Movements: []JournalMovement{{Resource: "cpu_time", Quantity: 42}},
			},
		}},
	}
	for i, j := range tests {
		data, err := EncodeJournal(j)
		if err != nil {
			t.Fatalf("case %d: EncodeJournal: %v", i, err)
		}
		if !bytes.HasPrefix(data, []byte(xml.Header+"<journal>\n  <transaction type=\"Sale Packing List\">\n    <title>")) {
			t.Errorf("case %d: output does not start with the header and indented elements:\n%s", i, data)
		}
		back, err := DecodeJournal(data)
		if err != nil {
			t.Fatalf("case %d: DecodeJournal(EncodeJournal(j)): %v\n%s", i, err, data)
		}
		if !reflect.DeepEqual(back, j) {
			t.Errorf("case %d: round trip changed the journal:\n got %+v\nwant %+v", i, back, j)
		}
		again, err := EncodeJournal(back)
		if err != nil || !bytes.Equal(again, data) {
			t.Errorf("case %d: encoding is not stable (err %v)", i, err)
		}
	}
}

func TestEncodeJournalRefuses(t *testing.T) {
	valid := func() Journal {
		return Journal{Transactions: []Transaction{{
			Type: TransactionType, StartDate: "2024-03-01", StopDate: "2024-03-02", Reference: "COMP-1",
			Arrow: Arrow{Type: "Administration"}, Movements: []JournalMovement{{Resource: "cpu_time", Quantity: 1}},
		}}}
	}
	if _, err := EncodeJournal(valid()); err != nil {
		t.Fatalf("EncodeJournal(valid): %v", err)
	}
	tests := []struct {
		name   string
		change func(*Journal)
		want   string
	}{
		{"no transaction", func(j *Journal) { j.Transactions = nil }, "the journal holds no transaction"},
		{"type", func(j *Journal) { j.Transactions[0].Type = "" }, `transaction 1: type "" is not supported`},
		{"start date", func(j *Journal) { j.Transactions[0].StartDate = "03/01/2024" }, `transaction 1: start_date "03/01/2024" is not a date`},
		{"stop before start", func(j *Journal) { j.Transactions[0].StopDate = "2024-02-01" }, "transaction 1: stop_date \"2024-02-01\" is before"},
		{"reference", func(j *Journal) { j.Transactions[0].Reference = "" }, "transaction 1: reference is empty"},
		{"arrow", func(j *Journal) { j.Transactions[0].Arrow = Arrow{} }, "transaction 1: arrow type is empty"},
		{"invalid UTF-8", func(j *Journal) { j.Transactions[0].Title = "\xff" }, "transaction 1: title is not valid UTF-8"},
		{"control character", func(j *Journal) { j.Transactions[0].Currency = "EUR\x00" }, "transaction 1: currency contains the character U+0000"},
		{"resource", func(j *Journal) { j.Transactions[0].Movements[0].Resource = "" }, "transaction 1 movement 1: resource is empty"},
		{"NaN quantity", func(j *Journal) { j.Transactions[0].Movements[0].Quantity = math.NaN() }, "transaction 1 movement 1: quantity NaN is not a finite number"},
		{"infinite price", func(j *Journal) { j.Transactions[0].Movements[0].Price = math.Inf(1) }, "transaction 1 movement 1: price +Inf is not a finite number"},
		{"negative quantity", func(j *Journal) { j.Transactions[0].Movements[0].Quantity = -1 }, "transaction 1 movement 1: quantity -1 is negative"},
		{"control character in VAT", func(j *Journal) { j.Transactions[0].Movements[0].VAT = "\x1b" }, "transaction 1 movement 1: VAT contains the character U+001B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := valid()
			tt.change(&j)
			_, err := EncodeJournal(j)
			if !errors.Is(err, ErrJournal) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("EncodeJournal error = %v, want ErrJournal containing %q", err, tt.want)
			}
		})
	}
}

const validConsumption = `<?xml version='1.0' encoding='utf-8'?>
<consumption>
  <movement>
    <resource>cpu_time</resource>
    <title>cpu</title>
    <reference></reference>
    <quantity>12.5</quantity>
    <price>0.0</price>
    <VAT></VAT>
    <category></category>
  </movement>
  <movement>
    <resource>requests</resource>
    <quantity>7</quantity>
    <price>0</price>
    <VAT/>
  </movement>
</consumption>
`

func TestDecodeConsumption(t *testing.T) {
	got, err := DecodeConsumption([]byte(validConsumption))
	if err != nil {
		t.Fatalf("DecodeConsumption: %v", err)
	}
	want := Consumption{Movements: []JournalMovement{
		{Resource: "cpu_time", Title: "cpu", Quantity: 12.5},
		{Resource: "requests", Quantity: 7},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	empty, err := DecodeConsumption([]byte("<consumption/>"))
	if err != nil || len(empty.Movements) != 0 {
		t.Errorf("DecodeConsumption(<consumption/>) = %+v, %v; want no movement, no error", empty, err)
	}
}

func TestDecodeConsumptionErrors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"wrong root", "consumption>", "journal>", "root element is <journal>: expected <consumption> (line 2)"},
		{"root attribute", "<consumption>", `<consumption partition="slappart0">`, `<consumption> has an attribute "partition": expected none`},
		{"unknown element", "</consumption>", "<total>1</total></consumption>", "unknown element <total> in <consumption>: expected <movement> (line 18)"},
		{"quantity", "<quantity>7</quantity>", "<quantity>seven</quantity>", `movement 2: quantity "seven" is not a number (line 14)`},
		{"negative", "<quantity>12.5</quantity>", "<quantity>-12.5</quantity>", "movement 1: quantity -12.5 is negative"},
		{"missing VAT", "<VAT/>", "", "movement 2: <VAT> is missing from <movement> (line 12)"},
		{"resource", "<resource>requests</resource>", "<resource/>", "movement 2: resource is empty"},
		{"not well-formed", "</consumption>", "", "not well-formed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(validConsumption, tt.old) {
				t.Fatalf("test is broken: %q is not in validConsumption", tt.old)
			}
			_, err := DecodeConsumption([]byte(strings.ReplaceAll(validConsumption, tt.old, tt.new)))
			if !errors.Is(err, ErrConsumption) || !errors.Is(err, ErrJournal) {
				t.Fatalf("error %v does not wrap ErrConsumption and ErrJournal", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error:\n got %v\nwant it to contain %s", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "invalid usage journal: consumption report: ") {
				t.Errorf("error %q does not say it is about a consumption report", err)
			}
		})
	}
}

func TestConsumptionRoundTrip(t *testing.T) {
	for _, c := range []Consumption{
		{},
		{Movements: []JournalMovement{
			{Resource: "cpu_time", Title: "t & <t>", Reference: "x", Quantity: 1.25, Price: 0.5, VAT: "20%", Category: "c"},
			{Resource: "r", Quantity: 3e-9},
		}},
	} {
		data, err := encodeConsumption(c)
		if err != nil {
			t.Fatalf("encodeConsumption: %v", err)
		}
		back, err := DecodeConsumption(data)
		if err != nil {
			t.Fatalf("DecodeConsumption(encodeConsumption(c)): %v\n%s", err, data)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", back, c)
		}
	}
	_, err := encodeConsumption(Consumption{Movements: []JournalMovement{{Resource: "r", Quantity: math.Inf(1)}}})
	if !errors.Is(err, ErrConsumption) || !strings.Contains(err.Error(), "movement 1: quantity +Inf is not a finite number") {
		t.Errorf("encodeConsumption(+Inf) error = %v", err)
	}
}

func TestBuildJournal(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	start := time.Date(2024, 3, 1, 1, 0, 0, 0, paris)
	stop := time.Date(2024, 3, 2, 0, 0, 0, 500, time.UTC)
	per := map[string][]JournalMovement{
		"slappart10": {{Resource: "cpu_time", Reference: "ignored", Quantity: 10}},
		"slappart2":  {{Resource: "cpu_time", Quantity: 2}, {Resource: "memory_used", Quantity: 22}},
		"slappart0":  {{Resource: "disk_used", Quantity: 0.5}},
		"slappart1":  nil,
	}
	j := BuildJournal("COMP-7", start, stop, per, "EUR")
	if len(j.Transactions) != 1 {
		t.Fatalf("BuildJournal made %d transactions, want 1", len(j.Transactions))
	}
	tx := j.Transactions[0]
	if tx.Type != TransactionType || tx.Title != JournalTitle || tx.Reference != "COMP-7" || tx.Currency != "EUR" ||
		tx.Arrow != (Arrow{Type: JournalArrowType}) {
		t.Errorf("transaction header = %+v", tx)
	}
	if tx.StartDate != "2024-03-01T00:00:00Z" || tx.StopDate != "2024-03-02T00:00:00.0000005Z" {
		t.Errorf("dates = %q, %q; want UTC RFC 3339", tx.StartDate, tx.StopDate)
	}
	var got []string
	for _, m := range tx.Movements {
		got = append(got, m.Reference+"/"+m.Resource)
	}
	want := []string{"slappart0/disk_used", "slappart2/cpu_time", "slappart2/memory_used", "slappart10/cpu_time"}
	if !slices.Equal(got, want) {
		t.Errorf("movements = %v, want %v", got, want)
	}
	if per["slappart10"][0].Reference != "ignored" {
		t.Error("BuildJournal changed its input")
	}
	data, err := EncodeJournal(j)
	if err != nil {
		t.Fatalf("EncodeJournal(BuildJournal(...)): %v", err)
	}
	back, err := DecodeJournal(data)
	if err != nil || !reflect.DeepEqual(back, j) {
		t.Errorf("round trip of a built journal: err %v\n got %+v\nwant %+v", err, back, j)
	}
}

func TestCompareNatural(t *testing.T) {
	sorted := []string{"", "0", "00", "01", "1", "2", "10", "a", "slappart", "slappart0", "slappart1", "slappart2", "slappart9",
		"slappart10", "slappart10a", "slappart11", "slappart100", "slappartx"}
	for i := range sorted {
		for k := range sorted {
			got := compareNatural(sorted[i], sorted[k])
			want := 0
			if i < k {
				want = -1
			} else if i > k {
				want = 1
			}
			if got != want {
				t.Errorf("compareNatural(%q, %q) = %d, want %d", sorted[i], sorted[k], got, want)
			}
		}
	}
}

package account

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slapgo/slapgo/core/model"
)

// ErrJournal is wrapped by every error about a usage journal or a
// consumption report: the message names the transaction, the movement, the
// field and, when decoding, the line.
var ErrJournal = errors.New("invalid usage journal")

// ErrConsumption is wrapped by every error about a per-partition consumption
// report. It wraps ErrJournal, so errors.Is(err, ErrJournal) holds for both
// kinds of document.
var ErrConsumption = fmt.Errorf("%w: consumption report", ErrJournal)

// TransactionType is the type attribute of every transaction of a usage
// journal, as SlapOS writes it.
const TransactionType = "Sale Packing List"

// JournalTitle and JournalArrowType are what BuildJournal writes, as
// slapgrid does.
const (
	JournalTitle     = "Resource consumptions"
	JournalArrowType = "Administration"
)

// Journal is a TioXML usage journal as a node posts it to the master
// (SlapOS useComputer): one or more transactions, each covering a period of
// one computer.
//
// NB: DecodeJournal leaves XMLName zero; it is there so that the type also
// names its element for encoding/xml.
type Journal struct {
	XMLName      xml.Name      `xml:"journal"`
	Transactions []Transaction `xml:"transaction"`
}

// Transaction is the usage of one computer over one period.
// StartDate and StopDate keep their text as written; Period parses them.
type Transaction struct {
	Type        string            `xml:"type,attr"` // always TransactionType
	Title       string            `xml:"title"`
	StartDate   string            `xml:"start_date"`
	StopDate    string            `xml:"stop_date"`
	Reference   string            `xml:"reference"` // computer id
	Currency    string            `xml:"currency"`
	PaymentMode string            `xml:"payment_mode"`
	Category    string            `xml:"category"`
	Arrow       Arrow             `xml:"arrow"`
	Movements   []JournalMovement `xml:"movement"`
}

// Arrow is the TioXML arrow of a transaction (who delivers to whom). slapgo
// carries it through without interpreting it.
type Arrow struct {
	Type        string `xml:"type,attr"`
	Source      string `xml:"source"`
	Destination string `xml:"destination"`
}

// JournalMovement is one quantity of one resource consumed in one partition.
// In a journal Reference is the partition id; in a consumption report written
// by an instance it is free (the node overwrites it with the partition id).
type JournalMovement struct {
	Resource  string  `xml:"resource"`
	Title     string  `xml:"title"`
	Reference string  `xml:"reference"`
	Quantity  float64 `xml:"quantity"`
	Price     float64 `xml:"price"`
	VAT       string  `xml:"VAT"`
	Category  string  `xml:"category"`
}

// Consumption is a per-partition consumption report, as an instance writes
// it under var/xml_report: <consumption><movement>…</movement></consumption>.
type Consumption struct {
	Movements []JournalMovement `xml:"movement"`
}

// The children of each element, in the order SlapOS's schema lists them
// (the order EncodeJournal writes; DecodeJournal accepts any order).
var (
	transactionFields = []fieldSpec{
		{name: "title"},
		{name: "start_date", required: true},
		{name: "stop_date", required: true},
		{name: "reference", required: true},
		{name: "currency", required: true},
		{name: "payment_mode", required: true},
		{name: "category"},
		{name: "arrow", required: true, nested: true},
	}
	arrowFields    = []fieldSpec{{name: "source"}, {name: "destination"}}
	movementFields = []fieldSpec{
		{name: "resource", required: true},
		{name: "title"},
		{name: "reference"},
		{name: "quantity", required: true},
		{name: "price", required: true},
		{name: "VAT", required: true},
		{name: "category"},
	}
)

// DecodeJournal parses and checks a usage journal. The caller bounds the
// size of data. See the package documentation for what is accepted.
func DecodeJournal(data []byte) (Journal, error) {
	root, err := readTree(data)
	if err != nil {
		return Journal{}, fmt.Errorf("%w: %v", ErrJournal, err)
	}
	top := place{line: root.line}
	if root.name != "journal" {
		return Journal{}, top.errorf(ErrJournal, "root element is <%s>: expected <journal>", root.name)
	}
	if _, err := attributes(root, place{}, ErrJournal); err != nil {
		return Journal{}, err
	}
	f, err := readFields(root, place{}, ErrJournal, nil, "transaction")
	if err != nil {
		return Journal{}, err
	}
	if len(f.repeated) == 0 {
		return Journal{}, top.errorf(ErrJournal, "<journal> holds no <transaction>: expected at least one")
	}
	var j Journal
	for i, te := range f.repeated {
		t, err := decodeTransaction(te, i+1)
		if err != nil {
			return Journal{}, err
		}
		j.Transactions = append(j.Transactions, t)
	}
	return j, nil
}

func decodeTransaction(e *element, n int) (Transaction, error) {
	at := place{path: fmt.Sprintf("transaction %d", n)}
	attrs, err := attributes(e, at, ErrJournal, "type")
	if err != nil {
		return Transaction{}, err
	}
	typ, ok := attrs["type"]
	if !ok {
		return Transaction{}, place{at.path, e.line}.errorf(ErrJournal, "<transaction> has no type attribute: expected type=%q", TransactionType)
	}
	f, err := readFields(e, at, ErrJournal, transactionFields, "movement")
	if err != nil {
		return Transaction{}, err
	}
	ae := f.nested["arrow"]
	arrowAttrs, err := attributes(ae, at, ErrJournal, "type")
	if err != nil {
		return Transaction{}, err
	}
	af, err := readFields(ae, at, ErrJournal, arrowFields, "")
	if err != nil {
		return Transaction{}, err
	}
	t := Transaction{
		Type:        typ,
		Title:       f.text["title"],
		StartDate:   f.text["start_date"],
		StopDate:    f.text["stop_date"],
		Reference:   f.text["reference"],
		Currency:    f.text["currency"],
		PaymentMode: f.text["payment_mode"],
		Category:    f.text["category"],
		Arrow: Arrow{
			Type:        arrowAttrs["type"],
			Source:      af.text["source"],
			Destination: af.text["destination"],
		},
	}
	lines := maps.Clone(f.lines)
	maps.Copy(lines, af.lines) // source, destination
	lines["type"] = e.line
	if err := checkTransaction(&t, at, lines); err != nil {
		return Transaction{}, err
	}
	for k, me := range f.repeated {
		m, err := decodeMovement(me, place{path: fmt.Sprintf("%s movement %d", at.path, k+1)}, ErrJournal)
		if err != nil {
			return Transaction{}, err
		}
		t.Movements = append(t.Movements, m)
	}
	return t, nil
}

func decodeMovement(e *element, at place, sentinel error) (JournalMovement, error) {
	if _, err := attributes(e, at, sentinel); err != nil {
		return JournalMovement{}, err
	}
	f, err := readFields(e, at, sentinel, movementFields, "")
	if err != nil {
		return JournalMovement{}, err
	}
	m := JournalMovement{
		Resource:  f.text["resource"],
		Title:     f.text["title"],
		Reference: f.text["reference"],
		VAT:       f.text["VAT"],
		Category:  f.text["category"],
	}
	for _, n := range []struct {
		name string
		dst  *float64
	}{{"quantity", &m.Quantity}, {"price", &m.Price}} {
		v, problem := parseNumber(f.text[n.name])
		if problem != "" {
			return JournalMovement{}, at.at(f.lines, n.name).errorf(sentinel, "%s %q %s", n.name, clip(f.text[n.name]), problem)
		}
		*n.dst = v
	}
	if err := checkMovement(&m, at, sentinel, f.lines); err != nil {
		return JournalMovement{}, err
	}
	return m, nil
}

// at returns the place with the line of field, when lines knows it.
func (p place) at(lines map[string]int, field string) place {
	if l, ok := lines[field]; ok {
		p.line = l
	}
	return p
}

// checkTransaction checks what a transaction's fields mean (the rules shared
// by decoding, encoding and UsageMovements). lines may be nil.
func checkTransaction(t *Transaction, at place, lines map[string]int) error {
	if t.Type != TransactionType {
		return at.at(lines, "type").errorf(ErrJournal, "type %q is not supported: expected %q", t.Type, TransactionType)
	}
	for _, s := range []struct{ name, v string }{
		{"title", t.Title}, {"start_date", t.StartDate}, {"stop_date", t.StopDate}, {"reference", t.Reference},
		{"currency", t.Currency}, {"payment_mode", t.PaymentMode}, {"category", t.Category},
		{"arrow", t.Arrow.Type}, {"source", t.Arrow.Source}, {"destination", t.Arrow.Destination},
	} {
		if problem := textProblem(s.v); problem != "" {
			return at.at(lines, s.name).errorf(ErrJournal, "%s %s", s.name, problem)
		}
	}
	stop, ok := parseDate(t.StopDate)
	if !ok {
		return at.at(lines, "stop_date").errorf(ErrJournal, "stop_date %q is not a date: expected %s", clip(t.StopDate), dateFormats)
	}
	start, ok := parseStartDate(t.StartDate, stop)
	if !ok {
		return at.at(lines, "start_date").errorf(ErrJournal, "start_date %q is not a date: expected %s, or nothing", clip(t.StartDate), dateFormats)
	}
	if stop.Before(start) {
		return at.at(lines, "stop_date").errorf(ErrJournal, "stop_date %q is before start_date %q", clip(t.StopDate), clip(t.StartDate))
	}
	if strings.TrimSpace(t.Reference) == "" {
		return at.at(lines, "reference").errorf(ErrJournal, "reference is empty: expected the computer id")
	}
	if strings.TrimSpace(t.Arrow.Type) == "" {
		return at.at(lines, "arrow").errorf(ErrJournal, "arrow type is empty: expected e.g. %q", JournalArrowType)
	}
	return nil
}

// checkMovement checks what a movement's fields mean. lines may be nil.
func checkMovement(m *JournalMovement, at place, sentinel error, lines map[string]int) error {
	for _, s := range []struct{ name, v string }{
		{"resource", m.Resource}, {"title", m.Title}, {"reference", m.Reference}, {"VAT", m.VAT}, {"category", m.Category},
	} {
		if problem := textProblem(s.v); problem != "" {
			return at.at(lines, s.name).errorf(sentinel, "%s %s", s.name, problem)
		}
	}
	if strings.TrimSpace(m.Resource) == "" {
		return at.at(lines, "resource").errorf(sentinel, "resource is empty: expected a resource name such as cpu_time or memory_used")
	}
	for _, n := range []struct {
		name string
		v    float64
	}{{"quantity", m.Quantity}, {"price", m.Price}} {
		if math.IsNaN(n.v) || math.IsInf(n.v, 0) {
			return at.at(lines, n.name).errorf(sentinel, "%s %v is not a finite number", n.name, n.v)
		}
		if n.v < 0 {
			return at.at(lines, n.name).errorf(sentinel, "%s %v is negative: expected a number >= 0", n.name, n.v)
		}
		if n.name == "quantity" && n.v > model.MaxQuantity {
			return at.at(lines, n.name).errorf(sentinel, "%s %v is out of range: expected at most %g", n.name, n.v, float64(model.MaxQuantity))
		}
	}
	return nil
}

// textProblem says why s cannot be carried in XML text unchanged ("" if it
// can): encoding/xml would replace invalid UTF-8 and characters XML forbids.
func textProblem(s string) string {
	if !utf8.ValidString(s) {
		return "is not valid UTF-8"
	}
	for _, r := range s {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return fmt.Sprintf("contains the character %U, which XML does not allow", r)
		}
	}
	return ""
}

// parseNumber reads a decimal number as XML Schema writes a float
// ("12", "-0.5", "1.5e3"): no hexadecimal, no underscores, no INF or NaN.
// Surrounding blanks are ignored. problem is "" on success.
func parseNumber(s string) (v float64, problem string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, "is empty: expected a number"
	}
	if !isDecimal(s) {
		return 0, "is not a number"
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, "is out of range"
	}
	return v, ""
}

// isDecimal matches [+-]?(d+(.d*)?|.d+)([eE][+-]?d+)?.
func isDecimal(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	mantissa := digits()
	if i < len(s) && s[i] == '.' {
		i++
		mantissa += digits()
	}
	if mantissa == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// formatNumber writes v so that parseNumber reads back exactly v: plain
// decimals for everyday magnitudes, an exponent for the others.
func formatNumber(v float64) string {
	if v == 0 {
		return "0"
	}
	if a := math.Abs(v); a >= 1e-6 && a < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// Date layouts accepted in start_date and stop_date. Layouts without a zone
// are read as UTC. The last one is what slapgrid writes.
var dateLayouts = []string{time.RFC3339, "2006-01-02", "2006-01-02 15:04:05", "2006-01-02 at 15:04:05"}

const dateFormats = `RFC 3339 ("2006-01-02T15:04:05Z"), "2006-01-02" or "2006-01-02 15:04:05" (UTC)`

func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// parseStartDate reads a start_date. A blank one, as slapgrid writes it
// (its journal only says when the usage was collected), starts the period
// at stop.
func parseStartDate(s string, stop time.Time) (time.Time, bool) {
	if strings.TrimSpace(s) == "" {
		return stop, true
	}
	return parseDate(s)
}

// Period parses the transaction's start and stop dates; a blank start_date
// (slapgrid's) gives a period that starts and stops at stop_date.
func (t Transaction) Period() (start, stop time.Time, err error) {
	stop, ok := parseDate(t.StopDate)
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: stop_date %q is not a date: expected %s", ErrJournal, clip(t.StopDate), dateFormats)
	}
	start, ok = parseStartDate(t.StartDate, stop)
	if !ok {
		return time.Time{}, time.Time{}, fmt.Errorf("%w: start_date %q is not a date: expected %s, or nothing", ErrJournal, clip(t.StartDate), dateFormats)
	}
	return start, stop, nil
}

// validateJournal applies DecodeJournal's rules to a journal built in memory.
func validateJournal(j Journal) error {
	if len(j.Transactions) == 0 {
		return fmt.Errorf("%w: the journal holds no transaction: expected at least one", ErrJournal)
	}
	for i := range j.Transactions {
		t := &j.Transactions[i]
		at := place{path: fmt.Sprintf("transaction %d", i+1)}
		if err := checkTransaction(t, at, nil); err != nil {
			return err
		}
		for k := range t.Movements {
			// The place is named only for an error: a journal holds
			// hundreds of movements.
			if checkMovement(&t.Movements[k], place{}, ErrJournal, nil) != nil {
				return checkMovement(&t.Movements[k], place{path: fmt.Sprintf("%s movement %d", at.path, k+1)}, ErrJournal, nil)
			}
		}
	}
	return nil
}

// EncodeJournal writes j as an indented TioXML journal with an XML header,
// children in the order of SlapOS's schema. It refuses (ErrJournal) what
// DecodeJournal would refuse, so DecodeJournal(EncodeJournal(j)) == j.
func EncodeJournal(j Journal) ([]byte, error) {
	if err := validateJournal(j); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<journal>\n")
	for _, t := range j.Transactions {
		b.WriteString(`  <transaction type="`)
		escape(&b, t.Type)
		b.WriteString("\">\n")
		writeField(&b, 4, "title", t.Title)
		writeField(&b, 4, "start_date", t.StartDate)
		writeField(&b, 4, "stop_date", t.StopDate)
		writeField(&b, 4, "reference", t.Reference)
		writeField(&b, 4, "currency", t.Currency)
		writeField(&b, 4, "payment_mode", t.PaymentMode)
		writeField(&b, 4, "category", t.Category)
		b.WriteString(`    <arrow type="`)
		escape(&b, t.Arrow.Type)
		b.WriteString("\">\n")
		writeField(&b, 6, "source", t.Arrow.Source)
		writeField(&b, 6, "destination", t.Arrow.Destination)
		b.WriteString("    </arrow>\n")
		for _, m := range t.Movements {
			writeMovement(&b, 4, m)
		}
		b.WriteString("  </transaction>\n")
	}
	b.WriteString("</journal>\n")
	return b.Bytes(), nil
}

// DecodeConsumption parses and checks a per-partition consumption report.
// The caller bounds the size of data. An empty <consumption/> is accepted.
func DecodeConsumption(data []byte) (Consumption, error) {
	root, err := readTree(data)
	if err != nil {
		return Consumption{}, fmt.Errorf("%w: %v", ErrConsumption, err)
	}
	if root.name != "consumption" {
		return Consumption{}, place{line: root.line}.errorf(ErrConsumption, "root element is <%s>: expected <consumption>", root.name)
	}
	if _, err := attributes(root, place{}, ErrConsumption); err != nil {
		return Consumption{}, err
	}
	f, err := readFields(root, place{}, ErrConsumption, nil, "movement")
	if err != nil {
		return Consumption{}, err
	}
	var c Consumption
	for k, me := range f.repeated {
		m, err := decodeMovement(me, place{path: fmt.Sprintf("movement %d", k+1)}, ErrConsumption)
		if err != nil {
			return Consumption{}, err
		}
		c.Movements = append(c.Movements, m)
	}
	return c, nil
}

func writeMovement(b *bytes.Buffer, indent int, m JournalMovement) {
	pad := strings.Repeat(" ", indent)
	b.WriteString(pad + "<movement>\n")
	writeField(b, indent+2, "resource", m.Resource)
	writeField(b, indent+2, "title", m.Title)
	writeField(b, indent+2, "reference", m.Reference)
	writeField(b, indent+2, "quantity", formatNumber(m.Quantity))
	writeField(b, indent+2, "price", formatNumber(m.Price))
	writeField(b, indent+2, "VAT", m.VAT)
	writeField(b, indent+2, "category", m.Category)
	b.WriteString(pad + "</movement>\n")
}

func writeField(b *bytes.Buffer, indent int, name, value string) {
	b.WriteString(strings.Repeat(" ", indent))
	b.WriteString("<" + name + ">")
	escape(b, value)
	b.WriteString("</" + name + ">\n")
}

// escape writes s as XML text or attribute value. Callers have checked s
// with textProblem, so nothing is replaced.
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a bytes.Buffer never fails
}

// BuildJournal gathers per-partition movements into a journal of one
// transaction for computerID over [start, stop], as slapgrid does: each
// movement's Reference becomes its partition id; partitions come in natural
// order (slappart2 before slappart10), each partition's movements in the
// order given. Dates are written in RFC 3339, UTC.
//
// BuildJournal does not check its input: EncodeJournal does.
func BuildJournal(computerID string, start, stop time.Time, perPartition map[string][]JournalMovement, currency string) Journal {
	t := Transaction{
		Type:      TransactionType,
		Title:     JournalTitle,
		StartDate: start.UTC().Format(time.RFC3339Nano),
		StopDate:  stop.UTC().Format(time.RFC3339Nano),
		Reference: computerID,
		Currency:  currency,
		Arrow:     Arrow{Type: JournalArrowType},
	}
	for _, partition := range slices.SortedFunc(maps.Keys(perPartition), compareNatural) {
		for _, m := range perPartition[partition] {
			m.Reference = partition
			t.Movements = append(t.Movements, m)
		}
	}
	return Journal{Transactions: []Transaction{t}}
}

// compareNatural orders strings with their digit runs compared as numbers
// ("slappart2" < "slappart10"); ties fall back to byte order, so the order
// is total.
func compareNatural(a, b string) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if isDigit(a[i]) && isDigit(b[j]) {
			si := i
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			sj := j
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			x := strings.TrimLeft(a[si:i], "0")
			y := strings.TrimLeft(b[sj:j], "0")
			if len(x) != len(y) {
				return cmp.Compare(len(x), len(y))
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
			continue
		}
		if a[i] != b[j] {
			return cmp.Compare(a[i], b[j])
		}
		i++
		j++
	}
	if c := cmp.Compare(len(a)-i, len(b)-j); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

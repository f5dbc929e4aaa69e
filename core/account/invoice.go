package account

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// InvoiceLine is the total of one resource (in one unit) on an invoice.
type InvoiceLine struct {
	Resource string  `json:"resource"`
	Unit     string  `json:"unit"`
	Quantity float64 `json:"quantity"`
	Amount   float64 `json:"amount"`
}

// Invoice is what one person owes in one currency for one period.
type Invoice struct {
	Person      string        `json:"person"` // empty for movements nobody owns
	PeriodStart time.Time     `json:"period_start"`
	PeriodEnd   time.Time     `json:"period_end"`
	Currency    string        `json:"currency"`
	Lines       []InvoiceLine `json:"lines"`
	Total       float64       `json:"total"`
	Movements   int           `json:"movements"` // how many movements contributed
}

// BuildInvoices aggregates priced movements into invoices for the period
// [start, end): one invoice per (Owner, Currency), sorted by person then
// currency, lines sorted by resource then unit, amounts rounded to 1e-6.
//
// A usage movement (and a hosting movement of zero length) belongs to the
// period its Stop falls in. A hosting movement counts for the part of
// [Start, Stop) that overlaps the period, its quantity and amount cut pro
// rata: invoices of consecutive periods add up to the whole movement, and
// each hour is invoiced once.
//
// Movements without an Owner are kept on an invoice with an empty Person,
// so that nothing disappears silently: the caller decides what to do with
// it. The result does not depend on the order of ms, which it does not
// change: a caller holding movements by pointer need not copy them. An
// empty period (end not after start) has no invoice.
func BuildInvoices(ms []*Movement, start, end time.Time) []Invoice {
	if !end.After(start) {
		return nil
	}
	type invoiceKey struct{ person, currency string }
	type lineKey struct{ resource, unit string }
	type share struct {
		m                *Movement
		quantity, amount float64
	}
	lines := map[invoiceKey]map[lineKey][]share{}
	counts := map[invoiceKey]int{}
	for _, m := range ms {
		frac, ok := invoicedFraction(m, start, end)
		if !ok {
			continue
		}
		ik := invoiceKey{m.Owner, m.Currency}
		if lines[ik] == nil {
			lines[ik] = map[lineKey][]share{}
		}
		lk := lineKey{m.Resource, m.Unit}
		s := share{m: m, quantity: m.Quantity, amount: m.Amount}
		if frac != 1 {
			s.quantity *= frac
			s.amount *= frac
		}
		lines[ik][lk] = append(lines[ik][lk], s)
		counts[ik]++
	}

	var invoices []Invoice
	for ik, byLine := range lines {
		inv := Invoice{Person: ik.person, PeriodStart: start, PeriodEnd: end, Currency: ik.currency, Movements: counts[ik]}
		for lk, shares := range byLine {
			// Sum in a fixed order: float addition is not associative.
			slices.SortFunc(shares, func(a, b share) int {
				// Ids are nearly always distinct: compare the rest only on a tie.
				if c := strings.Compare(a.m.ID, b.m.ID); c != 0 {
					return c
				}
				return cmp.Or(
					a.m.Start.Compare(b.m.Start),
					a.m.Stop.Compare(b.m.Stop),
					cmp.Compare(a.quantity, b.quantity),
					cmp.Compare(a.amount, b.amount),
				)
			})
			line := InvoiceLine{Resource: lk.resource, Unit: lk.unit}
			for _, s := range shares {
				line.Quantity += s.quantity
				line.Amount += s.amount
			}
			line.Amount = roundAmount(line.Amount)
			inv.Lines = append(inv.Lines, line)
		}
		slices.SortFunc(inv.Lines, func(a, b InvoiceLine) int {
			return cmp.Or(strings.Compare(a.Resource, b.Resource), strings.Compare(a.Unit, b.Unit))
		})
		for _, l := range inv.Lines {
			inv.Total += l.Amount
		}
		inv.Total = roundAmount(inv.Total)
		invoices = append(invoices, inv)
	}
	slices.SortFunc(invoices, func(a, b Invoice) int {
		return cmp.Or(strings.Compare(a.Person, b.Person), strings.Compare(a.Currency, b.Currency))
	})
	return invoices
}

// invoicedFraction says whether m belongs to [start, end) and which
// fraction of it does.
func invoicedFraction(m *Movement, start, end time.Time) (float64, bool) {
	if m.Kind == KindHosting && m.Stop.After(m.Start) {
		from, to := m.Start, m.Stop
		if from.Before(start) {
			from = start
		}
		if to.After(end) {
			to = end
		}
		if !to.After(from) {
			return 0, false
		}
		if from.Equal(m.Start) && to.Equal(m.Stop) {
			return 1, true
		}
		return float64(to.Sub(from)) / float64(m.Stop.Sub(m.Start)), true
	}
	if m.Stop.Before(start) || !m.Stop.Before(end) {
		return 0, false
	}
	return 1, true
}

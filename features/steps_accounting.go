package features

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/features/backend"
	"github.com/slapgo/slapgo/master/api"
)

// Usage journals, pricing and invoices.
func registerAccountingSteps(sc *godog.ScenarioContext) {
	sc.Step(`^node "([^"]+)" posts the usage journal:$`, postsTheJournal)
	sc.Step(`^node "([^"]+)" posts a usage journal for "([^"]+)" to "([^"]+)" with:$`, postsAJournal)
	sc.Step(`^node "([^"]+)" posts a usage journal of "([^"]+)" for "([^"]+)" to "([^"]+)" with:$`, postsAJournalOf)
	sc.Step(`^(\d+) usage movements? (?:was|were) recorded$`, movementsRecorded)
	sc.Step(`^the journal was recognised as already recorded$`, journalDuplicate)
	sc.Step(`^the invoice of "([^"]+)" from "([^"]+)" to "([^"]+)" has a "([^"]+)" line of ([0-9.]+) (\S+) costing ([0-9.]+) (\S+)$`, invoiceHasLine)
	sc.Step(`^the invoice of "([^"]+)" from "([^"]+)" to "([^"]+)" has a "([^"]+)" line costing between ([0-9.]+) and ([0-9.]+) (\S+)$`, invoiceHasLineBetween)
	sc.Step(`^the invoice of "([^"]+)" from "([^"]+)" to "([^"]+)" has no "([^"]+)" line$`, invoiceHasNoLine)
	sc.Step(`^`+actorPattern+` reads the invoices of "([^"]+)" from "([^"]+)" to "([^"]+)"$`, readsInvoices)
}

func post(ctx context.Context, computerID string, journal []byte) error {
	s := scenarioOf(ctx)
	res, err := s.be.PostUsage(ctx, backend.Computer(computerID), computerID, journal)
	s.usage = res
	s.record(err)
	return nil
}

func postsTheJournal(ctx context.Context, computerID string, doc *godog.DocString) error {
	return post(ctx, computerID, []byte(doc.Content))
}

func postsAJournal(ctx context.Context, computerID, from, to string, t *godog.Table) error {
	return postsAJournalOf(ctx, computerID, computerID, from, to, t)
}

// postsAJournalOf writes a journal as a node does (account.BuildJournal)
// from a | partition | resource | quantity | table, the transaction naming
// reference, and posts it as node computerID.
func postsAJournalOf(ctx context.Context, computerID, reference, from, to string, t *godog.Table) error {
	start, err := day(from)
	if err != nil {
		return err
	}
	stop, err := day(to)
	if err != nil {
		return err
	}
	if len(t.Rows) < 2 || len(t.Rows[0].Cells) != 3 {
		return fmt.Errorf("usage table: expected a header | partition | resource | quantity | and at least one row")
	}
	per := map[string][]account.JournalMovement{}
	for i, r := range t.Rows[1:] {
		if len(r.Cells) != 3 {
			return fmt.Errorf("usage table row %d: expected 3 cells", i+1)
		}
		part, res := r.Cells[0].Value, r.Cells[1].Value
		qty, err := strconv.ParseFloat(r.Cells[2].Value, 64)
		if err != nil {
			return fmt.Errorf("usage table row %d: quantity %q is not a number (write malformed journals out in full)", i+1, r.Cells[2].Value)
		}
		per[part] = append(per[part], account.JournalMovement{Resource: res, Title: res + " of " + part,
			Reference: part, Quantity: qty})
	}
	j := account.BuildJournal(reference, start, stop, per, "EUR")
	data, err := account.EncodeJournal(j)
	if err != nil {
		return fmt.Errorf("writing the usage journal: %w", err)
	}
	return post(ctx, computerID, data)
}

func day(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: expected YYYY-MM-DD", s)
	}
	return t, nil
}

func movementsRecorded(ctx context.Context, n int) error {
	s := scenarioOf(ctx)
	if s.usage.Movements != n {
		return fmt.Errorf("%d usage movements were recorded, expected %d", s.usage.Movements, n)
	}
	return nil
}

func journalDuplicate(ctx context.Context) error {
	s := scenarioOf(ctx)
	if !s.usage.Duplicate || s.usage.Movements != 0 {
		return fmt.Errorf("the journal was not recognised as already recorded: %+v", s.usage)
	}
	return nil
}

func invoiceLine(ctx context.Context, person, from, to, resource string) (api.InvoiceLine, bool, []api.Invoice, error) {
	s := scenarioOf(ctx)
	start, err := day(from)
	if err != nil {
		return api.InvoiceLine{}, false, nil, err
	}
	end, err := day(to)
	if err != nil {
		return api.InvoiceLine{}, false, nil, err
	}
	invs, err := s.be.Invoices(ctx, backend.Person(person), person, start, end)
	if err != nil {
		return api.InvoiceLine{}, false, nil, err
	}
	for _, inv := range invs {
		for _, l := range inv.Lines {
			if l.Resource == resource {
				return l, true, invs, nil
			}
		}
	}
	return api.InvoiceLine{}, false, invs, nil
}

func describeInvoices(invs []api.Invoice) string {
	if len(invs) == 0 {
		return "no invoice"
	}
	var b strings.Builder
	for _, inv := range invs {
		fmt.Fprintf(&b, "[%s %s total %g:", inv.Person, inv.Currency, inv.Total)
		for _, l := range inv.Lines {
			fmt.Fprintf(&b, " %s %g %s = %g;", l.Resource, l.Quantity, l.Unit, l.Amount)
		}
		b.WriteString("]")
	}
	return b.String()
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func invoiceHasLine(ctx context.Context, person, from, to, resource, qty, unit, amount, currency string) error {
	l, ok, invs, err := invoiceLine(ctx, person, from, to, resource)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the invoice of %s has no %q line: %s", person, resource, describeInvoices(invs))
	}
	q, _ := strconv.ParseFloat(qty, 64)
	a, _ := strconv.ParseFloat(amount, 64)
	if !near(l.Quantity, q) || l.Unit != unit || !near(l.Amount, a) || !currencyIs(invs, resource, currency) {
		return fmt.Errorf("the %q line of %s is %g %s costing %g, expected %s %s costing %s %s: %s",
			resource, person, l.Quantity, l.Unit, l.Amount, qty, unit, amount, currency, describeInvoices(invs))
	}
	return nil
}

func currencyIs(invs []api.Invoice, resource, currency string) bool {
	for _, inv := range invs {
		for _, l := range inv.Lines {
			if l.Resource == resource {
				return inv.Currency == currency
			}
		}
	}
	return false
}

func invoiceHasLineBetween(ctx context.Context, person, from, to, resource, low, high, currency string) error {
	l, ok, invs, err := invoiceLine(ctx, person, from, to, resource)
	if err != nil {
		return err
	}
	lo, _ := strconv.ParseFloat(low, 64)
	hi, _ := strconv.ParseFloat(high, 64)
	if !ok || l.Amount < lo || l.Amount > hi || !currencyIs(invs, resource, currency) {
		return fmt.Errorf("expected a %q line costing between %s and %s %s on the invoice of %s: %s",
			resource, low, high, currency, person, describeInvoices(invs))
	}
	return nil
}

func invoiceHasNoLine(ctx context.Context, person, from, to, resource string) error {
	_, ok, invs, err := invoiceLine(ctx, person, from, to, resource)
	if err == nil && ok {
		err = fmt.Errorf("the invoice of %s has a %q line: %s", person, resource, describeInvoices(invs))
	}
	return err
}

func readsInvoices(ctx context.Context, who, person, from, to string) error {
	s := scenarioOf(ctx)
	as, err := s.actor(who)
	if err != nil {
		return err
	}
	start, err := day(from)
	if err != nil {
		return err
	}
	end, err := day(to)
	if err != nil {
		return err
	}
	_, err = s.be.Invoices(ctx, as, person, start, end)
	s.record(err)
	return nil
}

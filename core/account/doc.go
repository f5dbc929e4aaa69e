// Package account is slapgo's accounting: the TioXML usage documents nodes
// write, the movements the master holds, their pricing, and invoices.
//
// # Documents
//
// An instance writes per-partition consumption reports (SlapOS
// var/xml_report): <consumption><movement>…</movement></consumption>. The
// node gathers them with BuildJournal into one usage journal per period and
// posts it (SlapOS useComputer):
//
//	<journal>
//	  <transaction type="Sale Packing List">
//	    <title/> <start_date/> <stop_date/> <reference>COMP-ID</reference>
//	    <currency/> <payment_mode/> <category/>
//	    <arrow type="Administration"><source/><destination/></arrow>
//	    <movement>
//	      <resource/> <title/> <reference>slappartN</reference>
//	      <quantity/> <price/> <VAT/> <category/>
//	    </movement>…
//	  </transaction>…
//	</journal>
//
// DecodeJournal and DecodeConsumption are strict: they accept what SlapOS's
// schemas (slapos/slap/doc/computer_consumption.xsd and
// partition_consumption.xsd) accept and slapgo can account for, and reject
// the rest with an error (wrapping ErrJournal; ErrConsumption for reports)
// that names the transaction, the movement, the field and the line, e.g.
//
//	invalid usage journal: transaction 1 movement 3: quantity "abc" is not a number (line 14)
//
// Element and field names are SlapOS's. SlapOS's writers (slapgrid, the
// collector) never write elements outside the schema, so unknown elements
// are errors, as are attributes other than the two type attributes,
// namespaces, text between elements, and a field given twice. Required, as
// in the schema: in a transaction start_date, stop_date, reference,
// currency, payment_mode, arrow (with a type); in a movement resource,
// quantity, price, VAT. Optional: the titles, movement reference, category,
// arrow source and destination. Where slapgo differs from the schema:
//
//   - Children may come in any order (the schema fixes one; the encoders
//     write that one).
//   - At most one category per transaction or movement, and one arrow per
//     transaction: slapgo keeps one, and SlapOS writes no more.
//   - The transaction type must be "Sale Packing List", the only one SlapOS
//     writes.
//   - start_date and stop_date must be dates, in RFC 3339, "2006-01-02",
//     "2006-01-02 15:04:05" or slapgrid's "2006-01-02 at 15:04:05" (the last
//     three in UTC), with stop_date not before start_date. slapgrid leaves
//     start_date empty (its journal only says when the usage was
//     collected): a blank start_date starts the period at stop_date.
//   - reference and resource must not be blank.
//   - quantity and price are finite decimal numbers >= 0 ("12", "0.5",
//     "1e3"; not INF, NaN, hexadecimal or empty).
//   - A transaction may hold no movement (a period without usage), and a
//     consumption report may be empty; a journal needs one transaction.
//
// Documents are UTF-8 (a US-ASCII declaration is accepted), with or without
// a byte order mark. Text fields are kept exactly as written (only numbers and dates are read
// with surrounding blanks ignored). EncodeJournal writes indented XML with a
// header, children in schema order, and refuses what DecodeJournal would
// refuse, so DecodeJournal(EncodeJournal(j)) == j.
//
// # Movements, prices, invoices
//
// A Movement is a quantity of a resource over a period, on a computer, in a
// partition, owned by a person. Hosting movements (HostingMovement) count
// the hours a started instance holds its partition; usage movements
// (UsageMovements) come from journals. Price applies a computer's
// model.PriceList; BuildInvoices sums priced movements per person and
// currency for a period, cutting hosting movements that straddle it.
//
// Units: DefaultUnit says what a quantity counts (hosting in hours,
// cpu_time in s, memory_used in MiB·h, disk_used in GiB·day, network bytes
// in bytes, other resources in "unit"); PriceUnit what a price list prices
// per (the same, but network per GiB, as model.PriceList says).
//
// # Contract
//
// The package is pure: no I/O, no clock, no randomness. Every function's
// result depends only on its arguments, and map iteration never reaches an
// output unsorted.
//
// # Caller's duties
//
//  1. Bound the size of documents before decoding them (the master limits
//     request bodies; the node limits report files).
//  2. Before storing usage movements, check JournalRef against the
//     movements already held: a node may post the same journal twice.
//  3. Fill Owner and InstanceGUID of usage movements from the partition the
//     movement names, at the time of the period; then Price them with the
//     computer's price list and currency.
//  4. Pass HostingMovement a period the instance was started in its
//     partition (a period still running ends when the invoice period does);
//     BuildInvoices cuts those that straddle the invoice period.
package account

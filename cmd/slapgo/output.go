package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// Output formats of -o/--output.
const (
	outputTable = "table"
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// format is the output format asked by -o or --json ("table" when none).
func (o *clientOptions) format() (string, error) {
	switch o.output {
	case "", outputTable:
		if o.json {
			return outputJSON, nil
		}
		return outputTable, nil
	case outputWide, outputJSON, outputYAML:
		if o.json && o.output != outputJSON {
			return "", fmt.Errorf("--json and -o %s disagree: give one of them", o.output)
		}
		return o.output, nil
	}
	return "", fmt.Errorf("-o %q: expected table, wide, json or yaml", o.output)
}

// wide reports whether -o wide was asked.
func (o *clientOptions) wide() bool { f, _ := o.format(); return f == outputWide }

// structured prints v as JSON or YAML when one of them was asked, and
// reports whether it did; otherwise the caller prints its table.
func (o *clientOptions) structured(w io.Writer, v any) (bool, error) {
	f, err := o.format()
	if err != nil {
		return true, err
	}
	switch f {
	case outputJSON:
		return true, printJSON(w, v)
	case outputYAML:
		return true, printYAML(w, v)
	}
	return false, nil
}

// printYAML writes v as YAML with the field names of its JSON form.
func printYAML(w io.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(yamlNumbers(generic)); err != nil {
		return err
	}
	return enc.Close()
}

// yamlNumbers turns json.Number values into plain numbers for YAML.
func yamlNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlNumbers(e)
		}
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	}
	return v
}

// describeInstance prints an instance the way `kubectl describe` does: one
// field a line, then its parameters, SLA, connection parameters and its
// recent events (oldest first, the newest last).
func describeInstance(w io.Writer, i api.Instance, events []api.Event) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	field("GUID", i.GUID)
	field("Title", i.Title)
	field("Owner", i.Owner)
	if i.RootTitle != "" {
		field("Tree", "child of "+i.RootTitle)
	}
	field("Software", i.SoftwareRelease)
	field("Type", i.SoftwareType)
	if i.Shared {
		field("Shared", "yes")
	}
	field("Requested", string(i.RequestedState))
	field("Status", i.Status)
	switch {
	case i.Status == api.StatusPending:
		field("Pending", i.PendingReason)
	case i.Shared:
		field("Host", i.HostGUID)
	case i.PartitionID != "":
		field("Partition", i.ComputerID+"/"+i.PartitionID)
	}
	var addrs []string
	for _, a := range i.Addresses {
		addrs = append(addrs, a.Addr)
	}
	field("Addresses", strings.Join(addrs, " "))
	field("Reported", string(i.ReportedState))
	if i.ReportedError != "" {
		field("Error", strings.ReplaceAll(strings.TrimSpace(i.ReportedError), "\n", "\n\t"))
	}
	readiness, detail := master.InstanceReadiness(master.InstanceInfo(i))
	field("Readiness", string(readiness)+": "+detail)
	if err := tw.Flush(); err != nil {
		return err
	}
	section := func(title string, m map[string]string) {
		if len(m) == 0 {
			fmt.Fprintf(w, "%s: none\n", title)
			return
		}
		fmt.Fprintf(w, "%s:\n", title)
		for _, k := range slices.Sorted(maps.Keys(m)) {
			fmt.Fprintf(w, "  %s = %s\n", k, m[k])
		}
	}
	section("Parameters", i.Parameters)
	section("SLA", i.SLA)
	section("Connection", i.Connection)
	return describeEvents(w, events, time.Now())
}

// describedInstance is what `instance show -o json|yaml` prints: the
// instance and its recent events.
type describedInstance struct {
	api.Instance
	Events []api.Event `json:"events"`
}

// describeEvents prints an instance's recent events as kubectl describe
// does, oldest first: how long ago, the kind, the message.
func describeEvents(w io.Writer, events []api.Event, now time.Time) error {
	if len(events) == 0 {
		_, err := fmt.Fprintln(w, "Events: none")
		return err
	}
	fmt.Fprintln(w, "Events:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  AGE\tKIND\tMESSAGE")
	for _, e := range events {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", age(now.Sub(e.At)), e.Kind, e.Message)
	}
	return tw.Flush()
}

// age says how long ago something happened, in the largest unit that
// keeps two digits: 45s, 12m, 5h, 3d.
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < 2*time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < 2*time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// firstLine is the first non-empty line of a text.
func firstLine(s string) string {
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return ""
}

// describeComputer prints a computer's fields that are set, then its
// software and partitions, with the first line of their errors.
func describeComputer(w io.Writer, d api.ComputerDetails) error {
	c := d.Computer
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", name, value)
		}
	}
	field("ID", c.ID)
	if c.Title != c.ID {
		field("Title", c.Title)
	}
	field("Owner", c.Owner)
	field("Region", c.Region)
	field("Network", c.Network)
	field("Scope", string(c.Scope))
	field("Hardware", hardware(c.Hardware))
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(c.Attributes)) {
		attrs = append(attrs, k+"="+c.Attributes[k])
	}
	field("Attributes", strings.Join(attrs, " "))
	var prices []string
	for _, k := range slices.Sorted(maps.Keys(c.Prices)) {
		prices = append(prices, fmt.Sprintf("%s=%s", k, strconv.FormatFloat(c.Prices[k], 'g', -1, 64)))
	}
	if len(prices) > 0 {
		field("Prices", strings.TrimSpace(strings.Join(prices, " ")+" "+c.Currency))
	}
	field("Last contact", lastContact(c.LastContact))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(d.Software) > 0 {
		fmt.Fprintln(w)
		header := []string{"SOFTWARE", "REQUESTED", "REPORTED"}
		withErrors := slices.ContainsFunc(d.Software, func(s model.SoftwareInstallation) bool { return s.ReportedError != "" })
		if withErrors {
			header = append(header, "ERROR")
		}
		var rows [][]string
		for _, s := range d.Software {
			row := []string{s.URL, string(s.Requested), orDash(string(s.Reported))}
			if withErrors {
				row = append(row, orDash(firstLine(s.ReportedError)))
			}
			rows = append(rows, row)
		}
		if err := table(w, header, rows); err != nil {
			return err
		}
	}
	if len(d.Partitions) > 0 {
		fmt.Fprintln(w)
		header := []string{"PARTITION", "STATUS", "INSTANCE", "REPORTED", "ADDRESSES"}
		withErrors := slices.ContainsFunc(d.Partitions, func(p model.Partition) bool { return p.ReportedError != "" })
		if withErrors {
			header = append(header, "ERROR")
		}
		var rows [][]string
		for _, p := range d.Partitions {
			var addrs []string
			for _, a := range p.Addresses {
				addrs = append(addrs, a.Addr)
			}
			row := []string{p.ID, string(p.Status), orDash(p.InstanceGUID), orDash(string(p.ReportedState)), orDash(strings.Join(addrs, " "))}
			if withErrors {
				row = append(row, orDash(firstLine(p.ReportedError)))
			}
			rows = append(rows, row)
		}
		if err := table(w, header, rows); err != nil {
			return err
		}
	}
	return nil
}

// orDash shows an empty table cell as "-".
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

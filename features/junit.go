package features

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// The JUnit report of godog's junit formatter, as far as MarkSkipped reads
// and writes it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name    string         `xml:"name,attr"`
	Status  string         `xml:"status,attr"`
	Time    string         `xml:"time,attr"`
	Failure *junitMessage  `xml:"failure,omitempty"`
	Errors  []junitMessage `xml:"error,omitempty"`
	Skipped *junitMessage  `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
}

// outlineNumber is the " #N" godog appends to the examples of an outline.
var outlineNumber = regexp.MustCompile(` #\d+$`)

// MarkSkipped rewrites a JUnit report of godog so that CI dashboards count
// skipped scenarios as skipped: godog leaves the test case of a scenario
// skipped by its Before hook without a status and gives it one <error
// type="skipped"> per step, and counts none as skipped. Each such case gets
// status "skipped" and one <skipped> element with the reason (reasons maps
// a scenario's name to why it was skipped), and the suites count them.
func MarkSkipped(report []byte, reasons map[string]string) ([]byte, error) {
	var suites junitSuites
	if err := xml.Unmarshal(report, &suites); err != nil {
		return nil, fmt.Errorf("reading the JUnit report: %w", err)
	}
	suites.Skipped = 0
	for i := range suites.Suites {
		ts := &suites.Suites[i]
		ts.Skipped = 0
		for j := range ts.Cases {
			tc := &ts.Cases[j]
			if !skippedCase(*tc) {
				continue
			}
			why := reasons[outlineNumber.ReplaceAllString(tc.Name, "")]
			if why == "" {
				why = "every step was skipped"
			}
			tc.Status, tc.Errors, tc.Skipped = "skipped", nil, &junitMessage{Message: why}
			ts.Skipped++
		}
		suites.Skipped += ts.Skipped
	}
	var out bytes.Buffer
	out.WriteString(xml.Header)
	enc := xml.NewEncoder(&out)
	enc.Indent("", "  ")
	if err := enc.Encode(suites); err != nil {
		return nil, err
	}
	out.WriteString("\n")
	return out.Bytes(), nil
}

// skippedCase: no failure, no error but skipped steps, and at least one.
func skippedCase(tc junitCase) bool {
	if tc.Skipped != nil {
		return true
	}
	if tc.Failure != nil || len(tc.Errors) == 0 || (tc.Status != "" && !strings.EqualFold(tc.Status, "skipped")) {
		return false
	}
	for _, e := range tc.Errors {
		if e.Type != "skipped" {
			return false
		}
	}
	return true
}

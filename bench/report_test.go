package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{52310.4, UnitPerSecond, "52,310/s"},
		{1234567, "", "1,234,567"},
		{12.345, "", "12.3"},
		{1.234, "", "1.23"},
		{0.0421, "", "0.0421"},
		{0, UnitPerSecond, "0/s"},
		{-1500, "", "-1,500"},
		{0.1, UnitSeconds, "100ms"},
		{0.000812, UnitSeconds, "812µs"},
		{45.63, UnitSeconds, "45.6s"},
		{123, UnitSeconds, "2m03s"},
		{512, UnitBytes, "512 B"},
		{87.5 * (1 << 20), UnitBytes, "87.5 MiB"},
		{0.9876, UnitRatio, "98.8%"},
		{1, UnitRatio, "100%"},
		{0.9999, UnitRatio, "99.990%"},
		{1440.5, UnitTimes, "1,441x"},
		{10000, UnitNodes, "10,000 nodes"},
		{math.NaN(), UnitSeconds, "n/a"},
	}
	for _, tc := range tests {
		if got := formatValue(tc.v, tc.unit); got != tc.want {
			t.Errorf("formatValue(%g, %q) = %q, want %q", tc.v, tc.unit, got, tc.want)
		}
	}
}

func TestFormatInterval(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Minute: "1m", 90 * time.Second: "1m30s", 2 * time.Hour: "2h", 5 * time.Second: "5s"} {
		if got := formatInterval(d); got != want {
			t.Errorf("formatInterval(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestTargets(t *testing.T) {
	tests := []struct {
		target Target
		x      float64
		want   string
		text   string
	}{
		{AtLeast(50000, UnitPerSecond), 50000, StatusPass, ">= 50,000/s"},
		{AtLeast(50000, UnitPerSecond), 49999, StatusMiss, ">= 50,000/s"},
		{AtMost(0.1, UnitSeconds), 0.05, StatusPass, "<= 100ms"},
		{AtMost(0.1, UnitSeconds), 0.2, StatusMiss, "<= 100ms"},
		{AtMost(30, UnitSeconds), math.NaN(), StatusMiss, "<= 30.0s"},
		{Target{Op: "?", Value: 1}, 1, StatusMiss, "? 1"},
	}
	for _, tc := range tests {
		if got := tc.target.Status(tc.x); got != tc.want {
			t.Errorf("%v.Status(%g) = %s, want %s", tc.target, tc.x, got, tc.want)
		}
		if got := tc.target.String(); got != tc.text {
			t.Errorf("String() = %q, want %q", got, tc.text)
		}
	}
}

func sampleReport() Report {
	pass := AtLeast(100, UnitPerSecond)
	miss := AtMost(1, UnitSeconds)
	return Report{
		Machine: Machine{Cores: 2, CPUModel: "Test CPU", MemoryBytes: 8 << 30, GoVersion: "go1.26", OS: "linux/amd64", Kernel: "6.1"},
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Sections: []Section{{
			Name: "demo", Title: "a demo section", Command: "slapgo bench demo --size 3", Wall: 1500 * time.Millisecond,
			Figures: []Figure{
				NewFigure("speed", 250, UnitPerSecond, &pass, "size 3"),
				NewFigure("time", 2.5, UnitSeconds, &miss, "size 3"),
				NewFigure("info", 0.5, UnitRatio, nil, ""),
			},
			Tables: []Table{{Title: "cells", Columns: []string{"size", "a|b"}, Rows: [][]string{{"3", "x|y"}}}},
			Notes:  []string{"measured on a test"},
			Result: map[string]int{"cells": 1},
		}},
	}
}

func TestReportText(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"machine: 2 cores (Test CPU), 8.0 GiB memory, go1.26, linux/amd64, Linux 6.1",
		"== demo: a demo section (1.5s, load average 0.00 at start)",
		"slapgo bench demo --size 3",
		"250/s", ">= 100/s", "PASS", "<= 1.00s", "MISS", "50.0%",
		"cells", "a|b", "NB: measured on a test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if rep.Misses() != 1 {
		t.Errorf("Misses() = %d, want 1", rep.Misses())
	}
}

func TestReportMarkdown(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteMarkdown(&b, "###"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Machine: 2 cores (Test CPU)", "Run started 2026-01-02T03:04:05Z",
		"### demo: a demo section", "`slapgo bench demo --size 3`",
		"| figure | value | target | status | measured on |", "|---|---|---|---|---|",
		"| speed | 250/s | >= 100/s | PASS | size 3 |",
		`| size | a\|b |`, `| 3 | x\|y |`, "- measured on a test",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown report lacks %q:\n%s", want, out)
		}
	}
}

func TestReportSummaryMarkdown(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteSummaryMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| bench | figure | value | target | status | measured on |", "| demo | speed | 250/s | >= 100/s | PASS | size 3 |", "| demo | info | 50.0% |  |  |  |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, b.String())
		}
	}
}

func TestReportJSON(t *testing.T) {
	rep := sampleReport()
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Machine  Machine `json:"machine"`
		Sections []struct {
			Name    string         `json:"name"`
			Command string         `json:"command"`
			Figures []Figure       `json:"figures"`
			Result  map[string]int `json:"result"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatalf("report JSON does not decode: %v\n%s", err, b.String())
	}
	if back.Machine.Cores != 2 || len(back.Sections) != 1 || back.Sections[0].Name != "demo" || back.Sections[0].Command != "slapgo bench demo --size 3" {
		t.Fatalf("decoded %+v", back)
	}
	figs := back.Sections[0].Figures
	if len(figs) != 3 || figs[0].Status != StatusPass || figs[1].Status != StatusMiss || figs[2].Status != "" || figs[0].Target == nil || figs[0].Target.Value != 100 {
		t.Fatalf("figures decoded as %+v", figs)
	}
	if back.Sections[0].Result["cells"] != 1 {
		t.Fatalf("typed result lost: %+v", back.Sections[0].Result)
	}
}

func TestMachineParsers(t *testing.T) {
	if got := cpuModel([]byte("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fast CPU @ 3GHz\n")); got != "Fast CPU @ 3GHz" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := memTotal([]byte("MemTotal:       24684092 kB\nMemFree: 1 kB\n")); got != 24684092<<10 {
		t.Errorf("memTotal = %d", got)
	}
	if got := osRelease([]byte("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")); got != "Debian GNU/Linux 12 (bookworm)" {
		t.Errorf("osRelease = %q", got)
	}
	if got := statusKiB([]byte("VmPeak:\t  100 kB\nVmHWM:\t   2048 kB\n"), "VmHWM:"); got != 2048<<10 {
		t.Errorf("statusKiB = %d", got)
	}
	m := ReadMachine()
	if m.Cores < 1 || m.GoVersion == "" || m.OS == "" {
		t.Errorf("ReadMachine() = %+v: cores, Go version and OS are always known", m)
	}
}

func TestListeningInodes(t *testing.T) {
	table := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1075 1 0000000019e248e2 100 0 0 10 0
   1: 0100007F:B1B7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 234752 2 000000006d13436a 100 0 0 10 0
   2: 0100007F:B1B7 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 999 2 000000006d13436a 100 0 0 10 0
`)
	got := listeningInodes(table)
	if len(got) != 2 || len(got[2024]) != 1 || got[2024][0] != "1075" || len(got[45495]) != 1 || got[45495][0] != "234752" {
		t.Errorf("listeningInodes = %v: want 2024 -> 1075 and 45495 -> 234752 (the established socket left out)", got)
	}
}

package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConcurrency(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(pid int, s int, kind, part string) ActionEvent {
		return ActionEvent{PID: pid, At: at(s), Kind: kind, Action: "configure-partition", Partition: part, Version: 1}
	}
	tests := []struct {
		name       string
		events     []ActionEvent
		most       int
		inProgress int
	}{
		{"none", nil, 0, 0},
		{"one after the other", []ActionEvent{ev(1, 0, "start", "p0"), ev(1, 1, "end", "p0"), ev(1, 1, "start", "p1"), ev(1, 2, "end", "p1")}, 1, 0},
		{"overlapping, two processes", []ActionEvent{ev(1, 0, "start", "p0"), ev(2, 1, "start", "p1"), ev(1, 2, "end", "p0"), ev(2, 3, "end", "p1")}, 2, 0},
		{"overlapping, one process", []ActionEvent{ev(1, 0, "start", "p0"), ev(1, 1, "start", "p1"), ev(1, 2, "end", "p1"), ev(1, 3, "end", "p0")}, 2, 0},
		{"in progress", []ActionEvent{ev(1, 0, "start", "p0"), ev(1, 1, "end", "p0"), ev(1, 2, "start", "p1")}, 1, 1},
		{"an end whose start rotated away", []ActionEvent{ev(1, 0, "end", "p0"), ev(1, 1, "start", "p1"), ev(1, 2, "end", "p1")}, 1, 0},
		{"software work does not count", []ActionEvent{{PID: 1, At: at(0), Kind: "start", Action: "remove-software", URL: "u"}, ev(1, 0, "start", "p0")}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			most, open := concurrency(tt.events)
			if most != tt.most || len(open) != tt.inProgress {
				t.Errorf("concurrency = %d, %d in progress; want %d, %d", most, len(open), tt.most, tt.inProgress)
			}
		})
	}
}

func TestReadEventsAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), EventsFile)
	line := func(seq int) string {
		return `{"pid":1,"seq":1,"at":"2026-03-01T12:00:0` + string(rune('0'+seq)) + `Z","kind":"start","action":"stop-partition","partition":"p"}` + "\n"
	}
	if err := os.WriteFile(path+".1", []byte(line(1)+line(2)+"not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(line(3)+line(4)), 0o644); err != nil {
		t.Fatal(err)
	}
	evs, err := readEvents(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].At.Second() != 2 || evs[2].At.Second() != 4 {
		t.Errorf("events = %+v, want the last 3, oldest first", evs)
	}
	if err := appendFile(path, []byte(strings.Repeat("x", eventsMaxBytes+1))); err != nil {
		t.Fatal(err)
	}
	if err := appendFile(path, []byte(line(5))); err != nil {
		t.Fatal(err)
	}
	// The file rotated before the last line: the one before it (1, 2) is
	// gone, the rotated one keeps 3 and 4 (and the long line, skipped).
	evs, err = readEvents(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].At.Second() != 3 || evs[2].At.Second() != 5 {
		t.Errorf("after a rotation: events = %+v, want 3, 4 and 5", evs)
	}
}

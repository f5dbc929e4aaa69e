package usage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/nodeagent/netacct"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func quantities(ms []account.JournalMovement) map[string]float64 {
	out := map[string]float64{}
	for _, m := range ms {
		out[m.Resource] += m.Quantity
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestMeterIntegrates(t *testing.T) {
	m, err := OpenMeter(filepath.Join(t.TempDir(), "meter.json"), t0)
	if err != nil {
		t.Fatal(err)
	}
	const mib = 1 << 20
	m.Sample(t0, map[string]Measurement{"slappart1": {CPU: 10 * time.Second, RSS: 100 * mib}})
	m.SampleDisk(t0, map[string]int64{"slappart1": 1 << 30})
	m.Sample(t0.Add(time.Hour), map[string]Measurement{"slappart1": {CPU: 40 * time.Second, RSS: 200 * mib}, "slappart2": {CPU: 5 * time.Second, RSS: 50 * mib}})
	m.SampleDisk(t0.Add(12*time.Hour), map[string]int64{"slappart1": 2 << 30})
	// slappart2's processes were restarted: its reading fell.
	m.Sample(t0.Add(2*time.Hour), map[string]Measurement{"slappart1": {CPU: 40 * time.Second, RSS: 200 * mib}, "slappart2": {CPU: 2 * time.Second, RSS: 50 * mib}})
	// slappart2 stopped: absent from the next reading.
	m.Sample(t0.Add(3*time.Hour), map[string]Measurement{"slappart1": {CPU: 70 * time.Second, RSS: 200 * mib}})

	got := m.Movements(t0.Add(24 * time.Hour))
	tests := []struct {
		part, resource string
		want           float64
	}{
		{"slappart1", account.ResourceCPUTime, 60},              // 40-10 + 0 + 70-40
		{"slappart1", account.ResourceMemoryUsed, 100 + 200*23}, // 100 MiB for 1h, then 200 MiB held to the end
		{"slappart1", account.ResourceDiskUsed, 0.5 + 1},        // 1 GiB for 12h, 2 GiB for 12h
		{"slappart2", account.ResourceCPUTime, 2},               // baseline, then a restart counted from 0
		{"slappart2", account.ResourceMemoryUsed, 50 * 2},       // from its first sample to its absence
	}
	for _, tc := range tests {
		if q := quantities(got[tc.part])[tc.resource]; !near(q, tc.want) {
			t.Errorf("%s %s = %v, want %v", tc.part, tc.resource, q, tc.want)
		}
	}
	if _, ok := quantities(got["slappart2"])[account.ResourceDiskUsed]; ok {
		t.Error("slappart2 has no disk sample: no disk movement expected")
	}
	for _, ms := range got {
		for _, mv := range ms {
			if mv.Title == "" {
				t.Errorf("movement %s has no title", mv.Resource)
			}
		}
	}
	// Persisted and reloaded, the meter gives the same figures.
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenMeter(m.path, t0.Add(99*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if g2 := again.Movements(t0.Add(24 * time.Hour)); fmt.Sprint(g2) != fmt.Sprint(got) {
		t.Fatalf("reloaded meter differs:\n%v\n%v", g2, got)
	}
	// A new period keeps the last readings but no integral.
	m.reset(t0.Add(24 * time.Hour))
	if _, ok := m.st.Partitions["slappart2"]; ok {
		t.Error("a partition running nothing and without disk should be forgotten at reset")
	}
	next := m.Movements(t0.Add(25 * time.Hour))
	if q := quantities(next["slappart1"]); !near(q[account.ResourceMemoryUsed], 200) || q[account.ResourceCPUTime] != 0 {
		t.Errorf("after reset: %v", q)
	}
}

// spoolFixture makes a reporter and two partitions with report files.
func spoolFixture(t *testing.T) (*Reporter, []Partition) {
	t.Helper()
	root := t.TempDir()
	r, err := NewReporter(filepath.Join(root, ".slapgo", "usage"), "COMP-7", t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	var parts []Partition
	for _, id := range []string{"slappart10", "slappart2"} {
		dir := filepath.Join(root, id)
		os.MkdirAll(filepath.Join(dir, "var", "xml_report"), 0o755)
		parts = append(parts, Partition{ID: id, Dir: dir})
	}
	good, err := os.ReadFile("../../fixtures/usage/consumption.xml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(parts[1].Dir, "var", "xml_report", "daily.xml"), good, 0o644)
	os.WriteFile(filepath.Join(parts[0].Dir, "var", "xml_report", "bad.xml"), []byte("<consumption><movement>"), 0o644)
	os.WriteFile(filepath.Join(parts[0].Dir, "var", "xml_report", "notes.txt"), []byte("ignored"), 0o644)
	r.Meter.Sample(t0, map[string]Measurement{"slappart10": {CPU: time.Second, RSS: 1 << 20}})
	r.Meter.Sample(t0.Add(time.Hour), map[string]Measurement{"slappart10": {CPU: 3 * time.Second, RSS: 1 << 20}})
	return r, parts
}

// master is what the spool posts to in these tests: it decodes like the
// real master and can be made unreachable.
type master struct {
	down     bool
	received map[string]int // journal reference -> times posted
	journals []account.Journal
}

func (m *master) post(_ context.Context, data []byte) error {
	if m.down {
		return errors.New("connection refused")
	}
	j, err := account.DecodeJournal(data)
	if err != nil {
		return err
	}
	start, stop, _ := j.Transactions[0].Period()
	m.received[account.JournalRef(j.Transactions[0].Reference, start, stop)]++
	m.journals = append(m.journals, j)
	return nil
}

func TestReportSpoolsBeforePosting(t *testing.T) {
	r, parts := spoolFixture(t)
	ms := &master{down: true, received: map[string]int{}}
	res, err := r.Report(context.Background(), t0.Add(24*time.Hour), parts, ms.post)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Report with the master down: %v", err)
	}
	period := PeriodName(t0, t0.Add(24*time.Hour))
	if res.Period != period || !slices.Equal(res.Pending, []string{period}) || len(res.Sent) != 0 {
		t.Fatalf("result: %+v", res)
	}
	if len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0], "slappart10/var/xml_report/bad.xml") {
		t.Fatalf("rejected: %v", res.Rejected)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "rejected", "slappart10-bad.xml.why")); err != nil {
		t.Fatalf("rejected file not kept with its reason: %v", err)
	}
	// Reports were consumed: a second period does not count them again.
	if _, err := os.Stat(filepath.Join(parts[1].Dir, "var", "xml_report", "daily.xml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("report file left in the partition: %v", err)
	}
	if _, err := os.Stat(filepath.Join(parts[0].Dir, "var", "xml_report", "notes.txt")); err != nil {
		t.Fatal("a file that is not a report was moved")
	}

	// The master comes back: the next Report posts both periods, in order.
	ms.down = false
	res, err = r.Report(context.Background(), t0.Add(48*time.Hour), parts, ms.post)
	if err != nil {
		t.Fatal(err)
	}
	second := PeriodName(t0.Add(24*time.Hour), t0.Add(48*time.Hour))
	if !slices.Equal(res.Sent, []string{period, second}) || len(res.Pending) != 0 {
		t.Fatalf("second report: %+v", res)
	}
	if len(ms.journals) != 2 {
		t.Fatalf("master received %d journals", len(ms.journals))
	}
	first := ms.journals[0].Transactions[0]
	var got []string
	for _, m := range first.Movements {
		got = append(got, fmt.Sprintf("%s %s %g", m.Reference, m.Resource, m.Quantity))
	}
	want := []string{
		"slappart2 requests_served 1.25e+06",
		"slappart2 cpu_time 5400",
		"slappart10 cpu_time 2",
		"slappart10 memory_used 24",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("first journal movements:\n%v\nwant\n%v", got, want)
	}
	if first.Reference != "COMP-7" || first.StartDate != "2026-03-01T00:00:00Z" || first.StopDate != "2026-03-02T00:00:00Z" {
		t.Fatalf("first journal header: %+v", first)
	}
	for _, m := range ms.journals[1].Transactions[0].Movements {
		if m.Resource != account.ResourceMemoryUsed || m.Reference != "slappart10" {
			t.Errorf("second period counts %s of %s again", m.Resource, m.Reference)
		}
	}
	// Nothing sent twice.
	for ref, n := range ms.received {
		if n != 1 {
			t.Errorf("journal %s posted %d times", ref, n)
		}
	}
	if sent, pending, err := r.Flush(context.Background(), ms.post); err != nil || len(sent)+len(pending) != 0 {
		t.Fatalf("Flush with nothing pending: %v %v %v", sent, pending, err)
	}
}

func TestReportRecoversFromCrashAfterSpooling(t *testing.T) {
	r, parts := spoolFixture(t)
	stop := t0.Add(24 * time.Hour)
	period := PeriodName(t0, stop)
	// Simulate a crash right after the journal was written: the meter says
	// the period is in flight, staged files are still there.
	if err := r.stage(parts[1]); err != nil {
		t.Fatal(err)
	}
	r.Meter.st.InFlight = period
	if err := r.Meter.Save(); err != nil {
		t.Fatal(err)
	}
	if err := writeFileSync(filepath.Join(r.Dir, "pending", period+".xml"), []byte("<journal/>"), 0o600); err != nil {
		t.Fatal(err)
	}
	reopened, err := NewReporter(r.Dir, "COMP-7", stop.Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	ms := &master{down: true, received: map[string]int{}}
	res, _ := reopened.Report(context.Background(), stop.Add(2*time.Hour), nil, ms.post)
	// The new period starts where the crashed one stopped and holds
	// neither the staged report nor the meter's movements again.
	newPeriod := PeriodName(stop, stop.Add(2*time.Hour))
	if res.Period != newPeriod || res.Movements != 1 {
		t.Fatalf("after recovery: %+v (want period %s with slappart10's memory only)", res, newPeriod)
	}
	if !slices.Equal(res.Pending, []string{period, newPeriod}) {
		t.Fatalf("pending: %v", res.Pending)
	}
}

func TestReportWithoutPostIsNotLost(t *testing.T) {
	r, parts := spoolFixture(t)
	if _, err := r.Report(context.Background(), t0, parts, (&master{received: map[string]int{}}).post); err == nil {
		t.Fatal("a period of zero length was reported")
	}
}

func TestMeasureRealProcesses(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"etc/service"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	// A service that burns CPU in a child for a moment, then sleeps.
	script := "#!/bin/sh\nsh -c 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done'\ntouch \"$HOME/burnt\"\nexec sleep 1000\n"
	os.WriteFile(filepath.Join(dir, "etc", "service", "burner"), []byte(script), 0o755)
	sup := supervisor.New(supervisor.Options{Grace: time.Second})
	t.Cleanup(sup.Close)
	if err := sup.Start(supervisor.Group{ID: "slappart0", Dir: dir}); err != nil {
		t.Fatal(err)
	}
	parts := []Partition{{ID: "slappart0", Dir: dir}, {ID: "slappart1", Dir: t.TempDir()}}
	var m map[string]Measurement
	deadline := time.Now().Add(20 * time.Second)
	for {
		var err error
		if m, err = Measure(parts, sup.ExitedCPU); err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(filepath.Join(dir, "burnt"))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m["slappart0"].CPU <= 0 || m["slappart0"].RSS <= 0 {
		t.Fatalf("measurement of a running partition: %+v", m["slappart0"])
	}
	if m["slappart1"] != (Measurement{}) {
		t.Fatalf("idle partition measured %+v", m["slappart1"])
	}
	before := m["slappart0"].CPU
	sup.Stop("slappart0")
	if sup.ExitedCPU("slappart0") <= 0 {
		t.Fatal("exited CPU time not accounted after Stop")
	}
	after, _ := Measure(parts, sup.ExitedCPU)
	if after["slappart0"].CPU < before || after["slappart0"].RSS != 0 {
		t.Fatalf("after stop: %+v (before %s): the cumulative CPU must not fall", after["slappart0"], before)
	}
}

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i)
	}
	os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "b", "blob"), data, 0o644)
	os.Link(filepath.Join(dir, "a", "b", "blob"), filepath.Join(dir, "hardlink"))
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "big"), append(data, data...), 0o644)
	os.Symlink(outside, filepath.Join(dir, "software_release"))
	exec.Command("sync").Run()
	got, err := DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got < 1<<20 || got > 1<<20+64<<10 {
		t.Fatalf("DiskUsage = %d bytes, want about 1 MiB (hard link once, symlink not followed)", got)
	}
	if _, err := DiskUsage(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("missing directory: %v", err)
	}
}

func TestMeterNetwork(t *testing.T) {
	dir := t.TempDir()
	r, err := NewReporter(dir, "COMP-N", t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := r.Meter
	m.Sample(t0, map[string]Measurement{"slappart0": {CPU: time.Second, RSS: 1 << 20}})
	// Two netacct periods, as the agent adds them at each sample.
	first := map[string]netacct.Counts{
		"slappart0": {InBytes: 1500, OutBytes: 60, InPackets: 1, OutPackets: 1},
		"slappart1": {InBytes: 40},
		"slappart2": {}, // owns an address, counted nothing
	}
	second := map[string]netacct.Counts{
		"slappart0": {InBytes: 1 << 40, OutBytes: 7},
		"slappart1": {OutBytes: 1 << 20},
	}
	m.AddNetwork(first)
	m.AddNetwork(second)
	m.AddNetwork(nil)
	if _, ok := m.st.Partitions["slappart2"]; ok {
		t.Error("a partition with no traffic was given a meter")
	}
	want := map[string]map[string]float64{
		"slappart0": {account.ResourceNetworkInBytes: 1500 + 1<<40, account.ResourceNetworkOutBytes: 67},
		"slappart1": {account.ResourceNetworkInBytes: 40, account.ResourceNetworkOutBytes: 1 << 20},
	}
	check := func(what string, got map[string][]account.JournalMovement) {
		t.Helper()
		for _, id := range []string{"slappart0", "slappart1"} {
			q := quantities(got[id])
			for res, w := range want[id] {
				if q[res] != w {
					t.Errorf("%s: %s %s = %v, want %v", what, id, res, q[res], w)
				}
			}
		}
		if _, ok := got["slappart2"]; ok {
			t.Errorf("%s: movements for a partition with no traffic: %v", what, got["slappart2"])
		}
	}
	got := m.Movements(t0.Add(time.Hour))
	check("before saving", got)
	// Same resources and titles as netacct.Movements writes for the same
	// counts, after the measured ones.
	sum := map[string]netacct.Counts{}
	for _, p := range []map[string]netacct.Counts{first, second} {
		for id, c := range p {
			sum[id] = sum[id].Add(c)
		}
	}
	direct := netacct.Movements(sum)
	if g := got["slappart1"]; fmt.Sprint(g) != fmt.Sprint(direct["slappart1"]) {
		t.Errorf("slappart1 movements %v, netacct.Movements gives %v", g, direct["slappart1"])
	}
	if g := got["slappart0"]; len(g) < 2 || fmt.Sprint(g[len(g)-2:]) != fmt.Sprint(direct["slappart0"]) {
		t.Errorf("slappart0 movements %v do not end with %v", g, direct["slappart0"])
	}

	// Persisted: a restarted agent reports the same bytes.
	if err := m.Save(); err != nil {
		t.Fatal(err)
	}
	again, err := OpenMeter(m.path, t0.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	check("after reopening", again.Movements(t0.Add(time.Hour)))
	again.AddNetwork(map[string]netacct.Counts{"slappart1": {InBytes: 2}})
	want["slappart1"][account.ResourceNetworkInBytes] = 42
	check("after reopening and adding", again.Movements(t0.Add(time.Hour)))

	// The journal carries them, and the next period starts from zero.
	r.Meter = again
	ms := &master{received: map[string]int{}}
	if _, err := r.Report(context.Background(), t0.Add(24*time.Hour), nil, ms.post); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, mv := range ms.journals[0].Transactions[0].Movements {
		if strings.HasPrefix(mv.Resource, "network_") {
			lines = append(lines, fmt.Sprintf("%s %s %.0f %s", mv.Reference, mv.Resource, mv.Quantity, mv.Title))
		}
	}
	wantLines := []string{
		"slappart0 network_in_bytes 1099511629276 Network bytes received",
		"slappart0 network_out_bytes 67 Network bytes sent",
		"slappart1 network_in_bytes 42 Network bytes received",
		"slappart1 network_out_bytes 1048576 Network bytes sent",
	}
	if !slices.Equal(lines, wantLines) {
		t.Fatalf("journal network movements:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(wantLines, "\n"))
	}
	for id, ms := range again.Movements(t0.Add(25 * time.Hour)) {
		for _, mv := range ms {
			if strings.HasPrefix(mv.Resource, "network_") {
				t.Errorf("after the report, %s still has %s %v", id, mv.Resource, mv.Quantity)
			}
		}
	}
	if _, ok := again.st.Partitions["slappart1"]; ok {
		t.Error("a partition with only traffic should be forgotten when its period is reported")
	}
	reopened, err := OpenMeter(m.path, t0)
	if err != nil {
		t.Fatal(err)
	}
	if pm := reopened.st.Partitions["slappart0"]; pm == nil || pm.NetInBytes != 0 || pm.NetOutBytes != 0 {
		t.Fatalf("saved meter after the report: %+v", pm)
	}
}

package usage

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/nodeagent/netacct"
)

// Meter integrates the measurements of partitions over a period. It is
// safe for concurrent use; Save persists it.
type Meter struct {
	path string
	mu   sync.Mutex
	st   meterState
}

type meterState struct {
	PeriodStart time.Time `json:"period_start"`
	// InFlight is the name of the period whose journal is being written;
	// see doc.go.
	InFlight   string                     `json:"in_flight,omitempty"`
	Partitions map[string]*partitionMeter `json:"partitions"`
}

type partitionMeter struct {
	CPUReading  float64   `json:"cpu_reading"` // cumulative seconds at the last sample
	CPUSeconds  float64   `json:"cpu_seconds"` // this period
	RSSMiB      float64   `json:"rss_mib"`     // last sample
	MemAt       time.Time `json:"mem_at,omitzero"`
	MemMiBHours float64   `json:"mem_mib_hours"` // this period, up to MemAt
	DiskGiB     float64   `json:"disk_gib"`
	DiskAt      time.Time `json:"disk_at,omitzero"`
	DiskGiBDays float64   `json:"disk_gib_days"` // this period, up to DiskAt
	// Network bytes received and sent this period (netacct.Counts).
	NetInBytes  uint64 `json:"net_in_bytes,omitempty"`
	NetOutBytes uint64 `json:"net_out_bytes,omitempty"`
}

// OpenMeter loads the meter stored at path, or starts one whose period
// begins at now.
func OpenMeter(path string, now time.Time) (*Meter, error) {
	m := &Meter{path: path, st: meterState{PeriodStart: now.UTC(), Partitions: map[string]*partitionMeter{}}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	if err := json.Unmarshal(data, &m.st); err != nil {
		return nil, fmt.Errorf("usage: %s: %w (remove it to start a new period)", path, err)
	}
	if m.st.Partitions == nil {
		m.st.Partitions = map[string]*partitionMeter{}
	}
	return m, nil
}

// PeriodStart is when the current period began.
func (m *Meter) PeriodStart() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.PeriodStart
}

func (m *Meter) get(id string) *partitionMeter {
	pm := m.st.Partitions[id]
	if pm == nil {
		pm = &partitionMeter{}
		m.st.Partitions[id] = pm
	}
	return pm
}

// Sample records a reading of processes taken at now. Partitions the
// meter knows but the reading omits are counted as running nothing from
// now on. A partition's first sample only sets its baseline.
func (m *Meter) Sample(now time.Time, ms map[string]Measurement) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, pm := range m.st.Partitions {
		if _, ok := ms[id]; !ok && !pm.MemAt.IsZero() {
			pm.MemMiBHours += pm.RSSMiB * hoursBetween(pm.MemAt, now)
			pm.RSSMiB, pm.MemAt = 0, now
		}
	}
	for id, me := range ms {
		pm := m.get(id)
		cpu := me.CPU.Seconds()
		if !pm.MemAt.IsZero() {
			if cpu >= pm.CPUReading {
				pm.CPUSeconds += cpu - pm.CPUReading
			} else {
				pm.CPUSeconds += cpu // the processes were restarted: a new count
			}
			pm.MemMiBHours += pm.RSSMiB * hoursBetween(pm.MemAt, now)
		}
		pm.CPUReading = cpu
		pm.RSSMiB = float64(me.RSS) / (1 << 20)
		pm.MemAt = now
	}
}

// SampleDisk records the disk usage (bytes) of partitions at now.
func (m *Meter) SampleDisk(now time.Time, bytes map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, b := range bytes {
		pm := m.get(id)
		if !pm.DiskAt.IsZero() {
			pm.DiskGiBDays += pm.DiskGiB * hoursBetween(pm.DiskAt, now) / 24
		}
		pm.DiskGiB = float64(b) / (1 << 30)
		pm.DiskAt = now
	}
}

// AddNetwork adds the network traffic of partitions (the counts of a
// netacct.Counter period: Counter.EndPeriod) to the period's totals.
// Partitions with nothing counted are left out. NB: counts added while a
// Report runs may be lost (the period is cut after its movements are
// read): serialise AddNetwork with Report, as with Sample.
func (m *Meter) AddNetwork(counts map[string]netacct.Counts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, c := range counts {
		if c.InBytes == 0 && c.OutBytes == 0 {
			continue
		}
		pm := m.get(id)
		pm.NetInBytes += c.InBytes
		pm.NetOutBytes += c.OutBytes
	}
}

func hoursBetween(a, b time.Time) float64 {
	if !b.After(a) {
		return 0
	}
	return b.Sub(a).Hours()
}

// Resource titles written in journals.
var titles = map[string]string{
	account.ResourceCPUTime:    "CPU time",
	account.ResourceMemoryUsed: "Memory used",
	account.ResourceDiskUsed:   "Disk used",
	// network_in_bytes and network_out_bytes: netacct.Movements writes them.
}

// Movements returns the measured movements of the period up to now, per
// partition (the last sample of each value held until now): cpu_time,
// memory_used, disk_used, network_in_bytes, network_out_bytes, in that
// order; quantities that are zero are left out. Byte counts are exact up
// to 2^53 per partition and period.
func (m *Meter) Movements(now time.Time) map[string][]account.JournalMovement {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]account.JournalMovement{}
	for _, id := range slices.Sorted(maps.Keys(m.st.Partitions)) {
		pm := m.st.Partitions[id]
		mem := pm.MemMiBHours
		if !pm.MemAt.IsZero() {
			mem += pm.RSSMiB * hoursBetween(pm.MemAt, now)
		}
		disk := pm.DiskGiBDays
		if !pm.DiskAt.IsZero() {
			disk += pm.DiskGiB * hoursBetween(pm.DiskAt, now) / 24
		}
		for _, q := range []struct {
			resource string
			v        float64
		}{{account.ResourceCPUTime, pm.CPUSeconds}, {account.ResourceMemoryUsed, mem}, {account.ResourceDiskUsed, disk}} {
			v := math.Round(q.v*1e6) / 1e6
			if v > 0 {
				out[id] = append(out[id], account.JournalMovement{Resource: q.resource, Title: titles[q.resource], Quantity: v})
			}
		}
		net := netacct.Movements(map[string]netacct.Counts{id: {InBytes: pm.NetInBytes, OutBytes: pm.NetOutBytes}})
		out[id] = append(out[id], net[id]...)
	}
	return out
}

// reset starts a new period at now: integrals and network totals are
// zeroed, readings kept (the last values hold from now), partitions
// running nothing forgotten.
func (m *Meter) reset(now time.Time) {
	m.st.PeriodStart = now
	m.st.InFlight = ""
	for id, pm := range m.st.Partitions {
		if pm.RSSMiB == 0 && pm.DiskGiB == 0 {
			delete(m.st.Partitions, id)
			continue
		}
		pm.CPUSeconds, pm.MemMiBHours, pm.DiskGiBDays = 0, 0, 0
		pm.NetInBytes, pm.NetOutBytes = 0, 0
		if !pm.MemAt.IsZero() {
			pm.MemAt = now
		}
		if !pm.DiskAt.IsZero() {
			pm.DiskAt = now
		}
	}
}

// Save writes the meter to its file (atomically).
func (m *Meter) Save() error {
	m.mu.Lock()
	data, err := json.MarshalIndent(m.st, "", "  ")
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	return writeFileSync(m.path, data, 0o600)
}

// writeFileSync writes data to path through a synced temporary file and a
// rename, then syncs the directory: after it returns, the file survives a
// crash whole or not at all.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("usage: writing %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("usage: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("usage: syncing %s: %w", dir, err)
	}
	return nil
}

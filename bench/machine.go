package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/slapgo/slapgo/internal/hugepages"
)

// Machine is what a figure was measured on: every report states it first,
// so that figures from two machines are never compared unknowingly.
type Machine struct {
	Cores       int    `json:"cores"`        // logical CPUs the process may use
	CPUModel    string `json:"cpu_model"`    // /proc/cpuinfo "model name"
	MemoryBytes int64  `json:"memory_bytes"` // /proc/meminfo MemTotal
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`     // GOOS/GOARCH
	Kernel      string `json:"kernel"` // /proc/sys/kernel/osrelease
	Distro      string `json:"distro,omitempty"`
	// HugePages is the system's transparent huge page setting (always,
	// madvise, never): where it is madvise, the simulator asks for them
	// and its page faults, a large share of its CPU on some VMs, drop
	// tenfold; elsewhere it cannot.
	HugePages string `json:"transparent_huge_pages,omitempty"`
	// LoadAverage is the 1-minute load average when the report began: on
	// a shared machine, what else was running.
	LoadAverage float64 `json:"load_average"`
}

// ReadMachine describes the machine it runs on from /proc and the Go
// runtime. A field it cannot read stays empty: the description is
// informative, never a reason to fail a benchmark.
func ReadMachine() Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = cpuModel(data)
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryBytes = memTotal(data)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		m.Distro = osRelease(data)
	}
	m.HugePages = hugepages.Mode()
	m.LoadAverage = loadAverage()
	return m
}

// loadAverage is the 1-minute load average of /proc/loadavg (0 when it
// cannot be read).
func loadAverage() float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	l, _ := strconv.ParseFloat(f[0], 64)
	return l
}

// String is the one-line description printed above every table.
func (m Machine) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d cores", m.Cores)
	if m.CPUModel != "" {
		fmt.Fprintf(&b, " (%s)", m.CPUModel)
	}
	if m.MemoryBytes > 0 {
		fmt.Fprintf(&b, ", %.1f GiB memory", float64(m.MemoryBytes)/(1<<30))
	}
	fmt.Fprintf(&b, ", %s, %s", m.GoVersion, m.OS)
	if m.Kernel != "" {
		fmt.Fprintf(&b, ", Linux %s", m.Kernel)
	}
	if m.Distro != "" {
		fmt.Fprintf(&b, " (%s)", m.Distro)
	}
	if m.HugePages != "" {
		fmt.Fprintf(&b, ", transparent huge pages %s", m.HugePages)
	}
	fmt.Fprintf(&b, "; load average %.2f at start", m.LoadAverage)
	return b.String()
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memTotal returns MemTotal of /proc/meminfo in bytes.
func memTotal(meminfo []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}

// osRelease returns PRETTY_NAME of /etc/os-release.
func osRelease(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return ""
}

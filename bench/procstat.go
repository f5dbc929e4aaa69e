package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcSample is a process's CPU time and memory at one moment, from
// /proc/<pid>/stat and /proc/<pid>/status.
type ProcSample struct {
	At      time.Time
	CPU     time.Duration // user + system
	RSS     int64         // resident set size, bytes
	PeakRSS int64         // VmHWM: the highest RSS so far, bytes
}

// clockTick is the unit of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// SampleProc reads a process's CPU time and memory.
func SampleProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("bench: reading the stat of process %d: %w", pid, err)
	}
	// Fields after "(comm)", numbered from 3 (state) as in proc(5).
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return s, fmt.Errorf("bench: /proc/%d/stat: no (comm) field", pid)
	}
	f := strings.Fields(string(data[end+1:]))
	field := func(n int) (int64, error) {
		if n-3 >= len(f) {
			return 0, fmt.Errorf("bench: /proc/%d/stat has %d fields, expected at least %d", pid, len(f)+2, n)
		}
		return strconv.ParseInt(f[n-3], 10, 64)
	}
	utime, err1 := field(14)
	stime, err2 := field(15)
	rss, err3 := field(24)
	if err1 != nil || err2 != nil || err3 != nil {
		return s, fmt.Errorf("bench: /proc/%d/stat: unreadable times or rss", pid)
	}
	s.CPU = time.Duration(utime+stime) * clockTick
	s.RSS = rss * int64(os.Getpagesize())
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		s.PeakRSS = statusKiB(status, "VmHWM:")
	}
	return s, nil
}

// statusKiB reads a "Key:   123 kB" line of /proc/<pid>/status, in bytes.
func statusKiB(status []byte, key string) int64 {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key); ok {
			fs := strings.Fields(v)
			if len(fs) > 0 {
				n, err := strconv.ParseInt(fs[0], 10, 64)
				if err == nil {
					return n << 10
				}
			}
		}
	}
	return 0
}

// CPUCores is the CPU used between two samples, in cores (1.0 = one core
// busy all the time).
func CPUCores(from, to ProcSample) float64 {
	wall := to.At.Sub(from.At)
	if wall <= 0 {
		return 0
	}
	return float64(to.CPU-from.CPU) / float64(wall)
}

// ListenerPID finds the local process listening on the TCP port of addr
// (host:port), from /proc/net/tcp{,6} and the processes' open sockets:
// the bench then measures a master it did not start. It answers 0 when
// the port is not listened on here or the process cannot be read (another
// user's, without privileges).
func ListenerPID(addr string) int {
	_, portText, ok := strings.Cut(addr[strings.LastIndex(addr, "]")+1:], ":")
	port, err := strconv.ParseUint(portText, 10, 16)
	if !ok || err != nil {
		return 0
	}
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for k, v := range listeningInodes(data) {
			if k == uint16(port) {
				for _, ino := range v {
					inodes[ino] = true
				}
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if ino, ok := strings.CutPrefix(link, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(ino, "]")] {
				return pid
			}
		}
	}
	return 0
}

// listeningInodes reads a /proc/net/tcp table: the socket inodes in the
// LISTEN state (0A) by local port.
func listeningInodes(table []byte) map[uint16][]string {
	out := map[uint16][]string{}
	sc := bufio.NewScanner(bytes.NewReader(table))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, portHex, ok := strings.Cut(f[1], ":")
		port, err := strconv.ParseUint(portHex, 16, 16)
		if !ok || err != nil {
			continue
		}
		out[uint16(port)] = append(out[uint16(port)], f[9])
	}
	return out
}

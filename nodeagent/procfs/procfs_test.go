package procfs

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Stat
		bad  bool
	}{
		{
			name: "comm with spaces and parens",
			line: "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 10 5 20 0 1 0 123456 1000000 300 18446744073709551615\n",
			want: Stat{PID: 4242, State: 'S', PPID: 1, PGID: 4242, CPU: 3 * time.Second, ChildrenCPU: 150 * time.Millisecond, StartTime: 123456, RSS: 300 * pageSize},
		},
		{name: "truncated", line: "1 (init) S 0 1", bad: true},
		{name: "no comm", line: "1 init S 0 1 1", bad: true},
		{name: "bad number", line: "1 (x) S 0 z 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 7", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tc.line))
			if tc.bad {
				if err == nil {
					t.Fatalf("accepted %q: %+v", tc.line, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadStatLiveProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Right after exec the new image may not have touched a page yet.
	var st Stat
	for deadline := time.Now().Add(5 * time.Second); ; {
		var err error
		if st, err = ReadStat(pid); err != nil {
			t.Fatal(err)
		}
		if st.RSS > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st.PID != pid || st.PGID != pid || st.PPID != os.Getpid() || st.StartTime == 0 || st.RSS <= 0 {
		t.Fatalf("stat of the child: %+v (pid %d, parent %d)", st, pid, os.Getpid())
	}
	all, err := Scan()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range all {
		found = found || s.PID == pid
	}
	if !found {
		t.Fatalf("Scan did not list %d among %d processes", pid, len(all))
	}
	if uid, err := UID(pid); err != nil || uid != os.Getuid() {
		t.Fatalf("UID = %d, %v; want %d", uid, err, os.Getuid())
	}
	if !GroupAlive(pid) {
		t.Fatal("GroupAlive: false for a running group")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if GroupAlive(pid) {
		t.Fatal("GroupAlive: true for a reaped group")
	}
	if _, err := ReadStat(pid); !errors.Is(err, ErrNoProcess) {
		t.Fatalf("stat of a reaped process: %v", err)
	}
}

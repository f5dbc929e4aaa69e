package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/master/api"
)

// EnvHAKills sets how many leaders TestLeaderKilledUnderLoad kills
// (default 3; the take-over benchmark kills 20).
const EnvHAKills = "SLAPGO_HA_KILLS"

// freeAddrs reserves n loopback addresses (a master killed comes back on
// its own, which its clients know).
func freeAddrs(t testing.TB, n int) []string {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		noErr(t, err)
		out = append(out, ln.Addr().String())
		ln.Close()
	}
	return out
}

// killLoop runs three masters (processes) on one PostgreSQL database under
// a request load, SIGKILLs the leader kills times (bringing each back as a
// follower), and checks that every acknowledged request is present once
// and nothing was applied twice. It returns the take-over times: from the
// SIGKILL to another master answering as the leader.
func killLoop(t testing.TB, kills int) []time.Duration {
	pg := pgtest.Start(t)
	bin := buildBinary(t)
	const masters = 3
	dirs, url := initPostgresGrid(t, pg, masters)
	addrs := freeAddrs(t, masters)
	urls := make([]string, masters)
	procs := make([]*masterProcess, masters)
	for i := range masters {
		urls[i] = "https://" + addrs[i]
		procs[i] = startProcess(t, bin, dirs[i], "--store", url, "--listen", addrs[i])
	}
	probes := make([]*api.Client, masters)
	for i := range masters {
		probes[i] = adminClient(t, dirs[0], urls[i])
		probes[i].HTTP.Timeout = time.Second
	}
	leader := func() int {
		for i, p := range probes {
			if role(t, p) == "leader" {
				return i
			}
		}
		return -1
	}
	waitFor(t, "a master leads", 20*time.Second, func() bool { return leader() >= 0 })
	ctx := context.Background()
	admin := adminClient(t, dirs[0], urls...)
	res, err := admin.AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)
	alice := clientFor(t, res.Credentials, urls...)
	alice.HTTP.Timeout = 10 * time.Second

	// The load: writers request instances of unique titles; a request
	// without an answer is sent again (requests are idempotent) until
	// one is acknowledged.
	var mu sync.Mutex
	acked := map[string]string{} // title -> guid
	retries := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				title := fmt.Sprintf("w%d-%d", w, i)
				for {
					select {
					case <-stop:
						return
					default:
					}
					inst, err := alice.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL})
					if err == nil {
						mu.Lock()
						acked[title] = inst.GUID
						mu.Unlock()
						break
					}
					mu.Lock()
					retries++
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	var takeovers []time.Duration
	for k := range kills {
		before := count()
		waitFor(t, "requests acknowledged before the kill", 30*time.Second, func() bool { return count() >= before+20 })
		l := leader()
		if l < 0 {
			t.Fatalf("kill %d: no leader", k)
		}
		start := time.Now()
		procs[l].kill(t)
		next := -1
		waitFor(t, fmt.Sprintf("kill %d: another master leads", k), 30*time.Second, func() bool {
			for i, p := range probes {
				if i != l && role(t, p) == "leader" {
					next = i
					return true
				}
			}
			return false
		})
		takeovers = append(takeovers, time.Since(start))
		// The killed master comes back: it must follow.
		procs[l] = startProcess(t, bin, dirs[l], "--store", url, "--listen", addrs[l])
		if r := role(t, probes[l]); r != "follower" {
			t.Fatalf("kill %d: the returning master is %q, want follower (master %d leads)", k, r, next)
		}
	}
	after := count()
	waitFor(t, "requests acknowledged after the last kill", 30*time.Second, func() bool { return count() >= after+20 })
	close(stop)
	wg.Wait()

	// Every acknowledged request is there, once, with the instance it
	// was answered; instance numbers have no gap and no double.
	insts, err := alice.Instances(ctx)
	noErr(t, err)
	mu.Lock()
	defer mu.Unlock()
	checkAcknowledged(t, insts, acked, fmt.Sprintf("after %d kills", kills))
	t.Logf("%d kills, %d requests acknowledged, %d instances, %d retries of a request left unanswered", kills, len(acked), len(insts), retries)
	return takeovers
}

func TestLeaderKilledUnderLoad(t *testing.T) {
	kills := 3
	if v := os.Getenv(EnvHAKills); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: expected a number >= 1", EnvHAKills, v)
		}
		kills = n
	}
	took := killLoop(t, kills)
	t.Logf("take-over times: %s", describeDurations(took))
}

// BenchmarkTakeover kills the leader 20 times under load and reports the
// take-over time distribution (from SIGKILL to a new leader answering).
func BenchmarkTakeover(b *testing.B) {
	var all []time.Duration
	for range b.N {
		all = append(all, killLoop(b, 20)...)
	}
	sorted := slices.Clone(all)
	slices.Sort(sorted)
	q := func(p float64) time.Duration { return sorted[int(p*float64(len(sorted)-1))] }
	b.ReportMetric(q(0.5).Seconds()*1000, "p50-ms")
	b.ReportMetric(q(0.95).Seconds()*1000, "p95-ms")
	b.ReportMetric(sorted[len(sorted)-1].Seconds()*1000, "max-ms")
	b.Logf("take-over times over %d kills: %s", len(all), describeDurations(all))
}

func describeDurations(ds []time.Duration) string {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var parts []string
	for _, d := range s {
		parts = append(parts, d.Round(time.Millisecond).String())
	}
	return strings.Join(parts, " ")
}

// TestLeaderPausedIsFenced: the leader stops answering (SIGSTOP: a pause,
// or a network cut, as PostgreSQL sees it: a silent session). PostgreSQL
// ends its idle lock session, a follower takes over, and the old leader,
// resumed, commits nothing and stops; every acknowledged request is there
// once.
func TestLeaderPausedIsFenced(t *testing.T) {
	pg := pgtest.Start(t)
	bin := buildBinary(t)
	dirs, url := initPostgresGrid(t, pg, 2)
	addrs := freeAddrs(t, 2)
	urls := []string{"https://" + addrs[0], "https://" + addrs[1]}
	procs := []*masterProcess{
		startProcess(t, bin, dirs[0], "--store", url, "--listen", addrs[0]),
		startProcess(t, bin, dirs[1], "--store", url, "--listen", addrs[1]),
	}
	probes := []*api.Client{adminClient(t, dirs[0], urls[0]), adminClient(t, dirs[0], urls[1])}
	for _, p := range probes {
		p.HTTP.Timeout = time.Second
	}
	// Both start at once: either may lead.
	l := -1
	waitFor(t, "a master leads", 20*time.Second, func() bool {
		for i, p := range probes {
			if role(t, p) == "leader" {
				l = i
				return true
			}
		}
		return false
	})
	f := 1 - l
	ctx := context.Background()
	admin := adminClient(t, dirs[0], urls...)
	res, err := admin.AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)
	alice := clientFor(t, res.Credentials, urls...)
	alice.HTTP.Timeout = 2 * time.Second
	acked := map[string]string{}
	request := func(title string) {
		for deadline := time.Now().Add(60 * time.Second); ; {
			inst, err := alice.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL})
			if err == nil {
				acked[title] = inst.GUID
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("request %s: no master took it within 60s: %v", title, err)
			}
		}
	}
	for i := range 10 {
		request(fmt.Sprintf("before-%d", i))
	}
	noErr(t, procs[l].cmd.Process.Signal(syscall.SIGSTOP))
	start := time.Now()
	waitFor(t, "the other master leads", 30*time.Second, func() bool { return role(t, probes[f]) == "leader" })
	t.Logf("take-over after the leader stopped answering: %s", time.Since(start).Round(time.Millisecond))
	for i := range 10 {
		request(fmt.Sprintf("during-%d", i))
	}
	noErr(t, procs[l].cmd.Process.Signal(syscall.SIGCONT))
	select {
	case err := <-procs[l].exited:
		procs[l].exited <- err
		if err == nil {
			t.Error("the deposed leader exited 0")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the deposed leader kept running after it was resumed")
	}
	for i := range 10 {
		request(fmt.Sprintf("after-%d", i))
	}
	insts, err := alice.Instances(ctx)
	noErr(t, err)
	byTitle := map[string]string{}
	for _, in := range insts {
		if _, dup := byTitle[in.Title]; dup {
			t.Errorf("title %s has two instances", in.Title)
		}
		byTitle[in.Title] = in.GUID
	}
	for title, guid := range acked {
		if byTitle[title] != guid {
			t.Errorf("acknowledged %s (%s) is %q", title, guid, byTitle[title])
		}
	}
	if len(insts) != len(acked) {
		t.Errorf("%d instances for %d requests acknowledged", len(insts), len(acked))
	}
}

// checkAcknowledged checks what a fault test's clients were told against
// what the master holds: every acknowledged request (title: the instance
// it was answered) is there, once, with that instance, and the instance
// numbers run 1..n with no gap and no double (none applied twice or lost).
// when says at which point of the test (for the errors).
func checkAcknowledged(t testing.TB, insts []api.Instance, acked map[string]string, when string) {
	t.Helper()
	byTitle := map[string]string{}
	var nums []int
	for _, in := range insts {
		if g, dup := byTitle[in.Title]; dup {
			t.Errorf("title %s has two instances: %s and %s", in.Title, g, in.GUID)
		}
		byTitle[in.Title] = in.GUID
		n, err := strconv.Atoi(strings.TrimPrefix(in.GUID, "SOFTINST-"))
		if err != nil {
			t.Fatalf("instance %s: %v", in.GUID, err)
		}
		nums = append(nums, n)
	}
	for title, guid := range acked {
		if got, ok := byTitle[title]; !ok || got != guid {
			t.Errorf("acknowledged request %s (%s) is %q %s", title, guid, got, when)
		}
	}
	slices.Sort(nums)
	for i, n := range nums {
		if n != i+1 {
			t.Fatalf("instance numbers are not 1..%d: position %d holds %d (an instance applied twice or lost) %s", len(nums), i, n, when)
		}
	}
}

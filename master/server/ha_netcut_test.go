package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
)

// cutNetPrefix begins the name of every network namespace the network-cut
// test makes; the pid of the test process follows, so that a later run
// can remove what a killed run left.
const cutNetPrefix = "slapgo-cut-"

// leaderNet is a network namespace for one master, with two links to the
// host (veth pairs): one to the database, which the test cuts, and one for
// the API, which stays up so that the test sees what the cut master
// answers.
type leaderNet struct {
	ns                 string
	dbHost, dbNS       string // the database link's two ends
	apiHost, apiNS     string // the API link's two ends
	dbHostIP, dbNSIP   string // addresses on the database link (/30)
	apiHostIP, apiNSIP string // addresses on the API link (/30)
	dbNet              string // the database link's network (CIDR)
	removeOnce         sync.Once
}

// ipCommand runs ip (iproute2) with args.
func ipCommand(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// removeStaleCutNets removes the namespaces a run of this test left when it
// was killed (its pid is gone).
func removeStaleCutNets(t testing.TB) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(cutNetPrefix) + `(\d+)-[0-9a-f]+`)
	for _, line := range strings.Split(string(out), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // its run goes on
		}
		if err := ipCommand("netns", "del", m[0]); err != nil {
			t.Logf("removing the stale namespace %s: %v", m[0], err)
		}
	}
}

// freeCutSubnet picks a /29 in 100.64.0.0/10 (shared address space) that
// no address or route of the host touches.
func freeCutSubnet(t testing.TB) (a, b byte) {
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "table", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route show: %v: %s", err, out)
	}
	addrs, err := exec.Command("ip", "-4", "-o", "addr").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr: %v: %s", err, addrs)
	}
	used := string(out) + string(addrs)
	var r [2]byte
	for range 100 {
		rand.Read(r[:])
		a, b = 64+r[0]%64, r[1]
		if !strings.Contains(used, fmt.Sprintf("100.%d.%d.", a, b)) {
			return a, b
		}
	}
	t.Fatal("no free /24 found in 100.64.0.0/10 for the test's links")
	return 0, 0
}

// newLeaderNet makes the namespace and its two links; they are removed
// when t ends (and by the caller's deferred remove, should it panic).
func newLeaderNet(t testing.TB) *leaderNet {
	t.Helper()
	removeStaleCutNets(t)
	var id [3]byte
	rand.Read(id[:])
	tag := hex.EncodeToString(id[:])
	a, b := freeCutSubnet(t)
	ip := func(last int) string { return fmt.Sprintf("100.%d.%d.%d", a, b, last) }
	n := &leaderNet{
		ns:     fmt.Sprintf("%s%d-%s", cutNetPrefix, os.Getpid(), tag),
		dbHost: "scd" + tag + "h", dbNS: "scd" + tag + "n",
		apiHost: "sca" + tag + "h", apiNS: "sca" + tag + "n",
		dbHostIP: ip(1), dbNSIP: ip(2), apiHostIP: ip(5), apiNSIP: ip(6),
		dbNet: ip(0) + "/30",
	}
	t.Cleanup(n.remove)
	steps := [][]string{
		{"netns", "add", n.ns},
		{"link", "add", n.dbHost, "type", "veth", "peer", "name", n.dbNS, "netns", n.ns},
		{"link", "add", n.apiHost, "type", "veth", "peer", "name", n.apiNS, "netns", n.ns},
		{"addr", "add", n.dbHostIP + "/30", "dev", n.dbHost},
		{"addr", "add", n.apiHostIP + "/30", "dev", n.apiHost},
		{"link", "set", n.dbHost, "up"},
		{"link", "set", n.apiHost, "up"},
		{"-n", n.ns, "addr", "add", n.dbNSIP + "/30", "dev", n.dbNS},
		{"-n", n.ns, "addr", "add", n.apiNSIP + "/30", "dev", n.apiNS},
		{"-n", n.ns, "link", "set", "lo", "up"},
		{"-n", n.ns, "link", "set", n.dbNS, "up"},
		{"-n", n.ns, "link", "set", n.apiNS, "up"},
	}
	for _, s := range steps {
		if err := ipCommand(s...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// cut takes the database link down on the namespace's side: packets from
// the master find no route, those to it are dropped, and nothing tells
// either end (no reset): a silent cut.
func (n *leaderNet) cut() error { return ipCommand("-n", n.ns, "link", "set", n.dbNS, "down") }

// heal brings the database link back.
func (n *leaderNet) heal() error { return ipCommand("-n", n.ns, "link", "set", n.dbNS, "up") }

// exec is a command run inside the namespace.
func (n *leaderNet) exec(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.ns, name}, args...)...)
}

// remove deletes the namespace and the host's ends of the links; it may be
// called more than once.
func (n *leaderNet) remove() {
	n.removeOnce.Do(func() {
		ipCommand("netns", "del", n.ns)
		// The namespace goes away asynchronously (after its last
		// process): delete the host ends now.
		for _, l := range []string{n.dbHost, n.apiHost} {
			ipCommand("link", "del", l)
		}
	})
}

// pinnedClient asks one master only and does not follow its redirects: an
// answer it gets was given by that master.
func pinnedClient(t testing.TB, creds api.Credentials, url string) *api.Client {
	c := clientFor(t, creds, url)
	c.HTTP.Timeout = 3 * time.Second
	c.HTTP.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("%s redirects to %s: not an answer of its own", url, req.URL.Host)
	}
	return c
}

// ackRecord is one request acknowledged to a writer.
type ackRecord struct {
	title, guid string
	by          string // the master that answered ("" for a failover client)
	at          time.Time
}

// TestLeaderCutFromDatabase cuts the network between the leading master
// and PostgreSQL, under request load. The leader runs in a network
// namespace whose only path to the database is a veth pair; the follower
// runs on the host; clients reach both. The cut leader must stop
// committing (no answer from it after the follower's first one, and the
// mutation log's epochs never go back), the follower must lead within 5 s
// after PostgreSQL ended the cut leader's lock session, every
// acknowledged request must be there once, and when the link comes back
// the old leader writes nothing: it has stopped, and restarted it follows.
func TestLeaderCutFromDatabase(t *testing.T) {
	testenv.RequireRoot(t, "the test makes a network namespace and veth pairs")
	testenv.RequireCommands(t, "the test makes its network namespace and links with iproute2 (Debian: iproute2; make test-deps)", "ip")
	testenv.HoldHostNetwork(t)
	nw := newLeaderNet(t)
	defer nw.remove() // also when the test panics
	pg := pgtest.StartWith(t, pgtest.Options{ListenTCP: nw.dbHostIP, TrustNet: nw.dbNet})
	bin := buildBinary(t)
	dirs, unixURL := initPostgresGrid(t, pg, 2, nw.apiNSIP)
	storeURL := pg.TCPURL(t, unixURL)
	ctx := context.Background()

	// The leader first, in the namespace; then the follower on the host.
	leaderAddr := nw.apiNSIP + ":7443"
	startLeader := func() *masterProcess {
		return startCommand(t, nw.exec(bin, "master", "serve", "--data", dirs[0], "--store", storeURL, "--listen", leaderAddr))
	}
	a := startLeader()
	probeA := adminClient(t, dirs[0], a.url)
	probeA.HTTP.Timeout = time.Second
	waitFor(t, "the master in the namespace leads", 20*time.Second, func() bool { return role(t, probeA) == "leader" })
	b := startProcess(t, bin, dirs[1], "--store", storeURL)
	probeB := adminClient(t, dirs[1], b.url)
	probeB.HTTP.Timeout = time.Second
	if r := role(t, probeB); r != "follower" {
		t.Fatalf("the host's master is %q, want follower", r)
	}
	urls := []string{a.url, b.url}

	db, err := pgx.Connect(ctx, unixURL) // the test's own view, over the socket
	noErr(t, err)
	defer db.Close(ctx)
	epochOf := func() int64 {
		var e int64
		noErr(t, db.QueryRow(ctx, `SELECT epoch FROM slapgo_leader WHERE id = 1`).Scan(&e))
		return e
	}
	epochA := epochOf()
	defer func() {
		if !t.Failed() {
			return
		}
		// What PostgreSQL's sessions were doing: a failure explains itself.
		rows, err := db.Query(ctx, `SELECT a.pid, coalesce(a.client_addr::text, 'socket'), a.state, coalesce(a.wait_event_type, ''),
			coalesce(a.wait_event, ''), left(a.query, 80), coalesce(string_agg(l.locktype || ':' || l.mode, ' '), '')
			FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid AND l.granted
			WHERE a.datname = current_database() GROUP BY 1, 2, 3, 4, 5, 6`)
		if err != nil {
			t.Logf("pg_stat_activity: %v", err)
			return
		}
		for rows.Next() {
			var pid int
			var addr, state, wtype, wevent, query, locks string
			if err := rows.Scan(&pid, &addr, &state, &wtype, &wevent, &query, &locks); err == nil {
				t.Logf("session %d from %s: %s, waiting %s/%s, %q, holding %s", pid, addr, state, wtype, wevent, query, locks)
			}
		}
		rows.Close()
	}()

	admin := adminClient(t, dirs[0], urls...)
	res, err := admin.AddPerson(ctx, api.AddPersonRequest{ID: "alice"})
	noErr(t, err)

	// The load: writers pinned to each master (answers attributed), and
	// writers failing over between both (requests keep being served).
	// A request without an answer is sent again until one is
	// acknowledged: requests are idempotent by title.
	var mu sync.Mutex
	var acks []ackRecord
	stop := make(chan struct{})
	var wg sync.WaitGroup
	writer := func(name string, c *api.Client, by string) {
		defer wg.Done()
		for i := 0; ; i++ {
			title := fmt.Sprintf("%s-%d", name, i)
			for {
				select {
				case <-stop:
					return
				default:
				}
				inst, err := c.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL})
				if err == nil {
					mu.Lock()
					acks = append(acks, ackRecord{title: title, guid: inst.GUID, by: by, at: time.Now()})
					mu.Unlock()
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	for w := range 2 {
		wg.Add(3)
		go writer(fmt.Sprintf("a%d", w), pinnedClient(t, res.Credentials, a.url), "a")
		go writer(fmt.Sprintf("b%d", w), pinnedClient(t, res.Credentials, b.url), "b")
		fo := clientFor(t, res.Credentials, urls...)
		fo.HTTP.Timeout = 3 * time.Second
		go writer(fmt.Sprintf("f%d", w), fo, "")
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer stopLoad()
	count := func(by string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range acks {
			if a.by == by {
				n++
			}
		}
		return n
	}
	waitFor(t, "requests acknowledged by the leader before the cut", 30*time.Second, func() bool { return count("a") >= 30 })

	// Who holds the leader lock, seen from PostgreSQL, every 10 ms.
	var lockLost time.Time
	var lockMu sync.Mutex
	const holderQuery = `SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1`
	const leaderLockKey = 0x534C4150 // store's
	var pidA int
	noErr(t, db.QueryRow(ctx, holderQuery, int64(leaderLockKey)).Scan(&pidA))
	if pidA == 0 {
		t.Fatal("nobody holds the leader lock")
	}
	watchDone := make(chan struct{})
	watchStop := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-watchStop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var pid int
			if err := db.QueryRow(ctx, holderQuery, int64(leaderLockKey)).Scan(&pid); err != nil {
				continue
			}
			if pid != pidA {
				lockMu.Lock()
				lockLost = time.Now()
				lockMu.Unlock()
				return
			}
		}
	}()

	noErr(t, nw.cut())
	cutAt := time.Now()
	waitFor(t, "the follower leads after the cut", 30*time.Second, func() bool { return role(t, probeB) == "leader" })
	leadAt := time.Now()
	close(watchStop)
	<-watchDone
	lockMu.Lock()
	lost := lockLost
	lockMu.Unlock()
	if lost.IsZero() {
		t.Fatal("the follower leads, but the test never saw the cut leader's lock session end")
	}
	waitFor(t, "the new leader acknowledges requests", 20*time.Second, func() bool { return count("b") >= 20 })
	takeover := leadAt.Sub(lost)
	t.Logf("cut → lock session ended by PostgreSQL: %s; lock lost → follower leads: %s; cut → follower leads: %s",
		lost.Sub(cutAt).Round(time.Millisecond), takeover.Round(time.Millisecond), leadAt.Sub(cutAt).Round(time.Millisecond))
	if takeover > 5*time.Second {
		t.Errorf("the follower led %s after the lock was lost, want ≤ 5s", takeover.Round(time.Millisecond))
	}

	// The cut leader stops: its lock session is gone.
	select {
	case err := <-a.exited:
		a.exited <- err
		if err == nil {
			t.Error("the cut leader exited 0")
		}
		t.Logf("cut → the cut leader exited: %s (%v)", time.Since(cutAt).Round(time.Millisecond), err)
	case <-time.After(40 * time.Second):
		// It stops once its lock session is found dead (about 5 s), then
		// closes its pool, whose idle connections pgx closes with up to
		// 15 s for the server's goodbye that cannot come.
		t.Fatalf("the cut leader kept running 40 s after the cut\n%s", a.stderr)
	}
	// The link comes back: the old leader, restarted, follows.
	noErr(t, nw.heal())
	a = startLeader()
	probeA = adminClient(t, dirs[0], a.url)
	probeA.HTTP.Timeout = time.Second
	if r := role(t, probeA); r != "follower" {
		t.Fatalf("the old leader, back after the link returned, is %q, want follower", r)
	}
	before := count("")
	waitFor(t, "requests acknowledged after the link returned", 20*time.Second, func() bool { return count("") >= before+20 })
	stopLoad()
	epochB := epochOf()

	// No split brain: nothing acknowledged by the cut leader after the
	// new leader's first answer, and in the log the commits of the old
	// epoch all come before those of the new.
	mu.Lock()
	defer mu.Unlock()
	var firstB time.Time
	for _, r := range acks {
		if r.by == "b" && (firstB.IsZero() || r.at.Before(firstB)) {
			firstB = r.at
		}
	}
	afterCut := 0
	for _, r := range acks {
		if r.by == "a" && r.at.After(cutAt) {
			afterCut++
			if !r.at.Before(firstB) {
				t.Errorf("split brain: the cut leader acknowledged %s %s after the new leader's first answer", r.title, r.at.Sub(firstB))
			}
		}
	}
	rows, err := db.Query(ctx, `SELECT seq, epoch FROM slapgo_log ORDER BY seq`)
	noErr(t, err)
	type logRow struct{ Seq, Epoch int64 }
	logRows, err := pgx.CollectRows(rows, pgx.RowToStructByPos[logRow])
	noErr(t, err)
	var epochs []int64
	for i, r := range logRows {
		if i > 0 && r.Epoch < logRows[i-1].Epoch {
			t.Errorf("commit %d has epoch %d after commit %d of epoch %d: a deposed leader committed", r.Seq, r.Epoch, logRows[i-1].Seq, logRows[i-1].Epoch)
		}
		if len(epochs) == 0 || epochs[len(epochs)-1] != r.Epoch {
			epochs = append(epochs, r.Epoch)
		}
	}
	if !slices.Contains(epochs, epochA) || !slices.Contains(epochs, epochB) || epochA == epochB {
		t.Errorf("the log's epochs are %v; want the cut leader's %d, then the new leader's %d", epochs, epochA, epochB)
	}

	// Every acknowledged request is there, once, with the instance it was
	// answered; instance numbers have no gap and no double.
	// (Read on the leader: a follower's warm state may lag behind its
	// last commits.)
	alice := clientFor(t, res.Credentials, b.url)
	alice.HTTP.Timeout = 10 * time.Second
	insts, err := alice.Instances(ctx)
	noErr(t, err)
	acked := make(map[string]string, len(acks))
	for _, r := range acks {
		acked[r.title] = r.guid
	}
	checkAcknowledged(t, insts, acked, "after the cut")
	if len(acks) > len(insts) {
		t.Errorf("%d requests acknowledged, %d instances", len(acks), len(insts))
	}
	t.Logf("%d requests acknowledged (%d by the cut leader after the cut, all before the new leader's first), %d instances; log epochs %v",
		len(acks), afterCut, len(insts), epochs)
}

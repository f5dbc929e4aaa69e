package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/master/api"
)

// buildBinary builds cmd/slapgo into a temporary directory.
func buildBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "slapgo")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/slapgo/slapgo/cmd/slapgo").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/slapgo: %v\n%s", err, out)
	}
	return bin
}

// masterProcess is `slapgo master serve` running as a child process.
type masterProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	exited chan error
}

func startProcess(t testing.TB, bin, dir string, args ...string) *masterProcess {
	t.Helper()
	return startCommand(t, exec.Command(bin, append([]string{"master", "serve", "--data", dir, "--listen", "127.0.0.1:0"}, args...)...))
}

// startCommand starts cmd, a `slapgo master serve` (or a command running
// one, as `ip netns exec`), and waits until it listens.
func startCommand(t testing.TB, cmd *exec.Cmd) *masterProcess {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	noErr(t, err)
	p := &masterProcess{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	noErr(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); <-p.exited })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				urls <- u
			}
		}
		p.exited <- cmd.Wait()
	}()
	select {
	case p.url = <-urls:
	case err := <-p.exited:
		p.exited <- err
		t.Fatalf("master exited before listening: %v\n%s", err, p.stderr)
	case <-time.After(15 * time.Second):
		t.Fatalf("master did not print its URL within 15s\n%s", p.stderr)
	}
	return p
}

func (p *masterProcess) kill(t testing.TB) {
	t.Helper()
	noErr(t, p.cmd.Process.Signal(syscall.SIGKILL))
	<-p.exited
	p.exited <- nil // for the cleanup
}

func credsClient(t *testing.T, url string, c api.Credentials) *api.Client {
	t.Helper()
	cert, err := tls.X509KeyPair([]byte(c.CertificatePEM), []byte(c.KeyPEM))
	noErr(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(c.CAPEM))
	cl, err := api.NewClientTLS(url, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
	noErr(t, err)
	cl.HTTP.Timeout = 10 * time.Second
	return cl
}

// crashLedger remembers what the master acknowledged, and what it was
// asked without answering (may or may not be there, but never half).
type crashLedger struct {
	mu       sync.Mutex
	acked    map[string]string          // instance title -> parameter "n" last acknowledged
	guids    map[string]string          // instance title -> guid
	inflight map[string]map[string]bool // instance title -> values of "n" sent since the last acknowledgement, unanswered
	software map[string]bool            // supplied URLs acknowledged
	persons  []api.Credentials          // persons acknowledged
	requests int
}

// TestCrashKeepsAcknowledgedRequests runs the real binary, sends requests
// concurrently, kills it with SIGKILL at random moments and restarts it on
// the same data directory: every acknowledged request must be there, and
// every unacknowledged one either whole or absent. SLAPGO_CRASH_SEED picks
// the seed.
func TestCrashKeepsAcknowledgedRequests(t *testing.T) {
	testenv.Short(t, "builds and kills the real binary")
	seed := uint64(1)
	if s := os.Getenv("SLAPGO_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		noErr(t, err)
		seed = v
	}
	t.Logf("seed %d (reproduce: SLAPGO_CRASH_SEED=%d go test -run TestCrashKeepsAcknowledgedRequests ./master/server/)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	bin := buildBinary(t)
	dir := filepath.Join(t.TempDir(), "data")
	if out, err := exec.Command(bin, "master", "init", "--data", dir).CombinedOutput(); err != nil {
		t.Fatalf("master init: %v\n%s", err, out)
	}
	begin := time.Now()
	ctx := context.Background()

	p := startProcess(t, bin, dir)
	admin, err := api.NewClient(p.url, filepath.Join(dir, FileAdminCert), filepath.Join(dir, FileAdminKey), filepath.Join(dir, FileCACert))
	noErr(t, err)
	added, err := admin.AddPerson(ctx, api.AddPersonRequest{Name: "Alice"})
	noErr(t, err)
	aliceCreds := added.Credentials
	alice := credsClient(t, p.url, aliceCreds)
	reg, err := alice.RegisterComputer(ctx, api.RegisterComputerRequest{ID: "COMP-1", Region: "eu"})
	noErr(t, err)
	compCreds := *reg.Credentials
	noErr(t, credsClient(t, p.url, compCreds).SetCapacity(ctx, "COMP-1", capacity(40)))
	_, err = alice.Supply(ctx, "COMP-1", api.SupplyRequest{URL: softURL, State: model.SoftwareAvailable})
	noErr(t, err)
	p.kill(t)

	led := &crashLedger{acked: map[string]string{}, guids: map[string]string{}, inflight: map[string]map[string]bool{}, software: map[string]bool{softURL: true}}
	const cycles, requesters, titlesEach = 5, 6, 8
	counter := 0
	for cycle := range cycles {
		p = startProcess(t, bin, dir)
		verifyLedger(t, p.url, aliceCreds, compCreds, led)
		admin.BaseURL = p.url
		alice := credsClient(t, p.url, aliceCreds)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range requesters {
			wg.Add(1)
			wrng := rand.New(rand.NewPCG(seed, uint64(cycle*100+w)))
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					title := fmt.Sprintf("w%d-t%d", w, wrng.IntN(titlesEach))
					led.mu.Lock()
					counter++
					n := strconv.Itoa(counter)
					if led.inflight[title] == nil {
						led.inflight[title] = map[string]bool{}
					}
					led.inflight[title][n] = true
					led.mu.Unlock()
					inst, err := alice.Request(ctx, api.InstanceRequest{Title: title, SoftwareRelease: softURL,
						Parameters: map[string]string{"n": n, "writer": strconv.Itoa(w)}})
					led.mu.Lock()
					if err != nil {
						led.mu.Unlock()
						return // the master died: this one stays in flight
					}
					delete(led.inflight, title)
					led.acked[title], led.guids[title] = n, inst.GUID
					led.requests++
					led.mu.Unlock()
				}
			}()
		}
		wg.Add(2)
		go func() { // supplies
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				u := fmt.Sprintf("https://example.org/software/c%d-%d.cfg", cycle, k)
				if _, err := alice.Supply(ctx, "COMP-1", api.SupplyRequest{URL: u, State: model.SoftwareAvailable}); err != nil {
					return
				}
				led.mu.Lock()
				led.software[u] = true
				led.mu.Unlock()
			}
		}()
		go func() { // persons
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := admin.AddPerson(ctx, api.AddPersonRequest{})
				if err != nil {
					return
				}
				led.mu.Lock()
				led.persons = append(led.persons, res.Credentials)
				led.mu.Unlock()
			}
		}()
		time.Sleep(time.Duration(150+rng.IntN(450)) * time.Millisecond)
		p.kill(t)
		close(stop)
		wg.Wait()
		alice.HTTP.CloseIdleConnections()
		led.mu.Lock()
		t.Logf("cycle %d: killed after %d acknowledged requests, %d in flight, %d persons, %d software",
			cycle+1, led.requests, len(led.inflight), len(led.persons), len(led.software))
		led.mu.Unlock()
		if time.Since(begin) > 45*time.Second {
			t.Logf("stopping after %d cycles to stay within the time bound", cycle+1)
			break
		}
	}
	// A last restart: everything is there, then SIGTERM exits cleanly.
	p = startProcess(t, bin, dir)
	verifyLedger(t, p.url, aliceCreds, compCreds, led)
	if led.requests == 0 {
		t.Error("no request was acknowledged: the kills came too early to test anything")
	}
	noErr(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-p.exited:
		p.exited <- nil
		if err != nil {
			t.Errorf("after SIGTERM the master exited with %v, want status 0\n%s", err, p.stderr)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("the master did not exit within 20s of SIGTERM")
	}
}

// verifyLedger checks the restarted master against what it acknowledged.
func verifyLedger(t *testing.T, url string, aliceCreds, compCreds api.Credentials, led *crashLedger) {
	t.Helper()
	ctx := context.Background()
	alice := credsClient(t, url, aliceCreds)
	defer alice.HTTP.CloseIdleConnections()
	list, err := alice.Instances(ctx)
	noErr(t, err)
	led.mu.Lock()
	defer led.mu.Unlock()
	byTitle := map[string]api.Instance{}
	for _, i := range list {
		if _, dup := byTitle[i.Title]; dup {
			t.Errorf("two live instances titled %s", i.Title)
		}
		byTitle[i.Title] = i
	}
	for title, n := range led.acked {
		i, ok := byTitle[title]
		switch {
		case !ok:
			t.Errorf("acknowledged instance %s (n=%s) is gone", title, n)
		case i.GUID != led.guids[title]:
			t.Errorf("instance %s is %s, acknowledged as %s", title, i.GUID, led.guids[title])
		case i.Parameters["n"] != n && !led.inflight[title][i.Parameters["n"]]:
			t.Errorf("instance %s has n=%s, acknowledged n=%s (in flight: %v)", title, i.Parameters["n"], n, led.inflight[title])
		}
	}
	for title, i := range byTitle {
		if _, ok := led.acked[title]; !ok && !led.inflight[title][i.Parameters["n"]] {
			t.Errorf("instance %s (n=%s) was never sent", title, i.Parameters["n"])
		}
		if i.Parameters["writer"] == "" || !strings.HasPrefix(title, "w"+i.Parameters["writer"]+"-") {
			t.Errorf("instance %s is half-written: parameters %v", title, i.Parameters)
		}
	}
	// Partitions and instances agree both ways.
	comp := credsClient(t, url, compCreds)
	defer comp.HTTP.CloseIdleConnections()
	det, err := alice.ComputerDetails(ctx, "COMP-1")
	noErr(t, err)
	busy := map[string]string{}
	for _, part := range det.Partitions {
		if part.Status == model.PartitionBusy {
			busy[part.ID] = part.InstanceGUID
		}
	}
	allocated := 0
	for _, i := range byTitle {
		if i.Status == api.StatusAllocated {
			allocated++
			if busy[i.PartitionID] != i.GUID {
				t.Errorf("instance %s says %s, the partition holds %q", i.GUID, i.PartitionID, busy[i.PartitionID])
			}
		}
	}
	if allocated != len(busy) {
		t.Errorf("%d allocated instances but %d busy partitions", allocated, len(busy))
	}
	view, _, _, err := comp.ComputerView(ctx, "COMP-1", "")
	noErr(t, err)
	if len(view.Partitions) != 40 {
		t.Errorf("view has %d partitions, want 40", len(view.Partitions))
	}
	supplied := map[string]bool{}
	for _, sw := range det.Software {
		supplied[sw.URL] = true
	}
	for u := range led.software {
		if !supplied[u] {
			t.Errorf("acknowledged supply of %s is gone", u)
		}
	}
	for _, pc := range led.persons {
		c := credsClient(t, url, pc)
		if w, err := c.WhoAmI(ctx); err != nil || w.Identity != pc.Identity {
			t.Errorf("acknowledged person %s: whoami = %v, %v", pc.Identity, w.Identity, err)
		}
		c.HTTP.CloseIdleConnections()
	}
}

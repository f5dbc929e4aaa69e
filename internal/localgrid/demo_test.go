package localgrid_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/localgrid"
	"github.com/slapgo/slapgo/internal/testenv"
	"github.com/slapgo/slapgo/nodeagent/procfs"
	"github.com/slapgo/slapgo/nodeagent/supervisor"
)

// answered is the summary line telling what the instance answered.
var answered = regexp.MustCompile(`(?m)^  instance  ` + localgrid.InstanceTitle + `: (http://\S+) answered "(.*)"$`)

func fetch(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// processesOf lists the live processes whose command line mentions dir.
func processesOf(t *testing.T, dir string) []string {
	t.Helper()
	all, err := procfs.Scan()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, st := range all {
		if st.State == 'Z' {
			continue
		}
		data, err := os.ReadFile("/proc/" + strconv.Itoa(st.PID) + "/cmdline")
		if err == nil && strings.Contains(string(data), dir) {
			out = append(out, fmt.Sprintf("pid %d: %s", st.PID, strings.ReplaceAll(string(data), "\x00", " ")))
		}
	}
	return out
}

// TestDemo runs `slapgo demo` for real in a temporary folder: the grid
// comes up and the instance answers; a second run reuses everything;
// `slapgo demo stop` leaves no process behind.
func TestDemo(t *testing.T) {
	testenv.Short(t, "builds slapgo and runs a master, a node agent and a C build")
	if err := localgrid.CheckBuildTools(); err != nil {
		testenv.Missing(t, err.Error())
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "slapgo")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/slapgo/slapgo/cmd/slapgo").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := filepath.Join(tmp, "grid")
	// From the checkout, as make run: the sample software is found there.
	checkout, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	hello := filepath.Join(checkout, "fixtures", "software", "hello", "software.cfg")
	slapgo := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = checkout
		began := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("slapgo %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("slapgo %s: %s", strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
		return string(out)
	}
	t.Cleanup(func() {
		exec.Command(bin, "demo", "stop", "--dir", dir).Run()
		if t.Failed() {
			for _, log := range []string{"master.log", "node.log"} {
				data, _ := os.ReadFile(filepath.Join(dir, log))
				t.Logf("%s:\n%s", log, data)
			}
		}
	})
	demo := []string{"demo", "--dir", dir, "--port", "0", "--poll-interval", "1s", "--timeout", "60s"}

	out := slapgo(demo...)
	m := answered.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no line telling what %s answered:\n%s", localgrid.InstanceTitle, out)
	}
	url := m[1]
	if !strings.HasPrefix(m[2], "Hello world from slappart") {
		t.Errorf("the demo reports the answer %q, want Hello world from slappartN", m[2])
	}
	if body, err := fetch(url); err != nil || !strings.HasPrefix(body, "Hello world from slappart") {
		t.Fatalf("GET %s: %q, %v", url, body, err)
	}
	for _, want := range []string{"master       data directory", "initialised", "person       demo created",
		"computer     COMP-LOCAL registered", "node format  5 partitions", "unprivileged", "supply       file://" + hello,
		"export SLAPGO_MASTER=https://127.0.0.1:", "export SLAPGO_CERT=" + filepath.Join(dir, "demo", "demo.crt"),
		"instance list", "demo stop --dir " + dir, "portal       https://127.0.0.1:", "/portal/ (sign-in link for demo below)",
		"/portal/link?kind=person&id=demo&token="} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, out)
		}
	}

	// The person changes the greeting with the CLI and the configuration
	// the demo wrote.
	client := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SLAPGO_CONFIG="+filepath.Join(dir, "demo", "client.yaml"),
			"SLAPGO_MASTER=", "SLAPGO_CERT=", "SLAPGO_KEY=", "SLAPGO_CA=")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("slapgo %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if got := client("instance", "list"); !strings.Contains(got, localgrid.InstanceTitle) {
		t.Errorf("slapgo instance list with the demo's client.yaml:\n%s", got)
	}
	client("request", localgrid.InstanceTitle, "file://"+hello, "--param", "name=test")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		body, err := fetch(url)
		if strings.HasPrefix(body, "Hello test from") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, the instance answers %q, %v; want Hello test", body, err)
		}
	}

	// Again: everything is reused, nothing restarted; the demo's request
	// brings the greeting back, and the demo waits for it.
	again := slapgo(demo...)
	for _, want := range []string{"master       data directory " + filepath.Join(dir, "master") + ": reused", "already serving",
		"person       demo: credentials", "node agent   already running", "answered"} {
		if !strings.Contains(again, want) {
			t.Errorf("the second run's output lacks %q:\n%s", want, again)
		}
	}
	if m := answered.FindStringSubmatch(again); m == nil || m[1] != url || !strings.HasPrefix(m[2], "Hello world from") {
		t.Errorf("the second run does not report %s answering Hello world:\n%s", url, again)
	}
	if body, err := fetch(url); !strings.HasPrefix(body, "Hello world from") {
		t.Errorf("after the second run, %s answers %q, %v", url, body, err)
	}

	running := processesOf(t, dir)
	var services int
	parts, _ := filepath.Glob(filepath.Join(dir, "instance", "slappart*"))
	for _, p := range parts {
		pfs, _ := supervisor.ReadPidFiles(p)
		services += len(pfs)
	}
	if len(running) < 3 || services == 0 {
		t.Fatalf("want a master, a node agent and a service running; %d services, processes:\n%s", services, strings.Join(running, "\n"))
	}

	stopped := slapgo("demo", "stop", "--dir", dir)
	for _, want := range []string{"node agent   stopped", "master       stopped"} {
		if !strings.Contains(stopped, want) {
			t.Errorf("demo stop's output lacks %q:\n%s", want, stopped)
		}
	}
	if left := processesOf(t, dir); len(left) > 0 {
		t.Errorf("processes left after demo stop:\n%s", strings.Join(left, "\n"))
	}
	if body, err := fetch(url); err == nil {
		t.Errorf("%s still answers %q after demo stop", url, body)
	}
	if again := slapgo("demo", "stop", "--dir", dir); !strings.Contains(again, "nothing was running") {
		t.Errorf("a second demo stop: %s", again)
	}
	if slices.ContainsFunc([]string{"master.pid", "node.pid"}, func(f string) bool {
		_, err := os.Stat(filepath.Join(dir, f))
		return err == nil
	}) {
		t.Error("pid files left after demo stop")
	}
}

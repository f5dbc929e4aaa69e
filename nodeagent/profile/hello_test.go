package profile

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// buildFixture builds a fixture software release into a temporary
// software directory and returns it with the build log.
func buildFixture(t *testing.T, profile string) (string, string) {
	t.Helper()
	requireCompiler(t)
	dir := filepath.Join(t.TempDir(), "software")
	var log bytes.Buffer
	if err := Build(t.Context(), BuildOptions{URL: "file://" + fixture(t, profile), Dir: dir, Log: &log}); err != nil {
		t.Fatalf("Build(%s): %v\nbuild log:\n%s", profile, err, log.String())
	}
	return dir, log.String()
}

// startService runs a service script of a partition until the test ends.
func startService(t *testing.T, path string) {
	t.Helper()
	cmd := exec.Command(path)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
}

// runPromise runs a promise script and returns its error (nil = kept).
func runPromise(path string) error {
	out, err := exec.Command(path).CombinedOutput()
	if err != nil {
		return &promiseError{err: err, out: string(out)}
	}
	return nil
}

type promiseError struct {
	err error
	out string
}

func (e *promiseError) Error() string { return e.err.Error() + ": " + e.out }

// waitPromise runs a promise until it is kept or 10 s pass.
func waitPromise(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := runPromise(path)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("promise %s still failing after 10s: %v", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// snapshot describes every file of dir: path, mode, size, mtime, content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b.WriteString(" " + fi.ModTime().Format(time.RFC3339Nano) + "\n" + string(data))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestHelloBuildAndDeploy(t *testing.T) {
	sw, log := buildFixture(t, "hello/software.cfg")

	// Software time: the patched binary, the instance profile, the record.
	if !Completed(sw) {
		t.Fatalf("%s/.completed missing after a successful build", sw)
	}
	if fi, err := os.Stat(filepath.Join(sw, "parts/hello/bin/hello")); err != nil || fi.Mode().Perm()&0o111 == 0 {
		t.Fatalf("parts/hello/bin/hello is not an executable: %v", err)
	}
	if !strings.Contains(log, "applied patch "+fixture(t, "hello/hello-greeting.patch")) {
		t.Errorf("build log does not record the greeting patch:\n%s", log)
	}
	for _, leftover := range []string{tmpDir, buildDir} {
		if _, err := os.Stat(filepath.Join(sw, leftover)); err == nil {
			t.Errorf("%s left in the software directory after a successful build", leftover)
		}
	}
	instanceCfg, err := os.ReadFile(filepath.Join(sw, InstanceProfileFile))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "hello/instance.cfg", bytes.ReplaceAll(instanceCfg, []byte(sw), []byte("<software>")))
	installed, err := os.ReadFile(filepath.Join(sw, InstalledFile))
	if err != nil {
		t.Fatal(err)
	}
	installed = bytes.ReplaceAll(installed, []byte(sw), []byte("<software>"))
	golden(t, "hello/installed.cfg", bytes.ReplaceAll(installed, []byte(fixture(t, "")), []byte("<fixtures>")))

	// Building again is a no-op.
	var again bytes.Buffer
	if err := Build(t.Context(), BuildOptions{URL: "file://" + fixture(t, "hello/software.cfg"), Dir: sw, Log: &again}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(again.String(), "already built") {
		t.Errorf("second Build did not skip the completed build: %s", again.String())
	}

	// Instance time.
	part := filepath.Join(t.TempDir(), "slappart0")
	if err := os.Mkdir(part, 0o750); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	ic := InstanceContext{
		SoftwareDir: sw, PartitionDir: part,
		ComputerID: "COMP-1", PartitionID: "slappart0", InstanceGUID: "SOFTINST-1",
		Title: "hello", SoftwareRelease: "file://" + fixture(t, "hello/software.cfg"),
		Parameters:     map[string]string{"port": port, "name": "tester"},
		Addresses:      []model.Address{{Iface: "lo", Addr: "127.0.0.1"}, {Iface: "lo", Addr: "::1"}},
		RequestedState: model.StateStarted,
		MasterURL:      "https://master.example:8443", KeyFile: "/etc/slapgo/node.key", CertFile: "/etc/slapgo/node.crt",
		SlapgoBinary: testBinary(t),
	}
	dep, err := Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	service := filepath.Join(part, "etc/service/hello")
	promise := filepath.Join(part, "etc/promise/hello-promise")
	if !slices.Equal(dep.Services, []string{service}) {
		t.Errorf("Services = %q, want [%s]", dep.Services, service)
	}
	if !slices.Equal(dep.Promises, []string{promise}) {
		t.Errorf("Promises = %q, want [%s]", dep.Promises, promise)
	}
	wantURL := "http://127.0.0.1:" + port + "/"
	if len(dep.Publish) != 1 || dep.Publish["url"] != wantURL {
		t.Errorf("Publish = %v, want url=%s", dep.Publish, wantURL)
	}
	if dep.DestroyHook != "" || len(dep.Children) != 0 || len(dep.PublishShared) != 0 {
		t.Errorf("unexpected destroy hook, children or shared publication: %+v", dep)
	}
	for _, d := range []string{"etc", "var/log"} {
		if fi, err := os.Stat(filepath.Join(part, d)); err != nil || !fi.IsDir() {
			t.Errorf("directory %s not created by [directory]: %v", d, err)
		}
	}
	placeholders := strings.NewReplacer(sw, "<software>", testBinary(t), "<slapgo>", port, "<port>")
	for _, f := range []string{service, promise} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "hello/"+filepath.Base(f), []byte(placeholders.Replace(string(data))))
	}

	// The promise fails until the service listens, then holds.
	if err := runPromise(promise); err == nil {
		t.Fatalf("promise kept before the service started")
	}
	startService(t, service)
	waitPromise(t, promise)
	resp, body := httpGet(t, wantURL)
	if want := "Hello tester from slappart0\n"; body != want {
		t.Errorf("GET %s = %q, want %q (greeting patch applied)", wantURL, body, want)
	}
	if v := resp.Header.Get("X-Hello-Variant"); v != "" {
		t.Errorf("hello answers with the variant's header %q", v)
	}

	// Deploying again changes nothing on disk.
	before := snapshot(t, part)
	dep2, err := Deploy(t.Context(), ic)
	if err != nil {
		t.Fatal(err)
	}
	if after := snapshot(t, part); after != before {
		t.Errorf("second deployment changed the partition:\n--- before\n%s\n--- after\n%s", before, after)
	}
	if !slices.Equal(dep.Files, dep2.Files) {
		t.Errorf("second deployment wrote %q, first %q", dep2.Files, dep.Files)
	}

	// A new parameter changes the service, and only it.
	ic.Parameters = map[string]string{"port": port, "name": "someone else"}
	if _, err := Deploy(t.Context(), ic); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(service)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "-n 'someone else'") {
		t.Errorf("service after the parameter change does not pass the new name as one argument:\n%s", data)
	}
}

func TestHelloVariantAppliesBothPatches(t *testing.T) {
	sw, log := buildFixture(t, "hello-variant/software.cfg")
	greeting := strings.Index(log, "applied patch "+fixture(t, "hello/hello-greeting.patch"))
	variant := strings.Index(log, "applied patch "+fixture(t, "hello-variant/hello-variant.patch"))
	if greeting < 0 || variant < 0 || variant < greeting {
		t.Fatalf("want the greeting patch then the variant patch applied, build log:\n%s", log)
	}
	port := freePort(t)
	cmd := exec.Command(filepath.Join(sw, "parts/hello/bin/hello"), "-a", "127.0.0.1", "-p", port, "-n", "v", "-P", "slappart9")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || !strings.Contains(line, "listening") {
		t.Fatalf("hello did not start: %q %v", line, err)
	}
	resp, body := httpGet(t, "http://127.0.0.1:"+port+"/")
	if body != "Hello v from slappart9\n" {
		t.Errorf("body = %q, want the greeting patch's text", body)
	}
	if got := resp.Header.Get("X-Hello-Variant"); got != "yes" {
		t.Errorf("X-Hello-Variant = %q, want yes (variant patch)", got)
	}
}

func TestFrontendPublishesForSharedInstances(t *testing.T) {
	sw, _ := buildFixture(t, "frontend/software.cfg")
	part := t.TempDir()
	port := freePort(t)
	shared := []model.SharedView{
		{GUID: "SOFTINST-B", Title: "site b", SoftwareType: "default", State: model.StateStarted, Parameters: map[string]string{"path": "/b"}},
		{GUID: "SOFTINST-A", Title: "site a", SoftwareType: "default", State: model.StateStarted},
		{GUID: "SOFTINST-GONE", Title: "gone", SoftwareType: "default", State: model.StateDestroyed},
	}
	dep, err := Deploy(t.Context(), InstanceContext{
		SoftwareDir: sw, PartitionDir: part, ComputerID: "COMP-1", PartitionID: "slappart3",
		SoftwareRelease: "file://" + fixture(t, "frontend/software.cfg"),
		Parameters:      map[string]string{"port": port},
		Addresses:       []model.Address{{Iface: "lo", Addr: "127.0.0.1/32"}},
		SharedInstances: shared, SlapgoBinary: testBinary(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://127.0.0.1:" + port + "/"
	want := map[string]map[string]string{
		"SOFTINST-A": {"site-url": base + "SOFTINST-A", "title": "site a"},
		"SOFTINST-B": {"site-url": base + "SOFTINST-B", "title": "site b"},
	}
	if len(dep.PublishShared) != len(want) {
		t.Errorf("PublishShared = %v, want %v", dep.PublishShared, want)
	}
	for guid, w := range want {
		for k, v := range w {
			if got := dep.PublishShared[guid][k]; got != v {
				t.Errorf("PublishShared[%s][%s] = %q, want %q", guid, k, got, v)
			}
		}
	}
	if dep.Publish["url"] != base {
		t.Errorf("Publish[url] = %q, want %q", dep.Publish["url"], base)
	}
	if !strings.Contains(dep.Publish["shared-instances"], `"slave_reference":"SOFTINST-B"`) ||
		!strings.Contains(dep.Publish["shared-instances"], `"path":"/b"`) {
		t.Errorf("Publish[shared-instances] = %s, want the slave instance list as JSON", dep.Publish["shared-instances"])
	}
	if len(dep.Services) != 1 || len(dep.Promises) != 1 {
		t.Fatalf("Services %q Promises %q: want one of each", dep.Services, dep.Promises)
	}
	startService(t, dep.Services[0])
	waitPromise(t, dep.Promises[0])
	if _, body := httpGet(t, base+"SOFTINST-A"); body != "Hello frontend from slappart3\n" {
		t.Errorf("frontend answers %q", body)
	}
}

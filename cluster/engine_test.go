package cluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// TestEnginePlumbing checks the primitives the scenarios stand on, with
// a busybox httpd in the run's image: a container answers from the test
// process at its fixed address, keeps that address across a network cut
// and a stop/start, loses its running process on SIGKILL, and Close
// leaves nothing of the run behind.
func TestEnginePlumbing(t *testing.T) {
	env := requireEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e := env.root.Sub("plumbing", t.Logf)
	closed := false
	t.Cleanup(func() {
		if !closed {
			e.Close(context.Background())
		}
	})
	image := env.ref
	nw, err := e.CreateNetwork(ctx, "net", 24)
	if err != nil {
		t.Fatal(err)
	}
	vol, err := e.CreateVolume(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	ip := nw.Allocate()
	c, err := e.StartContainer(ctx, ContainerSpec{
		What:     "web",
		Image:    image,
		Cmd:      []string{"/bin/sh", "-c", "echo $$ > /data/pid; exec httpd -f -p " + ip.String() + ":8080 -h /www"},
		Files:    []File{{Path: "/www/index.html", Content: []byte("hello from the cluster\n")}},
		Networks: []Attachment{{Network: nw, IP: ip}},
		Volumes:  map[string]string{vol: "/data"},
	})
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("http://%s:8080/", ip)
	get := func() (string, error) {
		cl := http.Client{Timeout: 2 * time.Second}
		resp, err := cl.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	waitAnswer := func(step string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			body, err := get()
			if err == nil && body == "hello from the cluster\n" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %s does not answer the page: %q %v", step, url, body, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitAnswer("started")

	if err := c.Disconnect(ctx, nw); err != nil {
		t.Fatal(err)
	}
	if _, err := get(); err == nil {
		t.Fatalf("%s answers while its container is cut from the network", url)
	}
	if code, out, err := c.Exec(ctx, "pidof", "httpd"); err != nil || code != 0 {
		t.Fatalf("httpd does not run during the cut: %d %q %v", code, out, err)
	}
	if err := c.Reconnect(ctx, nw); err != nil {
		t.Fatal(err)
	}
	waitAnswer("reconnected")

	if err := c.Kill(ctx, "KILL"); err != nil {
		t.Fatal(err)
	}
	if running, err := c.Running(ctx); err != nil || running {
		t.Fatalf("running after SIGKILL: %v %v", running, err)
	}
	pid, err := c.ReadFile(ctx, "/data/pid")
	if err != nil || strings.TrimSpace(string(pid)) == "" {
		t.Fatalf("the volume's file cannot be read from the stopped container: %q %v", pid, err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitAnswer("started again")
	if err := c.Stop(ctx, 2*time.Second); err != nil {
		t.Fatal(err)
	}

	closed = true
	if err := e.Close(ctx); err != nil {
		t.Fatal(err)
	}
	left := leftovers(ctx, t, e)
	if left != "" {
		t.Fatalf("Close left resources of %s: %s", e.Scope(), left)
	}
}

// leftovers lists what Docker still holds with the run's label.
func leftovers(ctx context.Context, t *testing.T, e *Engine) string {
	t.Helper()
	f := make(client.Filters).Add("label", LabelScope+"="+e.Scope())
	var left []string
	cs, err := e.Docker().ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Items {
		left = append(left, "container "+strings.Join(c.Names, ","))
	}
	ns, err := e.Docker().NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns.Items {
		left = append(left, "network "+n.Name)
	}
	vs, err := e.Docker().VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs.Items {
		left = append(left, "volume "+v.Name)
	}
	is, err := e.Docker().ImageList(ctx, client.ImageListOptions{Filters: f})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range is.Items {
		left = append(left, "image "+strings.Join(im.RepoTags, ","))
	}
	return strings.Join(left, "; ")
}

// TestPrepareFailsCleanly: a Prepare that fails after connecting (here on
// a busybox that is not static) returns the error and closes the engine
// it opened, without touching the Runtime it does not return.
func TestPrepareFailsCleanly(t *testing.T) {
	t.Setenv("SLAPGO_BUSYBOX", "/bin/sh") // dynamically linked on Debian
	rt, err := Prepare(context.Background(), PrepareConfig{Binary: "/nonexistent"})
	if err == nil || rt != nil || !strings.Contains(err.Error(), "cluster: SLAPGO_BUSYBOX: /bin/sh is dynamically linked") {
		t.Fatalf("Prepare with a dynamic busybox = %v, %v; want no runtime and the error naming SLAPGO_BUSYBOX", rt, err)
	}
}

package netacct

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/slapgo/slapgo/internal/testenv"
)

// nsPrefix names the network namespaces the tests make:
// slapgo-netacct-<pid>-<role>-<random>.
const nsPrefix = "slapgo-netacct-"

// requireNetns skips a test that makes network namespaces unless it runs
// as root with iproute2.
func requireNetns(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "network namespaces, veth pairs and AF_PACKET captures need root")
	testenv.RequireCommands(t, "network namespaces are made with it (Debian: iproute2)", "ip")
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// netns is a network namespace made by a test and removed when it ends,
// failed or not.
type netns struct {
	name string
}

var staleOnce = make(chan struct{}, 1)

// removeStale deletes the namespaces of earlier test processes that died
// before their clean-up (killed by a timeout).
func removeStale() {
	select {
	case staleOnce <- struct{}{}:
	default:
		return
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(strings.SplitN(rest, "-", 2)[0])
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

func newNetns(t testing.TB, role string) *netns {
	t.Helper()
	removeStale()
	var r [4]byte
	rand.Read(r[:])
	n := &netns{name: fmt.Sprintf("%s%d-%s-%s", nsPrefix, os.Getpid(), role, hex.EncodeToString(r[:]))}
	ipCmd(t, "netns", "add", n.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.name).CombinedOutput(); err != nil {
			t.Errorf("removing network namespace %s: %v: %s", n.name, err, out)
		}
	})
	n.ip(t, "link", "set", "lo", "up")
	return n
}

// ip runs an ip command in the namespace.
func (n *netns) ip(t testing.TB, args ...string) {
	t.Helper()
	ipCmd(t, append([]string{"-n", n.name}, args...)...)
}

// do runs f on a thread inside the namespace: sockets it opens belong to
// the namespace for good, whichever goroutine uses them later. The thread
// is never returned to the scheduler: it ends with the goroutine.
func (n *netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(filepath.Join("/run/netns", n.name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", n.name, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// vethPair links namespace a (interface an) and b (interface bn).
func vethPair(t testing.TB, a *netns, an string, b *netns, bn string) {
	t.Helper()
	ipCmd(t, "link", "add", an, "netns", a.name, "type", "veth", "peer", "name", bn, "netns", b.name)
	a.ip(t, "link", "set", an, "up")
	b.ip(t, "link", "set", bn, "up")
}

// addAddr adds an address (no duplicate address detection for IPv6: it is
// usable at once).
func (n *netns) addAddr(t testing.TB, dev, prefix string) {
	t.Helper()
	args := []string{"addr", "add", prefix, "dev", dev}
	if strings.Contains(prefix, ":") {
		args = append(args, "nodad")
	}
	n.ip(t, args...)
}

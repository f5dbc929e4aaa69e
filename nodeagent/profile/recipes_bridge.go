package profile

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// bridgeRecipe writes a service that makes a program listening only on
// the partition's IPv4 address reachable on its IPv6 address: etc/service/
// <name> runs "slapgo bridge --listen [ipv6]:ipv6-port --target
// ipv4:ipv4-port".
//
// Options: ipv4-port (required), ipv6-port (default ipv4-port), ipv4 and
// ipv6 (default the partition's first address of each family), name
// (default the section's), max-connections and idle-timeout (passed on to
// slapgo bridge). Set for other parts: ipv4, ipv6, ipv6-port, listen,
// target, wrapper-path.
var bridgeRecipe = &recipe{
	name:   "bridge",
	phases: instanceTime,
	options: []string{"ipv6", "ipv6-port", "ipv4", "ipv4-port", "name",
		"max-connections", "idle-timeout"},
	install: installBridge,
}

func installBridge(ctx context.Context, r *runner, pt *part) error {
	var first4, first6 string
	for _, a := range r.in.ic.Addresses {
		s, _, _ := strings.Cut(strings.TrimSpace(a.Addr), "/")
		ip, err := netip.ParseAddr(s)
		switch {
		case err != nil:
		case ip.Is4() || ip.Is4In6():
			if first4 == "" {
				first4 = ip.Unmap().String()
			}
		case first6 == "":
			first6 = ip.String()
		}
	}
	addr := func(option, def string, want6 bool) (string, error) {
		family, other := "IPv4", "IPv6"
		if want6 {
			family, other = other, family
		}
		v := strings.TrimSpace(pt.opts[option])
		if v == "" {
			v = def
		}
		if v == "" {
			return "", pt.errf(option, ErrMissingOption, "the partition has no %s address: set %s = <address>", family, option)
		}
		ip, err := netip.ParseAddr(strings.Trim(v, "[]"))
		if err != nil || ip.Zone() != "" {
			return "", pt.errf(option, ErrBadValue, "%q: expected an %s address", v, family)
		}
		if is6 := ip.Is6() && !ip.Is4In6(); is6 != want6 {
			return "", pt.errf(option, ErrBadValue, "%q is an %s address: expected an %s address", v, other, family)
		}
		return ip.Unmap().String(), nil
	}
	port := func(option, def string) (string, error) {
		v := strings.TrimSpace(pt.opts[option])
		if v == "" {
			v = def
		}
		if v == "" {
			return "", pt.errf(option, ErrMissingOption, "recipe bridge needs %s = <TCP port the program listens on>", option)
		}
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 65535 {
			return "", pt.errf(option, ErrBadValue, "%q: expected a TCP port number (1-65535)", v)
		}
		return v, nil
	}
	ipv4, err := addr("ipv4", first4, false)
	if err != nil {
		return err
	}
	ipv6, err := addr("ipv6", first6, true)
	if err != nil {
		return err
	}
	port4, err := port("ipv4-port", "")
	if err != nil {
		return err
	}
	port6, err := port("ipv6-port", port4)
	if err != nil {
		return err
	}
	listen, target := net.JoinHostPort(ipv6, port6), net.JoinHostPort(ipv4, port4)
	argv := []string{r.in.slapgo, "bridge", "--listen", listen, "--target", target}
	if v := strings.TrimSpace(pt.opts["max-connections"]); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return pt.errf("max-connections", ErrBadValue, "%q: expected a number of connections (1 or more)", v)
		}
		argv = append(argv, "--max-connections", v)
	}
	if v := strings.TrimSpace(pt.opts["idle-timeout"]); v != "" {
		if _, err := time.ParseDuration(v); err != nil {
			return pt.errf("idle-timeout", ErrBadValue, "%q: expected a duration such as 15m (negative: never)", v)
		}
		argv = append(argv, "--idle-timeout", v)
	}
	name, err := scriptName(pt)
	if err != nil {
		return err
	}
	rel := filepath.Join(ServiceDir, name)
	t := r.in.tree
	script := scriptHeader(pt.name) + "exec " + joinQuoted(argv) + "\n"
	if err := t.writeFile(rel, []byte(script), 0o755); err != nil {
		return pt.wrap("name", err)
	}
	for _, kv := range [][2]string{{"ipv4", ipv4}, {"ipv6", ipv6}, {"ipv6-port", port6}, {"listen", listen}, {"target", target}, {"wrapper-path", t.abs(rel)}} {
		r.set(pt, kv[0], kv[1])
	}
	r.in.dep.Services = append(r.in.dep.Services, t.abs(rel))
	r.logf("[%s] bridge %s → %s", pt.name, listen, target)
	return nil
}

package livebackend

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slapgo/slapgo/features/backend"
)

// standby is one more master on the grid's PostgreSQL database.
type standby struct {
	dir  string
	addr string
	proc *process
}

// startStandbys starts Config.Masters - 1 more masters on the PostgreSQL
// database, each with a copy of the first master's data directory (the
// grid's CA and certificates).
func (l *Live) startStandbys(ctx context.Context) error {
	if l.cfg.Postgres == "" || l.cfg.Masters <= 1 {
		return nil
	}
	for i := 1; i < l.cfg.Masters; i++ {
		dir := fmt.Sprintf("%s-%d", l.masterDir, i+1)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("livebackend: %w", err)
		}
		for _, f := range []string{"ca.crt", "ca.key", "server.crt", "server.key", "admin.crt", "admin.key"} {
			data, err := os.ReadFile(filepath.Join(l.masterDir, f))
			if err != nil {
				return fmt.Errorf("livebackend: %w", err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
				return fmt.Errorf("livebackend: %w", err)
			}
		}
		sb := &standby{dir: dir, addr: "127.0.0.1:0"}
		l.standbys = append(l.standbys, sb)
		if err := l.restartStandby(ctx, i-1); err != nil {
			return err
		}
	}
	return nil
}

func (l *Live) restartStandby(ctx context.Context, i int) error {
	sb := l.standbys[i]
	if sb.proc != nil && sb.proc.alive() {
		return backend.Errorf(backend.ErrConflict, "master %s is already up", sb.addr)
	}
	logf, err := os.OpenFile(filepath.Join(l.cfg.Dir, "logs", fmt.Sprintf("master-%d.log", i+2)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("livebackend: %w", err)
	}
	defer logf.Close()
	for range 50 { // the port may take a moment to be free again
		var p *process
		var a string
		if p, a, err = l.serveMaster(ctx, sb.dir, sb.addr, logf); err == nil {
			sb.proc, sb.addr = p, a
			l.cutIndex = 0
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// addrs lists every master's address, the first master first.
func (l *Live) addrs() []string {
	out := []string{l.masterAddr}
	for _, sb := range l.standbys {
		out = append(out, sb.addr)
	}
	return out
}

// masterURLs is what clients are given: every master, comma-separated.
func (l *Live) masterURLs() string {
	var us []string
	for _, a := range l.addrs() {
		us = append(us, "https://"+a)
	}
	return strings.Join(us, ",")
}

// masterAlive: a master answers (with several, any).
func (l *Live) masterAlive() bool {
	if l.master != nil && l.master.alive() {
		return true
	}
	for _, sb := range l.standbys {
		if sb.proc != nil && sb.proc.alive() {
			return true
		}
	}
	return false
}

// role asks a master's /healthz for its role ("" when it does not answer).
func (l *Live) role(addr string) string {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: l.caPool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + addr + "/healthz")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	return body["role"]
}

// relayTargets is where a node's relay dials: the leader first, then the
// others (one master: that one).
func (l *Live) relayTargets() []string {
	all := l.addrs()
	if len(all) == 1 {
		return all
	}
	var leader, others []string
	for _, a := range all {
		if l.role(a) == "leader" {
			leader = append(leader, a)
		} else {
			others = append(others, a)
		}
	}
	return append(leader, others...)
}

var _ backend.Masters = (*Live)(nil)

// MastersOnPostgres is how many masters share the PostgreSQL database (0
// on SQLite).
func (l *Live) MastersOnPostgres() int {
	if l.cfg.Postgres == "" {
		return 0
	}
	return 1 + len(l.standbys)
}

// MasterRoles asks each master's /healthz its role, the first master
// first ("" when it does not answer).
func (l *Live) MasterRoles(ctx context.Context) []string {
	var roles []string
	for _, a := range l.addrs() {
		roles = append(roles, l.role(a))
	}
	return roles
}

// KillLeader SIGKILLs the master that leads, without waiting for another
// to take over; RestoreMaster starts it again.
func (l *Live) KillLeader(ctx context.Context) (int, error) {
	for i, a := range l.addrs() {
		if l.role(a) != "leader" {
			continue
		}
		if i == 0 {
			l.master.kill()
		} else {
			l.standbys[i-1].proc.kill()
		}
		l.cutIndex = i
		l.cfg.Log("leader %s killed", a)
		return i, nil
	}
	return -1, backend.Errorf(backend.ErrConflict, "no master leads")
}

// killLeader SIGKILLs the master that leads and waits until another
// leads.
func (l *Live) killLeader(ctx context.Context) error {
	if _, err := l.KillLeader(ctx); err != nil {
		return err
	}
	// Another master takes over: the outage is that short.
	return l.waitLeader(ctx)
}

// waitLeader waits until a master answers as the leader.
func (l *Live) waitLeader(ctx context.Context) error {
	start := time.Now()
	for deadline := start.Add(30 * time.Second); ; {
		for _, a := range l.addrs() {
			if l.role(a) == "leader" {
				l.cfg.Log("master %s leads (after %s)", a, time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("livebackend: no master took the lead within 30s (see the logs in %s)", filepath.Join(l.cfg.Dir, "logs"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

package server

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileTicketKeys holds the keys that encrypt the TLS session tickets the
// master issues (mode 0600, never in the database): a node that reconnects
// after a master restart resumes its session (no signature, no certificate
// chain to verify) instead of a full handshake. A resumed session carries
// the certificate it began with, and every request is still authenticated
// from it (revoked certificates and gone identities are refused).
const FileTicketKeys = "tls-ticket-keys"

// Session-ticket key rotation: a new key every TicketKeyRotation; a key
// still decrypts tickets for TicketKeyLifetime (a TLS 1.3 ticket lives at
// most 7 days), then it is dropped.
const (
	TicketKeyRotation = 24 * time.Hour
	TicketKeyLifetime = 8 * 24 * time.Hour
)

// Deadlines of a connection to the API: its TLS handshake must end within
// HandshakeTimeout of the connection's acceptance, then each request's
// header within HeaderTimeout. The handshake's is longer: when thousands of
// nodes reconnect at once, handshakes queue for the CPU, and one cut short
// is made again in full by its node, which only lengthens the queue.
const (
	HandshakeTimeout = 30 * time.Second
	HeaderTimeout    = 10 * time.Second
)

// ticketKey is one session-ticket key and when it was made.
type ticketKey struct {
	made time.Time
	key  [32]byte
}

// ticketKeys keeps the session-ticket keys of a data directory's file, the
// newest first, and sets them on the API's TLS configuration.
type ticketKeys struct {
	mu   sync.Mutex
	path string
	keys []ticketKey
}

// loadTicketKeys reads path (a missing file: no keys yet), then rotates
// (see rotate). A file readable by others than its owner, or not in the
// expected format, is refused with the line at fault.
func loadTicketKeys(path string, now time.Time) (*ticketKeys, error) {
	tk := &ticketKeys{path: path}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("TLS session-ticket keys: %w", err)
	default:
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("TLS session-ticket keys: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("TLS session-ticket keys %s: mode %04o lets others than its owner read it: expected 0600 (chmod 600 %s, or remove it: the nodes then make full handshakes once)", path, st.Mode().Perm(), path)
		}
		if tk.keys, err = parseTicketKeys(data); err != nil {
			return nil, fmt.Errorf("TLS session-ticket keys %s: %w", path, err)
		}
	}
	if _, err := tk.rotate(now); err != nil {
		return nil, err
	}
	return tk, nil
}

// parseTicketKeys reads lines "UNIX-SECONDS HEX-KEY" (32-byte keys).
func parseTicketKeys(data []byte) ([]ticketKey, error) {
	var keys []ticketKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: expected \"UNIX-SECONDS HEX-KEY\", got %d fields", n, len(f))
		}
		secs, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: time %q: expected seconds since 1970", n, f[0])
		}
		raw, err := hex.DecodeString(f[1])
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("line %d: key: expected 64 hexadecimal digits", n)
		}
		k := ticketKey{made: time.Unix(secs, 0).UTC()}
		copy(k.key[:], raw)
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Newest first: the first key encrypts new tickets.
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j].made.After(keys[j-1].made); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys, nil
}

// rotate adds a new key when the newest is TicketKeyRotation old (or there
// is none, or it is from the future), drops keys older than
// TicketKeyLifetime, and writes the file when anything changed (mode 0600,
// replaced atomically). It reports whether the keys changed.
func (tk *ticketKeys) rotate(now time.Time) (bool, error) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	changed := false
	if len(tk.keys) == 0 || now.Sub(tk.keys[0].made) >= TicketKeyRotation || tk.keys[0].made.After(now.Add(time.Hour)) {
		k := ticketKey{made: now.UTC().Truncate(time.Second)}
		if _, err := rand.Read(k.key[:]); err != nil {
			return false, fmt.Errorf("TLS session-ticket keys: %w", err)
		}
		tk.keys = append([]ticketKey{k}, tk.keys...)
		changed = true
	}
	kept := tk.keys[:1]
	for _, k := range tk.keys[1:] {
		if now.Sub(k.made) < TicketKeyLifetime && !k.made.After(now.Add(time.Hour)) {
			kept = append(kept, k)
		}
	}
	changed = changed || len(kept) != len(tk.keys)
	tk.keys = kept
	if !changed {
		return false, nil
	}
	var b strings.Builder
	for _, k := range tk.keys {
		fmt.Fprintf(&b, "%d %s\n", k.made.Unix(), hex.EncodeToString(k.key[:]))
	}
	tmp, err := os.CreateTemp(filepath.Dir(tk.path), "."+filepath.Base(tk.path)+"-*")
	if err != nil {
		return false, fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return false, fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return false, fmt.Errorf("TLS session-ticket keys: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	if err := os.Rename(tmp.Name(), tk.path); err != nil {
		return false, fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	return true, nil
}

// set gives the keys to cfg (the newest encrypts new tickets).
func (tk *ticketKeys) set(cfg *tls.Config) {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	keys := make([][32]byte, len(tk.keys))
	for i, k := range tk.keys {
		keys[i] = k.key
	}
	cfg.SetSessionTicketKeys(keys)
}

// handshakeListener gives each accepted connection HandshakeTimeout for
// its TLS handshake, counted from its acceptance (see handshakeConn).
type handshakeListener struct {
	net.Listener
	timeout time.Duration
}

// Accept returns the next connection under its handshake deadline. A
// connection whose deadline cannot be set (already gone) is closed and the
// next one accepted: one caller's connection never stops the listener.
func (l handshakeListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		hc := &handshakeConn{Conn: c, until: time.Now().Add(l.timeout)}
		if err := c.SetDeadline(hc.until); err != nil {
			c.Close()
			continue
		}
		return hc, nil
	}
}

// handshakeConn is an accepted connection under its handshake deadline:
// until the deadlines are first cleared (net/http does so once the TLS
// handshake is over), a deadline set on it is pushed back to the handshake
// deadline, so that net/http's (the header timeout) does not cut the
// handshake short; afterwards deadlines pass through.
type handshakeConn struct {
	net.Conn
	until time.Time
	done  atomic.Bool
}

func (c *handshakeConn) adjust(t time.Time) time.Time {
	if c.done.Load() {
		return t
	}
	if t.IsZero() {
		c.done.Store(true)
		return t
	}
	if t.Before(c.until) {
		return c.until
	}
	return t
}

func (c *handshakeConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.adjust(t)) }
func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.adjust(t))
}
func (c *handshakeConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.adjust(t))
}

package server

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slapgo/slapgo/master/ca"
)

// TLS session tickets: a node that reconnects resumes its session (no
// signature, no certificate chain to verify) instead of a full handshake,
// after a master restart and on another master of the same grid after a
// take-over. The keys that encrypt the tickets are derived from the CA's
// private key (ca.Authority.DeriveKey), one per period of
// TicketKeyRotation: every master holding the grid's CA key (which the
// operator copies to each, see README) derives the same keys at the same
// time, with nothing to share, store or rotate by hand; they live in
// memory only, and the CA key never leaves the data directory. A resumed
// session carries the certificate it began with, and every request is
// still authenticated from it (revoked certificates and gone identities
// are refused).
//
// FileTicketKeys names the file where earlier versions kept random ticket
// keys; it is no longer read (the master says so once if it finds one).
const FileTicketKeys = "tls-ticket-keys"

// Session-ticket key rotation: a new key every TicketKeyRotation (periods
// counted from the Unix epoch, the same for every master); a key still
// decrypts tickets for TicketKeyLifetime (a TLS 1.3 ticket lives at most 7
// days), then it is dropped.
const (
	TicketKeyRotation = 24 * time.Hour
	TicketKeyLifetime = 8 * 24 * time.Hour
)

// ticketKeyLabel names the purpose of the keys derived from the CA key.
const ticketKeyLabel = "TLS session-ticket keys v1"

// Deadlines of a connection to the API: its TLS handshake must end within
// HandshakeTimeout of the connection's acceptance, then each request's
// header within HeaderTimeout. The handshake's is longer: when thousands of
// nodes reconnect at once, handshakes queue for the CPU, and one cut short
// is made again in full by its node, which only lengthens the queue.
const (
	HandshakeTimeout = 30 * time.Second
	HeaderTimeout    = 10 * time.Second
)

// ticketKeys derives the session-ticket keys of each period from a secret
// derived from the CA key, and sets them on the API's TLS configuration.
type ticketKeys struct {
	mu     sync.Mutex
	secret [32]byte
	period int64 // the period of the keys set last
}

// newTicketKeys derives the grid's ticket secret from the CA.
func newTicketKeys(authority *ca.Authority) (*ticketKeys, error) {
	secret, err := authority.DeriveKey(ticketKeyLabel)
	if err != nil {
		return nil, fmt.Errorf("TLS session-ticket keys: %w", err)
	}
	return &ticketKeys{secret: secret, period: -1}, nil
}

func ticketPeriod(now time.Time) int64 { return now.Unix() / int64(TicketKeyRotation/time.Second) }

// keyOf derives the key of one period: HMAC-SHA-256 of the period's number
// under the secret.
func (tk *ticketKeys) keyOf(period int64) [32]byte {
	mac := hmac.New(sha256.New, tk.secret[:])
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(period))
	mac.Write(b[:])
	var k [32]byte
	copy(k[:], mac.Sum(nil))
	return k
}

// keysAt lists the keys in use at now: the period's own first (it
// encrypts new tickets), then the next period's (a master whose clock runs
// ahead may already issue tickets under it), then those of the previous
// periods that a ticket may still be presented under.
func (tk *ticketKeys) keysAt(now time.Time) [][32]byte {
	p := ticketPeriod(now)
	keys := [][32]byte{tk.keyOf(p), tk.keyOf(p + 1)}
	for back := int64(1); back < int64(TicketKeyLifetime/TicketKeyRotation); back++ {
		keys = append(keys, tk.keyOf(p-back))
	}
	return keys
}

// set gives cfg the keys in use at now when the period changed since the
// last call, and reports whether it did.
func (tk *ticketKeys) set(cfg *tls.Config, now time.Time) bool {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	p := ticketPeriod(now)
	if p == tk.period {
		return false
	}
	tk.period = p
	cfg.SetSessionTicketKeys(tk.keysAt(now))
	return true
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

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/master/api"
	"github.com/slapgo/slapgo/master/store"
)

// Several masters on one PostgreSQL database: one leads, the others follow.
//
// A master opened on PostgreSQL starts as a follower: it loads a snapshot
// of the database, then follows the mutation log (LISTEN/NOTIFY, and a
// catch-up read every second in case a notification was missed), applying
// each commit's entities to its state in place (see catchUp): a warm state
// that answers reads. It redirects writes to the leader (307,
// or 503 naming the leader while none is known). Meanwhile it waits for the
// leader lock (store.Postgres.Lead); once it holds it, the epoch moved, so
// no other master can commit again: it reads the log to its end, and leads.
//
// A leader whose lock session ends, or whose write finds another epoch,
// stops (Serve returns the store's failure): restarted, it follows.

// followInterval is how often a follower reads the log without being
// notified.
const followInterval = time.Second

// changesPerRead bounds the commits read from the log at once.
const changesPerRead = 1000

// follower is where a follower stands in the mutation log.
type follower struct {
	seq int64 // the last commit of the log applied
}

func newFollower(snap store.Snapshot) *follower { return &follower{seq: snap.Seq} }

// Leading reports whether this master applies commands: always on SQLite;
// on PostgreSQL once it holds the leader lock.
func (s *Server) Leading() bool { return s.pg == nil || s.lead.Load() }

// SetAdvertiseURL sets the URL under which the other masters redirect to
// this one when it leads (default: none, followers then answer 503).
func (s *Server) SetAdvertiseURL(u string) { s.advertise = u }

// followerRedirect answers a request a follower does not serve: every
// write, and the computer view (a poll may record the computer's contact).
// It returns false when the request is for this master.
func (s *Server) followerRedirect(w http.ResponseWriter, r *http.Request, pattern string) bool {
	if s.Leading() {
		return false
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && pattern != "GET "+api.Prefix+"/computers/{id}" {
		return false
	}
	leader, _ := s.leaderURL.Load().(string)
	if leader != "" && leader != s.advertise {
		http.Redirect(w, r, leader+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		return true
	}
	writeJSON(w, http.StatusServiceUnavailable, api.ErrorBody{Code: api.CodeUnavailable,
		Message: "this master follows and no leader is known yet (a take-over is under way): retry, or ask another master"})
	return true
}

// runHA follows the log until this master takes the lead, then promotes
// it. It returns when ctx is done, or after the promotion.
func (s *Server) runHA(ctx context.Context) {
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	notify := make(chan struct{}, 1)
	go func() {
		for lctx.Err() == nil {
			err := s.pg.Listen(lctx, notify)
			if lctx.Err() != nil {
				return
			}
			s.log.Warn("listening for commits failed: catching up by reading the log", "error", err)
			select {
			case <-lctx.Done():
			case <-time.After(followInterval):
			}
		}
	}()
	type leadResult struct {
		info store.LeaderInfo
		err  error
	}
	led := make(chan leadResult, 1)
	campaign := func() {
		host, _ := os.Hostname()
		info, err := s.pg.Lead(ctx, fmt.Sprintf("%s pid %d", host, os.Getpid()), s.advertise)
		led <- leadResult{info, err}
	}
	go campaign()
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	s.refreshLeader(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-notify:
			s.catchUp(ctx)
		case <-tick.C:
			s.catchUp(ctx)
			s.refreshLeader(ctx)
		case r := <-led:
			if r.err != nil {
				if ctx.Err() != nil {
					return
				}
				// The database is away (a restart): wait for the lock
				// again once it answers.
				s.log.Warn("waiting for the leader lock failed: trying again", "error", r.err)
				go func() {
					select {
					case <-ctx.Done():
						led <- leadResult{err: ctx.Err()}
					case <-time.After(followInterval):
						campaign()
					}
				}()
				continue
			}
			s.promote(ctx, r.info)
			return
		}
	}
}

func (s *Server) refreshLeader(ctx context.Context) {
	li, err := s.pg.Leader(ctx)
	if err != nil {
		s.log.Warn("reading the leader", "error", err)
		return
	}
	s.leaderURL.Store(li.URL)
}

// catchUp applies the commits of the log after the follower's position
// to the warm state, in place (core/master.ApplyPersisted): a round costs
// what its commits changed, not the size of the grid. The whole state is
// loaded again (store.Postgres.Snapshot, then core/master.Restore) only
// when the log no longer reaches back to the follower's position
// (ErrLogTruncated: the follower was away for more than the commits the
// log keeps), or when a commit cannot be applied in place (the log and the
// state disagree: a defect, logged as an error). A new epoch (another
// leader) needs no reload: its commits continue the same log.
//
// Only runHA's goroutine calls it, so s.fol is read and changed without
// s.mu; the state, tokens and certificates the handlers read are changed
// under s.mu. It is quiet about errors (a database restart): the next round
// retries.
func (s *Server) catchUp(ctx context.Context) error {
	if s.fol == nil {
		return nil
	}
	applied := 0
	for {
		changes, err := s.pg.ChangesAfter(ctx, s.fol.seq, changesPerRead)
		if errors.Is(err, store.ErrLogTruncated) {
			s.log.Warn("the follower fell behind the log: loading the whole state", "error", err)
			if err := s.reloadFollower(ctx); err != nil {
				return err
			}
			applied++
			continue
		}
		if err != nil {
			s.log.Warn("following the log", "error", err)
			return err
		}
		s.mu.Lock()
		var failed error
		for _, c := range changes {
			if err := s.state.ApplyPersisted(c.Entities); err != nil {
				failed = fmt.Errorf("server: applying commit %d of the log: %w", c.Seq, err)
				break
			}
			for _, t := range c.Tokens {
				s.tokens[t.Hash] = t
			}
			s.noteCertificates(c.Certificates)
			s.fol.seq = c.Seq
			applied++
		}
		if applied > 0 {
			for _, m := range s.views {
				clear(m)
			}
		}
		s.mu.Unlock()
		if failed != nil {
			s.log.Error("the log does not apply to the warm state: loading the whole state", "error", failed)
			if err := s.reloadFollower(ctx); err != nil {
				return err
			}
			continue
		}
		if len(changes) < changesPerRead {
			break
		}
	}
	if applied > 0 {
		s.metrics.followed.Set(float64(s.fol.seq))
	}
	return nil
}

// reloadFollower loads the whole state from a snapshot of the database.
func (s *Server) reloadFollower(ctx context.Context) error {
	snap, err := s.pg.Snapshot(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	cfg := s.state.Config()
	s.mu.Unlock()
	st, err := master.Restore(cfg, snap.Entities)
	if err != nil {
		// The leader wrote what it could restore: this is a defect.
		s.fatalf(fmt.Errorf("server: loading the follower's state at commit %d: %w", snap.Seq, err))
		return err
	}
	s.mu.Lock()
	s.state = st
	s.tokens = map[string]store.Token{}
	s.certs = map[string]store.Certificate{}
	for _, t := range snap.Tokens {
		s.tokens[t.Hash] = t
	}
	s.noteCertificates(snap.Certificates)
	for _, m := range s.views {
		clear(m)
	}
	s.mu.Unlock()
	s.fol = newFollower(snap)
	s.metrics.followed.Set(float64(s.fol.seq))
	return nil
}

// promote makes this master the leader: the epoch moved (no other master
// can commit), so the log read to its end holds every acknowledged write.
func (s *Server) promote(ctx context.Context, info store.LeaderInfo) {
	start := time.Now()
	for {
		if err := s.catchUp(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.mu.Lock()
	s.fol = nil // runHA's goroutine, the only user, is here
	s.lead.Store(true)
	s.leaderURL.Store(s.advertise)
	s.mu.Unlock()
	s.metrics.leading.Set(1)
	s.log.Info("leading", "epoch", info.Epoch, "url", s.advertise, "caught_up_in", time.Since(start))
}

func (s *Server) fatalf(err error) {
	select {
	case s.fatal <- err:
	default:
	}
}

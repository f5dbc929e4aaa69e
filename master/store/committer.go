package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slapgo/slapgo/core/master"
)

type entry struct {
	seq   uint64
	batch Batch
}

// committer is the group commit shared by the stores: one writer goroutine
// takes every batch queued while the previous transaction was written and
// hands them to write, which commits them in one transaction.
type committer struct {
	where string // the database, for errors
	write func(group []entry) error
	opts  Options

	qmu     sync.Mutex
	queue   []entry
	lastSeq uint64
	closed  bool
	wake    chan struct{}

	committed atomic.Uint64
	cmu       sync.Mutex
	progress  chan struct{} // closed and replaced whenever committed grows or the store fails
	err       error
	failed    chan struct{}

	done chan struct{}
}

func newCommitter(where string, opts Options, write func([]entry) error) *committer {
	return &committer{where: where, write: write, opts: opts, wake: make(chan struct{}, 1),
		progress: make(chan struct{}), failed: make(chan struct{}), done: make(chan struct{})}
}

// start starts the writer.
func (s *committer) start() { go s.run() }

// Submit queues a batch and returns its sequence number; an empty batch
// returns the sequence of the last batch queued (a barrier). Call it in
// apply order (see the package doc). It does not wait.
func (s *committer) Submit(b Batch) (uint64, error) {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return 0, ErrClosed
	}
	if err := s.Err(); err != nil {
		s.qmu.Unlock()
		return 0, err
	}
	if b.empty() {
		seq := s.lastSeq
		s.qmu.Unlock()
		return seq, nil
	}
	s.lastSeq++
	seq := s.lastSeq
	s.queue = append(s.queue, entry{seq: seq, batch: b})
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return seq, nil
}

// Wait returns once every batch up to seq is committed, or the store's
// failure, or ctx's error (the batch is still committed later).
func (s *committer) Wait(ctx context.Context, seq uint64) error {
	for {
		if s.committed.Load() >= seq {
			return nil
		}
		s.cmu.Lock()
		ch, err := s.progress, s.err
		s.cmu.Unlock()
		if err != nil {
			return err
		}
		if s.committed.Load() >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Commit is Submit then Wait.
func (s *committer) Commit(ctx context.Context, b Batch) error {
	seq, err := s.Submit(b)
	if err != nil {
		return err
	}
	return s.Wait(ctx, seq)
}

// Err is the write failure that stopped the store, or nil.
func (s *committer) Err() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.err
}

// Failed is closed when a write fails (see Err).
func (s *committer) Failed() <-chan struct{} { return s.failed }

// stop flushes the queued batches and stops the writer. It returns the
// store's failure, if any.
func (s *committer) stop() error {
	s.qmu.Lock()
	already := s.closed
	s.closed = true
	s.qmu.Unlock()
	if !already {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	<-s.done
	return s.Err()
}

// run is the writer: it commits every queued batch, group by group.
func (s *committer) run() {
	defer close(s.done)
	var spare []entry
	for {
		s.qmu.Lock()
		for len(s.queue) == 0 && !s.closed {
			s.qmu.Unlock()
			<-s.wake
			s.qmu.Lock()
		}
		if len(s.queue) == 0 {
			s.qmu.Unlock()
			return
		}
		group := s.queue
		s.queue = spare[:0]
		s.qmu.Unlock()

		if s.Err() == nil {
			start := time.Now()
			err := s.write(group)
			if err != nil {
				s.fail(fmt.Errorf("%w: writing %d batches to %s, the master must restart: %w", ErrFailed, len(group), s.where, err))
			} else {
				s.cmu.Lock()
				s.committed.Store(group[len(group)-1].seq)
				close(s.progress)
				s.progress = make(chan struct{})
				s.cmu.Unlock()
				if s.opts.OnCommit != nil {
					s.opts.OnCommit(len(group), time.Since(start))
				}
			}
		}
		clear(group) // drop references to the values
		spare = group
	}
}

func (s *committer) fail(err error) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	close(s.progress)
	s.progress = make(chan struct{})
	close(s.failed)
}

type entityKey struct {
	kind master.EntityKind
	key  string
}

// flatten merges a group of batches: within the group only the last
// mutation of an entity is kept (the result is the same as writing them one
// after the other); superseded ones have an empty Kind.
func flatten(group []entry) (muts []master.Mutation, tokens []Token, certs []Certificate) {
	last := map[entityKey]int{}
	for _, e := range group {
		for _, m := range e.batch.Mutations {
			k := entityKey{m.Kind, m.Key}
			if i, ok := last[k]; ok {
				muts[i].Value, muts[i].Delete = nil, false
				muts[i].Kind = "" // superseded
			}
			last[k] = len(muts)
			muts = append(muts, m)
		}
		tokens = append(tokens, e.batch.Tokens...)
		certs = append(certs, e.batch.Certificates...)
	}
	return muts, tokens, certs
}

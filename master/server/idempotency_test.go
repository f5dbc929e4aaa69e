package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slapgo/slapgo/internal/pgtest"
	"github.com/slapgo/slapgo/master/api"
)

// lossyFront serves a master's API on another address, but loses the
// answer of the first request that reaches it: the request is applied by
// the real master (committed), then afterApply runs, then the connection
// is cut without an answer. Every later request is served normally.
func lossyFront(t *testing.T, srv *Server, afterApply func()) string {
	t.Helper()
	var lost atomic.Bool
	h := srv.Handler()
	front := &http.Server{
		TLSConfig: srv.TLSConfig(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !lost.CompareAndSwap(false, true) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code >= 300 {
				t.Errorf("the request whose answer is lost failed: %d %s", rec.Code, rec.Body)
			}
			if afterApply != nil {
				afterApply()
			}
			panic(http.ErrAbortHandler) // the answer is lost
		}),
		ErrorLog: nil,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	noErr(t, err)
	go front.Serve(tls.NewListener(ln, front.TLSConfig))
	t.Cleanup(func() { front.Close() })
	return "https://" + ln.Addr().String()
}

// TestLostAnswerAppliesOnce: the answer to `person add` without an id is
// lost after the master committed it; the client re-sends to the next
// master URL, and exactly one person exists, the one the client is told.
func TestLostAnswerAppliesOnce(t *testing.T) {
	m := startMaster(t, nil)
	front := lossyFront(t, m.srv, nil)
	c, err := api.NewClient(front+","+m.url, filepath.Join(m.dir, FileAdminCert), filepath.Join(m.dir, FileAdminKey), filepath.Join(m.dir, FileCACert))
	noErr(t, err)
	t.Cleanup(c.HTTP.CloseIdleConnections)
	ctx := context.Background()
	res, err := c.AddPerson(ctx, api.AddPersonRequest{Name: "Alice"})
	noErr(t, err)
	persons, err := m.admin.Persons(ctx)
	noErr(t, err)
	if len(persons) != 1 || persons[0].ID != res.Person.ID {
		t.Fatalf("persons after a lost answer and a re-send = %+v, want only %s", persons, res.Person.ID)
	}
	// The credentials the re-send got are the person's.
	who, err := clientFor(t, res.Credentials, m.url).WhoAmI(ctx)
	if err != nil || who.Identity.ID != res.Person.ID {
		t.Fatalf("the replayed answer's credentials: %+v, %v", who, err)
	}
	// A new logical call draws a new key: it adds a second person.
	if _, err := c.AddPerson(ctx, api.AddPersonRequest{Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	if persons, _ := m.admin.Persons(ctx); len(persons) != 2 {
		t.Fatalf("%d persons after a second call, want 2", len(persons))
	}
}

// TestLostAnswerAcrossTakeOver: the leader commits `person add` (no id),
// then stops before answering; the follower takes over and the client's
// re-send reaches it: the key, followed from the mutation log, answers
// with the first result and exactly one person exists.
func TestLostAnswerAcrossTakeOver(t *testing.T) {
	pg := pgtest.Start(t)
	dirs, url := initPostgresGrid(t, pg, 2)
	a := startHA(t, dirs[0], url, "127.0.0.1:0")
	waitFor(t, "a leads", 10*time.Second, a.srv.Leading)
	b := startHA(t, dirs[1], url, "127.0.0.1:0")
	front := lossyFront(t, a.srv, func() {
		// Committed; the leader dies before it answers.
		if err := a.stop(); err != nil {
			t.Errorf("stopping a: %v", err)
		}
		waitFor(t, "b takes over", 15*time.Second, b.srv.Leading)
	})
	c := adminClient(t, dirs[0], front, b.url)
	ctx := context.Background()
	res, err := c.AddPerson(ctx, api.AddPersonRequest{Name: "Alice"})
	noErr(t, err)
	persons, err := adminClient(t, dirs[1], b.url).Persons(ctx)
	noErr(t, err)
	var ids []string
	for _, p := range persons {
		ids = append(ids, p.ID)
	}
	if len(persons) != 1 || persons[0].ID != res.Person.ID {
		t.Fatalf("persons after the take-over = [%s], want only %s", strings.Join(ids, " "), res.Person.ID)
	}
}

package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/slapgo/slapgo/core/master"
	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/store"
)

// viewCacheControl is what SlapOS's master sends with a computer's view:
// caches may keep it a second, and serve it for a week when the master
// fails.
const viewCacheControl = "public, max-age=1, stale-if-error=604800"

// cachedView is a computer's view encoded once per version. body is
// immutable; gz is built on first demand.
type cachedView struct {
	gzipLevel int
	version   uint64
	etag      string
	body      []byte
	gzOnce    sync.Once
	gz        []byte
}

// gzipMinBytes: a view smaller than this is sent as is. It fits in one or
// two TCP segments either way, and compressing it would cost more CPU than
// the bytes it saves.
const gzipMinBytes = 1024

// gzipWriters holds gzip compressors for reuse. A compressor is ~1 MiB of
// state: one per view version made the garbage collector the master's
// largest cost when thousands of nodes reconnect at once.
// One pool per level a view format uses (JSON: BestSpeed, SLAP's XML:
// DefaultCompression).
var gzipWriters = map[int]*sync.Pool{
	gzip.BestSpeed:          gzipPool(gzip.BestSpeed),
	gzip.DefaultCompression: gzipPool(gzip.DefaultCompression),
}

func gzipPool(level int) *sync.Pool {
	return &sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, level)
		return zw
	}}
}

// gzipWriterFor takes a compressor of that level from its pool (a new one
// for a level no format declared).
func gzipWriterFor(level int) *gzip.Writer {
	if p := gzipWriters[level]; p != nil {
		return p.Get().(*gzip.Writer)
	}
	zw, _ := gzip.NewWriterLevel(io.Discard, level)
	return zw
}

func putGzipWriter(level int, zw *gzip.Writer) {
	if p := gzipWriters[level]; p != nil {
		p.Put(zw)
	}
}

// gzipped is the body compressed with gzip, built on first demand; nil
// when the view is too small to be worth it (send body).
func (v *cachedView) gzipped() []byte {
	if len(v.body) < gzipMinBytes {
		return nil
	}
	v.gzOnce.Do(func() {
		var b bytes.Buffer
		b.Grow(len(v.body) / 4)
		zw := gzipWriterFor(v.gzipLevel)
		zw.Reset(&b)
		zw.Write(v.body)
		zw.Close()
		zw.Reset(io.Discard) // keep no reference to b
		putGzipWriter(v.gzipLevel, zw)
		v.gz = b.Bytes()
	})
	return v.gz
}

func formatETag(version uint64) string {
	return `"` + strconv.FormatUint(version, 10) + `"`
}

// etagMatches reports whether an If-None-Match header names the version
// (strong or weak, in a list, or "*").
func etagMatches(header string, version uint64) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		tag = strings.TrimPrefix(tag, "W/")
		if len(tag) < 2 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue
		}
		if n, err := strconv.ParseUint(tag[1:len(tag)-1], 10, 64); err == nil && n == version {
			return true
		}
	}
	return false
}

// computerView serves GET /computers/{id}: authorization first, then the
// version (one map lookup) for a 304, else the view encoded once per
// version. A poll by the computer itself applies master.Contact when the
// core's ContactDue says so (it came back, or its recorded contact grew
// old), and answers once that is durable; other polls cost a lookup.
func (s *Server) computerView(w http.ResponseWriter, r *http.Request, who model.Actor) {
	s.serveView(w, r, who, r.PathValue("id"), jsonView)
}

// viewFormat is one encoding of computer views: JSON for /api/v1, the
// Computer pickle for SLAP. Each has its own cache (Server.views).
type viewFormat struct {
	index       int // into Server.views
	contentType string
	// gzipLevel: JSON compresses well at BestSpeed; SLAP's verbose XML
	// halves again at the default level for about the same time.
	gzipLevel int
	encode    func(*model.ComputerView) ([]byte, error)
	// plainErrors: errors in plain text (SLAP), not JSON.
	plainErrors bool
}

func (f viewFormat) writeError(w http.ResponseWriter, s *Server, err error) {
	if f.plainErrors {
		writeSLAPError(w, s, err)
		return
	}
	writeError(w, s.log, err)
}

var jsonView = viewFormat{index: 0, contentType: "application/json", gzipLevel: gzip.BestSpeed, encode: func(v *model.ComputerView) ([]byte, error) {
	body, err := json.Marshal(v)
	return append(body, '\n'), err
}}

// serveView answers a computer's view in a format (see computerView).
func (s *Server) serveView(w http.ResponseWriter, r *http.Request, who model.Actor, id string, f viewFormat) {
	inm := r.Header.Get("If-None-Match")
	var placed master.Result
	contacted := false

	s.mu.Lock()
	now := s.now()
	if err := s.state.CanReadComputer(who, id); err != nil {
		// The refusal may rest on queued changes: wait for them too.
		seq, serr := s.store.Submit(store.Batch{})
		s.mu.Unlock()
		if serr == nil {
			serr = s.store.Wait(r.Context(), seq)
		}
		if serr != nil {
			err = serr
		}
		f.writeError(w, s, err)
		return
	}
	var seq uint64
	var serr error
	if who.Kind == model.KindComputer && who.ID == id && s.state.ContactDue(id, now) {
		res, muts, err := s.state.Apply(now, master.Contact{By: who, ComputerID: id})
		if err == nil {
			err = s.discardUnstorable(r.Context(), "contact", muts)
		}
		if err == nil && len(muts) > 0 {
			seq, serr = s.store.Submit(store.Batch{Mutations: muts})
			placed, contacted = res, true
		}
	}
	version, _ := s.state.ViewVersion(id)
	if inm != "" && etagMatches(inm, version) {
		s.mu.Unlock()
		if contacted {
			if serr == nil {
				serr = s.store.Wait(r.Context(), seq)
			}
			if serr != nil {
				f.writeError(w, s, serr)
				return
			}
			s.metrics.observeResult(master.Contact{}, placed)
		}
		h := w.Header()
		h.Set("ETag", formatETag(version))
		h.Set("Cache-Control", viewCacheControl)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	cv := s.views[f.index][id]
	if cv == nil || cv.version != version {
		view, err := s.state.ComputerView(id)
		if err == nil {
			var body []byte
			body, err = f.encode(&view)
			cv = &cachedView{gzipLevel: f.gzipLevel, version: version, etag: formatETag(version), body: body}
			s.views[f.index][id] = cv
		}
		if err != nil {
			s.mu.Unlock()
			f.writeError(w, s, err)
			return
		}
	}
	if serr == nil {
		seq, serr = s.store.Submit(store.Batch{}) // barrier: the view may show queued changes
	}
	s.mu.Unlock()
	if serr == nil {
		serr = s.store.Wait(r.Context(), seq)
	}
	if serr != nil {
		f.writeError(w, s, serr)
		return
	}
	if contacted {
		s.metrics.observeResult(master.Contact{}, placed)
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", cv.etag)
	h.Set("Cache-Control", viewCacheControl)
	h.Set("Vary", "Accept-Encoding")
	body := cv.body
	if acceptsGzip(r) {
		if gz := cv.gzipped(); gz != nil {
			body = gz
			h.Set("Content-Encoding", "gzip")
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
			if !ok {
				return true
			}
			if v, err := strconv.ParseFloat(strings.TrimSpace(q), 64); err == nil && v > 0 {
				return true
			}
		}
	}
	return false
}

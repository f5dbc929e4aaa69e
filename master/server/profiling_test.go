package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestProfiling: /debug/pprof/ is served on the metrics handler only when
// Options.Profiling is set, and never on the API.
func TestProfiling(t *testing.T) {
	for _, on := range []bool{false, true} {
		m := startMaster(t, func(o *Options) { o.Profiling = on })
		get := func(h http.Handler, path string) (int, string) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			return rec.Code, rec.Body.String()
		}
		code, body := get(m.srv.MetricsHandler(), "/debug/pprof/")
		switch {
		case on && (code != http.StatusOK || !strings.Contains(body, "goroutine")):
			t.Errorf("profiling on: metrics /debug/pprof/: %d %.200s", code, body)
		case !on && code != http.StatusNotFound:
			t.Errorf("profiling off: metrics /debug/pprof/: %d, want 404", code)
		}
		if code, _ := get(m.srv.MetricsHandler(), "/metrics"); code != http.StatusOK {
			t.Errorf("profiling %v: /metrics: %d", on, code)
		}
		if code, body := get(m.srv.Handler(), "/debug/pprof/"); code != http.StatusNotFound {
			t.Errorf("profiling %v: the API serves /debug/pprof/: %d %.200s", on, code, body)
		}
	}
}

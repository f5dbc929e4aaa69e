package profile

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

func TestRunPromise(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	open := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	closed := freePort(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	tests := []struct {
		args []string
		want string // "" = kept
	}{
		{[]string{"port", "127.0.0.1", open}, ""},
		{[]string{"port", "127.0.0.1", open, "--timeout", "2s"}, ""},
		{[]string{"port", "--timeout=2s", "127.0.0.1", open}, ""},
		{[]string{"port", "127.0.0.1", closed, "--timeout", "1s"}, "nothing listens on 127.0.0.1:" + closed},
		{[]string{"http", srv.URL + "/"}, ""},
		{[]string{"http", srv.URL + "/missing", "--expect-status", "404"}, ""},
		{[]string{"http", srv.URL + "/missing"}, "answered 404 Not Found, expected 200"},
		{[]string{"port", "127.0.0.1"}, "expected HOST PORT"},
		{[]string{"port", "127.0.0.1", "http"}, "is not a TCP port number"},
		{[]string{"port", "127.0.0.1", open, "--timeout", "0s"}, "expected a positive duration"},
		{[]string{"ping", "x"}, `unknown check "ping"`},
		{nil, "expected a kind of check"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			err := RunPromise(t.Context(), tt.args, io.Discard)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("promise failed: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

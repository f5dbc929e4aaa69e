package server

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/master/api"
)

var updateSLAP = flag.Bool("update", false, "rewrite the answers of testdata/slap/*.txt")

// slapExchange is one recorded SLAP call and its answer.
type slapExchange struct {
	method, route, as string
	fields            []string // name, value pairs, in the order sent
	status            int
	answer            string
	compare           bool // false: the answer varies (a new certificate)
}

// readExchanges reads a recording: for each call a line
// "=== METHOD route as WHO", lines "name = <Go-quoted value>", then
// "--- STATUS" (or "--- STATUS varies") and the Go-quoted answer.
func readExchanges(t *testing.T, path string) []slapExchange {
	data, err := os.ReadFile(path)
	noErr(t, err)
	var out []slapExchange
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case text == "" || strings.HasPrefix(text, "#"):
		case strings.HasPrefix(text, "=== "):
			f := strings.Fields(text)
			if len(f) != 5 || f[3] != "as" {
				t.Fatalf("%s:%d: want \"=== METHOD route as WHO\"", path, line)
			}
			out = append(out, slapExchange{method: f[1], route: f[2], as: f[4], compare: true})
		case strings.HasPrefix(text, "--- "):
			f := strings.Fields(text)
			st, err := strconv.Atoi(f[1])
			if err != nil || len(out) == 0 {
				t.Fatalf("%s:%d: want \"--- STATUS\" after a call", path, line)
			}
			ex := &out[len(out)-1]
			ex.status, ex.compare = st, len(f) == 2
			if !sc.Scan() {
				t.Fatalf("%s:%d: no answer", path, line)
			}
			line++
			if ex.answer, err = strconv.Unquote(sc.Text()); err != nil {
				t.Fatalf("%s:%d: answer: %v", path, line, err)
			}
		default:
			name, value, ok := strings.Cut(text, " = ")
			v, err := strconv.Unquote(value)
			if !ok || err != nil || len(out) == 0 {
				t.Fatalf("%s:%d: want \"name = <quoted value>\"", path, line)
			}
			ex := &out[len(out)-1]
			ex.fields = append(ex.fields, name, v)
		}
	}
	return out
}

func writeExchanges(t *testing.T, path string, exs []slapExchange, header string) {
	var b strings.Builder
	b.WriteString(header)
	for _, ex := range exs {
		fmt.Fprintf(&b, "\n=== %s %s as %s\n", ex.method, ex.route, ex.as)
		for i := 0; i+1 < len(ex.fields); i += 2 {
			fmt.Fprintf(&b, "%s = %s\n", ex.fields[i], strconv.Quote(ex.fields[i+1]))
		}
		varies := ""
		if !ex.compare {
			varies = " varies"
		}
		fmt.Fprintf(&b, "--- %d%s\n%s\n", ex.status, varies, strconv.Quote(ex.answer))
	}
	noErr(t, os.WriteFile(path, []byte(b.String()), 0o644))
}

// TestSLAPRecordedExchanges replays each recording of testdata/slap
// (requests as slapos.core sends them) against a fresh master and compares
// every answer with the recorded one, byte for byte (-update rewrites the
// answers).
func TestSLAPRecordedExchanges(t *testing.T) {
	paths, err := filepath.Glob("testdata/slap/*.txt")
	noErr(t, err)
	if len(paths) < 2 {
		t.Fatalf("testdata/slap holds %d recordings", len(paths))
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { replayExchanges(t, path) })
	}
}

func replayExchanges(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	noErr(t, err)
	header, _, _ := strings.Cut(string(data), "\n===")
	exs := readExchanges(t, path)
	if len(exs) < 10 {
		t.Fatalf("%s holds %d exchanges", path, len(exs))
	}
	w := newSLAPWorld(t)
	clients := map[string]*api.Client{"alice": w.alice, "bob": w.bob, "COMP-A": w.compA, "COMP-B": w.compB, "anonymous": w.m.anonymous()}
	for i := range exs {
		ex := &exs[i]
		c := clients[ex.as]
		if c == nil {
			// instance:slappartN: the instance of that partition of COMP-A.
			pid, ok := strings.CutPrefix(ex.as, "instance:")
			if !ok {
				t.Fatalf("exchange %d: unknown caller %q", i+1, ex.as)
			}
			cert := pickle(t, slapOK(t, w.compA, http.MethodGet, "getComputerPartitionCertificate", "computer_id", "COMP-A", "computer_partition_id", pid), "")
			c = w.m.client(api.Credentials{CertificatePEM: getStr(t, cert, "certificate"), KeyPEM: getStr(t, cert, "key"), CAPEM: string(w.m.srv.Authority().CertPEM())})
			clients[ex.as] = c
		}
		status, body := slapCall(t, c, ex.method, ex.route, ex.fields...)
		if *updateSLAP {
			ex.status, ex.answer = status, string(body)
			continue
		}
		if status != ex.status || ex.compare && string(body) != ex.answer {
			t.Errorf("exchange %d, %s %s as %s:\n got %d %q\nwant %d %q", i+1, ex.method, ex.route, ex.as, status, body, ex.status, ex.answer)
		}
	}
	if *updateSLAP {
		writeExchanges(t, path, exs, header)
	}
}

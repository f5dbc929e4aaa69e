package profile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// memFetch serves profiles from memory, by absolute path.
func memFetch(files map[string]string) Fetcher {
	return func(ctx context.Context, loc string) (io.ReadCloser, error) {
		p, err := localPath(loc)
		if err != nil {
			return nil, err
		}
		data, ok := files[p]
		if !ok {
			return nil, fmt.Errorf("open %s: no such file", p)
		}
		return io.NopCloser(strings.NewReader(data)), nil
	}
}

// dumpProfile renders every section and option with where it was set,
// replacing root by "<root>".
func dumpProfile(p *Profile, root string) string {
	var b strings.Builder
	rel := func(s string) string { return strings.ReplaceAll(s, root, "<root>") }
	for _, name := range p.SectionNames() {
		s := p.sections[name]
		fmt.Fprintf(&b, "[%s] %s:%d\n", name, rel(s.file), s.line)
		for _, k := range p.OptionNames(name) {
			o, _ := p.Raw(name, k)
			fmt.Fprintf(&b, "  %s = %s  (%s:%d)\n", k, strings.ReplaceAll(rel(o.Value), "\n", `\n`), rel(o.File), o.Line)
		}
	}
	return b.String()
}

func TestLoadGolden(t *testing.T) {
	root, err := filepath.Abs("testdata/load")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(t.Context(), filepath.Join(root, "sub/child.cfg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "load/child.golden", []byte(dumpProfile(p, root)))
	if want := []string{filepath.Join(root, "base.cfg"), filepath.Join(root, "sub/child.cfg")}; strings.Join(p.Files, " ") != strings.Join(want, " ") {
		t.Errorf("Files = %q, want %q", p.Files, want)
	}
	got, err := p.Get("b", "inline")
	if err != nil {
		t.Fatal(err)
	}
	if want := "b from " + root + "/a.in"; got != want {
		t.Errorf("[b] inline = %q, want %q (base location of base.cfg)", got, want)
	}
}

func TestLoadOperators(t *testing.T) {
	files := map[string]string{
		"/p/base.cfg": "[s]\nlist =\n  a b\n  c\nwords = x y z\ntext = one\n",
		"/p/top.cfg":  "[buildout]\nextends = base.cfg\n[s]\nlist -= b c\nwords += w\ntext -= one\nnew += fresh\ngone -= nothing\n",
	}
	p, err := Load(t.Context(), "/p/top.cfg", memFetch(files))
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{"list": "a", "words": "x y z\nw", "text": "", "new": "fresh", "gone": ""} {
		if o, _ := p.Raw("s", opt); o.Value != want {
			t.Errorf("[s] %s = %q, want %q", opt, o.Value, want)
		}
	}
}

func TestLoadExtendsOrder(t *testing.T) {
	// Diamond: top extends left and right, both extend base; right wins
	// over left, top over both; += in each file is relative to its own bases.
	files := map[string]string{
		"/d/base.cfg":  "[s]\nv = base\nl = base\n",
		"/d/left.cfg":  "[buildout]\nextends = base.cfg\n[s]\nv = left\nl += left\n",
		"/d/right.cfg": "[buildout]\nextends = base.cfg\n[s]\nv = right\n",
		"/d/top.cfg":   "[buildout]\nextends = left.cfg right.cfg\n[s]\nl += top\n",
	}
	p, err := Load(t.Context(), "/d/top.cfg", memFetch(files))
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := p.Raw("s", "v"); o.Value != "right" || o.File != "/d/right.cfg" {
		t.Errorf("[s] v = %q from %s, want right from /d/right.cfg", o.Value, o.File)
	}
	// right.cfg's standalone value of l is "base": it overrides left's.
	if o, _ := p.Raw("s", "l"); o.Value != "base\ntop" {
		t.Errorf("[s] l = %q, want %q", o.Value, "base\ntop")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		kind   error
		prefix string // error starts with file:line: [section] option:
		want   string
	}{
		{
			name:   "cycle",
			files:  map[string]string{"/c/a.cfg": "[buildout]\nextends = b.cfg\n", "/c/b.cfg": "[x]\n[buildout]\nextends = c.cfg\n", "/c/c.cfg": "[buildout]\nextends = /c/a.cfg\n"},
			kind:   ErrExtendsCycle,
			prefix: "/c/c.cfg:2: [buildout] extends: ",
			want:   "/c/a.cfg → /c/b.cfg → /c/c.cfg → /c/a.cfg",
		},
		{
			name:   "self",
			files:  map[string]string{"/c/a.cfg": "[buildout]\nextends = ${:_profile_base_location_}/a.cfg\n"},
			kind:   ErrExtendsCycle,
			prefix: "/c/a.cfg:2: [buildout] extends: ",
			want:   "/c/a.cfg → /c/a.cfg",
		},
		{
			name:   "missing extended file",
			files:  map[string]string{"/c/a.cfg": "[buildout]\n\nextends = nothere.cfg\n"},
			kind:   ErrFetch,
			prefix: "/c/a.cfg:3: [buildout] extends: ",
			want:   "/c/nothere.cfg",
		},
		{
			name:   "syntax error in extended file",
			files:  map[string]string{"/c/a.cfg": "[buildout]\nextends = b.cfg\n", "/c/b.cfg": "[s]\noops\n"},
			kind:   ErrSyntax,
			prefix: "/c/b.cfg:2: [s] ",
			want:   "neither a [section]",
		},
		{
			name:   "substitution in extends",
			files:  map[string]string{"/c/a.cfg": "[buildout]\nextends = ${x:y}.cfg\n"},
			kind:   ErrSyntax,
			prefix: "/c/a.cfg:2: [buildout] extends: ",
			want:   "may only use ${:_profile_base_location_}",
		},
		{
			name:   "extends with +=",
			files:  map[string]string{"/c/a.cfg": "[buildout]\nextends += b.cfg\n"},
			kind:   ErrSyntax,
			prefix: "/c/a.cfg:2: [buildout] extends: ",
			want:   `not "+="`,
		},
		{
			name:   "unknown macro",
			files:  map[string]string{"/c/a.cfg": "[s]\n<= nothing\n"},
			kind:   ErrUnknownSection,
			prefix: "/c/a.cfg:2: [s] <: ",
			want:   "macro section [nothing] does not exist",
		},
		{
			name:   "macro cycle",
			files:  map[string]string{"/c/a.cfg": "[s]\n<= t\n[t]\n<= s\n"},
			kind:   ErrSubstitutionCycle,
			prefix: "/c/a.cfg:",
			want:   "macro cycle",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(t.Context(), "/c/a.cfg", memFetch(tt.files))
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q\nwant prefix %q and %q", err, tt.prefix, tt.want)
			}
		})
	}
}

func TestLoadOverHTTP(t *testing.T) {
	files := map[string]string{
		"/sr/v1/software.cfg":    "[buildout]\nextends = ../common/base.cfg\n[s]\nmine = ${:_profile_base_location_}/x\n",
		"/sr/common/base.cfg":    "[s]\nbase = ${:_profile_base_location_}/y\n",
		"/sr/v1/loop/cycle.cfg":  "[buildout]\nextends = ../loop/cycle.cfg\n",
		"/sr/v1/missing-ext.cfg": "[buildout]\nextends = nowhere.cfg\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, data)
	}))
	defer srv.Close()

	p, err := Load(t.Context(), srv.URL+"/sr/v1/software.cfg", nil)
	if err != nil {
		t.Fatal(err)
	}
	for opt, want := range map[string]string{"mine": srv.URL + "/sr/v1/x", "base": srv.URL + "/sr/common/y"} {
		if got, err := p.Get("s", opt); err != nil || got != want {
			t.Errorf("[s] %s = %q (%v), want %q", opt, got, err, want)
		}
	}
	if _, err := Load(t.Context(), srv.URL+"/sr/v1/loop/cycle.cfg", nil); !errors.Is(err, ErrExtendsCycle) {
		t.Errorf("cycle over HTTP: err = %v, want ErrExtendsCycle", err)
	}
	_, err = Load(t.Context(), srv.URL+"/sr/v1/missing-ext.cfg", nil)
	if !errors.Is(err, ErrFetch) || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "missing-ext.cfg:2") {
		t.Errorf("missing file over HTTP: err = %v, want a fetch error naming missing-ext.cfg:2 and the 404", err)
	}
}

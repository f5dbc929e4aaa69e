package profile

import (
	"errors"
	"strings"
	"testing"
)

const expandProfile = `[buildout]
directory = /srv/part

[paths]
bin = ${buildout:directory}/bin
tool = ${:bin}/tool
escaped = $${paths:bin} and $${HOME}
dollar = costs $5 and $$ stays
nested = [${paths:tool}]

[macro]
where = ${:name} in ${buildout:directory}

[user]
<= macro
name = user

[multi]
text =
    first ${paths:bin}
    second
    third ${paths:nothere}

[loop]
a = ${:b}
b = ${loop:c}
c = ${:a}

[bad]
home = ${HOME}
open = ${paths:bin
section = ${nosuch:x}
option = ${paths:nope}
blank = ${paths:has space}
`

func TestExpand(t *testing.T) {
	p, err := Load(t.Context(), "/e/p.cfg", memFetch(map[string]string{"/e/p.cfg": expandProfile}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ sec, opt, want string }{
		{"paths", "bin", "/srv/part/bin"},
		{"paths", "tool", "/srv/part/bin/tool"},
		{"paths", "escaped", "${paths:bin} and ${HOME}"},
		{"paths", "dollar", "costs $5 and $$ stays"},
		{"paths", "nested", "[/srv/part/bin/tool]"},
		{"user", "where", "user in /srv/part"},
		{"paths", "_profile_base_location_", "/e"},
	}
	for _, tt := range tests {
		got, err := p.Get(tt.sec, tt.opt)
		if err != nil || got != tt.want {
			t.Errorf("${%s:%s} = %q, %v; want %q", tt.sec, tt.opt, got, err, tt.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	p, err := Load(t.Context(), "/e/p.cfg", memFetch(map[string]string{"/e/p.cfg": expandProfile}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sec, opt string
		kind     error
		prefix   string
		want     string
	}{
		{"multi", "text", ErrUnknownOption, "/e/p.cfg:22: [multi] text: ", `section [paths] has no option "nothere" (it has _profile_base_location_, bin, dollar, escaped, nested, tool)`},
		{"loop", "a", ErrSubstitutionCycle, "/e/p.cfg:27: [loop] c: ", "${loop:a} → ${loop:b} → ${loop:c} → ${loop:a}"},
		{"bad", "home", ErrSyntax, "/e/p.cfg:30: [bad] home: ", "${HOME} is not a reference: write ${section:option} (${:option} for this section), or $${HOME}"},
		{"bad", "open", ErrSyntax, "/e/p.cfg:31: [bad] open: ", "has no closing '}'"},
		{"bad", "section", ErrUnknownSection, "/e/p.cfg:32: [bad] section: ", "${nosuch:x}: no section [nosuch]"},
		{"bad", "option", ErrUnknownOption, "/e/p.cfg:33: [bad] option: ", `has no option "nope"`},
		{"bad", "blank", ErrSyntax, "/e/p.cfg:34: [bad] blank: ", "not a valid reference"},
		{"nosuch", "x", ErrUnknownSection, "", "no section [nosuch]"},
	}
	for _, tt := range tests {
		t.Run(tt.sec+":"+tt.opt, func(t *testing.T) {
			_, err := p.Get(tt.sec, tt.opt)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q\nwant prefix %q and %q", err, tt.prefix, tt.want)
			}
		})
	}
}

func TestExpandNeverSubstitutesNodeValues(t *testing.T) {
	p, err := Load(t.Context(), "/e/p.cfg", memFetch(map[string]string{"/e/p.cfg": "[a]\nv = <${param:name}>\n"}))
	if err != nil {
		t.Fatal(err)
	}
	p.setLiteral("param", "name", "${a:v}") // a parameter trying to inject a reference
	if got, err := p.Get("a", "v"); err != nil || got != "<${a:v}>" {
		t.Errorf("got %q, %v; want the parameter's text as it is", got, err)
	}
}

package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slapgo/slapgo/master/api"
)

// TestPersonPasswdAndLoginLink sets a person's portal password from
// standard input and issues a sign-in link, through the commands.
func TestPersonPasswdAndLoginLink(t *testing.T) {
	admin := startMaster(t)
	creds := t.TempDir()
	if code, stderr := runClient(t, admin, nil, "person", "add", "PERSON-P", "--out", creds); code != 0 {
		t.Fatalf("person add: exit %d: %s", code, stderr)
	}
	person := slices.Clone(admin)
	person[3], person[5] = filepath.Join(creds, "PERSON-P.crt"), filepath.Join(creds, "PERSON-P.key")
	passwd := func(flags []string, stdin string, args ...string) (int, string, string) {
		root := clientRoot()
		root.SetIn(strings.NewReader(stdin))
		var out, errb bytes.Buffer
		code := execute(context.Background(), root, append(append([]string{"person", "passwd"}, args...), flags...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, out, stderr := passwd(person, "a fine long password\n"); code != 0 || !strings.Contains(out, "password of PERSON-P set") {
		t.Fatalf("passwd: exit %d: %s %s", code, out, stderr)
	}
	if code, _, stderr := passwd(person, "short\n"); code == 0 || !strings.Contains(stderr, "at least 10") {
		t.Errorf("a short password: exit %d: %s", code, stderr)
	}
	if code, _, stderr := passwd(person, "", "PERSON-P"); code == 0 || !strings.Contains(stderr, "no password on standard input") {
		t.Errorf("no password: exit %d: %s", code, stderr)
	}
	if code, _, _ := passwd(admin, "the admin sets this one\n", "PERSON-P"); code != 0 {
		t.Errorf("the admin setting a person's password: exit %d", code)
	}
	var link api.SignInLink
	if code, stderr := runClient(t, admin, &link, "person", "login-link", "PERSON-P"); code != 0 {
		t.Fatalf("login-link: exit %d: %s", code, stderr)
	}
	if link.Identity.ID != "PERSON-P" || !strings.HasPrefix(link.Path, "/portal/link?kind=person&id=PERSON-P&token=") {
		t.Errorf("link: %+v", link)
	}
	if code, stderr := runClient(t, person, nil, "person", "login-link", "PERSON-P"); code == 0 || !strings.Contains(stderr, "admin only") {
		t.Errorf("a person issuing a link: exit %d: %s", code, stderr)
	}
}

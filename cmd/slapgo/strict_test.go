package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// leavesTakingArguments are the commands that take positional arguments;
// every other command of the tree takes none.
var leavesTakingArguments = map[string]bool{
	"slapgo person add":        true,
	"slapgo person destroy":    true,
	"slapgo person passwd":     true,
	"slapgo person login-link": true,
	"slapgo computer destroy":  true,
	"slapgo cert revoke":       true,
	"slapgo bench compare":     true,
	"slapgo sim sweep merge":   true,
	"slapgo computer add":      true,
	"slapgo computer show":     true,
	"slapgo computer set":      true,
	"slapgo supply":            true,
	"slapgo request":           true,
	"slapgo instance show":     true,
	"slapgo instance bang":     true,
	"slapgo instance rename":   true,
	"slapgo instance destroy":  true,
	"slapgo instance stop":     true,
	"slapgo instance start":    true,
	"slapgo sim run":           true,
	"slapgo sim sweep":         true,
	"slapgo promise":           true,
	"slapgo help":              true,
}

// variadic are the commands of leavesTakingArguments that take any number.
var variadic = map[string]bool{
	"slapgo promise": true, "slapgo help": true, "slapgo bench compare": true, "slapgo sim sweep merge": true,
}

// commandTree runs the real tree once (so the groups, help and completion
// commands are in their final shape) and returns every command in it.
func commandTree(t *testing.T) []*cobra.Command {
	t.Helper()
	var out, errb bytes.Buffer
	if code := execute(context.Background(), rootCmd, []string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("slapgo version: exit %d: %s", code, errb.String())
	}
	var all []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		all = append(all, c)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(rootCmd)
	return all
}

// TestEveryCommandRejectsUnknownArguments walks the whole command tree:
// every group refuses an unknown sub-command with a usage error naming it,
// and every command taking no argument refuses one, with exit status 1.
func TestEveryCommandRejectsUnknownArguments(t *testing.T) {
	groups, leaves := 0, 0
	for _, c := range commandTree(t) {
		path := c.CommandPath()
		if c.Hidden || strings.HasPrefix(c.Name(), "__") {
			continue
		}
		if c.Args == nil {
			t.Errorf("%s: no Args check: cobra would accept any argument", path)
			continue
		}
		words := append(strings.Fields(path)[1:], "foo")
		if leavesTakingArguments[path] {
			// promise and help check their words themselves, when they run;
			// bench compare passes its words to the bench it runs; sweep
			// merge takes any number of shard directories.
			if c.Args(c, make([]string, 12)) == nil && !variadic[path] {
				t.Errorf("%s accepts twelve arguments", path)
			}
			continue
		} else if c.HasSubCommands() {
			groups++
		} else {
			leaves++
		}
		var out, errb bytes.Buffer
		code := execute(context.Background(), rootCmd, words, &out, &errb)
		want := `unknown command "foo" for "` + path + `"`
		if code != 1 || !strings.Contains(errb.String(), want) || !strings.Contains(errb.String(), "Usage:") {
			t.Errorf("slapgo %s: exit %d, stderr %q; want 1, %s and the usage", strings.Join(words, " "), code, errb.String(), want)
		}
		if out.Len() != 0 {
			t.Errorf("slapgo %s wrote to stdout: %q", strings.Join(words, " "), out.String())
		}
	}
	if groups < 8 || leaves < 20 {
		t.Errorf("walked %d groups and %d leaves taking no argument; the tree has more", groups, leaves)
	}
	for path := range leavesTakingArguments {
		if c, rest, err := rootCmd.Find(strings.Fields(path)[1:]); err != nil || len(rest) > 0 || c.CommandPath() != path {
			t.Errorf("%s is listed as taking arguments but is not in the tree", path)
		}
	}
}

// TestUnknownSubCommandSuggests: a near miss names the sub-command meant.
func TestUnknownSubCommandSuggests(t *testing.T) {
	for _, tt := range []struct{ args, want string }{
		{"instance lst", "Did you mean this?\n\tlist"},
		{"computer remove X", `unknown command "remove" for "slapgo computer"; its sub-commands are: add, destroy, list, set, show`},
		{"help instance lst", "Did you mean this?\n\tlist"},
		{"help nope", `unknown command "nope" for "slapgo"`},
	} {
		var out, errb bytes.Buffer
		if code := execute(context.Background(), rootCmd, strings.Fields(tt.args), &out, &errb); code != 1 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("slapgo %s: exit %d, stderr %q; want 1 and %q", tt.args, code, errb.String(), tt.want)
		}
	}
	// A group alone prints its help and succeeds, like the root.
	var out, errb bytes.Buffer
	if code := execute(context.Background(), rootCmd, []string{"instance"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "Available Commands:") ||
		!strings.Contains(out.String(), "Usage:\n  slapgo instance [command]\n") {
		t.Errorf("slapgo instance: exit %d, stdout %q, stderr %q; want 0 and the help", code, out.String(), errb.String())
	}
}

// TestCompletionScripts: the completion scripts README tells to install.
// (A fresh tree each time: cobra binds the completion command to the
// output of the first run.)
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := execute(context.Background(), clientRoot(), []string{"completion", sh}, &out, &errb); code != 0 || !strings.Contains(out.String(), "slapgo") || out.Len() < 1000 {
			t.Errorf("slapgo completion %s: exit %d, %d bytes, stderr %q", sh, code, out.Len(), errb.String())
		}
	}
}

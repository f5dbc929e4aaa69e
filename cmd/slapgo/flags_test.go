package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// placeholder is what a flag's value placeholder in the help may look like:
// one short word such as FILE, key=value, URL or duration.
var placeholder = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.:=|-]{0,19}$`)

// TestFlagPlaceholders walks every flag of every command: pflag turns the
// first back-quoted text of a usage into the value's placeholder
// ("--data slapgo master init"), so each placeholder must be one short
// word, and the help must show every usage in full.
func TestFlagPlaceholders(t *testing.T) {
	flags := 0
	for _, c := range commandTree(t) {
		check := func(f *pflag.Flag) {
			flags++
			name, usage := pflag.UnquoteUsage(f)
			where := c.CommandPath() + " --" + f.Name
			if f.Value.Type() == "bool" {
				if name != "" {
					t.Errorf("%s: a boolean with the placeholder %q", where, name)
				}
				return
			}
			if !placeholder.MatchString(name) || strings.Contains(strings.ToLower(name), "slapgo") {
				t.Errorf("%s: placeholder %q (usage %q): want one short word such as FILE or key=value", where, name, f.Usage)
			}
			if strings.Count(f.Usage, "`") > 2 {
				t.Errorf("%s: usage %q has more than one back-quoted text; only the first becomes the placeholder, the others show their quotes", where, f.Usage)
			}
			if usage == "" {
				t.Errorf("%s: no usage", where)
			}
		}
		c.LocalFlags().VisitAll(check)
		if c == rootCmd {
			c.PersistentFlags().VisitAll(check)
		}
	}
	if flags < 60 {
		t.Errorf("checked %d flags; the tree has more", flags)
	}
}

// TestHelpShowsPlaceholders: the help of a command reads as intended.
func TestHelpShowsPlaceholders(t *testing.T) {
	for _, tt := range []struct {
		path []string
		want []string
	}{
		{[]string{"master", "serve"}, []string{"--data DIR ", "data directory DIR made by slapgo master init"}},
		{[]string{"request"}, []string{"--param key=value ", "--master URL ", "--cert FILE ", "-o, --output FORMAT "}},
		{[]string{"node", "register"}, []string{"--from DIR ", "DIR written by slapgo computer add --out", "--config FILE "}},
		{[]string{"bench", "sim"}, []string{"--calibration FILE ", "FILE: JSON written by slapgo bench storm --json"}},
	} {
		var c *cobra.Command
		for _, cand := range commandTree(t) {
			if cand.CommandPath() == "slapgo "+strings.Join(tt.path, " ") {
				c = cand
			}
		}
		if c == nil {
			t.Fatalf("no command %v", tt.path)
		}
		usage := c.UsageString()
		for _, w := range tt.want {
			if !strings.Contains(usage, w) {
				t.Errorf("slapgo %s --help lacks %q:\n%s", strings.Join(tt.path, " "), w, usage)
			}
		}
	}
}

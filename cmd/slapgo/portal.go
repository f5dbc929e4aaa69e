package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// readPassword reads a new password: twice without echo from a terminal,
// else one line of in.
func readPassword(cmd *cobra.Command, in io.Reader) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		errw := cmd.ErrOrStderr()
		fmt.Fprint(errw, "New password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", err
		}
		fmt.Fprint(errw, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(errw)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ: nothing was changed")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input: give it as one line")
	}
	return pw, nil
}

// newPersonPortalCmds are `person passwd` and `person login-link`.
func newPersonPortalCmds(o *clientOptions) []*cobra.Command {
	passwd := &cobra.Command{
		Use:   "passwd [ID]",
		Short: "Set the password a person signs in to the web portal with (yours by default; the admin: anyone's)",
		Long: `Set a person's portal password. From a terminal it is asked twice without
echo; otherwise it is read as one line of standard input. The master keeps
only an argon2id hash, and signs out the person's open browser sessions.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			} else {
				me, err := c.WhoAmI(cmd.Context())
				if err != nil {
					return err
				}
				id = me.Identity.ID
			}
			pw, err := readPassword(cmd, cmd.InOrStdin())
			if err != nil {
				return err
			}
			if err := c.SetPassword(cmd.Context(), id, pw); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password of %s set: sign in at %s%s\n", id, strings.TrimRight(c.BaseURL, "/"), "/portal/")
			return nil
		},
	}
	link := &cobra.Command{
		Use:   "login-link ID",
		Short: "Issue a one-time link that signs a browser in to the web portal as a person (admin; ID admin: yourself)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			l, err := c.SignInLink(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), l)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s%s\n", strings.TrimRight(c.BaseURL, "/"), l.Path)
			fmt.Fprintf(cmd.ErrOrStderr(), "one-time sign-in link for %s, valid until %s\n", l.Identity, l.ExpiresAt.Format("2006-01-02 15:04 MST"))
			return nil
		},
	}
	return []*cobra.Command{passwd, link}
}

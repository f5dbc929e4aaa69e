package profile

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package is an *Error (or
// wraps one) whose Err wraps exactly one of these, so a caller can both show
// the message and test the kind with errors.Is.
var (
	ErrSyntax            = errors.New("profile: syntax error")
	ErrExtendsCycle      = errors.New("profile: extends cycle")
	ErrFetch             = errors.New("profile: cannot fetch")
	ErrUnknownSection    = errors.New("profile: unknown section")
	ErrUnknownOption     = errors.New("profile: unknown option")
	ErrSubstitutionCycle = errors.New("profile: substitution cycle")
	ErrUnknownRecipe     = errors.New("profile: unknown recipe")
	ErrRecipeOption      = errors.New("profile: option not understood by the recipe")
	ErrMissingOption     = errors.New("profile: missing option")
	ErrBadValue          = errors.New("profile: bad option value")
	ErrMissingChecksum   = errors.New("profile: missing checksum")
	ErrChecksum          = errors.New("profile: checksum mismatch")
	ErrArchive           = errors.New("profile: bad archive")
	ErrPatch             = errors.New("profile: patch does not apply")
	ErrCommand           = errors.New("profile: build command failed")
	ErrOutsideDirectory  = errors.New("profile: path outside the allowed directory")
	ErrNoInstanceProfile = errors.New("profile: no instance profile")
	ErrSoftwareType      = errors.New("profile: software type not offered")
	ErrRequest           = errors.New("profile: child request failed")
)

// Error locates a problem in a profile: the file (path or URL) and line, the
// section and the option. Empty fields are unknown or do not apply. Err wraps
// one of the package's sentinel errors with a message saying what was
// expected.
type Error struct {
	File    string
	Line    int
	Section string
	Option  string
	Err     error
}

// Error renders "file:line: [section] option: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Section != "" {
		b.WriteString("[" + e.Section + "] ")
	}
	if e.Option != "" {
		b.WriteString(e.Option + ": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// errorf builds the Err of an *Error: the sentinel, then the detail.
func errorf(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{kind}, args...)...)
}

package master

import (
	"errors"
	"maps"
	"slices"

	"github.com/slapgo/slapgo/core/model"
)

// Fields of a Request that a FieldError may name.
const (
	FieldTitle           = "title"
	FieldSoftwareRelease = "software_release"
	FieldSoftwareType    = "software_type"
	FieldParameters      = "parameters"
	FieldSLA             = "sla"
	FieldState           = "state"
)

// FieldError is a refusal caused by one field of a command: forms show its
// message next to that field. Its text is the wrapped error's, and
// errors.Is sees through it (ErrInvalid and the other sentinels).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// fieldErr wraps a non-nil error with the field it is about.
func fieldErr(field string, err error) error {
	if err == nil {
		return nil
	}
	return &FieldError{Field: field, Err: err}
}

// ErrorField returns the field an error of Apply is about, "" when it is
// about the command as a whole.
func ErrorField(err error) string {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

// RequestableSoftware lists the software releases a person may request
// with a chance of a home: those supplied (requested available) on an open
// computer, or on a computer the person owns. Sorted by URL.
func (s *State) RequestableSoftware(a model.Actor) []string {
	set := map[string]bool{}
	for _, cd := range s.cands {
		cs := s.computers[cd.ID]
		open := cs.c.Scope == model.ScopeOpen || cs.c.Scope == "" // as alloc: any other scope is closed
		mine := a.Kind == model.KindPerson && cs.c.Owner == a.ID
		if !open && !mine && a.Kind != model.KindAdmin {
			continue
		}
		for u, sw := range cs.software {
			if sw.Requested == model.SoftwareAvailable {
				set[u] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

package model

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid input")

// invalidf builds a validation error wrapping ErrInvalid.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// RequestedState is the state a requester wants an instance in.
type RequestedState string

const (
	StateStarted   RequestedState = "started"
	StateStopped   RequestedState = "stopped"
	StateDestroyed RequestedState = "destroyed"
)

// ParseRequestedState accepts "started", "stopped" or "destroyed".
// The empty string is returned as "" (meaning "keep the current state").
func ParseRequestedState(s string) (RequestedState, error) {
	switch RequestedState(s) {
	case StateStarted, StateStopped, StateDestroyed, "":
		return RequestedState(s), nil
	}
	return "", invalidf("state %q: expected one of started, stopped, destroyed", s)
}

// SoftwareRequest is what a person asks of a computer for a software release.
type SoftwareRequest string

const (
	SoftwareAvailable SoftwareRequest = "available"
	SoftwareDestroyed SoftwareRequest = "destroyed"
)

// ParseSoftwareRequest accepts "available" or "destroyed".
func ParseSoftwareRequest(s string) (SoftwareRequest, error) {
	switch SoftwareRequest(s) {
	case SoftwareAvailable, SoftwareDestroyed:
		return SoftwareRequest(s), nil
	}
	return "", invalidf("software state %q: expected available or destroyed", s)
}

// SoftwareState is what a node reports about a software release it installs.
type SoftwareState string

const (
	SoftwareBuilding       SoftwareState = "building"
	SoftwareReadyAvailable SoftwareState = "available"
	SoftwareError          SoftwareState = "error"
	SoftwareRemoved        SoftwareState = "destroyed"
)

// ParseSoftwareState accepts building, available, error, destroyed.
func ParseSoftwareState(s string) (SoftwareState, error) {
	switch SoftwareState(s) {
	case SoftwareBuilding, SoftwareReadyAvailable, SoftwareError, SoftwareRemoved:
		return SoftwareState(s), nil
	}
	return "", invalidf("reported software state %q: expected one of building, available, error, destroyed", s)
}

// ReportedState is what a node reports about a partition it configured.
type ReportedState string

const (
	ReportedStarted ReportedState = "started"
	ReportedStopped ReportedState = "stopped"
	ReportedError   ReportedState = "error"
)

// ParseReportedState accepts started, stopped, error.
func ParseReportedState(s string) (ReportedState, error) {
	switch ReportedState(s) {
	case ReportedStarted, ReportedStopped, ReportedError:
		return ReportedState(s), nil
	}
	return "", invalidf("reported partition state %q: expected one of started, stopped, error", s)
}

// Scope is a computer's allocation scope.
type Scope string

const (
	ScopeOpen   Scope = "open"
	ScopeClosed Scope = "closed"
)

// ParseScope accepts "open" or "closed"; "" means open.
func ParseScope(s string) (Scope, error) {
	switch Scope(s) {
	case ScopeOpen, "":
		return ScopeOpen, nil
	case ScopeClosed:
		return ScopeClosed, nil
	}
	return "", invalidf("allocation scope %q: expected open or closed", s)
}

// PartitionStatus says whether a partition holds an instance.
type PartitionStatus string

const (
	PartitionFree PartitionStatus = "free"
	PartitionBusy PartitionStatus = "busy"
)

// IdentityKind is the kind of an authenticated caller.
type IdentityKind string

const (
	KindAdmin    IdentityKind = "admin"
	KindPerson   IdentityKind = "person"
	KindComputer IdentityKind = "computer"
	KindInstance IdentityKind = "instance"
)

// Actor is who issues a command: the identity proven by a certificate
// (production) or named by a scenario (simulation). core/master authorizes
// every command against its Actor.
type Actor struct {
	Kind IdentityKind `json:"kind"`
	ID   string       `json:"id"`
}

func (a Actor) String() string { return string(a.Kind) + ":" + a.ID }

// Admin is the master's operator identity.
var Admin = Actor{Kind: KindAdmin, ID: "admin"}

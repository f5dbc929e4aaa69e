package agent

import (
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

// EffectKind says what an Effect asks the executor to do.
type EffectKind uint8

// Effect kinds, in the order a pass may emit them.
const (
	// Sleep: nothing to do before Effect.Until, unless an input (Wake,
	// BuildDone, Begin) comes first. Sleep is never "in flight": the
	// executor does not call Done for it.
	Sleep EffectKind = iota
	// FetchView: poll the master for the computer's view, conditionally.
	// Done with ViewFetched, NotModified, Unreachable or Failed.
	FetchView
	// SendReport: tell the master Effect.Report. Done with OK, Refused
	// (the report is dropped), Unreachable or Failed (it stays in the
	// outbox; see the package documentation for destruction reports).
	SendReport
	// Build: hand Effect.Action (install-software) to the build worker.
	// Done with OK once handed over (or ignored); the build's end comes
	// back later through BuildDone.
	Build
	// RunAction: run Effect.Action, a partition action or (with
	// Config.RunRemovals) a remove-software. Done with OK (for a
	// configuration: Configured, with what to publish) or Failed.
	RunAction
	// Publish: publish Effect.Parameters as the connection parameters of
	// the instance in Effect.PartitionID, or of shared instance
	// Effect.SharedGUID when it is set (Effect.Kept: one kept by an earlier
	// pass, sent again). Done with OK, Refused (dropped), Unreachable or
	// Failed (kept in the publication outbox and sent again at the next
	// pass that reaches the master); the configuration succeeds either way.
	Publish
	// CheckPromises: run the promises of Effect.PartitionID. AfterStart
	// says the programs were just (re)started: retry failing promises
	// until the promise timeout. Done with OK or Failed (the output).
	CheckPromises
)

var effectNames = [...]string{"sleep", "fetch-view", "send-report", "build", "run-action", "publish", "check-promises"}

// String is the kind's name, as logs and traces spell it.
func (k EffectKind) String() string {
	if int(k) < len(effectNames) {
		return effectNames[k]
	}
	return fmt.Sprintf("effect(%d)", uint8(k))
}

// Effect is one thing for the executor to do. Only the fields of its Kind
// are set.
type Effect struct {
	Kind EffectKind
	// Until: Sleep.
	Until time.Time
	// Action: Build, RunAction.
	Action converge.Action
	// PartitionID: Publish, CheckPromises.
	PartitionID string
	// InstanceGUID: Publish, CheckPromises (the instance the partition
	// runs).
	InstanceGUID string
	// SharedGUID: Publish for a shared instance hosted in PartitionID.
	SharedGUID string
	// Parameters: Publish. NB: the map is the one the configuration's
	// outcome carried, not a copy.
	Parameters map[string]string
	// AfterStart: CheckPromises right after a start.
	AfterStart bool
	// Kept: Publish of a publication an earlier attempt could not deliver
	// (the outbox's, see Unpublished), not of the configuration in flight.
	Kept bool
	// Report: SendReport.
	Report Report
}

// String is a one-line description for logs.
func (e Effect) String() string {
	switch e.Kind {
	case Sleep:
		return "sleep until " + e.Until.UTC().Format(time.RFC3339)
	case Build, RunAction:
		return e.Kind.String() + " " + e.Action.String()
	case Publish:
		s := "publish " + e.PartitionID
		if e.SharedGUID != "" {
			s += " shared " + e.SharedGUID
		}
		if e.Kept {
			s += " (kept)"
		}
		return s
	case CheckPromises:
		return "check-promises " + e.PartitionID
	case SendReport:
		return "send-report " + e.Report.String()
	}
	return e.Kind.String()
}

// ReportKind says what a Report tells the master.
type ReportKind uint8

// Report kinds.
const (
	// ReportState: the state of a partition (started, stopped, error).
	ReportState ReportKind = iota
	// ReportDestroyed: a partition the master asked destroyed is clean.
	ReportDestroyed
	// ReportSoftware: the state of a software release on the computer.
	ReportSoftware
)

// Report is something the node tells the master.
type Report struct {
	Kind        ReportKind
	PartitionID string // ReportState, ReportDestroyed
	// InstanceGUID and Version: the instance and version the report is
	// about (ReportState, ReportDestroyed), for the executor's
	// bookkeeping; the master keys reports by partition.
	InstanceGUID string
	Version      uint64
	State        model.ReportedState // ReportState
	URL          string              // ReportSoftware
	Software     model.SoftwareState // ReportSoftware
	// Error: the message of an error state.
	Error string
}

// String is a one-line description for logs.
func (r Report) String() string {
	switch r.Kind {
	case ReportDestroyed:
		return r.PartitionID + " destroyed"
	case ReportSoftware:
		return r.URL + " " + string(r.Software)
	}
	return r.PartitionID + " " + string(r.State)
}

// sameSubject reports whether r and o are about the same thing: a later
// report replaces an earlier one of the same subject in the outbox.
func (r Report) sameSubject(o Report) bool {
	if (r.Kind == ReportSoftware) != (o.Kind == ReportSoftware) {
		return false
	}
	if r.Kind == ReportSoftware {
		return r.URL == o.URL
	}
	return r.PartitionID == o.PartitionID
}

// Outcome is how an effect ended, given to Agent.Done. Build it with OK,
// Failed, Refused, Unreachable, ViewFetched, NotModified or Configured.
type Outcome struct {
	// Err is nil when the effect succeeded.
	Err error
	// Unreachable: the master could not be reached (Err says why).
	Unreachable bool
	// Refused: the master answered, and its answer is no (a 4xx): the
	// same request would get the same answer.
	Refused bool
	// View: FetchView's new view (nil with NotModified or an error).
	View *model.ComputerView
	// NotModified: FetchView's answer that the view is unchanged.
	NotModified bool
	// Connection: what a successful configuration publishes for its
	// instance (empty: nothing).
	Connection map[string]string
	// Shared: what it publishes per shared instance, by GUID.
	Shared map[string]map[string]string
}

// OK is the outcome of an effect that succeeded.
func OK() Outcome { return Outcome{} }

// Failed is the outcome of an effect that failed with err (the master
// answered an error, a process failed, a promise did not hold).
func Failed(err error) Outcome {
	if err == nil {
		err = errUnknownFailure
	}
	return Outcome{Err: err}
}

// Refused is the outcome of an effect the master answered with a refusal
// (bad input, forbidden, unknown, conflict): sending it again would be
// refused again.
func Refused(err error) Outcome {
	if err == nil {
		err = errRefused
	}
	return Outcome{Err: err, Refused: true}
}

// Unreachable is the outcome of an effect that could not reach the master.
func Unreachable(err error) Outcome {
	if err == nil {
		err = errUnreachable
	}
	return Outcome{Err: err, Unreachable: true}
}

// ViewFetched is FetchView's outcome with a new view. The agent keeps v:
// the caller must not modify it afterwards.
func ViewFetched(v *model.ComputerView) Outcome { return Outcome{View: v} }

// NotModified is FetchView's outcome when the view did not change.
func NotModified() Outcome { return Outcome{NotModified: true} }

// Configured is the outcome of a successful configure-partition: what the
// instance publishes for itself and for each shared instance it hosts.
func Configured(connection map[string]string, shared map[string]map[string]string) Outcome {
	return Outcome{Connection: connection, Shared: shared}
}

// MasterAnswer is how the master took an effect sent to it (Outcome.Answer).
type MasterAnswer uint8

// Master answers.
const (
	// Answered: the master took it.
	Answered MasterAnswer = iota
	// AnswerRefused: the master answered no (Refused).
	AnswerRefused
	// AnswerUnreachable: the master could not be reached (Unreachable).
	AnswerUnreachable
	// AnswerFailed: anything else (Failed): a server error, an answer
	// that could not be read, a local failure. Worth trying again.
	AnswerFailed
)

// Answer classifies the outcome of an effect sent to the master.
func (o Outcome) Answer() MasterAnswer {
	switch {
	case o.Err == nil:
		return Answered
	case o.Refused:
		return AnswerRefused
	case o.Unreachable:
		return AnswerUnreachable
	}
	return AnswerFailed
}

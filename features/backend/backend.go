package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/slapgo/slapgo/core/model"
	"github.com/slapgo/slapgo/master/api"
)

// Classes of failure. Every refusal by the grid wraps exactly one.
var (
	// ErrInvalid: the input was malformed (HTTP 400).
	ErrInvalid = errors.New("backend: invalid input")
	// ErrRefused: the caller is not allowed, or not authenticated (401, 403).
	ErrRefused = errors.New("backend: refused")
	// ErrNotFound: the thing named does not exist for this caller (404).
	ErrNotFound = errors.New("backend: not found")
	// ErrConflict: the request contradicts the current state (409).
	ErrConflict = errors.New("backend: conflict")
	// ErrUnavailable: the master could not be reached or is overloaded (503).
	ErrUnavailable = errors.New("backend: master unavailable")
	// ErrUnsupported: this backend cannot do that at all.
	ErrUnsupported = errors.New("backend: not supported by this backend")
)

// Classes lists the refusal classes, for mapping and messages.
var Classes = []error{ErrInvalid, ErrRefused, ErrNotFound, ErrConflict, ErrUnavailable, ErrUnsupported}

// ClassOf returns the class an error wraps, or nil.
func ClassOf(err error) error {
	for _, c := range Classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// Actor is who acts: an identity the master issued a certificate for, or an
// impostor who holds a certificate in that name from another authority.
type Actor struct {
	Kind model.IdentityKind
	ID   string // person id, computer id or instance guid; "admin" for the admin
	// Impostor: the certificate was not issued by this master.
	Impostor bool
}

// Admin is the master's operator.
var Admin = Actor{Kind: model.KindAdmin, ID: "admin"}

// Person is the person with this id.
func Person(id string) Actor { return Actor{Kind: model.KindPerson, ID: id} }

// Computer is the computer with this id (its node agent's identity).
func Computer(id string) Actor { return Actor{Kind: model.KindComputer, ID: id} }

// Instance is the software instance with this guid (its partition's
// identity).
func Instance(guid string) Actor { return Actor{Kind: model.KindInstance, ID: guid} }

func (a Actor) String() string {
	if a.Impostor {
		return "impostor of " + string(a.Kind) + ":" + a.ID
	}
	return string(a.Kind) + ":" + a.ID
}

// SoftwareSpec describes a software release a scenario uses. Every release
// behaves like the "hello" release of the project's fixtures: it builds,
// its instances run one service, have one promise, and publish a
// connection parameter "url" (and one "url" per shared instance they host).
// An instance requested with parameter fail=configure fails to configure.
type SoftwareSpec struct {
	// Name is the scenario's name for the release; the backend chooses
	// its URL.
	Name string
	// Defect makes the build fail: DefectUnknownRecipe or DefectSyntax.
	Defect string
	// BuildTime is how long a build takes (0: the backend's default).
	// Only a backend with modelled time honours it.
	BuildTime time.Duration
}

// Profile defects.
const (
	DefectUnknownRecipe = "unknown-recipe" // a part names a recipe nobody knows
	DefectSyntax        = "syntax"         // the profile is not valid INI
)

// FailParameter is the instance parameter that makes a configuration of
// the fixture releases fail when set to FailConfigure.
const (
	FailParameter = "fail"
	FailConfigure = "configure"
)

// ComputerSpec is a computer a person registers and whose node agent the
// backend then runs (format: the partitions are announced).
type ComputerSpec struct {
	ID         string
	Owner      string // person id
	Region     string
	Network    string
	Partitions int
	Prices     model.PriceList
	Currency   string
	Attributes map[string]string
	Scope      model.Scope
}

// RequestSpec is an instance request.
type RequestSpec struct {
	Title           string
	SoftwareRelease string // URL
	SoftwareType    string
	Parameters      map[string]string
	SLA             map[string]string
	Shared          bool
	State           model.RequestedState
}

// PartitionState is what a node holds in one partition, from the node's
// own point of view (not the master's).
type PartitionState struct {
	ID             string
	InstanceGUID   string // "" = clean
	Running        bool
	AppliedVersion uint64
	Failures       int
}

// NodeState is what a node has on its disk and runs.
type NodeState struct {
	ComputerID string
	Up         bool            // powered and its agent running
	Software   map[string]bool // URL -> installed
	Partitions []PartitionState
}

// Partition returns the partition with this id.
func (n NodeState) Partition(id string) (PartitionState, bool) {
	for _, p := range n.Partitions {
		if p.ID == id {
			return p, true
		}
	}
	return PartitionState{}, false
}

// Configuration is one configure-partition a node ran (successful or not).
type Configuration struct {
	At           time.Time
	PartitionID  string
	InstanceGUID string
	Reason       string // core/converge reason: new, changed, periodic, retry
	OK           bool
}

// ActionSpan is one partition action a node ran (configure, start, stop,
// destroy a partition, remove a software), from its start event to its end
// event, as the node agent's core (core/agent) emits them.
type ActionSpan struct {
	Kind        string // core/converge action kind
	PartitionID string
	Start, End  time.Time
}

// Activity is what a node's instance loop did since it started.
type Activity struct {
	Configurations []Configuration
	// MaxConcurrent is the largest number of partitions the node ever
	// worked on at the same moment (1 when configuration is sequential),
	// measured from the action start and end events of the node agent's
	// core (PeakConcurrency); 0 when the backend cannot observe them.
	MaxConcurrent int
}

// PeakConcurrency is the largest number of actions of spans running at the
// same moment. An action that ends when another starts does not overlap
// it.
func PeakConcurrency(spans []ActionSpan) int {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, s := range spans {
		edges = append(edges, edge{s.Start, +1}, edge{s.End, -1})
	}
	slices.SortStableFunc(edges, func(a, b edge) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta // ends before starts at the same moment
	})
	cur, peak := 0, 0
	for _, e := range edges {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// Timings are the modelled durations of a backend with virtual time.
// Zero fields keep their current value.
type Timings struct {
	Configure    time.Duration // one configure-partition
	PollInterval time.Duration // the instance loop's period
}

// Backend is a slapgo grid in domain words. See the package doc.
type Backend interface {
	// Kind is "sim", "live" or "cluster".
	Kind() string
	// Close stops everything the backend started.
	Close() error
	// Now is the grid's time: virtual on sim, wall clock on live.
	Now() time.Time

	// DefineSoftware makes a software release available to the scenario
	// and returns its URL.
	DefineSoftware(ctx context.Context, spec SoftwareSpec) (string, error)
	// SetTimings changes modelled durations (ErrUnsupported without
	// virtual time).
	SetTimings(t Timings) error

	// AddPerson creates a person (as the admin, or as someone else to
	// check that it is refused).
	AddPerson(ctx context.Context, as Actor, id string) error
	// RegisterComputer registers a computer as a person, then brings up
	// its node agent, which formats spec.Partitions partitions.
	RegisterComputer(ctx context.Context, as Actor, spec ComputerSpec) error
	// Supply asks a computer to have (available) or remove (destroyed) a
	// release.
	Supply(ctx context.Context, as Actor, computerID, url string, state model.SoftwareRequest) error
	// Software is the master's record of a computer's software (admin).
	Software(ctx context.Context, computerID string) ([]model.SoftwareInstallation, error)
	// Partitions is the master's record of a computer's partitions (admin).
	Partitions(ctx context.Context, computerID string) ([]model.Partition, error)
	// ComputerView reads a computer's view as someone (authorization).
	ComputerView(ctx context.Context, as Actor, computerID string) (model.ComputerView, error)
	// ReportPartition reports a partition's state as someone
	// (authorization: only the computer itself may).
	ReportPartition(ctx context.Context, as Actor, computerID, partitionID string, state model.ReportedState) error

	// Request requests an instance as a person (a root) or as an instance
	// (a child in its tree).
	Request(ctx context.Context, as Actor, spec RequestSpec) (api.Instance, error)
	// Instances lists what someone may see (a person: its own, an
	// instance: its tree, the admin: all), destroyed ones included.
	Instances(ctx context.Context, as Actor) ([]api.Instance, error)
	// Instance reads an instance as someone.
	Instance(ctx context.Context, as Actor, guid string) (api.Instance, error)
	// Bang asks for an instance's tree to be processed again.
	Bang(ctx context.Context, as Actor, guid string) error
	// Pending lists the requests waiting for a home (admin).
	Pending(ctx context.Context) ([]api.Pending, error)

	// PostUsage posts a usage journal (TioXML text, possibly malformed) as
	// someone to a computer's usage resource.
	PostUsage(ctx context.Context, as Actor, computerID string, journal []byte) (api.UsageResult, error)
	// Invoices reads the invoices of a person for [from, to).
	Invoices(ctx context.Context, as Actor, person string, from, to time.Time) ([]api.Invoice, error)

	// Converge runs the grid until every node agent that is up has nothing
	// left to do (it saw the master's latest view of its computer, or the
	// last one it could get, and its last pass planned nothing), or fails
	// after within.
	Converge(ctx context.Context, within time.Duration) error
	// Advance lets d of time pass with the node agents running.
	Advance(ctx context.Context, d time.Duration) error

	// CrashNode powers a node off at once: its processes die, its disk
	// stays. RebootNode powers it on again.
	CrashNode(ctx context.Context, computerID string) error
	RebootNode(ctx context.Context, computerID string) error
	// WipeNode replaces a node by an empty one with the same identity:
	// no software, no partition content, nothing cached. It formats and
	// rebuilds from the master's information.
	WipeNode(ctx context.Context, computerID string) error
	// CutMaster makes the master unreachable (an outage); RestoreMaster
	// brings it back from its durable state.
	CutMaster(ctx context.Context) error
	RestoreMaster(ctx context.Context) error
	// CutNode cuts one node from the master (a network partition);
	// RestoreNode heals it.
	CutNode(ctx context.Context, computerID string) error
	RestoreNode(ctx context.Context, computerID string) error
	// SetPromise makes the promise of the instance in a partition fail or
	// pass.
	SetPromise(ctx context.Context, computerID, partitionID string, failing bool) error

	// Node is what a node holds and runs, from its own point of view.
	Node(ctx context.Context, computerID string) (NodeState, error)
	// Activity is what a node's instance loop did since it started.
	Activity(ctx context.Context, computerID string) (Activity, error)
}

// Tracer is implemented by deterministic backends: a hash of everything
// that happened, equal for equal runs.
type Tracer interface {
	TraceHash() string
}

// Errorf builds an error of a class: Errorf(ErrInvalid, "...: %w", err).
func Errorf(class error, format string, args ...any) error {
	return fmt.Errorf("%w: %w", class, fmt.Errorf(format, args...))
}

// Masters is a backend whose grid runs several masters on one PostgreSQL
// database, one of them leading (the live backend with
// livebackend.Config.Postgres and Masters > 1).
type Masters interface {
	// MastersOnPostgres is how many masters share the grid's PostgreSQL
	// database (0: the grid is not on PostgreSQL).
	MastersOnPostgres() int
	// KillLeader SIGKILLs the master that leads and returns at once,
	// with the killed master's index; RestoreMaster starts it again.
	KillLeader(ctx context.Context) (int, error)
	// MasterRoles asks each master its role: "leader", "follower", or ""
	// when it does not answer.
	MasterRoles(ctx context.Context) []string
}

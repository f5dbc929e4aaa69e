package converge

import (
	"fmt"
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Config tunes when work becomes due again. A zero field takes its default
// (DefaultMaximumPeriodicity, DefaultRetryBase, DefaultRetryMax), so
// Config{} is SlapOS's periodicity with its back-off.
type Config struct {
	// MaximumPeriodicity: a partition not processed for this long is
	// reconfigured with reason "periodic" (SlapOS maximum_periodicity).
	// Default 24h; a negative value disables periodic reprocessing.
	MaximumPeriodicity time.Duration
	// RetryBase is the delay before the first retry after a failure.
	// Default 1m.
	RetryBase time.Duration
	// RetryMax caps the back-off. Default 1h.
	RetryMax time.Duration
}

// Defaults of Config.
const (
	DefaultMaximumPeriodicity = 24 * time.Hour
	DefaultRetryBase          = time.Minute
	DefaultRetryMax           = time.Hour
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.MaximumPeriodicity == 0 {
		c.MaximumPeriodicity = DefaultMaximumPeriodicity
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	return c
}

// NextRetry is the delay after the failures-th consecutive failure before
// the work is tried again: RetryBase·2^(failures-1), capped at RetryMax.
// It is 0 when failures <= 0. Zero Config fields take their defaults.
func NextRetry(failures int, cfg Config) time.Duration {
	if failures <= 0 {
		return 0
	}
	cfg = cfg.withDefaults()
	d := cfg.RetryBase
	for i := 1; i < failures && d < cfg.RetryMax; i++ {
		if d > cfg.RetryMax/2 {
			return cfg.RetryMax // doubling would pass the cap (or overflow)
		}
		d *= 2
	}
	return min(d, cfg.RetryMax)
}

// SoftwareActual is what the node has of one software release.
type SoftwareActual struct {
	Installed   bool      // the build completed (SlapOS: the .completed marker)
	Failures    int       // consecutive failed installs or removals
	LastFailure time.Time // when the last one failed
}

// PartitionActual is what one partition of the node holds.
type PartitionActual struct {
	AppliedVersion uint64    // version of the last successful configuration
	InstanceGUID   string    // instance whose files the partition holds ("" = clean/free)
	LastSuccess    time.Time // last successful configuration
	Failures       int       // consecutive failures of any partition action
	LastFailure    time.Time
	FailedVersion  uint64 // version that failed last
	Running        bool   // services are running
}

// Actual is the node's own record of what it has done, keyed by software
// URL and by partition id. The node agent persists it; the simulator keeps
// it in memory. ApplySuccess and ApplyFailure keep it up to date.
type Actual struct {
	Software   map[string]SoftwareActual
	Partitions map[string]PartitionActual
}

// ActionKind is what an action does.
type ActionKind string

// Action kinds, listed in the order a plan runs them.
const (
	StopPartition      ActionKind = "stop-partition"
	DestroyPartition   ActionKind = "destroy-partition"
	InstallSoftware    ActionKind = "install-software"
	ConfigurePartition ActionKind = "configure-partition"
	StartPartition     ActionKind = "start-partition"
	RemoveSoftware     ActionKind = "remove-software"
)

// kindRank is the position of a kind in a plan (see doc.go); -1 if unknown.
func kindRank(k ActionKind) int {
	switch k {
	case StopPartition:
		return 0
	case DestroyPartition:
		return 1
	case InstallSoftware:
		return 2
	case ConfigurePartition:
		return 3
	case StartPartition:
		return 4
	case RemoveSoftware:
		return 5
	}
	return -1
}

// Reason says why an action is planned.
type Reason string

const (
	// ReasonNew: the partition receives an instance it does not hold yet.
	ReasonNew Reason = "new"
	// ReasonChanged: the view's version differs from the applied one, or
	// (destroy) the partition holds another instance than the view's.
	ReasonChanged Reason = "changed"
	// ReasonPeriodic: not processed for Config.MaximumPeriodicity.
	ReasonPeriodic Reason = "periodic"
	// ReasonRetry: the same work failed before and its back-off elapsed.
	ReasonRetry Reason = "retry"
	// ReasonRequested: the requested state (started, stopped, destroyed,
	// available) is not the actual one.
	ReasonRequested Reason = "requested"
	// ReasonOrphan: the node holds something the view no longer names
	// (software absent from the view, files in a partition the view lists
	// as free).
	ReasonOrphan Reason = "orphan"
)

// Action is one step for the node to take. Partition actions carry
// PartitionID; software actions carry URL only.
type Action struct {
	Kind        ActionKind
	PartitionID string
	// URL is the software release: of the action (software kinds) or the
	// one the partition runs, when known (partition kinds).
	URL    string
	Reason Reason
	// Version is the view's version of the partition (partition kinds).
	Version uint64
	// InstanceGUID is the instance concerned: the view's for configure and
	// start, the one whose files are there for stop and destroy.
	InstanceGUID string
	// State is the partition's requested state in the view (partition
	// kinds; "destroyed" for a free partition). A configuration writes it
	// into the instance profile, as SlapOS's [slap-connection]
	// requested-state.
	State model.RequestedState
}

// String is a one-line description for logs: "configure-partition slappart3 (changed, v5)".
func (a Action) String() string {
	switch a.Kind {
	case InstallSoftware, RemoveSoftware:
		return fmt.Sprintf("%s %s (%s)", a.Kind, a.URL, a.Reason)
	}
	return fmt.Sprintf("%s %s (%s, v%d)", a.Kind, a.PartitionID, a.Reason, a.Version)
}

// Plan is what PlanNode decided.
type Plan struct {
	// Actions in the order to run them (see doc.go).
	Actions []Action
	// RequeueAfter is how long from now until the soonest moment something
	// becomes due (periodic reprocessing or a retry), assuming the planned
	// actions succeed; 0 when nothing is scheduled.
	RequeueAfter time.Duration
	// Waiting holds human notes on work that cannot proceed yet, e.g.
	// "slappart3 waits for software X: install planned".
	Waiting []string
}

package master

import (
	"time"

	"github.com/slapgo/slapgo/core/account"
	"github.com/slapgo/slapgo/core/model"
)

// Command is one change asked of the master. Every command carries the
// Actor that asks it; Apply authorizes it.
type Command interface {
	// CommandName is the command's stable name, used in logs and metrics.
	CommandName() string
	// actor is who asks the command (its By field); Apply refuses a
	// command without one. Unexported: only this package's types are
	// commands.
	actor() model.Actor
}

// AddPerson creates a person account (admin only). ID is generated when empty.
type AddPerson struct {
	By    model.Actor
	ID    string
	Name  string
	Email string
}

// RegisterComputer creates a computer owned by the asking person (or by
// Owner when the admin asks). Registering an existing id is a conflict.
type RegisterComputer struct {
	By         model.Actor
	ID         string
	Title      string
	Owner      string // admin only: the owning person
	Region     string
	Network    string
	Hardware   model.Hardware
	Attributes map[string]string
	Prices     model.PriceList
	Currency   string
	Scope      model.Scope
}

// UpdateComputer changes a computer's marketplace settings. Nil fields keep
// their value.
type UpdateComputer struct {
	By         model.Actor
	ComputerID string
	Region     *string
	Network    *string
	Attributes map[string]string // replaces when non-nil
	Prices     model.PriceList   // replaces when non-nil
	Scope      *model.Scope
}

// PartitionSpec is one partition a node announces.
type PartitionSpec struct {
	ID        string
	Addresses []model.Address
}

// SetCapacity is the node's format announcement: the partitions it has and
// their addresses. Partitions absent from the list are removed only when
// free; removing a busy partition is refused.
type SetCapacity struct {
	By         model.Actor
	ComputerID string
	Partitions []PartitionSpec
	Hardware   *model.Hardware
}

// Supply asks a computer to have (available) or remove (destroyed) a
// software release.
type Supply struct {
	By         model.Actor
	ComputerID string
	URL        string
	State      model.SoftwareRequest
}

// Request asks for an instance (idempotent by owner, root title, title).
type Request struct {
	By              model.Actor
	Title           string
	SoftwareRelease string
	SoftwareType    string
	Parameters      map[string]string
	SLA             map[string]string
	Shared          bool
	State           model.RequestedState // "" keeps the current state (started for a new one)
}

// ReportSoftware is a node reporting the state of a software installation.
type ReportSoftware struct {
	By         model.Actor
	ComputerID string
	URL        string
	State      model.SoftwareState
	Error      string
}

// ReportPartition is a node reporting what a partition is now.
type ReportPartition struct {
	By          model.Actor
	ComputerID  string
	PartitionID string
	State       model.ReportedState
	Error       string
}

// SetConnection publishes connection parameters for the instance in a
// partition, or for one of the shared instances it hosts (SharedGUID).
type SetConnection struct {
	By          model.Actor
	ComputerID  string
	PartitionID string
	SharedGUID  string
	Parameters  map[string]string
}

// Bang asks for the whole tree of an instance to be processed again.
type Bang struct {
	By           model.Actor
	InstanceGUID string
	Message      string
}

// BangComputer is a node asking for every instance it hosts to be processed
// again (SlapOS's computerBang: slapos node boot sends it after a reboot,
// and retries until it is accepted).
type BangComputer struct {
	By         model.Actor
	ComputerID string
	Message    string
}

// PartitionDestroyed is a node telling that it wiped a partition whose
// instance was requested destroyed.
type PartitionDestroyed struct {
	By          model.Actor
	ComputerID  string
	PartitionID string
}

// Rename changes an instance's title within its tree.
type Rename struct {
	By           model.Actor
	InstanceGUID string
	NewTitle     string
}

// SetState changes only the requested state of an instance its requester
// may act on (start, stop, destroy): its software, type, parameters and SLA
// stay as they are. A Request, by contrast, describes the whole desired
// instance and replaces its parameters and SLA.
type SetState struct {
	By           model.Actor
	InstanceGUID string
	State        model.RequestedState
}

// PostUsage is a node posting a usage journal (TioXML).
type PostUsage struct {
	By         model.Actor
	ComputerID string
	Journal    account.Journal
}

// RetryPending tries again to place every pending request. Capacity
// commands and Contact do it on their own, on the computer that changed;
// shells call it now and then as a safety net.
type RetryPending struct {
	By model.Actor
}

// Contact is a computer telling the master it is alive (its poll). It
// records the contact time; when the computer counted as offline (per
// Config.OnlineWithin), the pending requests are retried on it and
// Result.Placed counts those placed. Shells apply it when ContactDue says
// so, not on every poll. The computer itself or the admin may.
type Contact struct {
	By         model.Actor
	ComputerID string
}

func (c AddPerson) CommandName() string          { return "add-person" }
func (c RegisterComputer) CommandName() string   { return "register-computer" }
func (c UpdateComputer) CommandName() string     { return "update-computer" }
func (c SetCapacity) CommandName() string        { return "set-capacity" }
func (c Supply) CommandName() string             { return "supply" }
func (c Request) CommandName() string            { return "request" }
func (c ReportSoftware) CommandName() string     { return "report-software" }
func (c ReportPartition) CommandName() string    { return "report-partition" }
func (c SetConnection) CommandName() string      { return "set-connection" }
func (c Bang) CommandName() string               { return "bang" }
func (c BangComputer) CommandName() string       { return "bang-computer" }
func (c PartitionDestroyed) CommandName() string { return "partition-destroyed" }
func (c Rename) CommandName() string             { return "rename" }
func (c SetState) CommandName() string           { return "set-state" }
func (c PostUsage) CommandName() string          { return "post-usage" }
func (c RetryPending) CommandName() string       { return "retry-pending" }
func (c Contact) CommandName() string            { return "contact" }

func (c AddPerson) actor() model.Actor          { return c.By }
func (c RegisterComputer) actor() model.Actor   { return c.By }
func (c UpdateComputer) actor() model.Actor     { return c.By }
func (c SetCapacity) actor() model.Actor        { return c.By }
func (c Supply) actor() model.Actor             { return c.By }
func (c Request) actor() model.Actor            { return c.By }
func (c ReportSoftware) actor() model.Actor     { return c.By }
func (c ReportPartition) actor() model.Actor    { return c.By }
func (c SetConnection) actor() model.Actor      { return c.By }
func (c Bang) actor() model.Actor               { return c.By }
func (c BangComputer) actor() model.Actor       { return c.By }
func (c PartitionDestroyed) actor() model.Actor { return c.By }
func (c Rename) actor() model.Actor             { return c.By }
func (c SetState) actor() model.Actor           { return c.By }
func (c PostUsage) actor() model.Actor          { return c.By }
func (c RetryPending) actor() model.Actor       { return c.By }
func (c Contact) actor() model.Actor            { return c.By }

// Allocation statuses of an instance as its requester sees it.
const (
	StatusAllocated = "allocated"
	StatusPending   = "pending"
	StatusDestroyed = "destroyed"
)

// InstanceInfo is an instance as its requester sees it. NB: its maps and
// addresses are shared with the state: read only (see Mutation).
type InstanceInfo struct {
	GUID            string               `json:"guid"`
	Title           string               `json:"title"`
	Owner           string               `json:"owner"`
	RootTitle       string               `json:"root_title,omitempty"`
	SoftwareRelease string               `json:"software_release"`
	SoftwareType    string               `json:"software_type"`
	Shared          bool                 `json:"shared,omitempty"`
	RequestedState  model.RequestedState `json:"requested_state"`
	Parameters      map[string]string    `json:"parameters,omitempty"`
	SLA             map[string]string    `json:"sla,omitempty"`
	Status          string               `json:"status"` // allocated, pending, destroyed
	PendingReason   string               `json:"pending_reason,omitempty"`
	ComputerID      string               `json:"computer_id,omitempty"`
	PartitionID     string               `json:"partition_id,omitempty"`
	HostGUID        string               `json:"host_guid,omitempty"`
	Addresses       []model.Address      `json:"addresses,omitempty"`
	Connection      map[string]string    `json:"connection,omitempty"`
	ReportedState   model.ReportedState  `json:"reported_state,omitempty"`
	ReportedError   string               `json:"reported_error,omitempty"`
	Version         uint64               `json:"version"`
	CreatedAt       time.Time            `json:"created_at"`
	// StartedAt is when its current hosting period began (zero when none).
	StartedAt time.Time `json:"started_at,omitzero"`
	// ReportedAt is when its node last reported a change of its state.
	ReportedAt time.Time `json:"reported_at,omitzero"`
	// PriceFactor is the factor of its computer's list price its hosting
	// is charged at, quoted by the grid's price policy when it was placed
	// (absent: the list price).
	PriceFactor float64 `json:"price_factor,omitempty"`
}

// Result is what a command returns; the field matching the command is set.
type Result struct {
	Person    *model.Person
	Computer  *model.Computer
	Instance  *InstanceInfo
	Software  *model.SoftwareInstallation
	Movements int  // PostUsage: movements recorded
	Duplicate bool // PostUsage: the same journal was already recorded
	Placed    int  // RetryPending, Contact and capacity commands: pending requests placed
	CameBack  bool // Contact: the computer counted as offline before
	Changed   bool // whether the command changed anything
	// Replayed: ApplyOnce answered a key already used with the result
	// recorded then; nothing was applied.
	Replayed bool `json:"replayed,omitempty"`
}

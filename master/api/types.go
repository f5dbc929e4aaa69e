package api

import (
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// Version prefix of every route.
const Prefix = "/api/v1"

// HeaderIdempotencyKey carries a key the client draws once per logical
// call of a command that is not idempotent by itself, and sends with every
// attempt, to whichever master of the grid it reaches: the master applies
// the command once and answers a repeated key with the first result
// (Stripe's and Kubernetes' idempotency keys; core/master.ApplyOnce).
// Keys are remembered for 24 hours, per identity.
const HeaderIdempotencyKey = "Idempotency-Key"

// Error codes carried in Error.Code.
const (
	CodeInvalid         = "invalid"
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeConflict        = "conflict"
	CodeTooLarge        = "too_large"
	// CodeUnsupportedMedia: the body's Content-Type is not the one the
	// route reads (415).
	CodeUnsupportedMedia = "unsupported_media_type"
	// CodeQuotaExceeded: a quota or a holding limit refuses the request
	// (403); the message names the quota, the usage and the limit.
	CodeQuotaExceeded = "quota_exceeded"
	CodeUnavailable   = "unavailable"
	CodeInternal      = "internal"
)

// ErrorBody is the JSON body of every error answer.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Credentials is a certificate and its key, PEM-encoded, with the CA.
type Credentials struct {
	Identity       model.Actor `json:"identity"`
	CertificatePEM string      `json:"certificate_pem"`
	KeyPEM         string      `json:"key_pem"`
	CAPEM          string      `json:"ca_pem"`
}

// AddPersonRequest creates a person (admin only).
type AddPersonRequest struct {
	ID    string `json:"id,omitempty"`
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
}

// AddPersonResponse is the person and its credentials.
type AddPersonResponse struct {
	Person      model.Person `json:"person"`
	Credentials Credentials  `json:"credentials"`
}

// WhoAmI is the caller's identity as the master sees it.
type WhoAmI struct {
	Identity model.Actor `json:"identity"`
}

// RegisterComputerRequest registers a computer. With Token set the master
// answers a one-time registration token instead of credentials.
type RegisterComputerRequest struct {
	ID         string            `json:"id"`
	Title      string            `json:"title,omitempty"`
	Owner      string            `json:"owner,omitempty"`
	Region     string            `json:"region,omitempty"`
	Network    string            `json:"network,omitempty"`
	Hardware   model.Hardware    `json:"hardware"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Prices     model.PriceList   `json:"prices,omitempty"`
	Currency   string            `json:"currency,omitempty"`
	Scope      model.Scope       `json:"scope,omitempty"`
	Token      bool              `json:"token,omitempty"`
}

// ComputerRegistration is a registered computer and either its credentials
// or a one-time token that `slapgo node register` exchanges for them.
type ComputerRegistration struct {
	Computer    model.Computer `json:"computer"`
	Credentials *Credentials   `json:"credentials,omitempty"`
	Token       string         `json:"token,omitempty"`
}

// TokenExchange is the body of POST /register.
type TokenExchange struct {
	Token string `json:"token"`
}

// UpdateComputerRequest changes a computer's settings; nil keeps a value.
type UpdateComputerRequest struct {
	Region     *string           `json:"region,omitempty"`
	Network    *string           `json:"network,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Prices     model.PriceList   `json:"prices,omitempty"`
	Scope      *model.Scope      `json:"scope,omitempty"`
}

// ComputerDetails is a computer with its partitions and software.
type ComputerDetails struct {
	Computer   model.Computer               `json:"computer"`
	Partitions []model.Partition            `json:"partitions"`
	Software   []model.SoftwareInstallation `json:"software"`
}

// SupplyRequest supplies (available) or removes (destroyed) a release.
type SupplyRequest struct {
	URL   string                `json:"url"`
	State model.SoftwareRequest `json:"state"`
}

// InstanceRequest requests an instance.
type InstanceRequest struct {
	Title           string               `json:"title"`
	SoftwareRelease string               `json:"software_release"`
	SoftwareType    string               `json:"software_type,omitempty"`
	Parameters      map[string]string    `json:"parameters,omitempty"`
	SLA             map[string]string    `json:"sla,omitempty"`
	Shared          bool                 `json:"shared,omitempty"`
	State           model.RequestedState `json:"state,omitempty"`
}

// Allocation statuses of Instance.Status.
const (
	StatusAllocated = "allocated"
	StatusPending   = "pending"
	StatusDestroyed = "destroyed"
)

// Instance is an instance as its requester sees it.
type Instance struct {
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
	Status          string               `json:"status"`
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

// Event is one thing that happened to an instance (GET
// /instances/{guid}/events, oldest first): when, what kind (requested,
// changed, pending, placed, state, reported, published, bang, renamed,
// transferred, destroyed) and a short message. The master keeps the last
// few of each instance.
type Event struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// BangRequest asks for a tree to be processed again.
type BangRequest struct {
	Message string `json:"message,omitempty"`
}

// RenameRequest changes an instance's title.
type RenameRequest struct {
	Title string `json:"title"`
}

// StateRequest changes only an instance's requested state.
type StateRequest struct {
	State model.RequestedState `json:"state"`
}

// Pending is a request waiting for a home.
type Pending struct {
	GUID   string `json:"guid"`
	Title  string `json:"title"`
	Owner  string `json:"owner"`
	Reason string `json:"reason"`
}

// InvoiceLine is one resource of an invoice.
type InvoiceLine struct {
	Resource string  `json:"resource"`
	Unit     string  `json:"unit"`
	Quantity float64 `json:"quantity"`
	Amount   float64 `json:"amount"`
}

// Invoice is what a person owes for a period.
type Invoice struct {
	Person      string        `json:"person"`
	PeriodStart time.Time     `json:"period_start"`
	PeriodEnd   time.Time     `json:"period_end"`
	Currency    string        `json:"currency"`
	Lines       []InvoiceLine `json:"lines"`
	Total       float64       `json:"total"`
	Movements   int           `json:"movements"`
}

// PartitionCapacity is one partition a node announces.
type PartitionCapacity struct {
	ID        string          `json:"id"`
	Addresses []model.Address `json:"addresses,omitempty"`
	// IPv6Range is the IPv6 range routed to the partition
	// (partition_has_ipv6_range), as a prefix: "2001:db8:0:0:4001::/80".
	IPv6Range string `json:"ipv6_range,omitempty"`
}

// CapacityRequest is the node's format announcement.
type CapacityRequest struct {
	Partitions []PartitionCapacity `json:"partitions"`
	Hardware   *model.Hardware     `json:"hardware,omitempty"`
}

// SoftwareStateRequest reports a software installation's state.
type SoftwareStateRequest struct {
	URL   string              `json:"url"`
	State model.SoftwareState `json:"state"`
	Error string              `json:"error,omitempty"`
}

// PartitionStateRequest reports a partition's state.
type PartitionStateRequest struct {
	State model.ReportedState `json:"state"`
	Error string              `json:"error,omitempty"`
}

// ConnectionRequest publishes connection parameters.
type ConnectionRequest struct {
	SharedGUID string            `json:"shared_guid,omitempty"`
	Parameters map[string]string `json:"parameters"`
}

// UsageResult is the master's answer to a usage journal.
type UsageResult struct {
	Movements int  `json:"movements"`
	Duplicate bool `json:"duplicate,omitempty"`
}

// Limits on request bodies the master accepts.
const (
	MaxJSONBody  = 1 << 20 // 1 MiB
	MaxUsageBody = 8 << 20 // 8 MiB
)

// RevokeRequest is the body of POST /api/v1/certificates/{serial}/revoke.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
}

// RevokeResponse answers a revocation.
type RevokeResponse struct {
	Serial   string      `json:"serial"`
	Identity model.Actor `json:"identity"`
	Revoked  bool        `json:"revoked"`
}

// PasswordRequest sets a person's portal password (the person itself, or
// the admin).
type PasswordRequest struct {
	Password string `json:"password"`
}

// SignInLink is a one-time link that signs a browser in to the portal as
// Identity (issued by the admin).
type SignInLink struct {
	Identity  model.Actor `json:"identity"`
	Path      string      `json:"path"` // on the master's URL
	URL       string      `json:"url"`  // the path on the host the request was sent to
	ExpiresAt time.Time   `json:"expires_at"`
}

package model

import (
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultSoftwareType is the software type of a request that names none.
const DefaultSoftwareType = "default"

// Person is a human (or organisation) account: it supplies software,
// requests instances, and is invoiced.
type Person struct {
	ID    string `json:"id"` // PERSON-…
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
}

// Address is one network address of a partition.
type Address struct {
	Iface string `json:"iface"`
	Addr  string `json:"addr"` // IPv4 or IPv6 literal, possibly with /prefix
}

// Hardware is what a computer declares about itself.
type Hardware struct {
	Arch string `json:"arch,omitempty"`
	CPU  int64  `json:"cpu,omitempty"`  // cores
	RAM  int64  `json:"ram,omitempty"`  // MiB
	Disk int64  `json:"disk,omitempty"` // GiB
}

// PriceList prices resources on one computer: currency units per unit of
// resource ("hosting" is per hour of a busy, started partition; "cpu_time" per
// CPU second; "memory_used" per MiB·hour; "disk_used" per GiB·day;
// "network_in_bytes"/"network_out_bytes" per GiB; others as reported).
type PriceList map[string]float64

// Computer is a compute node registered at the master.
type Computer struct {
	ID          string            `json:"id"` // COMP-…
	Title       string            `json:"title"`
	Owner       string            `json:"owner"` // person ID that registered it
	Region      string            `json:"region,omitempty"`
	Network     string            `json:"network,omitempty"`
	Hardware    Hardware          `json:"hardware"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Prices      PriceList         `json:"prices,omitempty"`
	Currency    string            `json:"currency,omitempty"`
	Scope       Scope             `json:"scope"`
	LastContact time.Time         `json:"last_contact"`
	CreatedAt   time.Time         `json:"created_at"`
}

// HourlyPrice is the price list's "hosting" entry (0 when absent).
func (c *Computer) HourlyPrice() float64 { return c.Prices["hosting"] }

// Partition is one slot of a computer (slappartN) that may host one instance.
type Partition struct {
	ComputerID    string          `json:"computer_id"`
	ID            string          `json:"id"` // slappartN
	Addresses     []Address       `json:"addresses,omitempty"`
	Status        PartitionStatus `json:"status"`
	InstanceGUID  string          `json:"instance_guid,omitempty"`
	ReportedState ReportedState   `json:"reported_state,omitempty"`
	ReportedError string          `json:"reported_error,omitempty"`
	ReportedAt    time.Time       `json:"reported_at,omitzero"`
}

// Key is the partition's unique key "COMPUTER/slappartN".
func (p *Partition) Key() string { return p.ComputerID + "/" + p.ID }

// SoftwareInstallation is one software release supplied on one computer.
type SoftwareInstallation struct {
	ComputerID    string          `json:"computer_id"`
	URL           string          `json:"url"`
	Requested     SoftwareRequest `json:"requested"`
	Reported      SoftwareState   `json:"reported,omitempty"`
	ReportedError string          `json:"reported_error,omitempty"`
	Version       uint64          `json:"version"`
}

// Key is "COMPUTER url".
func (s *SoftwareInstallation) Key() string { return s.ComputerID + " " + s.URL }

// Instance is a software instance: requested by a person (a root) or by
// another instance of the same tree (a child). Its identity is
// (Owner, RootTitle, Title); GUID is its stable handle.
//
// A non-shared instance takes a partition (ComputerID/PartitionID) once
// allocated; a shared instance is hosted by HostGUID and takes none.
type Instance struct {
	GUID            string            `json:"guid"` // SOFTINST-…
	Title           string            `json:"title"`
	Owner           string            `json:"owner"`      // person ID of the tree
	RootTitle       string            `json:"root_title"` // "" for a root
	RequesterGUID   string            `json:"requester_guid,omitempty"`
	SoftwareRelease string            `json:"software_release"`
	SoftwareType    string            `json:"software_type"`
	Parameters      map[string]string `json:"parameters,omitempty"`
	SLA             SLA               `json:"sla"`
	Shared          bool              `json:"shared,omitempty"`
	// RequestedState is the effective state: a child of a non-started root
	// takes the root's state. OwnState is what the requester itself asked.
	RequestedState RequestedState `json:"requested_state"`
	OwnState       RequestedState `json:"own_state,omitempty"`
	// Allocation.
	ComputerID    string `json:"computer_id,omitempty"`
	PartitionID   string `json:"partition_id,omitempty"`
	HostGUID      string `json:"host_guid,omitempty"` // shared instances only
	PendingReason string `json:"pending_reason,omitempty"`
	// Results published by the node.
	Connection    map[string]string `json:"connection,omitempty"`
	ReportedState ReportedState     `json:"reported_state,omitempty"`
	ReportedError string            `json:"reported_error,omitempty"`
	// Version is the instance's configuration timestamp: it grows on every
	// change the node must apply (state, parameters, type, software, shared
	// list of a host, bang).
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	// StartedAt is when the current hosting period began (zero when none).
	StartedAt time.Time `json:"started_at,omitzero"`
	// PriceFactor is the factor of its computer's list price its hosting
	// is charged at: the grid's price policy quoted it when the instance
	// was placed. 0 means the list price (no policy).
	PriceFactor float64 `json:"price_factor,omitempty"`
	// Freed is set once a destroyed instance released its partition.
	Freed bool `json:"freed,omitempty"`
	// DestroyedAt is when the instance was requested destroyed (zero
	// while it is not, and for instances destroyed before the master
	// recorded it: see core/master.State.DestroyedAt).
	DestroyedAt time.Time `json:"destroyed_at,omitzero"`
}

// IsRoot reports whether the instance was requested by a person.
func (i *Instance) IsRoot() bool { return i.RootTitle == "" }

// TreeTitle is the title of the instance's root.
func (i *Instance) TreeTitle() string {
	if i.RootTitle == "" {
		return i.Title
	}
	return i.RootTitle
}

// Allocated reports whether the instance has a home (partition or host).
func (i *Instance) Allocated() bool {
	if i.Shared {
		return i.HostGUID != ""
	}
	return i.PartitionID != ""
}

// Clone returns a deep copy.
func (i *Instance) Clone() *Instance {
	c := *i
	c.Parameters = maps.Clone(i.Parameters)
	c.Connection = maps.Clone(i.Connection)
	c.SLA.Attributes = maps.Clone(i.SLA.Attributes)
	return &c
}

// ValidateTitle checks an instance title.
func ValidateTitle(title string) error {
	if strings.TrimSpace(title) == "" {
		return invalidf("title is empty: an instance needs a title")
	}
	if len(title) > 255 {
		return invalidf("title is %d bytes long: at most 255", len(title))
	}
	if err := ValidateText("title", title); err != nil {
		return err
	}
	if strings.ContainsAny(title, "\x00\n\r") {
		return invalidf("title %q contains a control character", title)
	}
	return nil
}

// ValidateSoftwareURL checks a software release URL: absolute, with a scheme
// file, http or https.
func ValidateSoftwareURL(raw string) error {
	if raw == "" {
		return invalidf("software release URL is empty")
	}
	if err := ValidateText("software release URL", raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return invalidf("software release URL %q: %v", raw, err)
	}
	if !u.IsAbs() {
		return invalidf("software release URL %q is not absolute: expected file://, http:// or https://", raw)
	}
	switch u.Scheme {
	case "file", "http", "https":
	default:
		return invalidf("software release URL %q: scheme %q not supported, expected file, http or https", raw, u.Scheme)
	}
	if u.Scheme == "file" && u.Path == "" {
		return invalidf("software release URL %q has no path", raw)
	}
	if u.Scheme != "file" && u.Host == "" {
		return invalidf("software release URL %q has no host: expected %s://host/path", raw, u.Scheme)
	}
	return nil
}

// IsLocalSoftwareURL reports whether a valid software release URL names
// something only the machine that reads it can fetch (file://), as
// opposed to a network URL (http://, https://) any node can fetch.
func IsLocalSoftwareURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "file"
}

// ValidateID checks an identifier given by a user (computer id, person id).
func ValidateID(what, id string) error {
	if id == "" {
		return invalidf("%s is empty", what)
	}
	if len(id) > 128 {
		return invalidf("%s %q is longer than 128 bytes", what, id)
	}
	for _, r := range id {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return invalidf("%s %q: only letters, digits, '-', '_' and '.' are allowed", what, id)
		}
	}
	return nil
}

// ValidateParameters checks instance (or connection) parameters: keys
// non-empty and without '=' or control characters, keys and values valid
// UTF-8 (ValidateText).
func ValidateParameters(p map[string]string) error {
	bad := false
	for k := range p {
		bad = bad || k == "" || strings.ContainsAny(k, "\x00\n\r=")
	}
	if bad {
		for _, k := range slices.Sorted(maps.Keys(p)) { // the first problem, by key
			if k == "" || strings.ContainsAny(k, "\x00\n\r=") {
				return invalidf("parameter key %q: keys must be non-empty and contain no '=' or control character", k)
			}
		}
	}
	return ValidateTextMap("parameter", p)
}

package model

// ComputerView is what a node must make real: the software to have and what
// each partition must be. Version changes exactly when the view changes, so
// a node may poll with the last version it saw and skip unchanged views.
type ComputerView struct {
	ComputerID string          `json:"computer_id"`
	Version    uint64          `json:"version"`
	Software   []SoftwareView  `json:"software"`
	Partitions []PartitionView `json:"partitions"`
}

// SoftwareView is one software release the node must have (or remove).
type SoftwareView struct {
	URL       string          `json:"url"`
	Requested SoftwareRequest `json:"requested"`
}

// PartitionView is what one partition must be. A free partition has
// RequestedState "destroyed" and no instance.
type PartitionView struct {
	ID              string            `json:"id"`
	RequestedState  RequestedState    `json:"requested_state"`
	InstanceGUID    string            `json:"instance_guid,omitempty"`
	Title           string            `json:"title,omitempty"`
	RootTitle       string            `json:"root_title,omitempty"`
	SoftwareRelease string            `json:"software_release,omitempty"`
	SoftwareType    string            `json:"software_type,omitempty"`
	Parameters      map[string]string `json:"parameters,omitempty"`
	SLA             map[string]string `json:"sla,omitempty"`
	Addresses       []Address         `json:"addresses,omitempty"`
	SharedInstances []SharedView      `json:"shared_instances,omitempty"`
	// Version is the partition's configuration timestamp: the node
	// reconfigures the partition when it differs from the applied one.
	Version uint64 `json:"version"`
}

// Free reports whether the partition holds no instance.
func (p *PartitionView) Free() bool { return p.InstanceGUID == "" }

// SharedView is one shared instance hosted in a partition.
type SharedView struct {
	GUID         string            `json:"guid"` // slave_reference
	Title        string            `json:"title"`
	SoftwareType string            `json:"software_type"`
	Parameters   map[string]string `json:"parameters,omitempty"`
	State        RequestedState    `json:"state"`
}

// ComparePartitionIDs orders partition ids naturally: "slappart2" before
// "slappart10". Ids without a numeric tail compare as strings.
func ComparePartitionIDs(a, b string) int {
	pa, na, oka := splitNumericTail(a)
	pb, nb, okb := splitNumericTail(b)
	if oka && okb && pa == pb {
		switch {
		case na < nb:
			return -1
		case na > nb:
			return 1
		}
		return 0
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func splitNumericTail(s string) (prefix string, n uint64, ok bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if i == len(s) || len(s)-i > 18 {
		return s, 0, false
	}
	for _, c := range s[i:] {
		n = n*10 + uint64(c-'0')
	}
	return s[:i], n, true
}

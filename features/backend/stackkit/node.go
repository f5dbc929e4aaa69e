package stackkit

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"slices"

	"github.com/slapgo/slapgo/core/model"
)

// PartitionRecord is the part of the agent's <partition>/.slapgo/state.json
// the backends read.
type PartitionRecord struct {
	AppliedVersion uint64          `json:"applied_version"`
	InstanceGUID   string          `json:"instance_guid"`
	Failures       int             `json:"failures"`
	FailedVersion  uint64          `json:"failed_version"`
	Running        bool            `json:"running"`
	Wiped          bool            `json:"wiped"`
	Unreported     json.RawMessage `json:"unreported"`
}

// SoftwareRecord is the part of <software_root>/.slapgo/<md5>.json read.
type SoftwareRecord struct {
	Failures int    `json:"failures"`
	Want     string `json:"want"`
	Reported string `json:"reported"`
}

// SoftwareDirName is the directory name, under a node's software root, of
// the release at url (the hex md5 of the URL).
func SoftwareDirName(url string) string {
	sum := md5.Sum([]byte(url))
	return hex.EncodeToString(sum[:])
}

// SoftwareInUse reports whether a partition of the view still hosts an
// instance of the release at url.
func SoftwareInUse(view *model.ComputerView, url string) bool {
	return slices.ContainsFunc(view.Partitions, func(pv model.PartitionView) bool {
		return pv.SoftwareRelease == url && pv.InstanceGUID != ""
	})
}

package agent

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"time"

	agentcore "github.com/slapgo/slapgo/core/agent"
	"github.com/slapgo/slapgo/core/converge"
	"github.com/slapgo/slapgo/core/model"
)

// StateDir is the directory, inside each partition and under the software
// and instance roots, where the agent keeps its records.
const StateDir = ".slapgo"

// partitionState is <partition>/.slapgo/state.json: converge's record of
// the partition (SlapOS's .timestamp role) and what the agent needs beyond
// it. A missing file reads as a clean partition.
type partitionState struct {
	AppliedVersion uint64    `json:"applied_version"`
	InstanceGUID   string    `json:"instance_guid,omitempty"`
	LastSuccess    time.Time `json:"last_success,omitzero"`
	Failures       int       `json:"failures,omitempty"`
	LastFailure    time.Time `json:"last_failure,omitzero"`
	FailedVersion  uint64    `json:"failed_version,omitempty"`
	LastError      string    `json:"last_error,omitempty"`
	// Running says the services were started and not stopped since; the
	// supervisor that runs them may be another process's.
	Running bool `json:"running,omitempty"`

	SoftwareRelease string `json:"software_release,omitempty"`
	DestroyHook     string `json:"destroy_hook,omitempty"`
	// CertGUID is the instance whose certificate is in the partition.
	CertGUID string `json:"cert_guid,omitempty"`
	// Wiped: the files are gone, the master is still to be told.
	Wiped bool `json:"wiped,omitempty"`
	// Unreported is a state report the master did not receive yet.
	Unreported *stateReport `json:"unreported,omitempty"`
	// Anomaly: a promise check of the running partition failed and the
	// partition was reported in error; it is reported started when its
	// promises hold again.
	Anomaly bool `json:"anomaly,omitempty"`
	// Unpublished: connection parameters the master did not receive yet
	// (core/agent's publication outbox for this partition), oldest first;
	// each with its place in the whole outbox (seq).
	Unpublished []unpublished `json:"unpublished,omitempty"`
}

// unpublished is a set of connection parameters kept for the master: the
// instance's own (SharedGUID empty) or a shared instance's it hosts.
type unpublished struct {
	InstanceGUID string            `json:"instance_guid"`
	SharedGUID   string            `json:"shared_guid,omitempty"`
	Parameters   map[string]string `json:"parameters"`
	// Seq is its place in the outbox of every partition (core/agent's
	// Publication.Seq): a restarted agent sends them in the order they
	// were kept. 0 in records written before it was kept: after the
	// others, in partition order.
	Seq uint64 `json:"seq,omitempty"`
}

func (u unpublished) equal(o unpublished) bool {
	return u.InstanceGUID == o.InstanceGUID && u.SharedGUID == o.SharedGUID && u.Seq == o.Seq && maps.Equal(u.Parameters, o.Parameters)
}

// stateReport is a partition state to report to the master.
type stateReport struct {
	State model.ReportedState `json:"state"`
	Error string              `json:"error,omitempty"`
}

func (s *partitionState) actual() converge.PartitionActual {
	return converge.PartitionActual{
		AppliedVersion: s.AppliedVersion,
		InstanceGUID:   s.InstanceGUID,
		LastSuccess:    s.LastSuccess,
		Failures:       s.Failures,
		LastFailure:    s.LastFailure,
		FailedVersion:  s.FailedVersion,
		Running:        s.Running,
	}
}

func (s *partitionState) setActual(a converge.PartitionActual) {
	s.AppliedVersion = a.AppliedVersion
	s.InstanceGUID = a.InstanceGUID
	s.LastSuccess = a.LastSuccess
	s.Failures = a.Failures
	s.LastFailure = a.LastFailure
	s.FailedVersion = a.FailedVersion
	s.Running = a.Running
	if a.Failures == 0 {
		s.LastError = ""
	}
}

func (s *partitionState) clean() bool {
	return s.InstanceGUID == "" && !s.Running && s.Failures == 0 && !s.Wiped && s.Unreported == nil &&
		len(s.Unpublished) == 0
}

// unpublishedOf returns what core/agent keeps for the master about
// partition id, as the record holds it.
func unpublishedOf(kept []agentcore.Publication, id string) []unpublished {
	var out []unpublished
	for _, p := range kept {
		if p.PartitionID == id {
			out = append(out, unpublished{InstanceGUID: p.InstanceGUID, SharedGUID: p.SharedGUID, Parameters: p.Parameters, Seq: p.Seq})
		}
	}
	return out
}

func sameUnpublished(a, b []unpublished) bool {
	return slices.EqualFunc(a, b, unpublished.equal)
}

func statePath(dir string) string { return filepath.Join(dir, StateDir, "state.json") }

func loadPartitionState(dir string) (*partitionState, error) {
	st := &partitionState{}
	data, err := os.ReadFile(statePath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := json.Unmarshal(data, st); err != nil {
		return nil, fmt.Errorf("agent: %s: %w (remove it to have the partition processed again from scratch)", statePath(dir), err)
	}
	return st, nil
}

// savePartitionState writes the record, or removes it when there is
// nothing to remember.
func savePartitionState(dir string, st *partitionState) error {
	if st.clean() {
		err := os.Remove(statePath(dir))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("agent: %w", err)
		}
		os.Remove(filepath.Dir(statePath(dir))) // only if empty
		return nil
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	return writeFileAtomic(statePath(dir), append(data, '\n'), 0o644)
}

// writeFileAtomic writes through a temporary file and a rename, creating
// the directory (root-owned, 0755) if needed.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// NB: a temporary name of its own, so two loops saving the same file
	// at once never rename each other's half-written copy.
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp, perm)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("agent: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("agent: %w", err)
	}
	return nil
}

// SoftwareDirName is the directory name of a software release under
// software_root: the hexadecimal MD5 of its URL, as SlapOS names it.
func SoftwareDirName(url string) string {
	sum := md5.Sum([]byte(url))
	return hex.EncodeToString(sum[:])
}

// softwareRecord is <software_root>/.slapgo/<md5>.json: the URL a
// directory was built from, converge's failure count, and the state to
// report with the last one the master received.
type softwareRecord struct {
	URL         string              `json:"url"`
	Failures    int                 `json:"failures,omitempty"`
	LastFailure time.Time           `json:"last_failure,omitzero"`
	LastError   string              `json:"last_error,omitempty"`
	Want        model.SoftwareState `json:"want,omitempty"`       // last state to report
	WantError   string              `json:"want_error,omitempty"` // its message
	Reported    model.SoftwareState `json:"reported,omitempty"`   // last state received
}

// equal compares two records but for Unreported and Unpublished.
func (s *partitionState) equal(o *partitionState) bool {
	a, b := *s, *o
	a.Unreported, b.Unreported = nil, nil
	a.Unpublished, b.Unpublished = nil, nil
	return reflect.DeepEqual(a, b)
}

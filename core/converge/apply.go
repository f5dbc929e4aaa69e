package converge

import (
	"time"

	"github.com/slapgo/slapgo/core/model"
)

// ApplySuccess records that act succeeded at now, as the node agent does on
// disk and the simulator in memory:
//
//   - install-software: installed, failures cleared;
//   - remove-software: the release is forgotten;
//   - destroy-partition: the partition is clean (zero value);
//   - stop-partition: services not running;
//   - configure-partition: the partition holds act.InstanceGUID at
//     act.Version, LastSuccess = now; a failure record of this version is
//     cleared only when no start follows (act.State is not started), so
//     that a configuration that succeeds before a start that keeps failing
//     does not reset the back-off; a record of another version is cleared;
//   - start-partition: services running, failures cleared.
//
// Nil maps are created. An unknown kind changes nothing.
func (a *Actual) ApplySuccess(act Action, now time.Time) {
	switch act.Kind {
	case InstallSoftware:
		a.setSoftware(act.URL, SoftwareActual{Installed: true})
	case RemoveSoftware:
		delete(a.Software, act.URL)
	case DestroyPartition:
		a.setPartition(act.PartitionID, PartitionActual{})
	case StopPartition:
		p := a.Partitions[act.PartitionID]
		p.Running = false
		a.setPartition(act.PartitionID, p)
	case ConfigurePartition:
		p := a.Partitions[act.PartitionID]
		p.InstanceGUID = act.InstanceGUID
		p.AppliedVersion = act.Version
		p.LastSuccess = now
		if act.State != model.StateStarted || p.FailedVersion != act.Version {
			p.clearFailures()
		}
		a.setPartition(act.PartitionID, p)
	case StartPartition:
		p := a.Partitions[act.PartitionID]
		p.Running = true
		p.clearFailures()
		a.setPartition(act.PartitionID, p)
	}
}

// ApplyFailure records that act failed at now: one more consecutive
// failure, at now, of act.Version for partitions. A failed configuration
// leaves the partition holding (part of) act.InstanceGUID's files, so that
// a later destroy wipes them; a failed start leaves services not running;
// a failed stop or destroy leaves things as they were. An unknown kind
// changes nothing.
func (a *Actual) ApplyFailure(act Action, now time.Time) {
	switch act.Kind {
	case InstallSoftware, RemoveSoftware:
		s := a.Software[act.URL]
		s.Failures++
		s.LastFailure = now
		a.setSoftware(act.URL, s)
	case DestroyPartition, StopPartition, ConfigurePartition, StartPartition:
		p := a.Partitions[act.PartitionID]
		p.Failures++
		p.LastFailure = now
		p.FailedVersion = act.Version
		switch act.Kind {
		case ConfigurePartition:
			p.InstanceGUID = act.InstanceGUID
		case StartPartition:
			p.Running = false
		}
		a.setPartition(act.PartitionID, p)
	}
}

func (p *PartitionActual) clearFailures() {
	p.Failures, p.LastFailure, p.FailedVersion = 0, time.Time{}, 0
}

func (a *Actual) setSoftware(url string, s SoftwareActual) {
	if a.Software == nil {
		a.Software = make(map[string]SoftwareActual)
	}
	a.Software[url] = s
}

func (a *Actual) setPartition(id string, p PartitionActual) {
	if a.Partitions == nil {
		a.Partitions = make(map[string]PartitionActual)
	}
	a.Partitions[id] = p
}

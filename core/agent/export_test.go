package agent

// Config returns the schedule's configuration, defaults filled in.
func (s *Schedule) Config() ScheduleConfig { return s.cfg }

// Running reports whether a run of t is in progress.
func (s *Schedule) Running(t Task) bool {
	d := s.find(t)
	return d != nil && d.running
}

// String is a one-line description of a publication for test failures.
func (p Publication) String() string {
	if p.SharedGUID != "" {
		return p.PartitionID + " shared " + p.SharedGUID
	}
	return p.PartitionID
}

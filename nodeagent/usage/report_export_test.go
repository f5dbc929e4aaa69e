package usage

import (
	"context"
	"time"
)

// Report closes the period [Meter.PeriodStart(), now) for the partitions
// given (Close), then posts every pending journal (Flush), as the daemon's
// two duties do one after the other.
func (r *Reporter) Report(ctx context.Context, now time.Time, parts []Partition, post Post) (Result, error) {
	res, err := r.Close(now, parts)
	if err != nil {
		return res, err
	}
	res.Sent, res.Pending, err = r.Flush(ctx, post)
	return res, err
}

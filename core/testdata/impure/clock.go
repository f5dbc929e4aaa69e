package impure

import (
	"time"
	clock "time"
)

func wallClock(deadline time.Time) time.Duration {
	start := time.Now()              // want: wall-clock
	_ = time.Since(start)            // want: wall-clock
	_ = time.Until(deadline)         // want: wall-clock
	time.Sleep(time.Second)          // want: wall-clock
	<-time.After(time.Second)        // want: wall-clock
	<-time.Tick(time.Second)         // want: wall-clock
	_ = time.NewTimer(time.Second)   // want: wall-clock
	_ = time.NewTicker(time.Second)  // want: wall-clock
	_ = time.AfterFunc(0, func() {}) // want: wall-clock
	now := time.Now                  // want: wall-clock
	_ = clock.Now()                  // want: wall-clock
	_ = now
	return 0
}

// timeAsValue is what core code does instead, and is accepted.
func timeAsValue(now time.Time, period time.Duration) time.Time {
	epoch := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	if now.Sub(epoch) > 24*time.Hour {
		return time.Unix(0, 0).UTC()
	}
	return now.Add(period).Truncate(time.Minute)
}

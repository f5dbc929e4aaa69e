//go:build windows

// Files excluded by build constraints are checked too: core code must be pure
// on every platform.
package impure

import "time"

func tagged() {
	time.Sleep(time.Second) // want: wall-clock
}

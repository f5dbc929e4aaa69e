//go:build !linux

package hugepages

// Reserve changes nothing on this system (see the package's
// documentation).
func Reserve(n int64) (Result, error) {
	return Result{Why: "transparent huge pages are a Linux feature"}, nil
}

// Mode is "": the system has no transparent huge pages.
func Mode() string { return "" }

// Package hugepages has the Go heap backed by transparent huge pages on
// Linux systems that give them only to the memory a program asks them for
// (/sys/kernel/mm/transparent_hugepage/enabled set to "madvise", the
// default of many distributions).
//
// Why: a program that builds a large heap pays the kernel once per page it
// touches first, to map and zero it. On bare metal that is a fraction of a
// microsecond per 4 KiB page; on virtual machines it is much more (14 µs on
// a 2-core Firecracker VM, where the simulator's 1,000-node day touches
// 330,000 pages: a quarter of its CPU). A huge page is one fault for
// 2 MiB.
//
// How: the Go runtime maps its heap in steps as it grows and asks for no
// huge pages. Reserve grows the heap by n bytes at once with one
// allocation it never writes, advises huge pages over that address range
// (madvise MADV_HUGEPAGE, which the mapping keeps), drops the allocation
// and returns its pages to the system (debug.FreeOSMemory), so that the
// runtime counts them as released, not as memory in use: the soft memory
// limit and the collector's pacing are as before. Later allocations reuse
// the range, lowest addresses first, and their first touch of each 2 MiB
// is one fault. The heap beyond the range grows as usual, in 4 KiB pages.
//
// Reserve changes nothing when the system gives huge pages to every
// program ("always") or to none ("never"), when the system's strict
// overcommit accounting (vm.overcommit_memory=2) would count the range
// against what other programs may allocate, or on other systems.
package hugepages

// Result says what Reserve did.
type Result struct {
	// Mode is the system's setting: always, madvise, never, or "" where
	// unknown (not Linux, no transparent huge pages).
	Mode string
	// Advised is the number of bytes of the heap's address range advised
	// for huge pages (0 when Reserve changed nothing).
	Advised int64
	// Why says why nothing was advised, when so.
	Why string
}

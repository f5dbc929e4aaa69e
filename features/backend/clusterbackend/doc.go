// Package clusterbackend is the "cluster" implementation of
// features/backend.Backend: the Gherkin scenarios on a real master and
// real node agents, each in its own Docker container (package cluster),
// driven through master/api.
//
// A Pool prepares what every scenario shares (the Docker engine, a static
// slapgo and the image, built once); Pool.New starts one grid per scenario:
// two private networks and the master. RegisterComputer starts a node
// container per computer, formatted as root with one user per partition.
// The releases scenarios define are written into every node container
// (/srv/defined/<name>): busybox httpd, like the live backend's fixture.
//
// Faults are container operations: CrashNode kills a node's container
// (SIGKILL, its disk stays) and RebootNode starts it again; WipeNode
// replaces it by an empty one with the same identity; CutNode disconnects
// it from the master's network; CutMaster kills the master, RestoreMaster
// restarts it on its volume. SetTimings is unsupported (wall time).
//
// What a node holds (Node), what it did (Activity: its configurations and
// the most partitions it worked on at once) and whether it converged come
// from `slapgo node status --json` run in its container (package
// stackkit); a crashed node holds what its status said just before the
// crash. Converge waits as the live backend does. What goes through
// master/api alone is stackkit.API's, shared with the live backend.
//
// # Caller's duties
//
//  1. Make one Pool per test binary (NewPool; when the error wraps
//     cluster.ErrNoDocker or cluster.ErrNoBusybox, report it with
//     internal/testenv's Missing: a skip, a failure under CI=true) and
//     Close it at the end; one Backend per scenario, closed when it ends.
//  2. Run from the Docker host: the test process reaches the containers'
//     addresses directly.
//  3. Call a Backend from one goroutine at a time.
package clusterbackend

// Package cluster runs slapgo across real hosts: a master and node agents,
// each in its own Docker container on private networks, built locally and
// driven from `go test` through testcontainers-go. Its tests are the
// cluster scenarios: deploy a tree spread by SLA, lose a node and rebuild
// it from the master alone, cut a node off the master, kill the master
// under load, restart every node under load.
//
// # Images
//
// No registry is needed: BuildImage builds one image per run FROM scratch
// with the statically linked slapgo (`make static`), a static busybox
// (Debian's busybox-static, which `make test-deps` installs when it is
// missing; the tests install nothing), the repository's fixtures/software
// under /srv/fixtures, and the two commands of the shadow suite the node
// agent's format calls (useradd, groupadd, as shell scripts): node agents
// run as root and format for real, with one user per partition.
//
// # Topology
//
// Start makes two bridge networks with subnets of their own, so that every
// container keeps its address across a stop, a network cut or a
// replacement:
//
//   - ctl (/24): the master and every node agent; the nodes' master_url is
//     the master's address there. Cutting a node from ctl is a network
//     partition between it and the master.
//   - svc (/16): the nodes again; node k adds its partitions' addresses
//     (the /24 block k of svc, as [slapformat] ipv4_local_network) on its
//     interface there, so the instances' published URLs answer the test
//     process (the host of the bridges) and survive a cut of ctl.
//
// The master's data directory is a named volume: a killed master restarts
// on it. A node's identity (certificate, key, configuration) is kept on
// the host side: Replace starts a fresh container with it and an empty
// disk.
//
// # Contract
//
// Every container, network, volume and image goes through an Engine,
// which labels it (LabelRun, LabelScope) and records how to remove it;
// Close removes everything newest first, even after a failure, and Sweep
// removes what a run killed before its clean-up left (older than a
// threshold, other runs only). Names are unique per run, so concurrent
// runs on one engine do not meet.
//
// Connect sets TESTCONTAINERS_RYUK_DISABLED=true when unset (the reaper
// image cannot be pulled) and silences testcontainers' default logger.
//
// # Tests
//
// `make test-cluster` runs them (after `make static`); `go test
// ./cluster/` too, building a static binary itself when SLAPGO_BIN is
// unset. Without a Docker engine (or with -short) they print one line,
// SkipLine, and only the tests named TestOffline (pure helpers) run; the
// line also goes to the skip log `make test` prints at its end, and under
// CI=true a missing engine fails the package (see internal/testenv). The
// whole suite takes 3 to 4 minutes on two cores. SLAPGO_CLUSTER_KEEP=1 keeps what a failed scenario
// made, for inspection; SLAPGO_CLUSTER_LOG_LEVEL=debug makes the
// containers' slapgo verbose. A failed scenario prints the tail of every
// container's output and of its partitions' logs.
//
// # Caller's duties
//
//  1. Connect once, build the image on that root Engine, and give each
//     scenario a Sub engine; Close the subs, then the root.
//  2. Reach the containers' addresses from the Docker host (a local
//     engine): the harness neither publishes ports nor tunnels.
//  3. Call a Cluster's methods from one goroutine, except the api.Client
//     values it hands out, which are safe for concurrent use (Load).
package cluster

// Package localgrid runs a whole slapgo grid on one machine, in one folder:
// the master (on SQLite) and one node agent, both the slapgo binary running
// in the background, with the sample software deployed. It is what
// `slapgo demo` (and so `make run`) does.
//
// # Folder layout
//
//	<dir>/                   default .local-grid/ in the checkout
//	  .slapgo-local-grid     marker: Reset wipes only a folder holding it
//	  master/                the master's data directory (database, CA, admin credentials)
//	  master.log master.pid master.url
//	  demo/                  person demo: demo.crt demo.key ca.crt, env.sh, client.yaml
//	  node/                  computer COMP-LOCAL: computer.crt computer.key ca.crt
//	  node.cfg               the node agent's configuration
//	  node.log node.pid
//	  software/              the node's software_root
//	  instance/              the node's instance_root (slappart0…slappart4)
//
// # Contract
//
// Up is idempotent: it creates what is missing (master data directory,
// person, computer, node configuration), reuses what exists, starts the
// master and the node agent unless they already run from the same binary
// and configuration, supplies the software, requests the instance (started,
// with InstanceParameters, again on every run) and waits until its published
// URL answers with Options.Expect in the answer, so that an instance still
// serving older parameters does not count. It prints one line per step on
// Options.Out. It leaves both processes running, in their own session, so
// that they outlive the caller and a Ctrl-C in its terminal.
//
// The node agent always runs unprivileged, even as root: a local grid adds
// no user, address or tap to the machine. Its partitions get distinct
// addresses in a /24 of 127.0.0.0/8 derived from the folder's path (Linux
// answers the whole range on the loopback interface), so that two grids in
// two folders do not collide.
//
// Stop stops what Up started: the node agent first (SIGTERM: it stops the
// partitions' programs), then the master; what does not stop within a grace
// period is killed, and programs left in the partitions are killed from
// their pid files. A pid file names a process by pid and start time, and
// Stop signals only a live process whose command line names this folder.
//
// # Caller's duties
//
//  1. Give the slapgo binary to run in the background (Options.Binary): the
//     caller's own executable, normally.
//  2. Check the build tools first (CheckBuildTools): the sample software is
//     a C program built from source.
//  3. Do not run two Up or Stop on one folder at once: they take a lock on
//     the folder and the second fails with ErrBusy.
package localgrid

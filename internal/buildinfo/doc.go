// Package buildinfo tells which slapgo this binary is: its version, the
// commit it was built from and the Go toolchain that built it.
//
// Release builds stamp Version and Commit at link time:
//
//	go build -ldflags "-X github.com/slapgo/slapgo/internal/buildinfo.Version=v1.2.0 \
//	                   -X github.com/slapgo/slapgo/internal/buildinfo.Commit=0123abcd" ./cmd/slapgo
//
// (the Makefile does this from git). A binary built without the flags
// falls back on what the Go toolchain recorded in it (the module version
// of `go install …@v1.2.0`, the vcs.revision of a build inside a git work
// tree), and finally on "dev" and "unknown".
//
// Callers read the merged result with Read; the package has no other
// state and never fails.
package buildinfo

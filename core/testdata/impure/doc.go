// Package impure breaks every rule of the core purity contract, to prove that
// purity_test.go reports each one. A trailing "want: rule, …" comment names
// the violations expected on its line; lines without one must be accepted.
// This package is never built: the go tool skips testdata directories.
package impure

package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Defaults of the link-time variables, kept when nothing better is known.
const (
	DefaultVersion = "dev"
	DefaultCommit  = "unknown"
)

// Version and Commit are set at link time with -ldflags -X (see the package
// documentation). NB: they must stay plain string variables initialised with
// constants, or the linker silently ignores -X.
var (
	Version = DefaultVersion
	Commit  = DefaultCommit
)

// Info describes the running binary.
type Info struct {
	// Version is the release ("v1.2.0", "v1.2.0-3-gabcdef0-dirty") or "dev".
	Version string
	// Commit is the source revision or "unknown". A build from a work tree
	// with uncommitted changes ends in "-dirty" when the toolchain said so.
	Commit string
	// GoVersion is the toolchain that built the binary ("go1.26.0").
	GoVersion string
	// Platform is GOOS/GOARCH of the binary ("linux/amd64").
	Platform string
}

// Read returns the info of the running binary: link-time values first, then
// what the toolchain embedded, then the defaults.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return resolve(Version, Commit, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// resolve merges the link-time values with the embedded build information
// (bi may be nil). It is separate from Read so that every case is testable.
func resolve(version, commit string, bi *debug.BuildInfo, goVersion, platform string) Info {
	info := Info{Version: version, Commit: commit, GoVersion: goVersion, Platform: platform}
	if bi == nil {
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	// `go install github.com/slapgo/slapgo/cmd/slapgo@v1.2.0` records the
	// module version; a build inside the work tree records "(devel)".
	if info.Version == DefaultVersion && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	if info.Commit == DefaultCommit {
		var revision string
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if revision != "" {
			info.Commit = revision
			if modified {
				info.Commit += "-dirty"
			}
		}
	}
	return info
}

package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name            string
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		{
			name:    "no build info keeps defaults",
			version: DefaultVersion, commit: DefaultCommit,
			want: Info{Version: "dev", Commit: "unknown", GoVersion: "go1.0", Platform: "linux/amd64"},
		},
		{
			name:    "link-time values win over embedded ones",
			version: "v1.2.0", commit: "0123abcd",
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v9.9.9"}, Settings: vcs("ffff", "true")},
			want: Info{Version: "v1.2.0", Commit: "0123abcd", GoVersion: "go1.26.0", Platform: "linux/amd64"},
		},
		{
			name:    "embedded revision fills an unknown commit",
			version: DefaultVersion, commit: DefaultCommit,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: vcs("a1b2c3", "false")},
			want: Info{Version: "dev", Commit: "a1b2c3", GoVersion: "go1.26.0", Platform: "linux/amd64"},
		},
		{
			name:    "uncommitted changes mark the commit dirty",
			version: DefaultVersion, commit: DefaultCommit,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Settings: vcs("a1b2c3", "true")},
			want: Info{Version: "dev", Commit: "a1b2c3-dirty", GoVersion: "go1.26.0", Platform: "linux/amd64"},
		},
		{
			name:    "module version of go install fills a dev version",
			version: DefaultVersion, commit: DefaultCommit,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.3.0"}},
			want: Info{Version: "v1.3.0", Commit: "unknown", GoVersion: "go1.26.0", Platform: "linux/amd64"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.version, tt.commit, tt.bi, "go1.0", "linux/amd64")
			if got != tt.want {
				t.Errorf("resolve() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReadNeverEmpty(t *testing.T) {
	info := Read()
	if info.Version == "" || info.Commit == "" || info.GoVersion == "" || info.Platform == "" {
		t.Fatalf("Read() = %+v, every field must be set", info)
	}
}

package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/shoalcache/shoal", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"}, {Key: "GOARCH", Value: "arm64"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		}}
	i := fromBuildInfo(bi, "0.1.0-dev")
	if want := "0.1.0-dev (commit 0123456789ab, 2026-12-01T10:00:00Z, modified) go1.26.8 linux/arm64"; i.String() != want {
		t.Errorf("String() = %q, want %q", i.String(), want)
	}
	if i.GitSHA1() != "01234567" || i.GitDirty() != "1" || len(i.BuildID()) != 16 {
		t.Errorf("INFO fields %q %q %q", i.GitSHA1(), i.GitDirty(), i.BuildID())
	}
	id := i.BuildID()
	bi.Main.Version = "v1.2.3"
	bi.Settings[4].Value = "false"
	j := fromBuildInfo(bi, "0.1.0-dev")
	if j.Version != "v1.2.3" || j.Modified || j.GitDirty() != "0" || j.BuildID() == id {
		t.Errorf("released build: %+v, build id %s (was %s)", j, j.BuildID(), id)
	}

	none := fromBuildInfo(nil, "0.1.0-dev")
	if none.Version != "0.1.0-dev" || none.GitSHA1() != "00000000" || none.Revision != "" {
		t.Errorf("without build information: %+v", none)
	}
	noVCS := fromBuildInfo(&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}, "x")
	if got := noVCS.String(); got != "x go1.26.8 "+noVCS.Platform {
		t.Errorf("without VCS: %q", got)
	}
}

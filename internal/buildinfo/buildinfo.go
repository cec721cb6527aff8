// Package buildinfo reports which build of Shoal is running: its version
// and the commit it was built from, read from the Go build information
// (runtime/debug.ReadBuildInfo) that `go build` stamps into binaries built
// in a git checkout. It is what `shoal --version` prints and what INFO
// server's redis_git_sha1, redis_git_dirty and redis_build_id report.
//
// Its functions are safe for concurrent use.
package buildinfo

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
)

// Info describes a build.
type Info struct {
	// Version is the main module's version ("v1.2.3" when built by `go
	// install module@version`), else the fallback given to Get.
	Version string
	// Revision is the full commit hash; empty when unknown (go test,
	// builds outside a checkout, -buildvcs=false).
	Revision string
	// Time is the commit time (RFC 3339); empty when unknown.
	Time string
	// Modified reports uncommitted changes in the checkout at build time.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
	// Platform is GOOS/GOARCH.
	Platform string
}

var read = sync.OnceValue(func() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
})

// Get returns the running binary's build information. fallback is the
// version reported when the build information has none (a development
// build says "(devel)").
func Get(fallback string) Info {
	return fromBuildInfo(read(), fallback)
}

func fromBuildInfo(bi *debug.BuildInfo, fallback string) Info {
	info := Info{Version: fallback, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi == nil {
		return info
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		info.Version = v
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.time":
			info.Time = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		case "GOOS":
			info.Platform = s.Value + info.Platform[strings.IndexByte(info.Platform, '/'):]
		case "GOARCH":
			info.Platform = info.Platform[:strings.IndexByte(info.Platform, '/')+1] + s.Value
		}
	}
	return info
}

// String is the one-line description `shoal --version` prints, e.g.
// "0.1.0-dev (commit 0123abcd4567, 2026-12-01T10:00:00Z, modified) go1.26.8 linux/amd64".
func (i Info) String() string {
	var b strings.Builder
	b.WriteString(i.Version)
	if i.Revision != "" {
		fmt.Fprintf(&b, " (commit %s", short(i.Revision, 12))
		if i.Time != "" {
			b.WriteString(", " + i.Time)
		}
		if i.Modified {
			b.WriteString(", modified")
		}
		b.WriteByte(')')
	}
	fmt.Fprintf(&b, " %s %s", i.GoVersion, i.Platform)
	return b.String()
}

// GitSHA1 is INFO's redis_git_sha1: the commit's first 8 hex digits, or
// "00000000" when unknown (as Redis built outside git).
func (i Info) GitSHA1() string {
	if len(i.Revision) < 8 {
		return "00000000"
	}
	return i.Revision[:8]
}

// GitDirty is INFO's redis_git_dirty: "1" when built with uncommitted
// changes.
func (i Info) GitDirty() string {
	if i.Modified {
		return "1"
	}
	return "0"
}

// BuildID is INFO's redis_build_id: 16 hex digits that differ between
// builds of different versions, commits or toolchains.
func (i Info) BuildID() string {
	sum := sha1.Sum([]byte(i.Version + "\x00" + i.Revision + "\x00" + i.Time + "\x00" + i.GitDirty() + "\x00" +
		i.GoVersion + "\x00" + i.Platform))
	return hex.EncodeToString(sum[:8])
}

func short(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

package script

import (
	"bytes"
	"strings"
)

// Flags are a script's shebang flags (#!lua flags=...), as Redis 7.0 parses
// them.
type Flags uint8

const (
	// FlagNoWrites: the script may not write (no-writes); it runs as a
	// read-only script.
	FlagNoWrites Flags = 1 << iota
	FlagAllowOOM
	FlagAllowStale
	FlagNoCluster
	FlagAllowCrossSlot
	// FlagCompat: no shebang (Redis's eval compatibility mode).
	FlagCompat
)

var flagNames = []struct {
	name string
	f    Flags
}{
	{"no-writes", FlagNoWrites}, {"allow-oom", FlagAllowOOM}, {"allow-stale", FlagAllowStale},
	{"no-cluster", FlagNoCluster}, {"allow-cross-slot-keys", FlagAllowCrossSlot},
}

// ParseFlags returns the flags of a script's shebang line, or Redis's error
// reply text (with its "ERR " prefix) for a bad one. A body without a
// shebang has FlagCompat only.
func ParseFlags(body []byte) (Flags, string) {
	if !bytes.HasPrefix(body, []byte("#!")) {
		return FlagCompat, ""
	}
	end := bytes.IndexByte(body, '\n')
	if end < 0 {
		return 0, "ERR Invalid script shebang"
	}
	parts := strings.Fields(string(body[:end]))
	if len(parts) == 0 {
		return 0, "ERR Invalid engine in script shebang"
	}
	if parts[0] != "#!lua" {
		return 0, "ERR Unexpected engine in script shebang: " + parts[0]
	}
	var f Flags
	for _, p := range parts[1:] {
		list, ok := strings.CutPrefix(p, "flags=")
		if !ok {
			return 0, "ERR Unknown lua shebang option: " + p
		}
		if list == "" {
			continue
		}
		for _, name := range strings.Split(list, ",") {
			found := false
			for _, fn := range flagNames {
				if fn.name == name {
					f |= fn.f
					found = true
					break
				}
			}
			if !found {
				return 0, "ERR Unexpected flag in script shebang: " + name
			}
		}
	}
	return f, ""
}

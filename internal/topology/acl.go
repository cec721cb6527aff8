package topology

import (
	"fmt"
	"strings"
)

// ACLUsers are the cluster's ACL users (ACL SETUSER in cluster mode), as
// ACL LIST lines ("user <name> <rule> ..."), sorted by name. The map only
// carries them: the front end parses and applies them on every node
// (server.Server.ApplyClusterACL). A default user line, when present,
// overrides each node's requirepass. An ACLUsers value is immutable: a
// change makes a new one.
type ACLUsers struct {
	Lines []string `json:"lines"`
}

// Bounds of Map.ACL, so that a bad request cannot bloat every map.
const (
	MaxACLUsers    = 4096
	MaxACLLineSize = 64 << 10 // bytes
)

// validateACL checks ACL's bounds and that each line names a user, once.
func (m *Map) validateACL() error {
	if m.ACL == nil {
		return nil
	}
	if len(m.ACL.Lines) > MaxACLUsers {
		return fmt.Errorf("%w: %d ACL users, at most %d", ErrBadMap, len(m.ACL.Lines), MaxACLUsers)
	}
	seen := make(map[string]bool, len(m.ACL.Lines))
	for _, l := range m.ACL.Lines {
		f := strings.Fields(l)
		if len(l) > MaxACLLineSize || len(f) < 2 || f[0] != "user" || seen[f[1]] {
			return fmt.Errorf("%w: bad ACL user line", ErrBadMap)
		}
		seen[f[1]] = true
	}
	return nil
}

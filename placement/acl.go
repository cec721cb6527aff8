package placement

import (
	"context"
	"slices"

	"github.com/shoalcache/shoal/internal/topology"
)

// UpdateACL changes the cluster's ACL users (Map.ACL, as ACL LIST lines)
// in one compare-and-set of the map, and returns once this node's replica
// holds the new map. change gets the current lines (nil while the map has
// none, a copy it may keep) and returns the new ones or an error, which
// UpdateACL returns with nothing changed; it may be called again with
// newer lines when another change of the map won the race. Lines equal to
// the current ones change nothing (no new epoch). The caller (the front
// end) validates the rules; the map checks only their bounds (ErrBadMap).
func (s *Service) UpdateACL(ctx context.Context, change func(lines []string) ([]string, error)) error {
	return s.updateAndWait(ctx, func(old *Map) (*Map, error) { return updateACL(old, change) })
}

// updateACL is UpdateACL's change of m (nil when there is none).
func updateACL(m *Map, change func(lines []string) ([]string, error)) (*Map, error) {
	var cur []string
	if m.ACL != nil {
		cur = slices.Clone(m.ACL.Lines)
		if cur == nil {
			cur = []string{}
		}
	}
	next, err := change(cur)
	if err != nil {
		return nil, err
	}
	if m.ACL != nil && slices.Equal(next, m.ACL.Lines) {
		return nil, nil
	}
	if next == nil {
		next = []string{}
	}
	m.ACL = &topology.ACLUsers{Lines: next}
	return m, nil
}

package placement

import "context"

// SetConfig records the cluster-wide settings kv (parameter name to value,
// see Map.Config) in the map, in one compare-and-set, and returns once this
// node's replica holds the new map. Settings the map holds already with
// the same values change nothing (no new epoch). The caller validates the
// values; the map only checks Map.Config's bounds (else ErrBadMap).
func (s *Service) SetConfig(ctx context.Context, kv map[string]string) error {
	return s.updateAndWait(ctx, func(old *Map) (*Map, error) { return setConfig(old, kv), nil })
}

// setConfig is SetConfig's change of m (nil when there is none).
func setConfig(m *Map, kv map[string]string) *Map {
	changed := false
	for k, v := range kv {
		if cur, ok := m.Config[k]; ok && cur == v {
			continue
		}
		if m.Config == nil {
			m.Config = make(map[string]string, len(kv))
		}
		m.Config[k] = v
		changed = true
	}
	if !changed {
		return nil
	}
	return m
}

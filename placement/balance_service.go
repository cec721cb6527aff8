package placement

import (
	"context"
	"fmt"
	"slices"
)

// The balancing requests on the Service: asking for a rebalance, draining
// a node, and the meta leader's steps (balance.go plans them; the node's
// balancer carries them out).

// RequestRebalance records a rebalance request in the map (Map.Rebalance),
// which the meta leader's balancer carries out and clears when the cluster
// is balanced. A request already recorded is left as is.
func (s *Service) RequestRebalance(ctx context.Context) error {
	return s.updateAndWait(ctx, func(old *Map) (*Map, error) {
		if old.Rebalance {
			return nil, nil
		}
		old.Rebalance = true
		return old, nil
	})
}

// updateAndWait is UpdateMap, then a wait until this node's replica holds
// the new map, so that what the caller reads next (SHOAL REBALANCE STATUS
// on this node) shows the change.
func (s *Service) updateAndWait(ctx context.Context, fn func(old *Map) (*Map, error)) error {
	var epoch uint64
	err := s.UpdateMap(ctx, func(old *Map) (*Map, error) {
		next, err := fn(old)
		if next != nil {
			epoch = old.Epoch + 1
		}
		return next, err
	})
	if err != nil || epoch == 0 {
		return err
	}
	_, err = s.Wait(ctx, epoch-1) // a map newer than the one before the change
	return err
}

// DrainNode marks node id draining (remove-node): the balancer moves its
// replicas and preferred leaderships to other nodes and then takes it out
// of the map. It refuses (ErrUnknownNode, ErrTooFewNodes) a node the map
// lacks and a removal that would leave fewer than replicas nodes that are
// not draining. A node already draining is left as is. It also requests a
// rebalance, which evens out what the drained node leaves behind.
func (s *Service) DrainNode(ctx context.Context, id string, replicas int) error {
	return s.updateAndWait(ctx, func(old *Map) (*Map, error) { return drainNode(old, id, replicas) })
}

// drainNode is DrainNode's change of m (nil when there is none).
func drainNode(m *Map, id string, replicas int) (*Map, error) {
	n := m.Node(id)
	if n == nil {
		if slices.Contains(m.Removed, id) {
			return nil, fmt.Errorf("%w: node %s was removed already", ErrUnknownNode, id)
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownNode, id)
	}
	if n.Draining {
		return nil, nil
	}
	stay := 0
	for _, x := range m.Nodes {
		if !x.Draining && x.ID != id {
			stay++
		}
	}
	if stay < max(replicas, 1) {
		return nil, fmt.Errorf("%w: %d nodes would remain, fewer than --replicas %d", ErrTooFewNodes, stay, replicas)
	}
	n.Draining = true
	// Balance what remains once the node is gone, too.
	m.Rebalance = true
	return m, nil
}

// ApplyBalanceStep commits step st, which NextStep planned from the map
// at epoch, as one compare-and-set: it fails with ErrStaleStep when the
// map has moved on since (plan again). StepMoveSlots is not a map change
// (create a job instead), and StepNone clears Map.Rebalance.
func (s *Service) ApplyBalanceStep(ctx context.Context, epoch uint64, st Step) error {
	if st.Kind == StepMoveSlots || st.Kind == StepWait {
		return fmt.Errorf("%w: %s is not a map change", ErrStaleStep, st)
	}
	return s.UpdateMap(ctx, func(old *Map) (*Map, error) {
		if old.Epoch != epoch {
			return nil, fmt.Errorf("%w: planned at epoch %d, the map is at %d", ErrStaleStep, epoch, old.Epoch)
		}
		if st.Kind == StepNone {
			if !old.Rebalance {
				return nil, nil
			}
			old.Rebalance = false
			return old, nil
		}
		return ApplyStep(old, st)
	})
}

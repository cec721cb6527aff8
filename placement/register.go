package placement

import (
	"context"
	"slices"
	"sort"
	"strings"
)

// Registering nodes in the map.
//
// The initial map lists the nodes that formed the cluster. A node started
// later (with Join, into a formed cluster) becomes a meta non-voter
// (leaderReconcile) and, through registerNodes, a node of the map: it can
// then be given replicas, and CLUSTER NODES shows it. A known node whose
// gossiped addresses changed (restarted on other ports) gets them updated.
// Nodes are never removed here: a failed or departed node stays in the map
// until an operator takes it out (remove-node, balance.go). A removed node
// (Map.Removed) is not registered again while its process still gossips
// with the meta state it had; restarted without meta state, it is.

// registerMembers returns a copy of m in which every alive, usable member
// (id, RESP, cluster and gossip addresses known) that m lacks is a node,
// and every node whose alive member gossips other addresses has those;
// and the ids it added and updated. next is nil when nothing changes. The
// epoch is left for UpdateMap to set. It is a pure function of its
// arguments: the same members applied twice change nothing the second
// time.
func registerMembers(m *Map, members []Member) (next *Map, added, updated []string) {
	for _, mem := range members {
		if mem.Status != StatusAlive || !mem.usable() || mem.GossipAddr == "" {
			continue
		}
		if slices.Contains(m.Removed, mem.ID) {
			// A removed node's process may run on, holding the meta
			// replica it had: it stays out. One that restarted without
			// meta state (no --data-dir, or an empty one) was started
			// again on purpose: it comes back as a new node.
			if mem.MetaState {
				continue
			}
			if next == nil {
				next = m.Clone()
			}
			next.Removed = slices.DeleteFunc(next.Removed, func(id string) bool { return id == mem.ID })
		}
		want := Node{ID: mem.ID, RESPAddr: mem.RESPAddr, PlainPort: mem.PlainPort, ClusterAddr: mem.ClusterAddr, GossipAddr: mem.GossipAddr}
		cur := m.Node(mem.ID)
		if next != nil {
			cur = next.Node(mem.ID)
		}
		if cur != nil {
			want.Draining = cur.Draining // gossip does not know it
		}
		switch {
		case cur != nil && *cur == want:
			continue
		case next == nil:
			next = m.Clone()
			if cur != nil {
				cur = next.Node(mem.ID)
			}
		}
		if cur != nil {
			*cur = want
			updated = append(updated, mem.ID)
			continue
		}
		next.Nodes = append(next.Nodes, want)
		added = append(added, mem.ID)
		// Keep Nodes sorted for the next lookup (Node binary-searches).
		sort.Slice(next.Nodes, func(i, j int) bool { return next.Nodes[i].ID < next.Nodes[j].ID })
	}
	return next, added, updated
}

// registerAndRequest is registerMembers, and with autoRebalance a
// rebalance request (Map.Rebalance) in the same map when a node was added.
func registerAndRequest(m *Map, members []Member, autoRebalance bool) (next *Map, added, updated []string) {
	next, added, updated = registerMembers(m, members)
	if next != nil && len(added) > 0 && autoRebalance {
		next.Rebalance = true
	}
	return next, added, updated
}

// registerNodes is a meta leader duty (leaderReconcile): one
// compare-and-set that adds the alive members missing from the map and
// updates changed addresses, bumping the epoch (and with AutoRebalance,
// requesting a rebalance when it adds a node); nothing when the map is
// current, or before the initial map exists (bootstrap writes that).
func (s *Service) registerNodes(members []Member) {
	m := s.Map()
	if m == nil {
		return
	}
	if next, _, _ := registerMembers(m, members); next == nil {
		return
	}
	var added, updated []string
	ctx, cancel := context.WithTimeout(s.stopCtx, s.cfg.ApplyTimeout)
	defer cancel()
	err := s.UpdateMap(ctx, func(old *Map) (*Map, error) {
		var next *Map
		next, added, updated = registerAndRequest(old, members, s.cfg.AutoRebalance)
		return next, nil
	})
	if err != nil {
		s.log.Warn("register nodes in the map", "err", err)
		return
	}
	if len(added)+len(updated) > 0 {
		s.log.Info("registered nodes in the map", "added", strings.Join(added, ","), "updated", strings.Join(updated, ","))
	}
}

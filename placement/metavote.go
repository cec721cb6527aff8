package placement

import (
	"slices"

	"github.com/hashicorp/raft"
)

// Meta group votes of draining and removed nodes.
//
// A node being drained (remove-node) may vote in the meta group. Before the
// balancer takes it out of the map, the meta leader gives its vote to
// another node (an alive, non-draining node of the map that does not vote
// yet: promoted first, so the number of voters never drops), then demotes
// it to a non-voter: it keeps replicating maps, so the node answers
// redirects correctly until its process stops. A leader that is itself
// draining hands its leadership over first. Removed nodes that are gone
// from gossip leave the configuration altogether.

// MetaVoter reports whether node id votes in the meta group, as this
// node's replica's configuration says.
func (s *Service) MetaVoter(id string) bool {
	if !s.started.Load() {
		return false
	}
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == id {
			return srv.Suffrage == raft.Voter
		}
	}
	return false
}

// moveMetaVotes is a meta leader duty (leaderReconcile): it makes at most
// one configuration change moving a vote away from a draining or removed
// node, or dropping a removed node that left gossip, and reports whether
// it changed (or tried to change) anything.
func (s *Service) moveMetaVotes(members []Member, conf []raft.Server) bool {
	m := s.Map()
	if m == nil {
		return false
	}
	alive := make(map[string]bool, len(members))
	for _, mem := range members {
		alive[mem.ID] = mem.Status == StatusAlive && mem.usable()
	}
	leaving := func(id string) bool {
		n := m.Node(id)
		return (n != nil && n.Draining) || slices.Contains(m.Removed, id)
	}
	voter := make(map[string]bool, len(conf))
	voters, staying := 0, 0
	for _, srv := range conf {
		id := string(srv.ID)
		voter[id] = srv.Suffrage == raft.Voter
		if voter[id] {
			voters++
			if !leaving(id) {
				staying++
			}
		}
	}
	eligible := 0
	for _, n := range m.Nodes {
		if !n.Draining && alive[n.ID] {
			eligible++
		}
	}
	// As many voters as before, or as the remaining nodes warrant.
	want := min(voters, votersFor(eligible))
	for _, srv := range conf {
		id := string(srv.ID)
		if !leaving(id) {
			continue
		}
		if srv.Suffrage != raft.Voter {
			if slices.Contains(m.Removed, id) && !alive[id] {
				return s.metaConfChange("drop removed node from meta group", id,
					s.raft.RemoveServer(srv.ID, 0, s.cfg.ApplyTimeout))
			}
			continue
		}
		// A replacement voter first, so the group keeps its size.
		for _, n := range m.Nodes {
			if staying >= want || n.Draining || voter[n.ID] || !alive[n.ID] {
				continue
			}
			return s.metaConfChange("promote meta voter", n.ID,
				s.raft.AddVoter(raft.ServerID(n.ID), raft.ServerAddress(n.ClusterAddr), 0, s.cfg.ApplyTimeout))
		}
		if id == s.cfg.NodeID {
			return s.metaChangeDone("hand meta leadership over before demotion", id, s.transferMeta())
		}
		return s.metaConfChange("demote meta voter", id, s.raft.DemoteVoter(srv.ID, 0, s.cfg.ApplyTimeout))
	}
	return false
}

// metaConfChange waits for a configuration change and logs its outcome.
func (s *Service) metaConfChange(what, id string, f raft.Future) bool {
	return s.metaChangeDone(what, id, f.Error())
}

// metaChangeDone logs the outcome err of a change of the meta group.
func (s *Service) metaChangeDone(what, id string, err error) bool {
	if err != nil {
		s.log.Warn("meta configuration change failed", "change", what, "member-id", id, "err", err)
		return true
	}
	s.log.Info("meta configuration changed", "change", what, "member-id", id)
	return true
}

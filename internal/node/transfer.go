package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
)

// clusterState serves SHOAL LEADER-TRANSFER.
var _ server.Admin = (*clusterState)(nil)

// TransferLeadership implements server.Admin. This node must lead
// group groupID; toNodeID, when set, must be a member of the group in the
// map and a voter in the group's Raft configuration. The group holds new
// writes back, waits for the target to hold its whole log, tells it to
// campaign at once (TimeoutNow) and gives up after an election timeout
// (raftfsm.Group.TransferLeadership); TransferLeadership returns when
// this node has stepped down, or ctx's error when ctx ends first (the
// transfer may still complete then).
//
// Leadership does not stay where it was moved when the group's preferred
// leader (Members[0]) is healthy: run hands it back about a second after
// another node took over (see maybeTransfer). A transfer away from the
// preferred leader is undone a few seconds later.
func (cs *clusterState) TransferLeadership(ctx context.Context, groupID, toNodeID string) error {
	rt := cs.rt.Load()
	gi := -1
	if rt.m != nil {
		gi = slices.IndexFunc(rt.m.Groups, func(g placement.Group) bool { return g.ID == groupID })
	}
	if gi < 0 {
		return fmt.Errorf("%w %q", server.ErrUnknownGroup, groupID)
	}
	grp := &rt.m.Groups[gi]
	var addr string
	if toNodeID != "" {
		n := rt.m.Node(toNodeID)
		if n == nil {
			return fmt.Errorf("%w %q", server.ErrUnknownNode, toNodeID)
		}
		if !slices.Contains(grp.Members, toNodeID) {
			return fmt.Errorf("%w: %s is not a member of %s", server.ErrNotGroupVoter, toNodeID, groupID)
		}
		addr = n.ClusterAddr
	}
	g := rt.local[gi]
	if g == nil || !g.IsLeader() {
		return fmt.Errorf("%w %s", server.ErrNotGroupLeader, groupID)
	}
	if toNodeID == cs.self {
		return fmt.Errorf("%w %s", server.ErrAlreadyLeader, groupID)
	}
	if toNodeID != "" {
		conf, err := g.Members(ctx)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(conf, func(m raftfsm.Member) bool { return m.ID == toNodeID && m.Voter })
		if i < 0 {
			return fmt.Errorf("%w: %s is not (yet) a voter in %s's configuration", server.ErrNotGroupVoter, toNodeID, groupID)
		}
	}
	cs.n.log.Info("leadership transfer requested", "group", groupID, "to", toNodeID)
	err := g.TransferLeadership(ctx, toNodeID, addr)
	switch {
	case err == nil:
		cs.n.log.Info("leadership transferred", "group", groupID, "to", toNodeID)
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("no outcome in time, the transfer may still complete: %w", ctx.Err())
	default:
		cs.n.log.Warn("leadership transfer failed", "group", groupID, "to", toNodeID, "err", err)
		return err
	}
}

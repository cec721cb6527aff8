package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/server"
)

// clusterState serves SHOAL LEADER-TRANSFER.
var _ server.LeaderTransferer = (*clusterState)(nil)

// TransferLeadership implements server.LeaderTransferer. This node must lead
// group groupID; toNodeID, when set, must be a member of the group in the
// map and a voter in the group's Raft configuration. Raft brings the target
// up to date, tells it to campaign at once (TimeoutNow) and gives up after
// an election timeout; TransferLeadership returns when this node has
// stepped down, or ctx's error when ctx ends first (the transfer may still
// complete then).
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
	var addr raft.ServerAddress
	if toNodeID != "" {
		n := rt.m.Node(toNodeID)
		if n == nil {
			return fmt.Errorf("%w %q", server.ErrUnknownNode, toNodeID)
		}
		if !slices.Contains(grp.Members, toNodeID) {
			return fmt.Errorf("%w: %s is not a member of %s", server.ErrNotGroupVoter, toNodeID, groupID)
		}
		addr = raft.ServerAddress(n.ClusterAddr)
	}
	g := rt.local[gi]
	if g == nil || !g.IsLeader() {
		return fmt.Errorf("%w %s", server.ErrNotGroupLeader, groupID)
	}
	if toNodeID == cs.self {
		return fmt.Errorf("%w %s", server.ErrAlreadyLeader, groupID)
	}
	r := g.Raft()
	var f raft.Future
	if toNodeID != "" {
		cf := r.GetConfiguration()
		if err := cf.Error(); err != nil {
			return err
		}
		i := slices.IndexFunc(cf.Configuration().Servers, func(s raft.Server) bool {
			return s.ID == raft.ServerID(toNodeID) && s.Suffrage == raft.Voter
		})
		if i < 0 {
			return fmt.Errorf("%w: %s is not (yet) a voter in %s's configuration", server.ErrNotGroupVoter, toNodeID, groupID)
		}
		f = r.LeadershipTransferToServer(raft.ServerID(toNodeID), addr)
	} else {
		f = r.LeadershipTransfer()
	}
	cs.n.log.Info("leadership transfer requested", "group", groupID, "to", toNodeID)
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		if err != nil {
			cs.n.log.Warn("leadership transfer failed", "group", groupID, "to", toNodeID, "error", err)
			return err
		}
		cs.n.log.Info("leadership transferred", "group", groupID, "to", toNodeID)
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no outcome in time, the transfer may still complete: %w", ctx.Err())
	}
}

package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/server"
)

// planLimit bounds the steps a plan shows.
const planLimit = 500

// Rebalance implements server.Admin: the plan from the current map, as if
// a rebalance were requested; without dryRun the request goes into the
// map and the meta leader's balancer carries it out.
func (cs *clusterState) Rebalance(ctx context.Context, dryRun bool) ([]string, error) {
	m := cs.pl.Map()
	if m == nil {
		return nil, placement.ErrNoMap
	}
	req := m.Clone()
	req.Rebalance = true
	plan := placement.Plan(req, cs.facts(ctx, m, false), planLimit)
	out := make([]string, len(plan))
	for i, s := range plan {
		out[i] = s.String()
	}
	if dryRun {
		return out, nil
	}
	// The request goes into the map even when this node's plan is empty:
	// the meta leader plans again with its own view (a node that just
	// joined may not be alive in this node's gossip yet), and clears the
	// request when it finds nothing to do.
	if err := cs.pl.RequestRebalance(ctx); err != nil {
		return nil, err
	}
	cs.n.log.Info("rebalance requested", "steps", len(plan))
	return out, nil
}

// RemoveNode implements server.Admin: it marks the node draining; the
// balancer moves its replicas away and then takes it out of the map.
func (cs *clusterState) RemoveNode(ctx context.Context, nodeID string) error {
	m := cs.pl.Map()
	if m == nil {
		return placement.ErrNoMap
	}
	err := cs.pl.DrainNode(ctx, nodeID, cs.replicas(m))
	switch {
	case errors.Is(err, placement.ErrUnknownNode):
		return fmt.Errorf("%w: %v", server.ErrUnknownNode, err)
	case errors.Is(err, placement.ErrTooFewNodes):
		return fmt.Errorf("%w: %v", server.ErrTooFewNodes, err)
	case err != nil:
		return err
	}
	cs.n.log.Info("node draining", "node-id", nodeID)
	return nil
}

// Balance implements server.Admin.
func (cs *clusterState) Balance(ctx context.Context) (server.BalanceStatus, error) {
	var st server.BalanceStatus
	m := cs.pl.Map()
	if m == nil {
		return st, placement.ErrNoMap
	}
	st.Requested = m.Rebalance
	for _, n := range m.Nodes {
		if n.Draining {
			st.Draining = append(st.Draining, n.ID)
		}
	}
	st.Removed = slices.Clone(m.Removed)
	st.ActiveJobs = len(m.ActiveJobs())
	for _, s := range placement.Plan(m, cs.facts(ctx, m, false), planLimit) {
		st.Plan = append(st.Plan, s.String())
	}
	return st, nil
}

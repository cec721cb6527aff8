package node

import (
	"context"
	"fmt"

	"github.com/shoalcache/shoal/server"
)

// Rebalance is a stub until the rebalancer is built.
func (cs *clusterState) Rebalance(ctx context.Context, dryRun bool) ([]string, error) {
	return nil, fmt.Errorf("node: rebalancing not built yet")
}

// RemoveNode is a stub until the rebalancer is built.
func (cs *clusterState) RemoveNode(ctx context.Context, nodeID string) error {
	return fmt.Errorf("node: rebalancing not built yet")
}

// Balance is a stub until the rebalancer is built.
func (cs *clusterState) Balance(ctx context.Context) (server.BalanceStatus, error) {
	return server.BalanceStatus{}, fmt.Errorf("node: rebalancing not built yet")
}

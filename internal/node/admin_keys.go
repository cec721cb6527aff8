package node

import (
	"context"

	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/server"
)

var _ server.GossipKeyAdmin = (*clusterState)(nil)

// GossipKeys implements server.GossipKeyAdmin over the placement service's
// serf keyring (placement.Service.GossipKeys).
func (cs *clusterState) GossipKeys(ctx context.Context, op, key string) (server.GossipKeyring, error) {
	st, err := cs.pl.GossipKeys(ctx, placement.KeyOp(op), key)
	return server.GossipKeyring{Nodes: st.Nodes, Responses: st.Responses, Errors: st.Errors,
		Keys: st.Keys, PrimaryKeys: st.PrimaryKeys, Messages: st.Messages}, err
}

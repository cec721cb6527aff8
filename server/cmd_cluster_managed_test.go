package server

import (
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// TestClusterManagedErrors checks that Redis's commands for changing the
// topology by hand name the shoal command to use instead.
func TestClusterManagedErrors(t *testing.T) {
	const moves = "-ERR Shoal moves slots itself: use 'shoal cluster migrate --slots A-B --to GROUP' or " +
		"'shoal cluster rebalance' ("
	members := "-ERR Shoal's placement service manages the members: use 'shoal cluster remove-node NODE-ID' to " +
		"drain a node and take it out of the cluster ("
	x := clusterCtx(t, &clusterTestRouter{topo: testTopology(t)}, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"CLUSTER", "SETSLOT", "1", "IMPORTING", idB}, moves + "CLUSTER SETSLOT is not supported)\r\n"},
		{[]string{"cluster", "setslot", "1", "node", idB}, moves + "CLUSTER SETSLOT is not supported)\r\n"},
		{[]string{"CLUSTER", "ADDSLOTS", "1", "2"}, moves + "CLUSTER ADDSLOTS is not supported)\r\n"},
		{[]string{"CLUSTER", "ADDSLOTSRANGE", "1", "2"}, moves + "CLUSTER ADDSLOTSRANGE is not supported)\r\n"},
		{[]string{"CLUSTER", "DELSLOTS", "1"}, moves + "CLUSTER DELSLOTS is not supported)\r\n"},
		{[]string{"CLUSTER", "DELSLOTSRANGE", "1", "2"}, moves + "CLUSTER DELSLOTSRANGE is not supported)\r\n"},
		{[]string{"CLUSTER", "FLUSHSLOTS"}, moves + "CLUSTER FLUSHSLOTS is not supported)\r\n"},
		{[]string{"MIGRATE", "127.0.0.1", "7001", "", "0", "5000", "KEYS", "a", "b"}, moves + "MIGRATE is not supported)\r\n"},
		{[]string{"migrate", "127.0.0.1", "7001", "k", "0", "5000"}, moves + "MIGRATE is not supported)\r\n"},
		{[]string{"MIGRATE", "127.0.0.1", "7001", "k", "0"}, "-ERR wrong number of arguments for 'migrate' command\r\n"},
		{[]string{"CLUSTER", "MEET", "127.0.0.1", "7005"}, "-ERR Shoal nodes join through gossip: use " +
			"'shoal server --join HOST:GOSSIP-PORT' to add a node, then 'shoal cluster rebalance' to give it groups " +
			"and slots (CLUSTER MEET is not supported)\r\n"},
		{[]string{"CLUSTER", "FORGET", idC}, members + "CLUSTER FORGET is not supported)\r\n"},
		{[]string{"CLUSTER", "RESET", "SOFT"}, members + "CLUSTER RESET is not supported)\r\n"},
		{[]string{"CLUSTER", "REPLICATE", idB}, "-ERR Shoal's placement service chooses each group's replicas: " +
			"see them with 'shoal cluster groups', spread them with 'shoal cluster rebalance' " +
			"(CLUSTER REPLICATE is not supported)\r\n"},
		{[]string{"CLUSTER", "FAILOVER", "TAKEOVER"}, "-ERR Shoal moves leaderships itself: use 'shoal cluster " +
			"transfer-leader --group GROUP [--to NODE]' (CLUSTER FAILOVER is not supported)\r\n"},
		{[]string{"CLUSTER", "BUMPEPOCH"}, "-ERR CLUSTER BUMPEPOCH is not supported: Shoal's placement service " +
			"manages slots and replicas ('shoal cluster rebalance' spreads them)\r\n"},
	})
	x = clusterCtx(t, nil, resp.RESP2, 1)
	runCases(t, x, []lineCase{
		{[]string{"MIGRATE", "127.0.0.1", "7001", "k", "0", "5000"}, "-ERR MIGRATE is not supported by Shoal\r\n"},
		{[]string{"CLUSTER", "SETSLOT", "1", "STABLE"}, "-" + command.ErrClusterDisabled + "\r\n"},
	})
}

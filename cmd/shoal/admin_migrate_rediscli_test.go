package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestRedisCLIClusterCommandsNameShoal runs redis-cli --cluster reshard,
// rebalance, add-node and del-node against a Shoal cluster: each must fail,
// printing the error of the first command Shoal refuses (CLUSTER SETSLOT,
// MEET, FORGET), which names the shoal command to use instead: migrate or
// rebalance, server --join, remove-node.
func TestRedisCLIClusterCommandsNameShoal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Shoal clusters")
	}
	rcli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed")
	}
	// Two groups on three nodes: two nodes lead one group each (masters
	// with slots), the third leads none (a replica without slots, which
	// del-node accepts).
	c := testutil.StartShoalClusterOK(t, 3, "--groups", "2")
	single := testutil.StartShoalCluster(t, 1) // an empty cluster of one node, for add-node
	addr := c.Nodes[0].Addr
	var masters []clusterNode
	var spare clusterNode
	testutil.Eventually(t, 20*time.Second, "two masters with slots and a replica", func() error {
		text, err := queryText(context.Background(), adminOpts{timeout: 5 * time.Second}, addr, "CLUSTER", "NODES")
		if err != nil {
			return err
		}
		nodes, err := parseClusterNodes(text)
		if err != nil {
			return err
		}
		masters, spare = nil, clusterNode{}
		for _, n := range nodes {
			switch {
			case n.isMaster() && n.slotCount() > 0:
				masters = append(masters, n)
			case !n.isMaster() && n.slotCount() == 0:
				spare = n
			}
		}
		if len(masters) != 2 || spare.ID == "" {
			return errors.New("want two masters with slots and a replica without; CLUSTER NODES:\n" + text)
		}
		return nil
	})
	const moves = "'shoal cluster migrate --slots A-B --to GROUP' or 'shoal cluster rebalance'"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"reshard", []string{"--cluster", "reshard", addr, "--cluster-from", masters[0].ID, "--cluster-to", masters[1].ID,
			"--cluster-slots", "10", "--cluster-yes"}, moves},
		{"rebalance", []string{"--cluster", "rebalance", addr, "--cluster-weight", masters[0].ID + "=5",
			"--cluster-yes"}, moves},
		{"add-node", []string{"--cluster", "add-node", single.Nodes[0].Addr, addr}, "use 'shoal server --join HOST:GOSSIP-PORT' to add a node"},
		{"del-node", []string{"--cluster", "del-node", addr, spare.ID}, "use 'shoal cluster remove-node NODE-ID'"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, rcli, tc.args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("redis-cli %s: %v; want a failure naming %q:\n%s", tc.name, err, tc.want, out)
		} else {
			t.Logf("redis-cli %s: %v\n%s", tc.name, err, out)
		}
	}
}

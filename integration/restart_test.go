package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClusterRestartWithoutDataDir kills a node of an in-memory cluster (no
// --data-dir), writes more while it is down, and restarts it with the same
// flags. The node must come back with the same id, rejoin its groups
// without any operator action, catch up on everything it missed (its
// replicas answer READONLY reads with every acknowledged value), and take
// back the leadership of the group it prefers. Then another node is
// killed, so that the restarted node's replicas are part of every group's
// majority: every acknowledged write must still be readable.
func TestClusterRestartWithoutDataDir(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	// A 1 s reload interval: go-redis does not reload its slot map on
	// connection errors (see TestClusterClientFollowsLeaderChange).
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16, ClusterStateReloadInterval: time.Second})
	const n = 400
	write := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			key := "rs:" + strconv.Itoa(i)
			testutil.Eventually(t, 15*time.Second, "SET "+key, func() error { return c.Set(ctx, key, i, 0).Err() })
		}
	}
	write(0, n)

	// Node 1, not node 0: the others join through node 0's gossip port.
	victim := tc.nodes[1]
	id := myID(t, victim.Addr)
	victim.Kill()
	write(n, 2*n) // the victim misses these
	victim.Restart()
	if got := myID(t, victim.Addr); got != id {
		t.Fatalf("restarted node's id = %s, was %s", got, id)
	}
	tc.WaitOK(60 * time.Second)
	tc.WaitBalanced(60 * time.Second) // it leads its preferred group again

	conn := mustDial(t, victim.Addr)
	defer conn.Close()
	if raw, _ := conn.Do("READONLY"); string(raw) != "+OK\r\n" {
		t.Fatalf("READONLY = %q", raw)
	}
	testutil.Eventually(t, 20*time.Second, "every write on the restarted node", func() error {
		for i := 0; i < 2*n; i++ {
			raw, err := conn.Do("GET", "rs:"+strconv.Itoa(i))
			if err != nil {
				return err
			}
			want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
			if string(raw) != want {
				return fmt.Errorf("restarted node: GET rs:%d = %q", i, raw)
			}
		}
		return nil
	})

	tc.nodes[2].Kill()
	for i := 0; i < 2*n; i++ {
		key := "rs:" + strconv.Itoa(i)
		var got string
		testutil.Eventually(t, 20*time.Second, "GET "+key, func() error {
			v, err := c.Get(ctx, key).Result()
			got = v
			return err
		})
		if got != strconv.Itoa(i) {
			t.Fatalf("after killing node 2: GET %s = %q, want %d", key, got, i)
		}
	}
}

// myID returns CLUSTER MYID of the node at addr.
func myID(t *testing.T, addr string) string {
	t.Helper()
	conn := mustDial(t, addr)
	defer conn.Close()
	raw, err := conn.Do("CLUSTER", "MYID")
	if err != nil {
		t.Fatal(err)
	}
	v, err := respclient.Parse(raw)
	if err != nil || v.IsError() {
		t.Fatalf("CLUSTER MYID = %q (%v)", raw, err)
	}
	return strings.TrimSpace(v.Str)
}

// TestSeedRestartRejoinsGossip restarts node 0, the node every other node
// joined through: restarted with the same flags, its --join names only
// itself. It must get back into the gossip cluster by itself, through the
// other nodes' gossip addresses in the map the meta group replicates to it,
// well before serf's reconnect would bring it back (the others try a failed
// member every 30 s, each with a probability, which took up to 80 s in
// Jepsen runs): until then it sees the others failed, and they see it
// failed and never hand it the leadership of its preferred group.
func TestSeedRestartRejoinsGossip(t *testing.T) {
	tc := startCluster(t, 3)
	seed := tc.nodes[0]
	seed.Kill()
	testutil.Eventually(t, 20*time.Second, "node 0 failed in node 1's CLUSTER NODES", func() error {
		v, err := quickDo(tc.nodes[1].Addr, "CLUSTER", "NODES")
		if err != nil {
			return err
		}
		if !strings.Contains(v.Str, ",fail") && !strings.Contains(v.Str, " fail") {
			return fmt.Errorf("no failed node yet:\n%s", v.Str)
		}
		return nil
	})
	seed.Restart()
	start := time.Now()
	// 10 s: the map arrives within a second or two, serf's reconnect
	// would be a matter of luck within this bound.
	testutil.Eventually(t, 10*time.Second, "every node sees every other node alive", func() error {
		for _, nd := range tc.nodes {
			v, err := quickDo(nd.Addr, "CLUSTER", "NODES")
			if err != nil {
				return err
			}
			if lines := strings.Count(v.Str, "\n"); lines != 3 || strings.Contains(v.Str, "fail") {
				return fmt.Errorf("%s's CLUSTER NODES:\n%s", nd.Addr, v.Str)
			}
		}
		return nil
	})
	t.Logf("node 0 back in gossip %v after its restart", time.Since(start).Round(time.Millisecond))
	tc.WaitBalanced(30 * time.Second)
}

package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// TestClusterBlockingAcrossFailover: a client blocked in BLPOP (go-redis's
// cluster client, as an application would use it) while its key's group
// changes leader, by SHOAL LEADER-TRANSFER and then by SIGKILL of the
// leader, still gets the element pushed after the change, exactly once:
// the old leader redirects the waiting connection (MOVED) or loses it, and
// the client blocks again at the new leader.
func TestClusterBlockingAcrossFailover(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	const key = "bf:{q}"
	// As TestTxWatchLeaderKill: the clients reload the topology each
	// second, so that they stop dialing a killed node.
	pusher := tc.clusterClient(&redis.ClusterOptions{ClusterStateReloadInterval: time.Second, MaxRedirects: 16})
	for round, how := range []string{"transfer", "kill"} {
		c := tc.clusterClient(&redis.ClusterOptions{ClusterStateReloadInterval: time.Second, MaxRedirects: 16, ReadTimeout: 40 * time.Second})
		leader := tc.leaderOf(t, "bf:{q}:probe", "x")
		got := make(chan []string, 1)
		errc := make(chan error, 1)
		go func() {
			v, err := c.BLPop(ctx, 30*time.Second, key).Result()
			if err != nil {
				errc <- err
				return
			}
			got <- v
		}()
		testutil.Eventually(t, 10*time.Second, "the client blocked", func() error {
			if n := blockedClients(ctx, t, []string{tc.nodes[leader].Addr}); n != 1 {
				return fmt.Errorf("blocked_clients on the leader = %d", n)
			}
			return nil
		})
		switch how {
		case "transfer":
			if v, err := quickDo(tc.nodes[leader].Addr, "SHOAL", "LEADER-TRANSFER", groupOfKey(t, tc, key)); err != nil || v.Str != "OK" {
				t.Fatalf("SHOAL LEADER-TRANSFER = %v, %v", v, err)
			}
		case "kill":
			tc.nodes[leader].Kill()
		}
		next := -1
		testutil.Eventually(t, 20*time.Second, "a new leader", func() error {
			next = tc.leaderOf(t, "bf:{q}:probe", "y")
			if next == leader {
				return fmt.Errorf("node %d still leads", leader)
			}
			return nil
		})
		elem := fmt.Sprintf("e%d", round)
		// The cluster client may still try the killed node first: retry
		// while the push is refused (never sent, so never applied).
		testutil.Eventually(t, 20*time.Second, "RPUSH "+elem, func() error {
			err := pusher.RPush(ctx, key, elem).Err()
			if err != nil && !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("%s: RPUSH: %v", how, err)
			}
			return err
		})
		select {
		case v := <-got:
			if len(v) != 2 || v[0] != key || v[1] != elem {
				t.Fatalf("%s: BLPOP = %q, want [%s %s]", how, v, key, elem)
			}
		case err := <-errc:
			t.Fatalf("%s: BLPOP: %v", how, err)
		case <-time.After(25 * time.Second):
			t.Fatalf("%s: the blocked client did not get %s", how, elem)
		}
		if n, err := pusher.LLen(ctx, key).Result(); err != nil || n != 0 {
			t.Fatalf("%s: LLEN after the pop = %d, %v (the element was served twice or not popped)", how, n, err)
		}
		c.Close()
	}
}

// groupOfKey returns the id of the group whose slots hold key.
func groupOfKey(t *testing.T, tc *testCluster, key string) string {
	t.Helper()
	slot := shard.Slot([]byte(key))
	groups, err := queryGroups(tc.nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, gr := range groups {
		for _, r := range gr.Slots {
			if r[0] <= slot && slot <= r[1] {
				return gr.ID
			}
		}
	}
	t.Fatalf("no group has slot %d", slot)
	return ""
}

package integration

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClusterRollingRestart stops every node of a 3-node cluster in turn
// with SIGTERM and starts it again, while a go-redis ClusterClient keeps
// writing and reading. A node hands the leadership of its groups to other
// members before it closes its connections, and a transfer lets the
// writes in flight commit first, so the client is redirected rather than
// cut off or told a write's outcome is unknown: at most 0.1% of its
// operations fail after its own retries (with 16 redirects allowed), and
// every acknowledged write is there at the end.
func TestClusterRollingRestart(t *testing.T) {
	tc := startCluster(t, 3)
	// More redirects than go-redis's default 3: a restart moves each
	// group's leadership twice (away, then back to its preferred leader
	// once that node has caught up), and a retry can meet both.
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16})

	live := startLiveLoad(t, c, "roll:", 3000)
	ops := &live.ops

	for i, nd := range tc.Nodes {
		before := ops.Load()
		testutil.Until(t, 20*time.Second, "1000 client operations", func() bool { return ops.Load() > before+1000 })
		nd.Stop(10 * time.Second)
		t.Logf("node %d stopped; %d operations so far, %d errors", i, ops.Load(), live.errs.Load())
		if i == 0 {
			// The others joined through node 0's gossip port: restarted,
			// it joins them through another node's.
			nd.Args = append(nd.Args, "--join", gossipAddr(t, tc.Nodes[1]))
		}
		nd.Restart()
		tc.WaitOK(60 * time.Second)
		tc.WaitBalanced(60 * time.Second)
		t.Logf("node %d back and the cluster balanced; %d operations so far, %d errors", i, ops.Load(), live.errs.Load())
	}
	before := ops.Load()
	testutil.Until(t, 20*time.Second, "1000 client operations at the end", func() bool { return ops.Load() > before+1000 })
	live.halt()

	// Zero is the goal (issue 12). Today a few writes in a run still get
	// an indeterminate or redirect error around the leadership moves (0-2
	// of about 17000 in 4 runs); before the hand-off and the drained
	// transfers it was 261. The bound catches a return to that.
	n, total := live.errs.Load(), ops.Load()
	if n > 0 {
		t.Logf("%d of %d client operations failed after the client's retries; first: %s", n, total, live.first())
	}
	if n*1000 > total {
		t.Errorf("%d of %d client operations (over 0.1%%) failed after the client's retries; first: %s", n, total, live.first())
	}
	live.checkAcked(t)
}

// gossipAddr returns the gossip address of a node started by
// testutil.StartShoalCluster (from its --gossip-port flag).
func gossipAddr(t *testing.T, nd *testutil.ShoalNode) string {
	t.Helper()
	for i, a := range nd.Args {
		if a == "--gossip-port" && i+1 < len(nd.Args) {
			return "127.0.0.1:" + nd.Args[i+1]
		}
	}
	t.Fatalf("no --gossip-port in %v", nd.Args)
	return ""
}

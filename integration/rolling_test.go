package integration

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
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
	ctx := context.Background()
	// More redirects than go-redis's default 3: a restart moves each
	// group's leadership twice (away, then back to its preferred leader
	// once that node has caught up), and a retry can meet both.
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16})

	const nkeys = 3000
	acked := make([]atomic.Int64, nkeys) // last acknowledged value + 1
	stop := make(chan struct{})
	var errs, ops atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := int64(1); ; n++ {
				for i := w; i < nkeys; i += 6 {
					select {
					case <-stop:
						return
					default:
					}
					k := "roll:" + strconv.Itoa(i)
					var err error
					if w%2 == 0 {
						if err = c.Set(ctx, k, n, 0).Err(); err == nil {
							acked[i].Store(n + 1)
						}
					} else if err = c.Get(ctx, k).Err(); err != nil && err.Error() == "redis: nil" {
						err = nil
					}
					if err != nil && errs.Add(1) == 1 {
						msg := k + ": " + err.Error()
						firstErr.Store(&msg)
					}
					ops.Add(1)
				}
			}
		}(w)
	}
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)

	for i, nd := range tc.Nodes {
		before := ops.Load()
		testutil.Until(t, 20*time.Second, "1000 client operations", func() bool { return ops.Load() > before+1000 })
		nd.Stop(10 * time.Second)
		t.Logf("node %d stopped; %d operations so far, %d errors", i, ops.Load(), errs.Load())
		if i == 0 {
			// The others joined through node 0's gossip port: restarted,
			// it joins them through another node's.
			nd.Args = append(nd.Args, "--join", gossipAddr(t, tc.Nodes[1]))
		}
		nd.Restart()
		tc.WaitOK(60 * time.Second)
		tc.WaitBalanced(60 * time.Second)
		t.Logf("node %d back and the cluster balanced; %d operations so far, %d errors", i, ops.Load(), errs.Load())
	}
	before := ops.Load()
	testutil.Until(t, 20*time.Second, "1000 client operations at the end", func() bool { return ops.Load() > before+1000 })
	stopLoad()

	// Zero is the goal (issue 12). Today a few writes in a run still get
	// an indeterminate or redirect error around the leadership moves (0-2
	// of about 17000 in 4 runs); before the hand-off and the drained
	// transfers it was 261. The bound catches a return to that.
	n, total := errs.Load(), ops.Load()
	if n > 0 {
		t.Logf("%d of %d client operations failed after the client's retries; first: %s", n, total, *firstErr.Load())
	}
	if n*1000 > total {
		t.Errorf("%d of %d client operations (over 0.1%%) failed after the client's retries; first: %s", n, total, *firstErr.Load())
	}
	for i := range nkeys {
		want := acked[i].Load() - 1
		if want < 0 {
			continue
		}
		got, err := c.Get(ctx, "roll:"+strconv.Itoa(i)).Int64()
		if err != nil || got < want {
			t.Fatalf("GET roll:%d = %d (%v), want at least the last acknowledged %d", i, got, err, want)
		}
	}
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

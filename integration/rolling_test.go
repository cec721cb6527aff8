package integration

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClusterRollingRestart stops every node of a 3-node cluster in turn
// with SIGTERM (one with the SHUTDOWN command) and starts it again, in memory (the node comes back empty
// and catches up) and with --data-dir, while a go-redis ClusterClient
// writes and reads and a redis-py RedisCluster writes. A node hands the
// leadership of its groups to other members before it stops reading
// commands, a transfer lets the writes in flight commit first, writes raft
// refused meanwhile and reads whose leadership check failed are redirected,
// and every connection gets the replies of the batch it sent before it is
// closed: no client operation fails after the clients' own retries, and
// every acknowledged write is there at the end. The write stall of each
// restart (the slowest write that started while the node was stopped or
// starting) is logged; BENCHMARKS.md records it.
func TestClusterRollingRestart(t *testing.T) {
	for _, mode := range []struct {
		name  string
		extra []string
	}{
		{"memory", nil},
		{"data-dir", []string{"--data-dir", "data"}}, // relative to each node's own directory
	} {
		t.Run(mode.name, func(t *testing.T) { rollingRestart(t, mode.extra) })
	}
}

func rollingRestart(t *testing.T, extra []string) {
	tc := startCluster(t, 3, extra...)
	// More redirects than go-redis's default 3: a restart moves each
	// group's leadership twice (away, then back to its preferred leader
	// once that node has caught up), and a retry can meet both.
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16})

	live := startLiveLoad(t, c, "roll:", 3000)
	py := startPyWriter(t, tc.Addrs(), "pyroll:", 500)
	ops := &live.ops

	var windows [][2]time.Time
	for i, nd := range tc.Nodes {
		before := ops.Load()
		testutil.Until(t, 20*time.Second, "1000 client operations", func() bool { return ops.Load() > before+1000 })
		start := time.Now()
		how := "SIGTERM"
		if i == 1 {
			// The SHUTDOWN command does what SIGTERM does; no reply, the
			// connection closes (go-redis reports that as success), the
			// process exits with status 0.
			how = "SHUTDOWN"
			one := redis.NewClient(&redis.Options{Addr: nd.Addr, MaxRetries: -1})
			if err := one.Shutdown(context.Background()).Err(); err != nil {
				t.Fatalf("SHUTDOWN: %v", err)
			}
			one.Close()
			if err := nd.WaitExit(10 * time.Second); err != nil {
				t.Fatalf("node %d after SHUTDOWN: %v", i, err)
			}
		} else {
			nd.Stop(10 * time.Second)
		}
		t.Logf("node %d stopped (%s) in %v; %d operations so far, %d errors", i, how, time.Since(start).Round(time.Millisecond), ops.Load(), live.errs.Load())
		if i == 0 {
			// The others joined through node 0's gossip port: restarted,
			// it joins them through another node's.
			nd.Args = append(nd.Args, "--join", gossipAddr(t, tc.Nodes[1]))
		}
		nd.Restart()
		tc.WaitOK(60 * time.Second)
		tc.WaitBalanced(60 * time.Second)
		windows = append(windows, [2]time.Time{start, time.Now()})
		t.Logf("node %d back and the cluster balanced after %v; %d operations so far, %d errors", i,
			time.Since(start).Round(time.Millisecond), ops.Load(), live.errs.Load())
	}
	before := ops.Load()
	testutil.Until(t, 20*time.Second, "1000 client operations at the end", func() bool { return ops.Load() > before+1000 })
	live.halt()
	pr := py.stop()

	if n := live.errs.Load(); n > 0 {
		t.Errorf("go-redis: %d of %d operations failed after the client's retries; first: %s", n, ops.Load(), live.first())
	}
	if pr.Errors > 0 {
		t.Errorf("redis-py: %d of %d writes failed after the client's retries; first: %s", pr.Errors, pr.Ops, pr.First)
	}
	live.checkAcked(t)
	checkPyAcked(t, c, pr)

	var all []time.Duration
	var stalls []string
	for i, w := range windows {
		var worst time.Duration
		var slow []string
		ws := live.writesBetween(w[0], w[1])
		for _, op := range ws {
			all = append(all, op.took)
			worst = max(worst, op.took)
			if op.took > 100*time.Millisecond && len(slow) < 8 {
				slow = append(slow, fmt.Sprintf("+%v(%s):%v %s failed attempts %q", op.start.Sub(w[0]).Round(time.Millisecond),
					op.start.UTC().Format("15:04:05.000"), op.took.Round(time.Millisecond), op.key, live.attempts(op)))
			}
		}
		stalls = append(stalls, fmt.Sprintf("node %d: %v over %d writes (slow: %v)", i, worst.Round(100*time.Microsecond), len(ws), slow))
	}
	slices.Sort(all)
	if len(all) > 0 {
		t.Logf("write latency while a node restarts: p50 %v, p99 %v, max %v over %d go-redis writes; stall per restart: %v; redis-py wrote %d times",
			all[len(all)/2].Round(100*time.Microsecond), all[len(all)*99/100].Round(100*time.Microsecond),
			all[len(all)-1].Round(100*time.Microsecond), len(all), stalls, pr.Ops)
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

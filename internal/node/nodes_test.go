package node

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// testNodes are in-process nodes of one cluster, started by startNodes
// and shut down in t.Cleanup. A test that restarts a node swaps it with
// set, under the mutex the cleanup takes.
type testNodes struct {
	mu    sync.Mutex
	nodes []*Node
	cfgs  []Config
}

// startNodes starts len(ids) nodes (each on its own free ports, joined
// through the first one's gossip port, all expected at bootstrap) with one
// group of replicas voters; edit, when not nil, adjusts node i's
// configuration before it starts.
func startNodes(t *testing.T, ids []string, replicas int, edit func(i int, cfg *Config)) *testNodes {
	t.Helper()
	lg := testutil.Logger(t)
	tn := &testNodes{nodes: make([]*Node, len(ids)), cfgs: make([]Config, len(ids))}
	// The data directories first: t.TempDir registers their removal on
	// its first call, and cleanups run last-registered first, so they are
	// removed after the nodes below stop writing to them (removed while a
	// node ran, a file raft created at that moment failed the removal).
	dirs := make([]string, len(ids))
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	t.Cleanup(func() {
		tn.mu.Lock()
		defer tn.mu.Unlock()
		var wg sync.WaitGroup
		for _, n := range tn.nodes {
			if n == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer cancel()
				_ = n.ShutdownNow(ctx)
			}()
		}
		wg.Wait()
	})
	var seed string
	for i, id := range ids {
		cfg := DefaultConfig()
		cfg.ID = id
		ports := testutil.FreePorts(t, 3)
		cfg.Port, cfg.ClusterPort, cfg.GossipPort = ports[0], ports[1], ports[2]
		cfg.BootstrapExpect, cfg.Groups, cfg.Replicas = len(ids), 1, replicas
		cfg.DataDir = dirs[i]
		cfg.Controller.Interval = 50 * time.Millisecond
		cfg.Logger = lg.With("node", string(rune('a'+i)))
		if i == 0 {
			seed = "127.0.0.1:" + strconv.Itoa(cfg.GossipPort)
		}
		cfg.Join = []string{seed}
		if edit != nil {
			edit(i, &cfg)
		}
		tn.cfgs[i] = cfg
		n, err := Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		tn.set(i, n)
	}
	return tn
}

// set makes n node i (nil while it is down).
func (tn *testNodes) set(i int, n *Node) {
	tn.mu.Lock()
	tn.nodes[i] = n
	tn.mu.Unlock()
}

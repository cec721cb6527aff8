package node

import (
	"context"
	"errors"
	"fmt"

	"strings"

	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// configGet returns CONFIG GET name's value on n, over a new connection.
func configGet(n *Node, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := respclient.Dial(ctx, n.Addr().String(), 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	v, err := c.Do(ctx, "CONFIG", "GET", name)
	if err != nil {
		return "", err
	}
	got, ok := v.Get(name)
	if !ok {
		return "", fmt.Errorf("CONFIG GET %s = %s", name, v)
	}
	s, _ := got.Text()
	return s, nil
}

// TestClusterConfigSet runs three in-process nodes: CONFIG SET of
// cluster-wide parameters on one node is in force there when it replies
// and reaches the others through the map; a bad value changes nothing
// anywhere; per-node parameters stay on their node; a restarted node
// applies the map's settings over its own flags.
func TestClusterConfigSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	tn := startNodes(t, []string{nid('a'), nid('b'), nid('c')}, 3, func(i int, cfg *Config) {
		// The last node's own setting, which the map's overrides.
		if i == 2 {
			cfg.Server.MaxMemory = 1 << 20
		}
	})
	nodes, cfgs := tn.nodes, tn.cfgs
	testutil.Eventually(t, 30*time.Second, "every node to hold the map", func() error {
		for i, n := range nodes {
			if m := n.cluster.pl.Map(); m == nil || len(m.Nodes) != 3 {
				return fmt.Errorf("node %d has no map of three nodes", i)
			}
		}
		return nil
	})
	if got, err := configGet(nodes[2], "maxmemory"); err != nil || got != "1048576" {
		t.Fatalf("node 2's own maxmemory = %q, %v", got, err)
	}

	c := dial(t, nodes[0])
	// everywhere waits until CONFIG GET name returns want on every node.
	everywhere := func(name, want string) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, name+" "+want+" on every node", func() error {
			for i, n := range nodes {
				got, err := configGet(n, name)
				if err != nil {
					return err
				}
				if got != want {
					return fmt.Errorf("node %d: %s = %q", i, name, got)
				}
			}
			return nil
		})
	}
	for _, tc := range []struct{ name, value, want string }{
		{"maxmemory", "123mb", "128974848"},
		{"maxmemory-policy", "allkeys-lru", "allkeys-lru"},
	} {
		if v := do(t, c, "CONFIG", "SET", tc.name, tc.value); v.Str != "OK" {
			t.Fatalf("CONFIG SET %s %s = %s", tc.name, tc.value, v)
		}
		// In force on the node that replied, at once.
		if got, err := configGet(nodes[0], tc.name); err != nil || got != tc.want {
			t.Fatalf("node 0 after CONFIG SET: %s = %q, %v", tc.name, got, err)
		}
		everywhere(tc.name, tc.want)
	}

	// A bad value: Redis's error, no new map, nothing changed anywhere.
	epoch := nodes[0].cluster.pl.Map().Epoch
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, "CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy", "nope")
	var re *respclient.ReplyError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Msg, "ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following:") {
		t.Fatalf("CONFIG SET maxmemory-policy nope: %v", err)
	}
	if e := nodes[0].cluster.pl.Map().Epoch; e != epoch {
		t.Fatalf("a refused CONFIG SET changed the map: epoch %d -> %d", epoch, e)
	}
	for i, n := range nodes {
		for name, want := range map[string]string{"maxmemory": "128974848", "maxmemory-policy": "allkeys-lru"} {
			if got, err := configGet(n, name); err != nil || got != want {
				t.Fatalf("node %d after a refused CONFIG SET: %s = %q, %v", i, name, got, err)
			}
		}
	}

	// Several parameters: the cluster-wide one everywhere, the per-node
	// one (appendonly) on node 0 only.
	if v := do(t, c, "CONFIG", "SET", "slowlog-max-len", "7", "appendonly", "yes"); v.Str != "OK" {
		t.Fatalf("CONFIG SET slowlog-max-len 7 appendonly yes = %s", v)
	}
	everywhere("slowlog-max-len", "7")
	for i, want := range []string{"yes", "no", "no"} {
		if got, err := configGet(nodes[i], "appendonly"); err != nil || got != want {
			t.Fatalf("node %d: appendonly = %q, %v; want %s", i, got, err, want)
		}
	}

	// A restarted node applies the map's settings over its flags
	// (maxmemory 1mb, noeviction).
	ctx2, cancel2 := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel2()
	if err := nodes[2].ShutdownNow(ctx2); err != nil {
		t.Fatalf("shutdown of node 2: %v", err)
	}
	tn.set(2, nil)
	n, err := Start(context.Background(), cfgs[2])
	if err != nil {
		t.Fatalf("restart of node 2: %v", err)
	}
	tn.set(2, n)
	everywhere("maxmemory", "128974848")
	everywhere("maxmemory-policy", "allkeys-lru")
	everywhere("slowlog-max-len", "7")
}

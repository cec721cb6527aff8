package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClusterLCSObjectMemory checks LCS, OBJECT and MEMORY USAGE in cluster
// mode against a one-node Redis Cluster: they route by the slot of their
// key (the second argument for OBJECT and MEMORY), LCS across slots is
// CROSSSLOT, and MEMORY USAGE counts the cluster dict entry's metadata as
// Redis Cluster does. Shoal's replies are taken from the slot's leader,
// found by following MOVED.
func TestClusterLCSObjectMemory(t *testing.T) {
	tc := startCluster(t, 3)
	ref := testutil.StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	rc := mustDial(t, ref.Addr)
	if raw, err := rc.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil || string(raw) != "+OK\r\n" {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %q %v", raw, err)
	}
	testutil.Eventually(t, 10*time.Second, "Redis Cluster of one node is ok", func() error {
		raw, err := rc.Do("CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if !strings.Contains(string(raw), "cluster_state:ok") {
			return fmt.Errorf("CLUSTER INFO: %q", raw)
		}
		return nil
	})

	conns := map[string]*respConn{}
	dial := func(addr string) *respConn {
		if c := conns[addr]; c != nil {
			return c
		}
		c := mustDial(t, addr) // closed on cleanup
		conns[addr] = c
		return c
	}
	// shoal sends a command to the first node and follows one MOVED.
	shoal := func(args ...string) string {
		t.Helper()
		raw, err := dial(tc.nodes[0].Addr).Do(args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if f := strings.Fields(string(raw)); len(f) == 3 && f[0] == "-MOVED" {
			if raw, err = dial(f[2]).Do(args...); err != nil {
				t.Fatalf("%q on %s: %v", args, f[2], err)
			}
		}
		return string(raw)
	}
	redis := func(args ...string) string {
		t.Helper()
		raw, err := rc.Do(args...)
		if err != nil {
			t.Fatalf("redis %q: %v", args, err)
		}
		return string(raw)
	}

	long := strings.Repeat("0123456789", 30)
	setup := [][]string{
		{"SET", "{t}a", "ohmytext"}, {"SET", "{t}b", "mynewtext"},
		{"SET", "int", "12"}, {"SET", "big", "123456"}, {"SET", "emb", "hello"},
		{"SET", "raw", long}, {"APPEND", "app", "abc"}, {"APPEND", "app", "defgh"},
		{"SET", strings.Repeat("k", 40), long},
	}
	for _, c := range setup {
		if got, want := shoal(c...), redis(c...); got != want {
			t.Fatalf("%q: shoal %q, redis %q", c, got, want)
		}
	}
	for _, c := range [][]string{
		{"LCS", "{t}a", "{t}b"},
		{"LCS", "{t}a", "{t}b", "IDX", "WITHMATCHLEN"},
		{"LCS", "a", "b"},
		{"LCS", "{t}a", "b", "LEN"},
		{"OBJECT", "ENCODING", "int"}, {"OBJECT", "ENCODING", "emb"}, {"OBJECT", "ENCODING", "raw"},
		{"OBJECT", "ENCODING", "app"}, {"OBJECT", "REFCOUNT", "int"}, {"OBJECT", "REFCOUNT", "big"},
		{"OBJECT", "ENCODING", "nokey"}, {"OBJECT", "FREQ", "int"},
		{"MEMORY", "USAGE", "int"}, {"MEMORY", "USAGE", "emb"}, {"MEMORY", "USAGE", "raw"},
		{"MEMORY", "USAGE", "app"}, {"MEMORY", "USAGE", "{t}a"}, {"MEMORY", "USAGE", strings.Repeat("k", 40)},
		{"MEMORY", "USAGE", "nokey"},
	} {
		if got, want := shoal(c...), redis(c...); got != want {
			t.Errorf("%q: shoal %q, redis %q", c, got, want)
		}
	}
}

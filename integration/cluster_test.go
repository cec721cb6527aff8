package integration

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// testCluster is a set of shoal processes started with --bootstrap-expect.
type testCluster struct {
	*testutil.ShoalCluster
	t     *testing.T
	nodes []*shoalNode
}

// startCluster starts n nodes in cluster mode on free ports and waits until
// every node reports cluster_state:ok and leadership is balanced; see
// testutil.StartShoalCluster.
func startCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	c := testutil.StartShoalCluster(t, n, extra...)
	return &testCluster{ShoalCluster: c, t: t, nodes: c.Nodes}
}

// clusterClient returns a go-redis ClusterClient with default options.
func (tc *testCluster) clusterClient(opt *redis.ClusterOptions) *redis.ClusterClient {
	if opt == nil {
		opt = &redis.ClusterOptions{}
	}
	opt.Addrs = tc.Addrs()
	c := redis.NewClusterClient(opt)
	tc.t.Cleanup(func() { c.Close() })
	return c
}

// TestClusterGoRedisClusterClient writes and reads keys of every group
// through go-redis's ClusterClient, and with ReadOnly through a replica:
// with 2 groups on 3 nodes one node leads none, CLUSTER SLOTS lists it as
// the replica of both groups, and go-redis sends reads to it (its
// commandstats count them).
func TestClusterGoRedisClusterClient(t *testing.T) {
	ctx := context.Background()
	for _, readOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("readonly=%v", readOnly), func(t *testing.T) {
			var tc *testCluster
			var replicas []string
			if readOnly {
				c := testutil.StartShoalClusterOK(t, 3, "--groups", "2")
				tc = &testCluster{ShoalCluster: c, t: t, nodes: c.Nodes}
				testutil.Eventually(t, 20*time.Second, "a node listed as a replica", func() error {
					replicas = slotsReplicas(t, tc)
					if len(replicas) != 1 {
						return fmt.Errorf("replicas in CLUSTER SLOTS: %v", replicas)
					}
					return nil
				})
			} else {
				tc = startCluster(t, 3)
			}
			c := tc.clusterClient(&redis.ClusterOptions{ReadOnly: readOnly})
			// Keys of many slots, so that every group is written.
			for i := 0; i < 600; i++ {
				k := fmt.Sprintf("key:%d:%v", i, readOnly)
				if err := c.Set(ctx, k, i, 0).Err(); err != nil {
					t.Fatalf("SET %s: %v", k, err)
				}
			}
			for i := 0; i < 600; i++ {
				k := fmt.Sprintf("key:%d:%v", i, readOnly)
				if readOnly {
					// Follower reads may lag: read until the value arrives.
					testutil.Eventually(t, 5*time.Second, "follower read of "+k, func() error {
						v, err := c.Get(ctx, k).Int()
						if err != nil || v != i {
							return fmt.Errorf("GET %s = %d, %v", k, v, err)
						}
						return nil
					})
					continue
				}
				v, err := c.Get(ctx, k).Int()
				if err != nil || v != i {
					t.Fatalf("GET %s = %d, %v; want %d", k, v, err, i)
				}
			}
			if readOnly {
				// go-redis's ReadOnly sends reads to replicas or masters
				// alike (it picks a node of the slot at random).
				rc := redis.NewClient(&redis.Options{Addr: replicas[0]})
				defer rc.Close()
				stats, err := rc.Info(ctx, "commandstats").Result()
				if err != nil || !strings.Contains(stats, "cmdstat_get:calls=") {
					t.Fatalf("replica %s served no GET: %q, %v", replicas[0], stats, err)
				}
			}
			// Multi-key commands within a hash tag work.
			if err := c.MSet(ctx, "{u1}.a", "1", "{u1}.b", "2").Err(); err != nil {
				t.Fatalf("MSET with a hash tag: %v", err)
			}
			// (A follower read may lag here too.)
			testutil.Eventually(t, 5*time.Second, "MGET of the hash tag", func() error {
				vals, err := c.MGet(ctx, "{u1}.a", "{u1}.b").Result()
				if err != nil || fmt.Sprint(vals) != "[1 2]" {
					return fmt.Errorf("MGET = %v, %v", vals, err)
				}
				return nil
			})
		})
	}
}

// slotsReplicas returns the addresses CLUSTER SLOTS (asked of the first
// node) lists as replicas.
func slotsReplicas(t *testing.T, tc *testCluster) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: tc.Addrs()[0]})
	defer c.Close()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	var out []string
	for _, s := range slots {
		for _, n := range s.Nodes[1:] {
			if !slices.Contains(out, n.Addr) {
				out = append(out, n.Addr)
			}
		}
	}
	return out
}

// TestClusterRedirects checks MOVED from every node that does not lead the
// slot, CROSSSLOT, and that keyless commands are served locally.
func TestClusterRedirects(t *testing.T) {
	tc := startCluster(t, 3)
	leaders := map[string]bool{}
	for _, slotKey := range []string{"a", "b", "c", "foo", "bar", "{x}", "key:1", "zzz"} {
		var moved, served int
		for _, nd := range tc.nodes {
			c := mustDial(t, nd.Addr)
			raw, err := c.Do("SET", slotKey, "v")
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case string(raw) == "+OK\r\n":
				served++
				leaders[nd.Addr] = true
			case strings.HasPrefix(string(raw), "-MOVED "):
				f := strings.Fields(strings.TrimSpace(string(raw)))
				if len(f) != 3 {
					t.Fatalf("bad MOVED %q", raw)
				}
				moved++
			default:
				t.Fatalf("SET %s on %s: %q", slotKey, nd.Addr, raw)
			}
		}
		if served != 1 || moved != 2 {
			t.Fatalf("key %q: served by %d nodes, MOVED from %d; want 1 and 2", slotKey, served, moved)
		}
	}
	if len(leaders) != 3 {
		t.Errorf("slot leaders spread over %d nodes, want 3 (one group each)", len(leaders))
	}
	c := mustDial(t, tc.nodes[0].Addr)
	defer c.Close()
	raw, _ := c.Do("MSET", "a", "1", "b", "2")
	if string(raw) != "-CROSSSLOT Keys in request don't hash to the same slot\r\n" {
		t.Fatalf("MSET across slots = %q", raw)
	}
	raw, _ = c.Do("DBSIZE")
	if !strings.HasPrefix(string(raw), ":") {
		t.Fatalf("DBSIZE = %q", raw)
	}
}

// TestClusterRedisTools runs redis-cli -c and redis-benchmark --cluster
// against the cluster.
func TestClusterRedisTools(t *testing.T) {
	tc := startCluster(t, 3)
	host, port := splitAddr(t, tc.nodes[0].Addr)
	for i := 0; i < 50; i++ {
		k := fmt.Sprintf("tool:%d", i)
		out, err := exec.Command("redis-cli", "-c", "-h", host, "-p", port, "SET", k, strconv.Itoa(i)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("redis-cli -c SET %s: %v %q", k, err, out)
		}
		out, err = exec.Command("redis-cli", "-c", "-h", host, "-p", port, "GET", k).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != strconv.Itoa(i) {
			t.Fatalf("redis-cli -c GET %s: %v %q", k, err, out)
		}
	}
	// A key in every one of the 16384 slots, written and read back through
	// one redis-cli -c session that follows the redirects.
	keys := slotKeys()
	var script strings.Builder
	for s, k := range keys {
		fmt.Fprintf(&script, "SET %s v%d\n", k, s)
	}
	for _, k := range keys {
		fmt.Fprintf(&script, "GET %s\n", k)
	}
	cli := exec.Command("redis-cli", "-c", "-h", host, "-p", port)
	cli.Stdin = strings.NewReader(script.String())
	out, err := cli.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli -c over every slot: %v", err)
	}
	var replies []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "-> Redirected") {
			replies = append(replies, line)
		}
	}
	if len(replies) != 2*len(keys) {
		t.Fatalf("redis-cli -c: %d replies for %d commands", len(replies), 2*len(keys))
	}
	for s := range keys {
		if replies[s] != "OK" || replies[len(keys)+s] != fmt.Sprintf("v%d", s) {
			t.Fatalf("slot %d: SET -> %q, GET -> %q", s, replies[s], replies[len(keys)+s])
		}
	}
	out, err = exec.Command("redis-cli", "--cluster", "check", tc.nodes[0].Addr).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "[OK] All 16384 slots covered.") ||
		!strings.Contains(string(out), "[OK] All nodes agree about slots configuration.") {
		t.Fatalf("redis-cli --cluster check: %v\n%s", err, out)
	}
	out, err = exec.Command("redis-benchmark", "--cluster", "-h", host, "-p", port,
		"-t", "set,get", "-n", "20000", "-c", "20", "-r", "10000", "-q").CombinedOutput()
	// redis-benchmark redraws progress lines with CR; keep the final ones.
	var summary []string
	for _, line := range strings.FieldsFunc(string(out), func(r rune) bool { return r == '\r' || r == '\n' }) {
		if !strings.Contains(line, "rps=") && strings.TrimSpace(line) != "" {
			summary = append(summary, line)
		}
	}
	t.Logf("redis-benchmark --cluster:\n%s", strings.Join(summary, "\n"))
	if err != nil {
		t.Fatalf("redis-benchmark --cluster: %v", err)
	}
	for _, line := range summary {
		if strings.Contains(line, "Invalid cluster") || strings.Contains(strings.ToLower(line), "error") {
			t.Fatalf("redis-benchmark reported an error: %s", line)
		}
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

// TestClusterWritesReplicatedToEveryMember writes through a ClusterClient and
// then reads every key from every node over READONLY connections: with 3
// replicas per group on 3 nodes, each node holds a replica of every group,
// so each must have every committed write.
func TestClusterWritesReplicatedToEveryMember(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := tc.clusterClient(nil)
	const n = 300
	for i := 0; i < n; i++ {
		if err := c.Set(ctx, fmt.Sprintf("rep:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, nd := range tc.nodes {
		conn := mustDial(t, nd.Addr)
		if raw, _ := conn.Do("READONLY"); string(raw) != "+OK\r\n" {
			t.Fatalf("READONLY on %s = %q", nd.Addr, raw)
		}
		testutil.Eventually(t, 10*time.Second, "every write readable on "+nd.Addr, func() error {
			for i := 0; i < n; i++ {
				raw, err := conn.Do("GET", fmt.Sprintf("rep:%d", i))
				if err != nil {
					return err
				}
				want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
				if string(raw) != want {
					return fmt.Errorf("%s: GET rep:%d = %q", nd.Addr, i, raw)
				}
			}
			return nil
		})
		conn.Close()
	}
}

// TestClusterClientFollowsLeaderChange keeps writing through a go-redis
// ClusterClient while the leader of one group is killed, and checks that the
// client finds the new leader by itself (MOVED, then a topology refresh).
func TestClusterClientFollowsLeaderChange(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	// go-redis 9.x refreshes its slot map on MOVED, or when older than
	// ClusterStateReloadInterval (60 s by default), but not on connection
	// errors: a client that only ever talked to the dead leader needs the
	// periodic reload. Redis Cluster users face the same.
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16, ClusterStateReloadInterval: time.Second})
	old := tc.leaderOf(t, "follow:{k}", "0")
	tc.nodes[old].Kill()
	var lastErr error
	ok := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; ok < 50 && time.Now().Before(deadline); i++ {
		if err := c.Set(ctx, "follow:{k}", i, 0).Err(); err != nil {
			lastErr = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ok++
	}
	if ok < 50 {
		t.Fatalf("only %d writes succeeded after the leader was killed; last error: %v", ok, lastErr)
	}
}

// slotKeys returns one key per hash slot ("slot:" + a counter, the first
// found for each slot).
func slotKeys() []string {
	keys := make([]string, shard.NumSlots)
	left := shard.NumSlots
	for i := 0; left > 0; i++ {
		k := "slot:" + strconv.Itoa(i)
		if s := shard.Slot(k); keys[s] == "" {
			keys[s] = k
			left--
		}
	}
	return keys
}

package integration

// Scripting on a real 3-node cluster (docs/scripting.md): go-redis's
// Script (EVALSHA, then EVAL on NOSCRIPT), redis-py's register_script and
// Lock, EVALSHA after the leader of the key's group is killed or its
// leadership transferred (the script cache is replicated), and the
// cluster-mode refusals (CROSSSLOT, MOVED, keys of another slot).

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

const incrScript = "return redis.call('INCR', KEYS[1])"

func TestScriptingCluster(t *testing.T) {
	tc := startCluster(t, 3)
	cc := tc.clusterClient(nil)
	ctx := context.Background()
	key := "lua:{s1}:n"
	s := redis.NewScript(incrScript)

	// go-redis: the first Run gets NOSCRIPT and falls back to EVAL, which
	// caches the script on every replica of the key's group.
	for want := int64(1); want <= 3; want++ {
		n, err := s.Run(ctx, cc, []string{key}).Int64()
		if err != nil || n != want {
			t.Fatalf("Script.Run = %d, %v; want %d", n, err, want)
		}
	}
	if n, err := s.EvalSha(ctx, cc, []string{key}).Int64(); err != nil || n != 4 {
		t.Fatalf("EVALSHA = %d, %v; want 4", n, err)
	}
	if v, err := cc.EvalRO(ctx, "return redis.call('GET', KEYS[1])", []string{key}).Text(); err != nil || v != "4" {
		t.Fatalf("EVAL_RO GET = %q, %v", v, err)
	}
	_, err := cc.EvalRO(ctx, "return redis.call('SET', KEYS[1], 'x')", []string{key}).Result()
	if err == nil || !strings.HasPrefix(err.Error(), "ERR Write commands are not allowed from read-only scripts.") {
		t.Fatalf("EVAL_RO SET: %v", err)
	}

	// Leadership transfer, then a leader kill: EVALSHA keeps working on
	// the new leader without reloading (never NOSCRIPT).
	// Raw EVALSHA on every running node until one serves it: redirects
	// and TRYAGAIN/CLUSTERDOWN while the group elects are retried,
	// NOSCRIPT fails the test at once.
	sha := s.Hash()
	evalsha := func(want int64) {
		t.Helper()
		testutil.Eventually(t, 30*time.Second, "EVALSHA on the new leader", func() error {
			var last string
			for _, nd := range tc.nodes {
				if !nd.Running() {
					continue
				}
				d, err := dialRESP(nd.Addr)
				if err != nil {
					continue
				}
				raw, err := d.Do("EVALSHA", sha, "1", key)
				d.Close()
				if err != nil {
					continue
				}
				r := string(raw)
				if strings.HasPrefix(r, "-NOSCRIPT") {
					t.Fatalf("EVALSHA after failover: %q (the script cache was not replicated)", r)
				}
				if strings.HasPrefix(r, ":") {
					if r != ":"+strconv.FormatInt(want, 10)+"\r\n" {
						t.Fatalf("EVALSHA = %q, want %d", r, want)
					}
					return nil
				}
				last = r
			}
			return fmt.Errorf("no node serves EVALSHA yet (last reply %q)", last)
		})
	}
	old := tc.leaderOf(t, "lua:{s1}:probe", "x")
	transferAway(t, tc, old, key)
	evalsha(5)
	// (The controller may hand leadership back to the preferred leader
	// meanwhile: the kill below is what surely moves it.)
	leader := tc.leaderOf(t, "lua:{s1}:probe", "y")
	t.Logf("leader before the transfer: node %d; after: node %d; killing it", old, leader)
	tc.nodes[leader].Kill()
	evalsha(6)

	// Cluster-mode refusals, on the key's current leader.
	leader = tc.leaderOf(t, "lua:{s1}:probe", "z")
	c := mustDial(t, tc.nodes[leader].Addr)
	defer c.Close()
	other := "lua:other"
	if shard.Slot([]byte(other)) == shard.Slot([]byte(key)) {
		t.Fatal("test keys share a slot")
	}
	raw, _ := c.Do("EVAL", "return 1", "2", key, other)
	if !strings.HasPrefix(string(raw), "-CROSSSLOT ") {
		t.Fatalf("EVAL with keys of two slots: %q", raw)
	}
	raw, _ = c.Do("EVAL", "return redis.call('GET', ARGV[1])", "1", key, other)
	if !strings.HasPrefix(string(raw), "-ERR Script attempted to access ") {
		t.Fatalf("EVAL touching a key of another slot: %q", raw)
	}
	raw, _ = c.Do("EVAL", "#!lua flags=no-cluster\nreturn 1", "0")
	if string(raw) != "-ERR Can not run script on cluster, 'no-cluster' flag is set.\r\n" {
		t.Fatalf("no-cluster script: %q", raw)
	}
	// A node that does not lead the key's group redirects.
	for i, nd := range tc.nodes {
		if i == leader || !nd.Running() {
			continue
		}
		d := mustDial(t, nd.Addr)
		raw, _ = d.Do("EVAL", incrScript, "1", key)
		d.Close()
		if !strings.HasPrefix(string(raw), "-MOVED ") {
			t.Fatalf("EVAL on node %d, not the leader: %q", i, raw)
		}
	}
}

// transferAway moves the leadership of key's group off node from with
// SHOAL LEADER-TRANSFER (transfer_test.go's helpers), and waits until
// another node serves the key.
func transferAway(t *testing.T, tc *testCluster, from int, key string) {
	t.Helper()
	c := mustDial(t, tc.nodes[from].Addr)
	defer c.Close()
	gs, err := queryGroups(tc.nodes[from].Addr)
	if err != nil {
		t.Fatal(err)
	}
	slot := shard.Slot([]byte(key))
	for _, g := range gs {
		for _, r := range g.Slots {
			if slot >= r[0] && slot <= r[1] {
				raw, err := c.Do("SHOAL", "LEADER-TRANSFER", g.ID)
				t.Logf("SHOAL LEADER-TRANSFER %s: %q %v", g.ID, raw, err)
				return
			}
		}
	}
	t.Fatalf("no group serves slot %d", slot)
}

// TestScriptingRedisPy runs redis-py's register_script and Lock against a
// cluster.
func TestScriptingRedisPy(t *testing.T) {
	tc := startCluster(t, 3)
	cmd := exec.Command(pyPython, append([]string{filepath.Join("testdata", "clients", "py_scripts.py")}, tc.Addrs()...)...)
	out, err := cmd.CombinedOutput()
	t.Logf("py_scripts.py: %s", out)
	if err != nil {
		t.Fatalf("py_scripts.py: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"incr1": 5.0, "incr2": 7.0,
		"echo":     []any{"py:{s}:k", "a", 3.0, 1.0, nil},
		"acquired": true, "owned": true, "second_acquired": false, "extended": true,
		"released_owned": false, "reacquired": true,
		"eval_ro": "Write commands are not allowed from read-only scripts. script: 8f2a1f1b2ec1c2c1b7a1c3b7d5ef5e0c5a5b6d8e, on @user_script:1.",
	}
	for k, w := range want {
		if k == "eval_ro" {
			if s, _ := got[k].(string); !strings.HasPrefix(s, "Write commands are not allowed from read-only scripts.") {
				t.Errorf("%s = %v", k, got[k])
			}
			continue
		}
		gj, _ := json.Marshal(got[k])
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s = %s, want %s", k, gj, wj)
		}
	}
}

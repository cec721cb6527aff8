package integration

// Scripting on a real 3-node cluster (docs/scripting.md): go-redis's
// Script (EVALSHA, then EVAL on NOSCRIPT), redis-py's register_script and
// Lock, EVALSHA after the leader of the key's group is killed or its
// leadership transferred (the script cache is replicated), and the
// cluster-mode refusals (CROSSSLOT, MOVED, keys of another slot).

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
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
// cluster, then across a SIGKILL of the leader of their keys' group
// (py_scripts.py waits on its stdin for the kill): the scripts' counter
// goes on from its value, the script cache survived (a plain EVALSHA
// works, and no node answered NOSCRIPT or ran EVAL after the kill), a lock
// held before the kill is still held (another client cannot take it, its
// owner releases it), and a lock with a timeout keeps its TTL and expires
// when it should.
func TestScriptingRedisPy(t *testing.T) {
	tc := startCluster(t, 3)
	var survivors []*shoalNode
	var before scriptCounts
	lines := runAcrossKill(t, pyPython, append([]string{filepath.Join("testdata", "clients", "py_scripts.py")}, tc.Addrs()...), func() {
		leader := tc.leaderOf(t, "py:{s}:probe", "x")
		for i, nd := range tc.nodes {
			if i != leader {
				survivors = append(survivors, nd)
			}
		}
		before = scriptStats(t, survivors)
		t.Logf("killing node %d, the leader of py:{s}'s group", leader)
		tc.nodes[leader].Kill()
	})
	after := scriptStats(t, survivors)
	if len(lines) != 3 {
		t.Fatalf("py_scripts.py printed %d lines, want 3: %q", len(lines), lines)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
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

	// Before the kill, then after it.
	checkJSON(t, "before the kill", lines[1], map[string]any{"incr": 10.0, "held": true, "ttl_acquired": true})
	var post map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &post); err != nil {
		t.Fatal(err)
	}
	ttl := post["ttl"].(float64)
	if p, _ := post["ttl_pttl"].(float64); p <= 0 || p > ttl*1000 {
		t.Errorf("PTTL of the timed lock after the kill = %v ms, want in (0, %v]", post["ttl_pttl"], ttl*1000)
	}
	// The timed lock expired no earlier than its timeout after it was
	// taken (py_scripts.py read the wall clock, the one expiry uses, before
	// the acquire), and the waiter got it: the TTL survived the failover.
	if w, _ := post["ttl_waited"].(float64); w < ttl-0.05 {
		t.Errorf("the timed lock was taken over %.3f s after it was acquired, before its %v s timeout", w, ttl)
	}
	checkJSON(t, "after the kill", lines[2], map[string]any{
		"evalsha": 11.0, "incr": 13.0, "echo": []any{"py:{s}:k", "b", 3.0, 1.0, nil},
		"held_stolen": false, "held_owned": true, "held_owned_after_release": false, "held_reacquired": true,
		"ttl_stolen": false, "ttl_expired": true, "ttl_owner_release": "LockNotOwnedError",
	}, "ttl_pttl", "ttl_waited", "ttl")
	t.Logf("script calls on the surviving nodes: before the kill %+v, after %+v", before, after)
	if after.noscript != before.noscript || after.eval != before.eval {
		t.Errorf("after the kill the new leader answered NOSCRIPT %d times and ran EVAL %d times: the script cache did not survive",
			after.noscript-before.noscript, after.eval-before.eval)
	}
	if after.evalsha <= before.evalsha {
		t.Errorf("no EVALSHA reached the surviving nodes after the kill (%d, then %d)", before.evalsha, after.evalsha)
	}
}

// checkJSON compares the JSON object line with want, key by key; the keys
// of ignore may be present in line without being in want.
func checkJSON(t *testing.T, what, line string, want map[string]any, ignore ...string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("%s: %q: %v", what, line, err)
	}
	for k, w := range want {
		gj, _ := json.Marshal(got[k])
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s: %s = %s, want %s", what, k, gj, wj)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !slices.Contains(ignore, k) {
			t.Errorf("%s: unexpected %s = %v", what, k, got[k])
		}
	}
}

// scriptCounts are a cluster's script calls, summed over some nodes.
type scriptCounts struct {
	eval, evalsha int64 // calls, rejected and failed ones included (INFO commandstats)
	noscript      int64 // NOSCRIPT replies (INFO errorstats)
}

// scriptStats sums the script calls of the running nodes among nodes.
// Counters are per node: compare two calls on the same nodes.
func scriptStats(t *testing.T, nodes []*shoalNode) scriptCounts {
	t.Helper()
	var sc scriptCounts
	for _, nd := range nodes {
		if !nd.Running() {
			continue
		}
		c := mustDial(t, nd.Addr)
		for _, section := range []string{"commandstats", "errorstats"} {
			raw, err := c.Do("INFO", section)
			if err != nil {
				t.Fatalf("INFO %s on %s: %v", section, nd.Addr, err)
			}
			for _, line := range strings.Split(string(raw), "\r\n") {
				name, fields, ok := strings.Cut(line, ":")
				if !ok {
					continue
				}
				var dst *int64
				switch name {
				case "cmdstat_eval":
					dst = &sc.eval
				case "cmdstat_evalsha":
					dst = &sc.evalsha
				case "errorstat_NOSCRIPT":
					dst = &sc.noscript
				default:
					continue
				}
				for _, f := range strings.Split(fields, ",") {
					k, v, _ := strings.Cut(f, "=")
					if k == "calls" || k == "rejected_calls" || k == "failed_calls" || k == "count" {
						n, err := strconv.ParseInt(v, 10, 64)
						if err != nil {
							t.Fatalf("%s on %s: %q", name, nd.Addr, line)
						}
						*dst += n
					}
				}
			}
		}
		c.Close()
	}
	return sc
}

// runAcrossKill runs a client script (name args...) that prints JSON lines
// and, once, a line "KILL" after which it waits for a line on its stdin:
// runAcrossKill then calls kill (the script's client is idle, no command
// is in flight), writes "killed\n", and returns the script's other lines
// once it exited with status 0. Its stderr goes to t.Log; it gets 5
// minutes.
func runAcrossKill(t *testing.T, name string, args []string, kill func()) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	logw := testutil.NewLogWriter(t, filepath.Base(args[0])+": ")
	defer logw.Close()
	cmd.Stderr = logw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var lines []string
	killed := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line != "KILL" {
			t.Logf("%s: %s", filepath.Base(args[0]), line)
			lines = append(lines, line)
			continue
		}
		if killed {
			t.Fatalf("%s asked for a second kill", args[0])
		}
		killed = true
		kill()
		if _, err := io.WriteString(stdin, "killed\n"); err != nil {
			t.Fatalf("writing to %s: %v", args[0], err)
		}
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v (its stderr is in the log)", args[0], err)
	}
	if !killed {
		t.Fatalf("%s never asked for the kill", args[0])
	}
	return lines
}

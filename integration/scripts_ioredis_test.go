package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
)

// TestIoredisDefineCommand runs ioredis's defineCommand (EVALSHA, and EVAL
// after NOSCRIPT) on a 3-node cluster: a sliding-window rate limiter over a
// sorted set and a hash, written by a script, which must allow exactly its
// limit, and keep working after SCRIPT FLUSH on every node. Then across a
// SIGKILL of the leader of the window's group (ioredis_script.js waits on
// its stdin for it): the window goes on where it was (no reset, no extra
// allowance), every call ran exactly once (the stats hash), and a plain
// EVALSHA finds the script in the new leader's replicated cache. ioredis's
// command itself sends EVAL on each new connection and EVALSHA after it:
// no NOSCRIPT reply after the kill.
func TestIoredisDefineCommand(t *testing.T) {
	tc := startCluster(t, 3)
	dir := nodeModules(t)
	var survivors []*shoalNode
	var before scriptCounts
	lines := runAcrossKill(t, "node", append([]string{filepath.Join(dir, "ioredis_script.js")}, tc.Addrs()...), func() {
		leader := tc.leaderOf(t, "{rl}probe", "x")
		for i, nd := range tc.nodes {
			if i != leader {
				survivors = append(survivors, nd)
			}
		}
		before = scriptStats(t, survivors)
		t.Logf("killing node %d, the leader of {rl}win's group", leader)
		tc.nodes[leader].Kill()
	})
	after := scriptStats(t, survivors)
	if len(lines) != 3 {
		t.Fatalf("ioredis_script.js printed %d lines, want 3: %q", len(lines), lines)
	}
	var res struct {
		Allowed    int               `json:"allowed"`
		Denied     int               `json:"denied"`
		AfterFlush []int             `json:"after_flush"`
		Hash       map[string]string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &res); err != nil {
		t.Fatalf("output %q: %v", lines[0], err)
	}
	if res.Allowed != 10 || res.Denied != 20 {
		t.Fatalf("allowed %d, denied %d; want 10 and 20", res.Allowed, res.Denied)
	}
	// The window slid past the first requests: one more is allowed.
	if len(res.AfterFlush) != 2 || res.AfterFlush[0] != 1 {
		t.Fatalf("after SCRIPT FLUSH: %v, want [1 ...]", res.AfterFlush)
	}
	if res.Hash["allowed"] != "11" || res.Hash["denied"] != "20" {
		t.Fatalf("stats hash %v, want allowed 11, denied 20", res.Hash)
	}

	// Before the kill: 2, 3, 4 in the window. After it: 5 to 10 allowed,
	// then 4 refused at 10, and every call counted once in the hash.
	var pre struct {
		BeforeKill [][]int `json:"before_kill"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &pre); err != nil {
		t.Fatalf("output %q: %v", lines[1], err)
	}
	if got := fmt.Sprint(pre.BeforeKill); got != "[[1 2] [1 3] [1 4]]" {
		t.Fatalf("before the kill: %s, want [[1 2] [1 3] [1 4]]", got)
	}
	var post struct {
		EvalSHA   any               `json:"evalsha"`
		AfterKill [][]int           `json:"after_kill"`
		Errors    int               `json:"errors"`
		Hash      map[string]string `json:"hash"`
	}
	if err := json.Unmarshal([]byte(lines[2]), &post); err != nil {
		t.Fatalf("output %q: %v", lines[2], err)
	}
	if got := fmt.Sprint(post.EvalSHA); got != "[1 5]" {
		t.Errorf("plain EVALSHA after the kill: %s, want [1 5] (the script cache survived)", got)
	}
	want := "[[1 6] [1 7] [1 8] [1 9] [1 10] [0 10] [0 10] [0 10] [0 10]]"
	if got := fmt.Sprint(post.AfterKill); got != want {
		t.Errorf("after the kill (%d failed calls made again): %s, want %s", post.Errors, got, want)
	}
	if post.Hash["allowed"] != "20" || post.Hash["denied"] != "24" {
		t.Errorf("stats hash after the kill %v, want allowed 20, denied 24 (each call once)", post.Hash)
	}
	t.Logf("script calls on the surviving nodes: before the kill %+v, after %+v", before, after)
	if after.noscript != before.noscript {
		t.Errorf("after the kill the new leader answered NOSCRIPT %d times", after.noscript-before.noscript)
	}
	// ioredis sends EVAL first only on a connection it opens after the
	// kill; whether it opens one to the new leader or reuses one it had
	// depends on its slot map and timing, so only EVALSHA is required
	// (the cache survived: no NOSCRIPT above).
	if after.evalsha <= before.evalsha {
		t.Errorf("ioredis sent %d EVAL and %d EVALSHA to the surviving nodes after the kill, want EVALSHA",
			after.eval-before.eval, after.evalsha-before.evalsha)
	}
}

package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// leaderOf returns the index of the node that serves key (answers SET with
// +OK), writing value; the others answer MOVED.
func (tc *testCluster) leaderOf(t *testing.T, key, value string) int {
	t.Helper()
	leader := -1
	testutil.Eventually(t, 15*time.Second, "a leader for "+key, func() error {
		for i, nd := range tc.nodes {
			if !nd.Running() || nd.Paused() {
				continue
			}
			c, err := dialRESP(nd.Addr)
			if err != nil {
				continue
			}
			raw, err := c.Do("SET", key, value)
			c.Close()
			if err == nil && string(raw) == "+OK\r\n" {
				leader = i
				return nil
			}
		}
		return fmt.Errorf("no node accepts SET %s yet", key)
	})
	return leader
}

// TestClusterLeaderKillFailover kills the leader of a key's group with
// SIGKILL and measures how long until a write to that key succeeds on
// another node.
func TestClusterLeaderKillFailover(t *testing.T) {
	tc := startCluster(t, 3)
	old := tc.leaderOf(t, "fo:key", "before")
	killed := time.Now()
	tc.nodes[old].Kill()
	now := tc.leaderOf(t, "fo:key", "after")
	took := time.Since(killed)
	t.Logf("writes to the group resumed on node %d %v after SIGKILL of node %d", now, took, old)
	if now == old {
		t.Fatalf("killed node still serves")
	}
	if took > 5*time.Second {
		t.Errorf("failover took %v", took)
	}
	c := mustDial(t, tc.nodes[now].Addr)
	defer c.Close()
	raw, _ := c.Do("GET", "fo:key")
	if string(raw) != "$5\r\nafter\r\n" {
		t.Fatalf("GET after failover = %q", raw)
	}
}

// TestClusterPausedLeaderNoStaleRead pauses the leader of a key's group
// (SIGSTOP), lets the others elect a new leader and overwrite the key, then
// resumes the old leader and reads from it at once. The old leader read
// the key just before the pause, so it held a read lease then. In the
// default linearizable mode it must not answer with the old value:
// Redis Cluster does in this situation (reference.md section 7).
//
// SHOAL_STALE_EXTRA adds server flags: with "--read-consistency leader" the
// test fails (the old leader answers "old"), which shows it can.
func TestClusterPausedLeaderNoStaleRead(t *testing.T) {
	tc := startCluster(t, 3, strings.Fields(os.Getenv("SHOAL_STALE_EXTRA"))...)
	for trial := 0; trial < 3; trial++ {
		key := fmt.Sprintf("stale:%d", trial)
		old := tc.leaderOf(t, key, "old")
		// Open the connection before the pause so the read goes out the
		// moment the process runs again; read once first, so that the old
		// leader holds a read lease when it is paused: the lease must have
		// ended when it runs again (its clock ran on while it was stopped).
		c := mustDial(t, tc.nodes[old].Addr)
		if raw, err := c.Do("GET", key); err != nil || string(raw) != "$3\r\nold\r\n" {
			t.Fatalf("trial %d: GET before the pause = %q, %v", trial, raw, err)
		}
		tc.nodes[old].Pause()
		newer := tc.leaderOf(t, key, "new")
		tc.nodes[old].Resume()
		raw, err := c.Do("GET", key)
		c.Close()
		if err != nil {
			t.Fatalf("trial %d: GET on resumed node: %v", trial, err)
		}
		t.Logf("trial %d: node %d paused, node %d took over; resumed node answered %q", trial, old, newer, raw)
		if strings.Contains(string(raw), "old") {
			t.Fatalf("trial %d: the resumed old leader served a stale read: %q", trial, raw)
		}
		tc.WaitOK(30 * time.Second)
	}
}

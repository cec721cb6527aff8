package integration

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestPartitionedLeaderNoStaleRead cuts the leader of a key's group off
// from the other nodes with iptables rules in per-node network namespaces
// (the client still reaches every node), lets the majority elect a new
// leader and overwrite the key, and then reads the key from the old leader
// over a connection opened before the partition. In the default read mode
// the old leader must not answer with the old value: it cannot confirm its
// leadership with a majority. Any other answer (an error, a redirect, no
// answer within the deadline) is not a stale read.
//
// With --read-consistency leader this scenario happens to be safe too: an
// isolated leader steps down once its lease (LeaderLeaseTimeout) runs out,
// before the majority can elect another. A paused leader does not notice
// time passing, which is why TestClusterPausedLeaderNoStaleRead is the one
// that shows the leader mode serving a stale read.
//
// Needs root (network namespaces, iptables), as the Jepsen partitions do.
// SHOAL_STALE_EXTRA adds server flags.
func TestPartitionedLeaderNoStaleRead(t *testing.T) {
	jn := setupNetns(t, 3)
	cfg := &jConfig{nodes: 3, seed: uint64(time.Now().UnixNano()) % 1_000_000_000,
		serverArgs: strings.Fields(os.Getenv("SHOAL_STALE_EXTRA"))}
	c := startJCluster(t, cfg, jn, 0, t.TempDir())
	for trial := 0; trial < 2; trial++ {
		key := fmt.Sprintf("stale-part:{%d}", trial)
		old := -1
		testutil.Eventually(t, 15*time.Second, "the leader of "+key, func() error {
			for i, n := range c.nodes {
				if v, err := quickDo(n.addr(), "SET", key, "old"); err == nil && v.Kind == '+' {
					old = i
					return nil
				}
			}
			return fmt.Errorf("no node accepts SET %s", key)
		})
		conn, err := net.DialTimeout("tcp", c.nodes[old].addr(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := jn.partition(isolateGrid(len(c.nodes), old)); err != nil {
			conn.Close()
			t.Fatal(err)
		}
		cut := time.Now()
		newer := -1
		testutil.Eventually(t, 20*time.Second, "a new leader of "+key, func() error {
			for i, n := range c.nodes {
				if i == old {
					continue
				}
				if v, err := quickDo(n.addr(), "SET", key, "new"); err == nil && v.Kind == '+' {
					newer = i
					return nil
				}
			}
			return fmt.Errorf("the majority has not taken over %s yet", key)
		})
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		reply := "(no answer within 5 s)"
		if _, err := conn.Write(encodeCommand([]string{"GET", key})); err == nil {
			if raw, _, err := readReply(bufio.NewReader(conn)); err == nil {
				reply = strings.TrimSpace(string(raw))
			}
		}
		conn.Close()
		t.Logf("trial %d: n%d isolated; n%d took the writes %v later; the isolated node answered %q",
			trial, old, newer, time.Since(cut).Round(time.Millisecond), reply)
		if strings.Contains(reply, "old") {
			t.Fatalf("trial %d: the partitioned old leader served a stale read: %q", trial, reply)
		}
		if err := jn.heal(); err != nil {
			t.Fatal(err)
		}
		if err := c.waitHealthy(90*time.Second, false, t.Logf); err != nil {
			t.Fatalf("cluster did not recover after healing: %v", err)
		}
		testutil.Eventually(t, 15*time.Second, "the healed cluster reads the new value", func() error {
			for _, n := range c.nodes {
				if v, err := quickDo(n.addr(), "GET", key); err == nil && (v.Kind == '$' || v.IsNull()) {
					if v.Kind != '$' || v.Str != "new" {
						return fmt.Errorf("GET %s after healing = %q", key, v.Str)
					}
					return nil
				}
			}
			return fmt.Errorf("no node serves GET %s", key)
		})
	}
}

package server

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/script"
	"github.com/shoalcache/shoal/shard"
)

// storeDump renders st's keys, values and expiries, sorted.
func storeDump(st *shard.Store) string {
	st.RLock()
	defer st.RUnlock()
	var lines []string
	for i := 0; i < shard.NumSlots; i++ {
		st.RangeSlot(i, func(k string, e *shard.Entry) bool {
			lines = append(lines, fmt.Sprintf("%q=%q@%d", k, e.Value, e.ExpireAt))
			return true
		})
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestScriptsReplicateIdentically: scripts run through a server on the
// leader of 3 in-memory replicas (SCRIPT LOAD, pipelined EVAL/EVALSHA with
// random numbers, TIME, expiries, KEYS, errors after writes) leave every
// replica with the same store and script cache.
func TestScriptsReplicateIdentically(t *testing.T) {
	gs := startInmemGroups(t, 3)
	_, addr := introServer(t, gs[0], nil)
	c := dialRaw(t, addr)
	incr := "return redis.call('INCRBY', KEYS[1], ARGV[1])"
	sha := script.SHA1([]byte(incr))
	if got := c.do("SCRIPT", "LOAD", incr); got != "$40\r\n"+sha+"\r\n" {
		t.Fatalf("SCRIPT LOAD = %q", got)
	}
	bodies := []string{
		"redis.call('SET', KEYS[1], math.random(1000000)) return 1",
		"local t = redis.call('TIME') redis.call('SET', KEYS[1], t[1] .. t[2], 'PX', 100000) return 1",
		"redis.call('SET', KEYS[1], table.concat(redis.call('KEYS', '*'), ',')) return 1",
		"redis.call('APPEND', KEYS[1], tostring({}) .. cjson.encode({a = 1, b = {2, 3}})) error('after a write')",
	}
	for round := 0; round < 20; round++ {
		var cmds [][]string
		for i, b := range bodies {
			cmds = append(cmds, []string{"EVAL", b, "1", fmt.Sprintf("{s}k%d", (round+i)%5)})
			cmds = append(cmds, []string{"EVALSHA", sha, "1", "{s}n", fmt.Sprint(round)})
		}
		for _, cmd := range cmds {
			c.send(cmd...)
		}
		for range cmds {
			if v := c.read(); v.IsError() && !strings.Contains(v.Str, "after a write") {
				t.Fatalf("round %d: %q", round, v.Raw)
			}
		}
	}
	want := storeDump(gs[0].Store())
	if !strings.Contains(want, `"{s}n"="760"`) {
		t.Fatalf("leader's store lacks the EVALSHA sum:\n%s", want)
	}
	for i, g := range gs[1:] {
		testutil.Eventually(t, 10*time.Second, fmt.Sprintf("replica %d applied everything", i+1), func() error {
			if g.AppliedIndex() < gs[0].AppliedIndex() {
				return fmt.Errorf("applied %d of %d", g.AppliedIndex(), gs[0].AppliedIndex())
			}
			return nil
		})
		if got := storeDump(g.Store()); got != want {
			t.Fatalf("replica %d differs from the leader:\n%s\nvs\n%s", i+1, got, want)
		}
		for _, b := range append(bodies, incr) {
			if _, ok := g.Script(script.SHA1([]byte(b))); !ok {
				t.Fatalf("replica %d lacks script %q", i+1, b)
			}
		}
	}
	// SCRIPT FLUSH reaches every replica.
	if got := c.do("SCRIPT", "FLUSH"); got != "+OK\r\n" {
		t.Fatalf("SCRIPT FLUSH = %q", got)
	}
	for i, g := range gs {
		testutil.Eventually(t, 10*time.Second, "flush applied", func() error {
			if _, ok := g.Script(sha); ok {
				return fmt.Errorf("replica %d still has the script", i)
			}
			return nil
		})
	}
	if got := c.do("EVALSHA", sha, "1", "{s}n", "1"); got != "-NOSCRIPT No matching script. Please use EVAL.\r\n" {
		t.Fatalf("EVALSHA after SCRIPT FLUSH = %q", got)
	}
}

// TestScriptWriteInvalidatesTrackedKeys: a key a script writes is
// invalidated for a client tracking it, as a command's write is.
func TestScriptWriteInvalidatesTrackedKeys(t *testing.T) {
	g := startInmemGroups(t, 1)[0]
	waitReady(t, g)
	_, addr := introServer(t, g, nil)
	a := resp3(t, addr)
	a.do("CLIENT", "TRACKING", "on")
	a.do("GET", "k")
	b := dialRaw(t, addr)
	if got := b.do("EVAL", "return redis.call('SET', KEYS[1], 'v')", "1", "k"); got != "+OK\r\n" {
		t.Fatalf("EVAL = %q", got)
	}
	_ = a.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if v := a.read(); string(v.Raw) != invalidation("k") {
		t.Fatalf("read %q, want the invalidation of k", v.Raw)
	}
}

var _ scriptGroup = (*raftfsm.Group)(nil)

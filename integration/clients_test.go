package integration

// The client matrix: the cluster clients people use against one 3-node
// Shoal cluster: go-redis ClusterClient and rueidis in this process,
// redis-py RedisCluster, ioredis Cluster, node-redis createCluster and
// phpredis RedisCluster as child processes (testdata/clients/; .ci/deps
// installs their packages). Every client runs each phase at the same time
// as the others; a phase's checks are made here on what the client
// reported, and fail with what it saw. The ops (matrixReq):
//
//   - slots {keys, values}: SET then GET one key in each of the 16384
//     slots, one command at a time (the Node.js clients issue them all at
//     once and pipeline them), replies {set: [...], get: [...]};
//   - touch {keys}: GET every key (a client with a stale view of the
//     cluster meets a MOVED and reloads it), replies {errors, first};
//   - scan {match}: the client's cluster-wide fan-out: the primaries it
//     sees, SCAN over every primary, KEYS and DBSIZE on every primary;
//   - pipeline {keys, key, cross_keys}: the client's pipeline API: SET
//     keys[i] i, INCR key, GET keys[i] for keys within one hash tag
//     (replies), then SETs over many slots (cross); a client without a
//     pipeline replies {"unsupported": why};
//   - multikey {keys, missing}: MSET, MGET, DEL within a hash tag;
//   - crossslot {keys}: MSET and MGET of keys of two slots;
//   - ttl {keys}: SET+EXPIRE+TTL, SET PX+PTTL, and SET PX 300 whose key must
//     then expire (polled with get {key});
//   - rw {key, value, timeout_ms}: SET then GET until the GET returns the
//     value, with the same client object throughout (a leader kill and a
//     leadership transfer happen between two rw).
//
// SHOAL_CLIENTS=go-redis,redis-py runs some clients only.

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// matrixClients are the clients, in the order of the README's table.
var matrixClients = []string{"go-redis", "rueidis", "redis-py", "ioredis", "node-redis", "phpredis"}

// slotTags returns, for each slot, a short hash tag that hashes to it.
func slotTags() []string {
	tags := make([]string, shard.NumSlots)
	left := shard.NumSlots
	for i := 0; left > 0; i++ {
		t := strconv.Itoa(i)
		if s := shard.Slot(t); tags[s] == "" {
			tags[s] = t
			left--
		}
	}
	return tags
}

// startMatrixClient connects one client to the cluster at addrs.
func startMatrixClient(t *testing.T, name string, addrs []string) (matrixClient, error) {
	t.Helper()
	clients := filepath.Join("testdata", "clients")
	switch name {
	case "go-redis":
		// go-redis reloads its slot map on MOVED and every
		// ClusterStateReloadInterval (60 s by default), not on a
		// connection error: the README's advice for fast failover.
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ClusterStateReloadInterval: time.Second})
		t.Cleanup(func() { c.Close() })
		return &goClient{name: name, version: redis.Version(), ops: goRedisOps{c}}, nil
	case "rueidis":
		// Default options: rueidis turns on client-side caching (CLIENT
		// TRACKING ON OPTIN over RESP3); the matrix's reads do not ask
		// for the cache (DoCache), TestTrackingRueidis does.
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs})
		if err != nil {
			return nil, fmt.Errorf("rueidis: %w", err)
		}
		t.Cleanup(c.Close)
		return &goClient{name: name, version: moduleVersion("github.com/redis/rueidis"), ops: rueidisOps{c}}, nil
	case "redis-py":
		return startScriptClient(t, name, append([]string{pyPython, filepath.Join(clients, "py_cluster.py")}, addrs...)...)
	case "ioredis", "node-redis":
		return startScriptClient(t, name, append([]string{"node", filepath.Join(nodeModules(t), "matrix.js"), name}, addrs...)...)
	case "phpredis":
		return startScriptClient(t, name, append([]string{"php", filepath.Join(clients, "php_cluster.php")}, addrs...)...)
	}
	return nil, fmt.Errorf("unknown client %q (SHOAL_CLIENTS)", name)
}

// TestClientMatrix runs every client of matrixClients against one 3-node
// cluster through the phases below, all clients at once, and logs the
// matrix of what passed (the README's "Client compatibility" table).
func TestClientMatrix(t *testing.T) {
	names := matrixClients
	if s := os.Getenv("SHOAL_CLIENTS"); s != "" {
		names = strings.Split(s, ",")
	}
	// Raft timeouts of 1.5 s rather than 0.5 s: on a loaded 2-core machine
	// the matrix's own load (six clients, 100k keys) otherwise starves
	// heartbeats into elections, which phpredis (it does not retry
	// CLUSTERDOWN) reports as errors. A killed leader still fails over in
	// about 2 s.
	tc := startCluster(t, 3, "--raft-heartbeat-timeout", "1500ms", "--raft-election-timeout", "1500ms")
	m := &matrix{t: t, cells: map[string]map[string]string{}}
	for _, name := range names {
		c, err := startMatrixClient(t, name, tc.Addrs())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Logf("%s %s connected", c.Name(), c.Version())
		m.clients = append(m.clients, c)
		m.cells[name] = map[string]string{}
	}
	defer m.summary()
	tags := slotTags()

	// The fan-out phase comes first, on keys this test writes, while the
	// clients' views are those they read at connection, and again after
	// the leader changes: a node answers DBSIZE, KEYS and SCAN for the
	// groups it leads, and a client learns of a leadership change only
	// from MOVED, which some clients apply to the slot's nodes only
	// (redis-py swaps the roles of the slot's old master and new one when
	// the new one was listed as its replica; see clusterSlotsCommand for
	// why Shoal then lists none). Before its fan-out each client reads
	// every key (touch), so that clients that reload their view on MOVED
	// have a current one.
	fanKeys := func(name string) []string {
		ks := make([]string, len(tags))
		for s, tag := range tags {
			ks[s] = "{" + tag + "}f:" + name
		}
		return ks
	}
	connected := topoState(t, tc)
	writeAll(t, tc, func(yield func(string) bool) {
		for _, c := range m.clients {
			for _, k := range fanKeys(c.Name()) {
				if !yield(k) {
					return
				}
			}
		}
	})
	// fanOut checks a client's fan-out: every fan-out key once, and DBSIZE
	// over the primaries total.
	fanOut := func(total int) func(ctx context.Context, c matrixClient) error {
		return func(ctx context.Context, c matrixClient) error {
			var touch struct {
				Errors int
				First  string
			}
			if err := call(ctx, c, matrixReq{Op: "touch", Keys: fanKeys(c.Name())}, &touch); err != nil {
				return err
			}
			if touch.Errors > 0 {
				// The reads only refresh the client's view; the fan-out is
				// judged below. (Seen: phpredis's first read of a key of a
				// restarted node that took its group back timed out after
				// 5 s: "Timed out attempting to find data in the correct
				// node!".)
				t.Logf("%s: reading every key before the fan-out: %d errors, first: %s", c.Name(), touch.Errors, touch.First)
			}
			var r struct {
				Primaries          []string
				Scan, Keys, DBSize json.RawMessage
			}
			if err := call(ctx, c, matrixReq{Op: "scan", Match: "*}f:" + c.Name()}, &r); err != nil {
				return err
			}
			var errs []string
			if want := slices.Sorted(slices.Values(tc.Addrs())); !slices.Equal(r.Primaries, want) {
				errs = append(errs, fmt.Sprintf("the client's primaries are %v, want every node %v", r.Primaries, want))
			}
			for _, e := range []error{
				keysOnce("SCAN over the primaries", r.Scan, fanKeys(c.Name())),
				keysOnce("KEYS on the primaries", r.Keys, fanKeys(c.Name())),
				intIn("DBSIZE over the primaries", r.DBSize, int64(total), int64(total)),
			} {
				if e != nil {
					errs = append(errs, e.Error())
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("%s", strings.Join(errs, "; "))
			}
			return nil
		}
	}
	if now := topoState(t, tc); now != connected {
		t.Logf("leaderships moved since the clients connected (%s, now %s): a client may hold a view no MOVED repairs", connected, now)
	}
	m.stable(tc, "SCAN/KEYS/DBSIZE", 60*time.Second, fanOut(len(tags)*len(m.clients)))

	m.stable(tc, "every slot", 120*time.Second, func(ctx context.Context, c matrixClient) error {
		keys := make([]string, len(tags))
		vals := make([]string, len(keys))
		for s, tag := range tags {
			keys[s], vals[s] = "{"+tag+"}m:"+c.Name(), "v"+strconv.Itoa(s)
		}
		var r struct{ Set, Get []json.RawMessage }
		if err := call(ctx, c, matrixReq{Op: "slots", Keys: keys, Values: vals}, &r); err != nil {
			return err
		}
		if len(r.Set) != len(keys) || len(r.Get) != len(keys) {
			return fmt.Errorf("%d SET and %d GET replies for %d keys", len(r.Set), len(r.Get), len(keys))
		}
		var bad []string
		for s := range keys {
			if err := errors.Join(same("SET "+keys[s], r.Set[s], `"OK"`), same("GET "+keys[s], r.Get[s], strconv.Quote(vals[s]))); err != nil {
				bad = append(bad, err.Error())
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%d of %d slots failed, first: %v", len(bad), len(keys), head(bad))
		}
		return nil
	})

	m.run("pipeline", 60*time.Second, func(ctx context.Context, c matrixClient) error {
		tag := "{pipe:" + c.Name() + "}"
		var keys []string
		for i := 0; i < 50; i++ {
			keys = append(keys, tag+strconv.Itoa(i))
		}
		var cross []string
		for s := 0; s < shard.NumSlots; s += 41 {
			cross = append(cross, "{"+tags[s]+"}x:"+c.Name())
		}
		var r struct{ Replies, Cross json.RawMessage }
		if err := call(ctx, c, matrixReq{Op: "pipeline", Keys: keys, Key: tag + "n", CrossKeys: cross}, &r); err != nil {
			return err
		}
		if why, ok := unsupported(r.Replies); ok {
			return errNA{why}
		}
		var want, wantCross []string
		for i := range keys {
			want = append(want, `"OK"`, strconv.Itoa(i+1), strconv.Quote(strconv.Itoa(i)))
		}
		for range cross {
			wantCross = append(wantCross, `"OK"`)
		}
		if err := same("pipeline within a hash tag", r.Replies, "["+strings.Join(want, ",")+"]"); err != nil {
			return err
		}
		return same("pipeline over "+strconv.Itoa(len(cross))+" slots", r.Cross, "["+strings.Join(wantCross, ",")+"]")
	})

	m.run("MSET/MGET/DEL in a hash tag", 30*time.Second, func(ctx context.Context, c matrixClient) error {
		tag := "{mk:" + c.Name() + "}"
		var r struct{ MSet, MGet, Del json.RawMessage }
		if err := call(ctx, c, matrixReq{Op: "multikey", Keys: []string{tag + "a", tag + "b", tag + "c"}, Missing: tag + "none"}, &r); err != nil {
			return err
		}
		for _, e := range []error{same("MSET", r.MSet, `"OK"`), same("MGET", r.MGet, `["1","2","3",null]`), same("DEL", r.Del, `2`)} {
			if e != nil {
				return e
			}
		}
		return nil
	})

	m.run("CROSSSLOT", 30*time.Second, func(ctx context.Context, c matrixClient) error {
		// Keys of slots 0 and 1: one group, so that a client sending the
		// command to the first key's node meets Shoal's check.
		a, b := "{"+tags[0]+"}cs:"+c.Name(), "{"+tags[1]+"}cs:"+c.Name()
		var r struct{ MSet, MGet json.RawMessage }
		if err := call(ctx, c, matrixReq{Op: "crossslot", Keys: []string{a, b}}, &r); err != nil {
			return err
		}
		if splitsMultiKey[c.Name()] {
			// The client never sends a command across slots: it must
			// have split both and got the right replies.
			if err := errors.Join(same("MSET across slots", r.MSet, `"OK"`), same("MGET across slots", r.MGet, `["1","2"]`)); err != nil {
				return err
			}
			return errNA{"the client splits MSET and MGET by slot itself (and so never meets CROSSSLOT); both worked"}
		}
		for _, x := range []struct {
			cmd string
			r   json.RawMessage
		}{{"MSET", r.MSet}, {"MGET", r.MGet}} {
			e, ok := replyErr(x.r)
			switch {
			case !ok:
				return fmt.Errorf("%s of keys in slots 0 and 1 = %.200s, want a CROSSSLOT error", x.cmd, x.r)
			case strings.Contains(e, "CROSSSLOT Keys in request don't hash to the same slot"):
			default:
				t.Logf("%s: %s across slots refused by the client itself: %s", c.Name(), x.cmd, e)
			}
		}
		return nil
	})

	m.run("TTL", 30*time.Second, func(ctx context.Context, c matrixClient) error {
		tag := "{ttl:" + c.Name() + "}"
		var r struct{ Set, Expire, TTL, SetPX, PTTL, SetShort json.RawMessage }
		short := tag + "short"
		if err := call(ctx, c, matrixReq{Op: "ttl", Keys: []string{tag + "ex", tag + "px", short}}, &r); err != nil {
			return err
		}
		for _, e := range []error{
			same("SET", r.Set, `"OK"`), same("EXPIRE 100", r.Expire, `1`), intIn("TTL after EXPIRE 100", r.TTL, 90, 100),
			same("SET PX 100000", r.SetPX, `"OK"`), intIn("PTTL after SET PX 100000", r.PTTL, 90000, 100000),
			same("SET PX 300", r.SetShort, `"OK"`),
		} {
			if e != nil {
				return e
			}
		}
		// The short key expires (the leader deletes it through the log).
		deadline := time.Now().Add(10 * time.Second)
		for {
			var g struct{ Get json.RawMessage }
			if err := call(ctx, c, matrixReq{Op: "get", Key: short}, &g); err != nil {
				return err
			}
			if string(g.Get) == "null" {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("GET %s = %s 10 s after SET PX 300", short, g.Get)
			}
			time.Sleep(50 * time.Millisecond) // the client's own round trips pace the loop too
		}
	})

	matrixFailover(t, tc, m)

	// After the kill, the restart and the transfer, each followed by the
	// hand-back to the preferred leader, the clients' fan-outs still meet
	// every group once (the clients' views follow the MOVED replies of
	// touch). DBSIZE is the sum of the nodes' own, each leading one group.
	tc.WaitBalanced(30 * time.Second)
	keys := 0
	for _, nd := range tc.nodes {
		v, err := quickDo(nd.Addr, "DBSIZE")
		if err != nil || v.Kind != respclient.KindInt {
			t.Fatalf("DBSIZE on %s = %s, %v", nd.Addr, v, err)
		}
		keys += int(v.Int)
	}
	m.stable(tc, "SCAN/KEYS/DBSIZE after the leader changes", 60*time.Second, fanOut(keys))

	// A group's leadership moves to the leader of another group, the
	// clients read the group's keys (MOVED), and the preferred leader
	// takes the group back: the fan-out must still meet every group
	// (redis-py dropped the other group's leader from its primaries when
	// CLUSTER SLOTS listed the preferred leader as a replica meanwhile).
	groups, err := queryGroups(tc.nodes[0].Addr)
	if err != nil || len(groups) < 2 {
		t.Fatalf("SHOAL GROUPS: %+v, %v", groups, err)
	}
	x, y := groups[0], groups[1]
	ids := map[string]int{}
	for i, nd := range tc.nodes {
		v, err := quickDo(nd.Addr, "CLUSTER", "MYID")
		if err != nil {
			t.Fatal(err)
		}
		ids[v.Str] = i
	}
	if v, err := quickDo(tc.nodes[ids[x.Leader]].Addr, "SHOAL", "LEADER-TRANSFER", x.ID, y.Leader); err != nil || v.Str != "OK" {
		t.Fatalf("SHOAL LEADER-TRANSFER %s %s = %s, %v", x.ID, y.Leader, v, err)
	}
	var xKeys []string
	for _, k := range fanKeys("x") {
		for _, r := range x.Slots {
			if s := shard.Slot(k); r[0] <= s && s <= r[1] {
				xKeys = append(xKeys, strings.TrimSuffix(k, "x"))
			}
		}
	}
	testutil.Eventually(t, 5*time.Second, x.ID+" led by "+y.ID+"'s leader", func() error {
		gs, err := queryGroups(tc.nodes[0].Addr)
		if g, _ := groupByID(gs, x.ID); err != nil || g.Leader != y.Leader {
			return fmt.Errorf("%s led by %q, %v", x.ID, g.Leader, err)
		}
		return nil
	})
	for _, c := range m.clients {
		keys := make([]string, len(xKeys))
		for i, k := range xKeys {
			keys[i] = k + c.Name()
		}
		var touch struct{ Errors int }
		if err := call(context.Background(), c, matrixReq{Op: "touch", Keys: keys}, &touch); err != nil {
			t.Errorf("%s: reading %s's keys while another group's leader leads it: %v", c.Name(), x.ID, err)
		}
	}
	tc.WaitBalanced(30 * time.Second)
	m.stable(tc, "SCAN/KEYS/DBSIZE after a hand-back", 60*time.Second, fanOut(keys))
}

// writeAll writes every key of keys (its own name as its value) through a
// go-redis ClusterClient, pipelined, retrying what failed (an election).
func writeAll(t *testing.T, tc *testCluster, keys iter.Seq[string]) {
	t.Helper()
	c := tc.clusterClient(nil)
	ctx := context.Background()
	pending := slices.Collect(keys)
	testutil.Eventually(t, 60*time.Second, "writing the fan-out keys", func() error {
		var failed []string
		var first error
		for batch := range slices.Chunk(pending, 2000) {
			cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range batch {
					p.Set(ctx, k, k, 0)
				}
				return nil
			})
			for i, cmd := range cmds {
				if err := cmd.Err(); err != nil {
					failed = append(failed, batch[i])
					first = cmp.Or(first, err)
				}
			}
		}
		if pending = failed; len(failed) > 0 {
			return fmt.Errorf("%d writes failed, first: %v", len(failed), first)
		}
		return nil
	})
}

// topoState returns each group's leader (from SHOAL GROUPS) and highest
// Raft term (from every node's INFO raft): it changes with every election
// and leadership transfer.
func topoState(t *testing.T, tc *testCluster) string {
	t.Helper()
	var b strings.Builder
	for _, nd := range tc.nodes {
		if gs, err := queryGroups(nd.Addr); err == nil {
			for _, g := range gs {
				b.WriteString(g.ID + ":" + g.Leader[:min(8, len(g.Leader))] + " ")
			}
			break
		}
	}
	terms := map[string]string{}
	for _, nd := range tc.nodes {
		v, err := quickDo(nd.Addr, "INFO", "raft")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(v.Str, "\r\n") {
			id, rest, ok := strings.Cut(strings.TrimPrefix(line, "group_"), ":state=")
			if !ok || !strings.HasPrefix(line, "group_") {
				continue
			}
			for _, f := range strings.Split(rest, ",") {
				if term, ok := strings.CutPrefix(f, "term="); ok && (len(term) > len(terms[id]) || (len(term) == len(terms[id]) && term > terms[id])) {
					terms[id] = term
				}
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(terms)) {
		b.WriteString(id + "@" + terms[id] + " ")
	}
	return strings.TrimSpace(b.String())
}

// rw runs the rw op and checks that it succeeded; it logs how long the
// client took and what it met on the way.
func rw(ctx context.Context, t *testing.T, c matrixClient, what, key, value string) error {
	var r struct {
		OK       bool     `json:"ok"`
		Attempts int      `json:"attempts"`
		Errors   []string `json:"errors"`
		MS       int64    `json:"ms"`
	}
	if err := call(ctx, c, matrixReq{Op: "rw", Key: key, Value: value, TimeoutMS: 20000}, &r); err != nil {
		return err
	}
	t.Logf("%s: %s: SET+GET %s: ok=%v after %d attempts, %d ms; errors seen: %q", c.Name(), what, key, r.OK, r.Attempts, r.MS, r.Errors)
	if !r.OK {
		return fmt.Errorf("%s: SET+GET %s still failing after %d attempts in %d ms: %q", what, key, r.Attempts, r.MS, r.Errors)
	}
	return nil
}

// matrixFailover: every client works on a key of one group; the group's
// leader is killed (SIGKILL) and later restarted, then its leadership is
// transferred; each client must go on with the same client object.
func matrixFailover(t *testing.T, tc *testCluster, m *matrix) {
	t.Helper()
	const tag = "{failover}"
	key := func(c matrixClient) string { return tag + c.Name() }
	m.run("before the kill", 30*time.Second, func(ctx context.Context, c matrixClient) error {
		return rw(ctx, t, c, "before the kill", key(c), "1")
	})
	victim := tc.leaderOf(t, tag+"probe", "x")
	t.Logf("SIGKILL node %d (%s), the leader of slot %d", victim, tc.nodes[victim].Addr, shard.Slot(tag))
	tc.nodes[victim].Kill()
	m.run("leader kill", 40*time.Second, func(ctx context.Context, c matrixClient) error {
		return rw(ctx, t, c, "after the kill", key(c), "2")
	})
	tc.nodes[victim].Restart()
	tc.WaitOK(30 * time.Second)
	m.run("node back", 40*time.Second, func(ctx context.Context, c matrixClient) error {
		return rw(ctx, t, c, "after the restart", key(c), "3")
	})

	// The group of the key, its leader, and a transfer to another member.
	slot := shard.Slot(tag)
	groups, err := queryGroups(tc.nodes[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	var g shoalGroup
	for _, gr := range groups {
		for _, r := range gr.Slots {
			if r[0] <= slot && slot <= r[1] {
				g = gr
			}
		}
	}
	leader := -1
	for i, nd := range tc.nodes {
		if v, err := quickDo(nd.Addr, "CLUSTER", "MYID"); err == nil && v.Str == g.Leader {
			leader = i
		}
	}
	if leader < 0 {
		t.Fatalf("no node has the id of %s's leader %q", g.ID, g.Leader)
	}
	v, err := quickDo(tc.nodes[leader].Addr, "SHOAL", "LEADER-TRANSFER", g.ID)
	if err != nil || v.Kind != respclient.KindSimple || v.Str != "OK" {
		t.Fatalf("SHOAL LEADER-TRANSFER %s on its leader %s = %s, %v", g.ID, tc.nodes[leader].Addr, v, err)
	}
	testutil.Eventually(t, 5*time.Second, "a new leader of "+g.ID, func() error {
		gs, err := queryGroups(tc.nodes[leader].Addr)
		if now, _ := groupByID(gs, g.ID); err != nil || now.Leader == g.Leader || now.Leader == "" {
			return fmt.Errorf("%s led by %q, %v", g.ID, now.Leader, err)
		}
		return nil
	})
	m.run("leader transfer", 40*time.Second, func(ctx context.Context, c matrixClient) error {
		return rw(ctx, t, c, "after the transfer", key(c), "4")
	})
}

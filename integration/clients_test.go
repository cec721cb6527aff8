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
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
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
		// DisableCache: rueidis turns on client-side caching (CLIENT
		// TRACKING) by default, which Shoal does not have yet.
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
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

// splitsMultiKey are the clients that split a multi-key command by slot
// themselves: phpredis's RedisCluster sends one MSET/MGET/DEL per slot.
var splitsMultiKey = map[string]bool{"phpredis": true}

// knownClientBugs are failures of a client library itself, which it shows
// against Redis Cluster too: the phase's cell reads "client bug" instead of
// failing the test when the client's error contains sig. Any other failure
// fails the test.
var knownClientBugs = []struct {
	client string
	phases []string
	sig    string
	why    string
}{
	{"redis-py", []string{"leader kill", "node back", "leader transfer"}, "cannot pickle '_thread.lock' object",
		"redis-py 4.3.4 (Debian 12): after 5 connection errors to a node, RedisCluster sets that node's " +
			"redis_connection to None and calls NodesManager.initialize, which deep-copies connection_kwargs " +
			"for it; they hold the bound method redis_connect_func, whose RedisCluster has locks, so the copy " +
			"raises; the node stays in startup_nodes, so every later command fails the same way " +
			"(redis/cluster.py lines 1097-1104 and 1450; the traceback of redis/redis-py#2480)"},
	{"phpredis", []string{"SCAN/KEYS/DBSIZE after the leader changes", "SCAN/KEYS/DBSIZE after a hand-back"},
		"KEYS on the primaries: ",
		"phpredis 5.3.7's RedisCluster::keys sends KEYS to each known master by routing a slot that master " +
			"served when phpredis mapped the cluster (node->slot through c->master[], redis_cluster.c); after " +
			"a leadership moved and phpredis followed MOVED for single slots, such a slot belongs to another " +
			"node, which then answers twice while a master is never asked (SCAN and DBSIZE with an explicit " +
			"node are right)"},
	{"node-redis", []string{"leader kill"}, "no reply within",
		"node-redis 5 queues the commands for a node it cannot reach while that node's client reconnects " +
			"(forever by default) and reloads its slot map only on MOVED and ASK " +
			"(@redis/client/dist/lib/cluster/index.js, cluster-slots.js rediscover): until the killed node " +
			"is back (and answers MOVED) its commands hang"},
}

// knownBug returns why the failure err of client in phase is a known client
// bug, or "": every one of the failures err lists ("; "-separated) must
// show the bug's signature.
func knownBug(client, phase string, err error) string {
	for _, b := range knownClientBugs {
		if b.client != client || !slices.Contains(b.phases, phase) {
			continue
		}
		all := true
		for _, part := range strings.Split(err.Error(), "; ") {
			all = all && strings.Contains(part, b.sig)
		}
		if all {
			return b.why
		}
	}
	return ""
}

// matrix runs the phases over the clients and records what passed.
type matrix struct {
	t       *testing.T
	clients []matrixClient
	phases  []string
	mu      sync.Mutex
	cells   map[string]map[string]string // client, phase: pass, FAIL, n/a
}

// errNA marks a phase the client cannot run (it has no such API).
type errNA struct{ why string }

func (e errNA) Error() string { return e.why }

// run calls check for every client at once, each bounded by timeout, and
// records the outcome: a client whose check returns an error fails the
// test with it.
func (m *matrix) run(phase string, timeout time.Duration, check func(ctx context.Context, c matrixClient) error) {
	m.t.Helper()
	m.record(phase, m.try(phase, timeout, check))
}

// try calls check for every client at once and returns each one's error.
func (m *matrix) try(phase string, timeout time.Duration, check func(ctx context.Context, c matrixClient) error) map[string]error {
	start := time.Now()
	errs := make(map[string]error)
	var wg sync.WaitGroup
	for _, c := range m.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			err := check(ctx, c)
			m.mu.Lock()
			errs[c.Name()] = err
			m.mu.Unlock()
		}()
	}
	wg.Wait()
	m.t.Logf("phase %q done in %v", phase, time.Since(start).Round(time.Millisecond))
	return errs
}

// stable runs a heavy phase one client at a time (all at once, they load
// two cores enough to starve Raft heartbeats into elections) on a
// balanced cluster, and judges it on a cluster whose groups kept their
// leaders throughout: when a group's leader or term changed during the
// run (an election on a loaded machine: clients that do not retry
// CLUSTERDOWN report errors, and a client's view may be stale), the
// clients that failed run it again, up to 3 times in all. Elections
// themselves are the failover phases' subject.
func (m *matrix) stable(tc *testCluster, phase string, timeout time.Duration, check func(ctx context.Context, c matrixClient) error) {
	m.t.Helper()
	final := make(map[string]error)
	pending := m.clients
	for try := 1; ; try++ {
		tc.WaitBalanced(30 * time.Second)
		before := topoState(m.t, tc)
		start := time.Now()
		var failed []matrixClient
		for _, c := range pending {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := check(ctx, c)
			cancel()
			if final[c.Name()] = err; err != nil {
				failed = append(failed, c)
			}
		}
		m.t.Logf("phase %q (try %d) done in %v", phase, try, time.Since(start).Round(time.Millisecond))
		after := topoState(m.t, tc)
		if len(failed) == 0 || after == before || try == 3 {
			m.record(phase, final)
			return
		}
		for _, c := range failed {
			m.t.Logf("%s: %s: failed while leaderships moved (%s, then %s), runs again: %v", c.Name(), phase, before, after, final[c.Name()])
		}
		pending = failed
	}
}

// record notes each client's outcome of phase.
func (m *matrix) record(phase string, errs map[string]error) {
	m.t.Helper()
	m.phases = append(m.phases, phase)
	for _, c := range m.clients {
		err := errs[c.Name()]
		cell := "pass"
		var na errNA
		switch {
		case err == nil:
		case errors.As(err, &na):
			cell = "n/a"
			m.t.Logf("%s: %s: not run: %s", c.Name(), phase, na.why)
		case knownBug(c.Name(), phase, err) != "":
			cell = "client bug"
			m.t.Logf("%s %s: %s: known client bug: %v; why: %s", c.Name(), c.Version(), phase, err, knownBug(c.Name(), phase, err))
		default:
			cell = "FAIL"
			m.t.Errorf("%s %s: %s: %v", c.Name(), c.Version(), phase, err)
		}
		m.cells[c.Name()][phase] = cell
	}
}

// summary logs the matrix: a row per client, a column per phase.
func (m *matrix) summary() {
	var b strings.Builder
	b.WriteString("client matrix:\n| client | version | " + strings.Join(m.phases, " | ") + " |\n")
	for _, c := range m.clients {
		b.WriteString("| " + c.Name() + " | " + c.Version() + " |")
		for _, p := range m.phases {
			b.WriteString(" " + m.cells[c.Name()][p] + " |")
		}
		b.WriteString("\n")
	}
	m.t.Log(b.String())
}

// call sends req and decodes the reply into out.
func call(ctx context.Context, c matrixClient, req matrixReq, out any) error {
	raw, err := c.Do(ctx, req)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("reply to %s: %v: %.300s", req.Op, err, raw)
	}
	return nil
}

// same checks that a reply equals want, written as JSON.
func same(what string, got json.RawMessage, want string) error {
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return fmt.Errorf("%s: reply %.200s: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		panic(err)
	}
	if !reflect.DeepEqual(g, w) {
		return fmt.Errorf("%s = %.300s, want %s", what, got, want)
	}
	return nil
}

// replyErr returns the error text of an encoded error reply.
func replyErr(r json.RawMessage) (string, bool) { return tagged(r, "err") }

// unsupported returns the reason of an {"unsupported": why} reply.
func unsupported(r json.RawMessage) (string, bool) { return tagged(r, "unsupported") }

// tagged returns the text of a {tag: text} reply.
func tagged(r json.RawMessage, tag string) (string, bool) {
	var m map[string]json.RawMessage
	var text string
	if json.Unmarshal(r, &m) != nil || m[tag] == nil || json.Unmarshal(m[tag], &text) != nil {
		return "", false
	}
	return text, true
}

// intIn checks that r is an integer in [lo, hi].
func intIn(what string, r json.RawMessage, lo, hi int64) error {
	n, err := strconv.ParseInt(string(r), 10, 64)
	if err != nil || n < lo || n > hi {
		return fmt.Errorf("%s = %.200s, want an integer in [%d, %d]", what, r, lo, hi)
	}
	return nil
}

// keysOnce checks that got lists every key of want exactly once, and
// nothing else.
func keysOnce(what string, r json.RawMessage, want []string) error {
	if e, ok := replyErr(r); ok {
		return fmt.Errorf("%s: %s", what, e)
	}
	var got []string
	if err := json.Unmarshal(r, &got); err != nil {
		return fmt.Errorf("%s: %.200s: %v", what, r, err)
	}
	seen := make(map[string]int, len(got))
	for _, k := range got {
		seen[k]++
	}
	var missing, dup, extra []string
	for _, k := range want {
		switch seen[k] {
		case 0:
			missing = append(missing, k)
		case 1:
		default:
			dup = append(dup, fmt.Sprintf("%s x%d", k, seen[k]))
		}
		delete(seen, k)
	}
	for k := range seen {
		extra = append(extra, k)
	}
	if len(missing)+len(dup)+len(extra) > 0 {
		return fmt.Errorf("%s: %d keys for %d, %d missing %v, %d more than once %v, %d foreign %v",
			what, len(got), len(want), len(missing), head(missing), len(dup), head(dup), len(extra), head(extra))
	}
	return nil
}

// head returns the first few of ss, for messages.
func head(ss []string) []string {
	sort.Strings(ss)
	return ss[:min(len(ss), 5)]
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

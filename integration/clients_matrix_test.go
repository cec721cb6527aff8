package integration

// The client matrix's runner (clients_test.go): phases run for every
// client, their outcomes recorded as a table, the known client bugs, and
// the checks made on the clients' JSON replies.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

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

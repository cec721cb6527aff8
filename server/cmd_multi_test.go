package server

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// txServer serves a standalone Server over a one-replica in-memory Raft
// group (a real FSM: transactions are Transaction entries) and returns
// its address and the group.
func txServer(t *testing.T) (string, *groupT) {
	t.Helper()
	gs := startInmemGroups(t, 1)
	waitReady(t, gs[0])
	_, addr := introServer(t, gs[0], nil)
	return addr, &groupT{gs[0].AppliedIndex}
}

type groupT struct{ applied func() uint64 }

// TestMultiOneEntry: a transaction that mixes reads and writes is one log
// entry, and its replies are those of one point in the log.
func TestMultiOneEntry(t *testing.T) {
	addr, g := txServer(t)
	a := dialRaw(t, addr)
	a.do("SET", "a", "1")
	a.do("MULTI")
	for _, c := range [][]string{{"INCR", "a"}, {"GET", "a"}, {"SET", "b", "x"}, {"PING"}, {"MGET", "a", "b"}} {
		if got := a.do(c...); got != "+QUEUED\r\n" {
			t.Fatalf("%v in MULTI = %q", c, got)
		}
	}
	before := g.applied()
	want := "*5\r\n:2\r\n$1\r\n2\r\n+OK\r\n+PONG\r\n*2\r\n$1\r\n2\r\n$1\r\nx\r\n"
	if got := a.do("EXEC"); got != want {
		t.Fatalf("EXEC = %q, want %q", got, want)
	}
	if n := g.applied() - before; n != 1 {
		t.Errorf("the transaction took %d log entries, want 1", n)
	}
	if got := a.do("EXEC"); got != "-"+errExecNoMulti+"\r\n" {
		t.Errorf("EXEC again = %q", got)
	}
}

// TestMultiErrors: queued errors abort at EXEC; runtime errors are
// replies inside EXEC's array and the other commands run.
func TestMultiErrors(t *testing.T) {
	addr, _ := txServer(t)
	a := dialRaw(t, addr)
	a.do("MULTI")
	a.do("SET", "k", "v")
	if got := a.do("NOSUCH"); got[0] != '-' {
		t.Fatalf("unknown command in MULTI = %q", got)
	}
	if got := a.do("GET"); got != "-ERR wrong number of arguments for 'get' command\r\n" {
		t.Fatalf("GET without key in MULTI = %q", got)
	}
	if got := a.do("EXEC"); got != "-"+errExecAbort+"\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	if got := a.do("EXISTS", "k"); got != ":0\r\n" {
		t.Errorf("the aborted transaction ran: EXISTS k = %q", got)
	}
	a.do("MULTI")
	if got := a.do("MULTI"); got != "-"+errMultiNested+"\r\n" {
		t.Errorf("nested MULTI = %q", got)
	}
	if got := a.do("WATCH", "x"); got != "-"+errWatchInMulti+"\r\n" {
		t.Errorf("WATCH in MULTI = %q", got)
	}
	a.do("SET", "k", "v")
	a.do("INCR", "k")
	a.do("SET", "n", "1")
	want := "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n"
	if got := a.do("EXEC"); got != want {
		t.Errorf("EXEC = %q, want %q", got, want)
	}
	if got := a.do("DISCARD"); got != "-"+errDiscardNo+"\r\n" {
		t.Errorf("DISCARD = %q", got)
	}
}

// TestWatch: EXEC aborts (null array) when a watched key changed after
// WATCH, by another connection or by this one; UNWATCH, DISCARD and EXEC
// forget the watch.
func TestWatch(t *testing.T) {
	addr, _ := txServer(t)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	run := func(c *rawConn, cmds ...[]string) string {
		t.Helper()
		c.do("MULTI")
		for _, cmd := range cmds {
			c.do(cmd...)
		}
		return c.do("EXEC")
	}
	set := []string{"SET", "k", "mine"}
	a.do("SET", "k", "0")

	a.do("WATCH", "k")
	b.do("SET", "k", "other")
	if got := run(a, set); got != "*-1\r\n" {
		t.Errorf("EXEC after another connection's SET = %q, want *-1", got)
	}
	if got := a.do("GET", "k"); got != "$5\r\nother\r\n" {
		t.Errorf("k = %q after the aborted transaction", got)
	}
	if got := run(a, set); got != "*1\r\n+OK\r\n" {
		t.Errorf("EXEC (the watch ended with the last EXEC) = %q", got)
	}

	a.do("WATCH", "k")
	a.do("DEL", "k")
	if got := run(a, set); got != "*-1\r\n" {
		t.Errorf("EXEC after this connection's own DEL = %q", got)
	}

	a.do("WATCH", "k")
	b.do("SET", "other", "1") // another key: no abort
	if got := run(a, set); got != "*1\r\n+OK\r\n" {
		t.Errorf("EXEC after a change of another key = %q", got)
	}

	a.do("WATCH", "k")
	b.do("SET", "k", "x")
	a.do("UNWATCH")
	if got := run(a, set); got != "*1\r\n+OK\r\n" {
		t.Errorf("EXEC after UNWATCH = %q", got)
	}

	a.do("WATCH", "k")
	a.do("MULTI")
	a.do("DISCARD")
	b.do("SET", "k", "x")
	if got := run(a, set); got != "*1\r\n+OK\r\n" {
		t.Errorf("EXEC after DISCARD = %q", got)
	}

	a.do("WATCH", "missing")
	b.do("SET", "missing", "now")
	if got := run(a, set); got != "*-1\r\n" {
		t.Errorf("EXEC after a watched missing key was created = %q", got)
	}

	a.do("WATCH", "gone")
	b.do("FLUSHALL") // the key did not exist: no change, as Redis 7.0
	if got := run(a, set); got != "*1\r\n+OK\r\n" {
		t.Errorf("EXEC after FLUSHALL of a missing watched key = %q", got)
	}
	a.do("WATCH", "k")
	b.do("FLUSHALL")
	if got := run(a, set); got != "*-1\r\n" {
		t.Errorf("EXEC after FLUSHALL of a watched key = %q", got)
	}

	a.do("WATCH", "k")
	if got := a.do("EXEC"); got != "-"+errExecNoMulti+"\r\n" {
		t.Errorf("EXEC without MULTI = %q", got)
	}
	b.do("SET", "k", "y") // the watch survives EXEC without MULTI
	if got := run(a, set); got != "*-1\r\n" {
		t.Errorf("EXEC after EXEC without MULTI and a change = %q", got)
	}

	// RESP3: the null is _.
	c := resp3(t, addr)
	c.do("WATCH", "k")
	b.do("SET", "k", "z")
	if got := run(c, set); got != "_\r\n" {
		t.Errorf("RESP3 EXEC of an aborted transaction = %q", got)
	}
	// An empty transaction with a watch.
	c.do("WATCH", "k")
	if got := run(c); got != "*0\r\n" {
		t.Errorf("empty EXEC = %q", got)
	}
}

// TestWatchExpire: a watched key that expires after WATCH aborts EXEC; one
// already expired at WATCH does not (Redis 7.0).
func TestWatchExpire(t *testing.T) {
	addr, _ := txServer(t)
	a := dialRaw(t, addr)
	a.do("SET", "k", "v", "PX", "30")
	a.do("WATCH", "k")
	testutil.Until(t, 5*time.Second, "k expired", func() bool { return a.do("PTTL", "k") == ":-2\r\n" })
	a.do("MULTI")
	a.do("SET", "x", "1")
	if got := a.do("EXEC"); got != "*-1\r\n" {
		t.Errorf("EXEC after the watched key expired = %q, want *-1", got)
	}
	a.do("WATCH", "k") // expired (or gone) already
	a.do("MULTI")
	a.do("SET", "x", "1")
	if got := a.do("EXEC"); got != "*1\r\n+OK\r\n" {
		t.Errorf("EXEC of a key watched once expired = %q", got)
	}
}

// TestMultiSelect: SELECT inside MULTI switches the database of the
// commands after it, and of the connection once EXEC ran.
func TestMultiSelect(t *testing.T) {
	addr, _ := txServer(t)
	a := dialRaw(t, addr)
	a.do("MULTI")
	a.do("SET", "k", "db0")
	a.do("SELECT", "3")
	a.do("SET", "k", "db3")
	a.do("GET", "k")
	if got := a.do("EXEC"); got != "*4\r\n+OK\r\n+OK\r\n+OK\r\n$3\r\ndb3\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	if got := a.do("GET", "k"); got != "$3\r\ndb3\r\n" {
		t.Errorf("GET k after EXEC (database 3) = %q", got)
	}
	a.do("SELECT", "0")
	if got := a.do("GET", "k"); got != "$3\r\ndb0\r\n" {
		t.Errorf("GET k in database 0 = %q", got)
	}
}

// TestMultiTracking: writes inside a transaction invalidate what tracking
// clients read, and a transaction's reads are tracked (here through the
// FSM path, as the transaction also writes).
func TestMultiTracking(t *testing.T) {
	addr, _ := txServer(t)
	a, b := resp3(t, addr), dialRaw(t, addr)
	if got := a.do("CLIENT", "TRACKING", "on"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	a.do("GET", "k")
	b.do("MULTI")
	b.do("SET", "k", "1")
	b.do("SET", "other", "1")
	b.do("EXEC")
	a.want(invalidation("k"))
	a.quiet()

	a.do("MULTI")
	a.do("GET", "t")
	a.do("SET", "w", "1")
	if got := a.do("EXEC"); got != "*2\r\n_\r\n+OK\r\n" {
		t.Fatalf("EXEC = %q", got)
	}
	b.do("SET", "t", "x")
	a.want(invalidation("t"))
	a.quiet()
}

// TestTxReplicasAgree: transactions with WATCH from two clients, aborted
// or not, leave every replica of a 3-replica Raft group with the same
// data (each replica's FSM decides the aborts itself).
func TestTxReplicasAgree(t *testing.T) {
	gs := startInmemGroups(t, 3)
	waitReady(t, gs[0])
	_, addr := introServer(t, gs[0], nil)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	aborted, ran := 0, 0
	for i := range 60 {
		key := "k" + strconv.Itoa(i%3)
		a.do("WATCH", key, "other")
		a.do("GET", key)
		if i%2 == 0 {
			b.do("INCR", key) // aborts a's transaction
		}
		if i%5 == 0 {
			b.do("SET", "unrelated"+strconv.Itoa(i), "x")
		}
		a.do("MULTI")
		a.do("INCR", key)
		a.do("GET", key)
		a.do("SET", "last", strconv.Itoa(i))
		switch got := a.do("EXEC"); {
		case got == "*-1\r\n":
			aborted++
		case strings.HasPrefix(got, "*3\r\n"):
			ran++
		default:
			t.Fatalf("EXEC = %q", got)
		}
	}
	if aborted != 30 || ran != 30 {
		t.Errorf("%d aborted, %d ran; want 30 and 30", aborted, ran)
	}
	testutil.Until(t, 10*time.Second, "replicas caught up", func() bool {
		return gs[1].AppliedIndex() == gs[0].AppliedIndex() && gs[2].AppliedIndex() == gs[0].AppliedIndex()
	})
	want := dumpStore(gs[0].Store())
	for i, g := range gs[1:] {
		if got := dumpStore(g.Store()); got != want {
			t.Errorf("replica %d differs from the leader:\n%s\nleader:\n%s", i+1, got, want)
		}
	}
}

// dumpStore renders every key and value of database 0 of st, sorted.
func dumpStore(st *shard.Store) string {
	st.RLock()
	defer st.RUnlock()
	var lines []string
	for slot := range shard.NumSlots {
		st.RangeSlot(slot, func(k string, e *shard.Entry) bool {
			lines = append(lines, k+"="+string(e.Value))
			return true
		})
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestMultiBlocking: blocking commands inside MULTI never block (Redis
// 7.0): they run as their non-blocking form inside the transaction's one
// log entry, in the blocking command's reply shape, their argument errors
// in place; every replica applies the pops.
func TestMultiBlocking(t *testing.T) {
	gs := startInmemGroups(t, 3)
	waitReady(t, gs[0])
	_, addr := introServer(t, gs[0], nil)
	a := dialRaw(t, addr)
	a.do("RPUSH", "l", "a", "b")
	a.do("ZADD", "z", "1", "m")
	a.do("MULTI")
	for _, c := range [][]string{
		{"BLPOP", "nokey", "l", "0"},
		{"BZPOPMIN", "z", "0"},
		{"BLMOVE", "nokey", "l", "LEFT", "LEFT", "0"},
		{"BLMPOP", "0", "1", "nokey", "LEFT"},
		{"BLPOP", "l", "x"},
		{"BRPOPLPUSH", "l", "l2", "0"},
	} {
		if got := a.do(c...); got != "+QUEUED\r\n" {
			t.Fatalf("%v in MULTI = %q", c, got)
		}
	}
	before := gs[0].AppliedIndex()
	want := "*6\r\n*2\r\n$1\r\nl\r\n$1\r\na\r\n*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n$-1\r\n*-1\r\n" +
		"-" + errTimeoutFloat + "\r\n$1\r\nb\r\n"
	if got := a.do("EXEC"); got != want {
		t.Fatalf("EXEC = %q, want %q", got, want)
	}
	if n := gs[0].AppliedIndex() - before; n != 1 {
		t.Errorf("the transaction took %d log entries, want 1", n)
	}
	testutil.Until(t, 10*time.Second, "replicas caught up", func() bool {
		return gs[1].AppliedIndex() == gs[0].AppliedIndex() && gs[2].AppliedIndex() == gs[0].AppliedIndex()
	})
	for i, g := range gs {
		if got := dumpStore(g.Store()); got != "l2=" {
			t.Errorf("replica %d holds %q, want only l2", i, got)
		}
	}
}

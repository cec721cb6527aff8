package server

import (
	"strings"
	"testing"
)

// TestSelectPipeline: after SELECT, a connection's reads, writes and
// key-space commands act on its database; writes queued before a SELECT
// are proposed in the database they were sent in.
func TestSelectPipeline(t *testing.T) {
	g := newFakeGroup(t)
	addr := startFakeServer(t, SingleRouter{Group: g})
	got := pipeline(t, addr,
		"SET k zero", "SELECT 2", "GET k", "SET k two", "GET k", "DBSIZE",
		"SELECT 4", "SET a 4", "SET b 4", "SELECT 5", "SET a 5", "SELECT 0", "GET k", "DBSIZE",
		"MOVE k 9", "SWAPDB 9 2", "SELECT 2", "GET k", "FLUSHDB", "DBSIZE", "SELECT 9", "GET k")
	want := []string{"+OK\r\n", "+OK\r\n", "$-1\r\n", "+OK\r\n", "$3\r\ntwo\r\n", ":1\r\n",
		"+OK\r\n", "+OK\r\n", "+OK\r\n", "+OK\r\n", "+OK\r\n", "+OK\r\n", "$4\r\nzero\r\n", ":1\r\n",
		":1\r\n", "+OK\r\n", "+OK\r\n", "$4\r\nzero\r\n", "+OK\r\n", ":0\r\n", "+OK\r\n", "$3\r\ntwo\r\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies\n got %q\nwant %q", got, want)
	}
	st := g.st
	st.RLock()
	defer st.RUnlock()
	for _, c := range []struct {
		db   int
		keys int64
	}{{0, 0}, {2, 0}, {4, 2}, {5, 1}, {9, 1}} {
		if n := st.DB(c.db).Len(); n != c.keys {
			t.Errorf("database %d has %d keys, want %d", c.db, n, c.keys)
		}
	}
	if e := st.DB(5).Peek([]byte("a")); e == nil || string(e.Value) != "5" {
		t.Errorf("database 5: a = %v, want 5", e)
	}
}

// clusterSingleRouter routes every slot to one local group, in cluster
// mode.
type clusterSingleRouter struct{ SingleRouter }

func (clusterSingleRouter) ClusterEnabled() bool { return true }

// TestCrossDBCommandsInClusterMode: in cluster mode MOVE, SWAPDB and COPY
// into another database get Redis Cluster's replies, after routing as in
// Redis Cluster (a slot not served here answers first); COPY within
// database 0 runs.
func TestCrossDBCommandsInClusterMode(t *testing.T) {
	g := newFakeGroup(t)
	addr := startFakeServer(t, clusterSingleRouter{SingleRouter{Group: g}})
	got := pipeline(t, addr, "SET {t}a v", "MOVE {t}a 1", "SWAPDB 0 1", "COPY {t}a {t}b DB 1", "COPY {t}a {t}b DB x",
		"COPY a b DB 1", "COPY {t}a {t}b DB 0", "SELECT 1", "GET {t}b")
	want := []string{
		"+OK\r\n",
		"-ERR MOVE is not allowed in cluster mode\r\n",
		"-ERR SWAPDB is not allowed in cluster mode\r\n",
		"-ERR Copying to another database is not allowed in cluster mode\r\n",
		"-ERR value is not an integer or out of range\r\n",
		"-CROSSSLOT Keys in request don't hash to the same slot\r\n",
		":1\r\n",
		"-ERR SELECT is not allowed in cluster mode\r\n",
		"$1\r\nv\r\n",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies\n got %q\nwant %q", got, want)
	}
	addr = startFakeServer(t, connTestRouter{cluster: true})
	if got := pipeline(t, addr, "MOVE k 1"); got[0] != "-CLUSTERDOWN Hash slot not served\r\n" {
		t.Errorf("MOVE of an unserved slot = %q, want CLUSTERDOWN (routing first)", got[0])
	}
	g.st.RLock()
	defer g.st.RUnlock()
	if n := g.st.TotalLen(); n != 2 {
		t.Errorf("%d keys in all databases, want 2 (database 0 only)", n)
	}
}

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

// TestCrossDBCommandsInClusterMode: in cluster mode MOVE, SWAPDB and COPY
// into another database get Redis Cluster's replies before any routing;
// COPY within database 0 is routed as usual.
func TestCrossDBCommandsInClusterMode(t *testing.T) {
	addr := startFakeServer(t, connTestRouter{cluster: true})
	got := pipeline(t, addr, "MOVE k 1", "SWAPDB 0 1", "COPY a b DB 1", "COPY a b DB x", "COPY {t}a {t}b DB 0", "SELECT 1")
	want := []string{
		"-ERR MOVE is not allowed in cluster mode\r\n",
		"-ERR SWAPDB is not allowed in cluster mode\r\n",
		"-ERR DB index is out of range\r\n",
		"-ERR value is not an integer or out of range\r\n",
		"-CLUSTERDOWN Hash slot not served\r\n",
		"-ERR SELECT is not allowed in cluster mode\r\n",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies\n got %q\nwant %q", got, want)
	}
}

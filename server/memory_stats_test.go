package server

import (
	"strconv"
	"strings"
	"testing"
)

// TestMemoryStats: MEMORY STATS counts the keys of every database, its
// dataset grows with the values written, and MEMORY DOCTOR stops calling
// the node empty once it holds more than 5 MB (Redis's threshold).
func TestMemoryStats(t *testing.T) {
	g := newFakeGroup(t)
	addr := startFakeServer(t, SingleRouter{Group: g})
	c := dialRaw(t, addr)
	stats := func() map[string]string {
		t.Helper()
		v := c.val("MEMORY", "STATS")
		out := map[string]string{}
		for i := 0; i+1 < len(v.Array); i += 2 {
			k := v.Array[i].Str
			if e := v.Array[i+1]; len(e.Array) > 0 {
				for j := 0; j+1 < len(e.Array); j += 2 {
					out[k+"/"+e.Array[j].Str] = strconv.FormatInt(e.Array[j+1].Int, 10)
				}
			} else if e.Str != "" {
				out[k] = e.Str
			} else {
				out[k] = strconv.FormatInt(e.Int, 10)
			}
		}
		return out
	}
	num := func(m map[string]string, k string) int64 {
		t.Helper()
		n, err := strconv.ParseInt(m[k], 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", k, m[k], err)
		}
		return n
	}
	if d := c.do("MEMORY", "DOCTOR"); !strings.Contains(d, "this instance is empty") {
		t.Fatalf("DOCTOR on an empty node = %q", d)
	}
	val := strings.Repeat("v", 10_000)
	for i := range 1000 {
		c.do("SET", "k"+strconv.Itoa(i), val)
	}
	c.do("SELECT", "3")
	for i := range 10 {
		c.do("SET", "k"+strconv.Itoa(i), "x", "EX", "100")
	}
	m := stats()
	if n := num(m, "keys.count"); n != 1010 {
		t.Errorf("keys.count = %d, want 1010", n)
	}
	if n := num(m, "db.3/overhead.hashtable.expires"); n <= 0 {
		t.Errorf("db.3 expires overhead = %d, want > 0 (10 keys with a TTL)", n)
	}
	if n := num(m, "db.0/overhead.hashtable.expires"); n != 0 {
		t.Errorf("db.0 expires overhead = %d, want 0", n)
	}
	if n := num(m, "dataset.bytes"); n < 1000*10_000 {
		t.Errorf("dataset.bytes = %d, want at least the 10 MB of values", n)
	}
	if tot, st := num(m, "total.allocated"), num(m, "startup.allocated"); tot <= st || num(m, "peak.allocated") < tot {
		t.Errorf("total %d, startup %d, peak %s: want startup < total <= peak", tot, st, m["peak.allocated"])
	}
	if n := num(m, "clients.normal"); n <= 0 {
		t.Errorf("clients.normal = %d, want the connection's buffers", n)
	}
	if d := c.do("MEMORY", "DOCTOR"); strings.Contains(d, "this instance is empty") {
		t.Errorf("DOCTOR with 10 MB of data still says empty: %q", d)
	}
}

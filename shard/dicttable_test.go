package shard

import (
	"strconv"
	"testing"
)

// TestDictBuckets follows Redis 7.0's dict sizing (dict.c, t_set.c,
// t_hash.c, t_zset.c) through a history of each collection; the
// differential corpus (integration/testdata/diff set.txt, hash.txt) checks
// the same against redis-server for sets and hashes. A skiplist's MEMORY
// USAGE also counts its nodes' random levels, so sorted sets are checked
// here only.
func TestDictBuckets(t *testing.T) {
	b := func(s string) []byte { return []byte(s) }
	check := func(what string, got, want int64) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %d buckets, want %d", what, got, want)
		}
	}

	s := NewSet(b("a"))
	for _, m := range []string{"a", "b", "c", "d"} {
		s.Add(b(m))
	}
	check("set of 4", s.DictBuckets(), 4)
	s.TriedAdd() // SADD of a member already there grows a full table
	check("SADD of an existing member into a full table", s.DictBuckets(), 8)
	for i := 0; i < 5; i++ {
		s.Add(b("n" + strconv.Itoa(i)))
	}
	check("set of 9", s.DictBuckets(), 16)
	for _, m := range []string{"a", "b", "c", "d", "n0"} {
		s.Remove(b(m))
	}
	check("4 members left in 16 buckets", s.DictBuckets(), 16)
	for _, m := range []string{"n1", "n2", "n3"} {
		s.Remove(b(m))
	}
	check("1 member left: below 10%", s.DictBuckets(), 4)

	ints := NewSet(b("1"))
	for _, m := range []string{"1", "2", "3"} {
		ints.Add(b(m))
	}
	check("intset", ints.DictBuckets(), 0)
	ints.Add(b("x"))
	check("intset of 3 converted", ints.DictBuckets(), 4)
	ints.Remove(b("x"))
	ints.Rebuild()
	if !ints.Intset() {
		t.Fatal("a set of integers rebuilt by SPOP is not an intset")
	}

	h := NewHash()
	h.Set(b("f1"), make([]byte, HashMaxListpackValue+1))
	for i := 2; i <= 9; i++ {
		h.Set(b("f"+strconv.Itoa(i)), b("v"))
	}
	check("hash of 9", h.DictBuckets(), 16)
	if mem := h.size(); mem < hashHeader || mem > 1<<20 {
		t.Fatalf("the bucket count leaked into the accounted size: %d", mem)
	}
	h.Set(b("f2"), b("w")) // an update adds nothing
	check("hash updated", h.DictBuckets(), 16)
	for i := 1; i <= 8; i++ {
		h.Delete(b("f" + strconv.Itoa(i)))
	}
	check("1 field left in 16 buckets", h.DictBuckets(), 4)

	z := NewZSet(9, ZSetMaxListpackValue+1) // ZADD presizes for its arguments
	check("new skiplist for 9", z.DictBuckets(), 16)
	for i := 0; i < 9; i++ {
		z.Set(b("m"+strconv.Itoa(i)), float64(i))
	}
	z.Set(b("m0"), 100)
	check("skiplist of 9", z.DictBuckets(), 16)
	for i := 0; i < 5; i++ {
		z.Remove(b("m" + strconv.Itoa(i)))
	}
	check("4 members left in 16 buckets", z.DictBuckets(), 16)
	for i := 5; i < 8; i++ {
		z.Remove(b("m" + strconv.Itoa(i)))
	}
	check("1 member left", z.DictBuckets(), 4)

	lp := NewZSet(1, 1)
	for i := 0; i <= ZSetMaxListpackEntries; i++ {
		lp.Set(b(strconv.Itoa(i)), float64(i))
	}
	check("listpack converted at 129 members", lp.DictBuckets(), 256)
}

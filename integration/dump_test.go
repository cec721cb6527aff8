package integration

import (
	"context"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestDumpRestoreRedis moves values of every type and encoding between
// redis-server and Shoal with DUMP and RESTORE, both ways, and compares
// them as each type's read commands answer (hashes, sets and skiplist-size
// sorted sets sorted, since a hashtable's order is each server's own), and
// OBJECT ENCODING. The values are random (seed logged; SHOAL_SEED
// replays), big collections included: hashtable hashes and sets, skiplist
// sorted sets, lists of many quicklist nodes.
func TestDumpRestoreRedis(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	redisAddr := testutil.StartRedis(t).Addr
	shoalAddr := startShoal(t)
	rc, sc := mustDial(t, redisAddr), mustDial(t, shoalAddr)

	elem := func() string {
		switch rng.IntN(5) {
		case 0:
			return strconv.FormatInt(rng.Int64N(1<<50)-1<<49, 10)
		case 1:
			return strconv.Itoa(rng.IntN(300))
		case 2:
			b := make([]byte, rng.IntN(40))
			for i := range b {
				b[i] = byte(rng.IntN(256))
			}
			return string(b)
		case 3:
			return strings.Repeat(string(rune('a'+rng.IntN(26))), rng.IntN(120))
		}
		return "e" + strconv.Itoa(rng.IntN(1_000_000))
	}
	score := func() string {
		switch rng.IntN(8) {
		case 0:
			return "inf"
		case 1:
			return "-inf"
		case 2:
			return "0"
		case 3:
			return strconv.Itoa(rng.IntN(100) - 50)
		}
		return strconv.FormatFloat(rng.NormFloat64()*1e6, 'g', -1, 64)
	}
	// Each key's writes, by size class: small (listpack/intset), big.
	type value struct {
		key  string
		cmds [][]string
	}
	var values []value
	add := func(key string, cmds ...[]string) { values = append(values, value{key, cmds}) }
	// Lists pushed at both ends have nodes laid out by their history in
	// Redis; Shoal's DUMP lays them out as RPUSH would: their payloads are
	// compared only for lists built by RPUSH.
	mixed := map[string]bool{}
	for _, n := range []int{1, 5, 100, 200, 600, 3000} {
		k := strconv.Itoa(n)
		var rp, lp, hs, sa, si, za []string
		rp, lp = []string{"RPUSH", "l" + k}, []string{"LPUSH", "l" + k}
		hs = []string{"HSET", "h" + k}
		sa, si = []string{"SADD", "s" + k}, []string{"SADD", "i" + k}
		za = []string{"ZADD", "z" + k}
		for i := 0; i < n; i++ {
			rp = append(rp, elem())
			if i%3 == 0 {
				lp = append(lp, elem())
			}
			hs = append(hs, elem(), elem())
			sa = append(sa, elem())
			si = append(si, strconv.FormatInt(rng.Int64N(1<<40)-1<<39, 10))
			za = append(za, score(), elem())
		}
		add("l"+k, rp, lp)
		mixed["l"+k] = n > 1
		add("r"+k, append([]string{"RPUSH", "r" + k}, rp[2:]...))
		add("h"+k, hs)
		add("s"+k, sa)
		add("i"+k, si)
		add("z"+k, za)
	}
	add("str", []string{"SET", "str", "hello"})
	add("int", []string{"SET", "int", "-123456"})
	add("big-int", []string{"SET", "big-int", "9223372036854775807"})
	add("lzf", []string{"SET", "lzf", strings.Repeat("compress me ", 1000)})
	add("bin", []string{"SET", "bin", elem() + "\x00\xff" + elem()})
	add("empty", []string{"SET", "empty", ""})

	do := func(c *respConn, args ...string) respclient.Value {
		t.Helper()
		_, v, err := c.DoValue(args...)
		if err != nil {
			t.Fatalf("%.60q: %v", args, err)
		}
		if v.Kind == respclient.KindError {
			t.Fatalf("%.60q: %s", args, v.Str)
		}
		return v
	}
	// read returns the value of key as a canonical string.
	read := func(c *respConn, key string) string {
		t.Helper()
		typ := do(c, "TYPE", key).Str
		var parts []string
		var v respclient.Value
		sorted := true
		switch typ {
		case "string":
			return "string " + strconv.Quote(do(c, "GET", key).Str)
		case "list":
			v, sorted = do(c, "LRANGE", key, "0", "-1"), false
		case "hash":
			v = do(c, "HGETALL", key)
			for i := 0; i+1 < len(v.Array); i += 2 {
				parts = append(parts, strconv.Quote(v.Array[i].Str)+"="+strconv.Quote(v.Array[i+1].Str))
			}
			v.Array = nil
		case "set":
			v = do(c, "SMEMBERS", key)
		case "zset":
			v, sorted = do(c, "ZRANGE", key, "0", "-1", "WITHSCORES"), false
		default:
			t.Fatalf("%s: type %q", key, typ)
		}
		for _, e := range v.Array {
			parts = append(parts, strconv.Quote(e.Str))
		}
		if sorted {
			sort.Strings(parts)
		}
		return typ + " " + do(c, "OBJECT", "ENCODING", key).Str + " " + strings.Join(parts, " ")
	}
	check := func(dir, key, a, b string) {
		t.Helper()
		if a != b {
			t.Errorf("%s %s: values differ:\n from %.400s\n   to %.400s", dir, key, a, b)
		}
	}
	for _, v := range values {
		for _, c := range v.cmds {
			if len(c) <= 2 {
				continue
			}
			do(rc, c...)
			do(sc, c...)
		}
		// Redis -> Shoal.
		p := do(rc, "DUMP", v.key).Str
		do(sc, "RESTORE", "from-redis:"+v.key, "0", p)
		check("redis->shoal", v.key, read(rc, v.key), read(sc, "from-redis:"+v.key))
		// Shoal -> Redis.
		q := do(sc, "DUMP", v.key).Str
		do(rc, "RESTORE", "from-shoal:"+v.key, "0", q)
		check("shoal->redis", v.key, read(sc, v.key), read(rc, "from-shoal:"+v.key))
		// The same value on both: the same payload where Redis's order is
		// Shoal's (not for hashtables and skiplists).
		enc := do(rc, "OBJECT", "ENCODING", v.key).Str
		if enc != "hashtable" && enc != "skiplist" && !mixed[v.key] && p != q {
			t.Errorf("%s (%s): DUMP payloads differ: redis %d bytes, shoal %d bytes", v.key, enc, len(p), len(q))
		}
	}
	t.Logf("%d values moved both ways", len(values))
}

// TestClusterDumpRestore runs DUMP and RESTORE in cluster mode through
// go-redis's ClusterClient (routing by the key's slot) and checks that a
// node answers MOVED for a key of a slot it does not lead: RESTORE is a
// keyed write, routed and checked against slot ownership like SET.
func TestClusterDumpRestore(t *testing.T) {
	ctx := context.Background()
	tc := startCluster(t, 3)
	cc := tc.clusterClient(nil)
	moved := 0
	raw := mustDial(t, tc.nodes[0].Addr)
	for i := 0; i < 40; i++ {
		k := "k" + strconv.Itoa(i)
		testutil.Eventually(t, 30*time.Second, "SET "+k, func() error { return cc.RPush(ctx, k, "a", k).Err() })
		p, err := cc.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		dst := "copy-" + k
		if err := cc.Restore(ctx, dst, 0, p).Err(); err != nil {
			t.Fatalf("RESTORE %s: %v", dst, err)
		}
		if got, err := cc.LRange(ctx, dst, 0, -1).Result(); err != nil || len(got) != 2 || got[1] != k {
			t.Fatalf("LRANGE %s: %q %v", dst, got, err)
		}
		if err := cc.Restore(ctx, dst, 0, p).Err(); err == nil || !strings.HasPrefix(err.Error(), "BUSYKEY") {
			t.Fatalf("second RESTORE %s: %v", dst, err)
		}
		b, err := raw.Do("RESTORE", "direct-"+k, "0", p)
		if err != nil {
			t.Fatal(err)
		}
		switch r := string(b); {
		case strings.HasPrefix(r, "-MOVED "):
			moved++
		case r != "+OK\r\n":
			t.Fatalf("RESTORE direct-%s on node 0: %q", k, r)
		}
	}
	if moved == 0 {
		t.Fatal("node 0 led every key's slot: no MOVED seen")
	}
}

package integration

// Databases 0-15 on a standalone node (SELECT): a go-redis client
// configured with a database, expiry in another database than 0, and a
// restart from --data-dir with keys in several databases.

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// selectNode starts a standalone node and returns it with a ready client
// of database 0 and one of database db.
func selectNode(t *testing.T, db int) (*shoalNode, *redis.Client, *redis.Client) {
	t.Helper()
	n := startNode(t)
	c0 := nodeClient(t, n)
	waitReady(t, c0)
	return n, c0, newGoRedis(t, &redis.Options{Addr: n.Addr, DB: db, PoolSize: 4})
}

// TestSelectGoRedisDB: a go-redis client with DB: 3 (it sends SELECT 3 on
// every new connection) reads and writes database 3 only, pipelines
// included; a DB: 0 client does not see its keys; INFO keyspace lists both
// databases.
func TestSelectGoRedisDB(t *testing.T) {
	_, c0, c3 := selectNode(t, 3)
	ctx := context.Background()
	if err := c3.Set(ctx, "k", "three", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c0.Set(ctx, "k", "zero", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pipe := c3.Pipeline()
	for i := 0; i < 50; i++ {
		pipe.Set(ctx, fmt.Sprintf("p:%d", i), i, 0)
	}
	pipe.Incr(ctx, "ctr")
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *redis.Client
		want string
		size int64
	}{{c0, "zero", 1}, {c3, "three", 52}} {
		if got, err := tc.c.Get(ctx, "k").Result(); err != nil || got != tc.want {
			t.Errorf("GET k = %q, %v; want %q", got, err, tc.want)
		}
		if got, err := tc.c.DBSize(ctx).Result(); err != nil || got != tc.size {
			t.Errorf("DBSIZE = %d, %v; want %d", got, err, tc.size)
		}
	}
	if n, err := c0.Exists(ctx, "p:1", "ctr").Result(); err != nil || n != 0 {
		t.Errorf("database 0 sees %d of database 3's keys (%v)", n, err)
	}
	keys, _, err := c3.Scan(ctx, 0, "p:4*", 1000).Result()
	if err != nil || len(keys) != 11 {
		t.Errorf("SCAN MATCH p:4* in database 3 = %d keys (%v), want 11", len(keys), err)
	}
	info, err := c0.Info(ctx, "keyspace").Result()
	if err != nil || !strings.Contains(info, "db0:keys=1,expires=0") || !strings.Contains(info, "db3:keys=52,expires=0") {
		t.Errorf("INFO keyspace = %q, %v", info, err)
	}
	// Concurrent clients of both databases on the pool's connections.
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		c := c0
		if w%2 == 1 {
			c = c3
		}
		go func() {
			var err error
			for i := 0; i < 50 && err == nil; i++ {
				err = c.Incr(ctx, "shared").Err()
			}
			errs <- err
		}()
	}
	for w := 0; w < 8; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*redis.Client{c0, c3} {
		if got, err := c.Get(ctx, "shared").Int(); err != nil || got != 200 {
			t.Errorf("shared = %d, %v; want 200 in each database", got, err)
		}
	}
}

// TestSelectActiveExpiry: a key with a time to live in database 5 is
// deleted by the leader's active expiry (through the log) without being
// read, as in database 0.
func TestSelectActiveExpiry(t *testing.T) {
	_, c0, c5 := selectNode(t, 5)
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		if err := c5.Set(ctx, fmt.Sprintf("e:%d", i), "v", 100*time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c5.Set(ctx, "stays", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "active expiry in database 5", func() error {
		// DBSIZE counts keys not yet deleted, expired or not.
		if n, err := c5.DBSize(ctx).Result(); err != nil || n != 1 {
			return fmt.Errorf("DBSIZE = %d, %v", n, err)
		}
		return nil
	})
	info, err := c0.Info(ctx, "stats").Result()
	if err != nil || !strings.Contains(info, "expired_keys:20") {
		t.Errorf("INFO stats: %v\n%s", err, info)
	}
}

// TestSelectRestartFromDisk: a node restarted from its --data-dir has the
// keys of every database, those in its last snapshot (SAVE) and those
// written after it (the log), with their expiry; SWAPDB and MOVE replay.
func TestSelectRestartFromDisk(t *testing.T) {
	n := startNode(t, "--data-dir", "data")
	ctx := context.Background()
	clients := map[int]*redis.Client{}
	client := func(db int) *redis.Client {
		if clients[db] == nil {
			clients[db] = newGoRedis(t, &redis.Options{Addr: n.Addr, DB: db, MaxRetries: -1})
		}
		return clients[db]
	}
	waitReady(t, client(0))
	set := func(db int, k, v string, ttl time.Duration) {
		t.Helper()
		if err := client(db).Set(ctx, k, v, ttl).Err(); err != nil {
			t.Fatalf("SET %s in database %d: %v", k, db, err)
		}
	}
	set(0, "k", "zero", 0)
	set(3, "k", "three", time.Hour)
	set(15, "k", "fifteen", 0)
	set(8, "swap", "from8", 0)
	if err := client(0).Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	set(3, "after", "snapshot", 0)
	set(0, "moved", "m", 0)
	if n, err := client(0).Move(ctx, "moved", 12).Result(); err != nil || !n {
		t.Fatalf("MOVE = %v, %v", n, err)
	}
	if err := client(0).Do(ctx, "SWAPDB", 8, 9).Err(); err != nil {
		t.Fatal(err)
	}
	n.Stop(5 * time.Second)
	n.Restart()
	clients = map[int]*redis.Client{}
	waitReady(t, client(0))
	want := map[int]map[string]string{
		0: {"k": "zero"}, 3: {"k": "three", "after": "snapshot"}, 9: {"swap": "from8"},
		12: {"moved": "m"}, 15: {"k": "fifteen"},
	}
	for db := 0; db < 16; db++ {
		c := client(db)
		size, err := c.DBSize(ctx).Result()
		if err != nil || size != int64(len(want[db])) {
			t.Errorf("database %d: DBSIZE = %d, %v; want %d", db, size, err, len(want[db]))
		}
		for k, v := range want[db] {
			if got, err := c.Get(ctx, k).Result(); err != nil || got != v {
				t.Errorf("database %d: GET %s = %q, %v; want %q", db, k, got, err, v)
			}
		}
	}
	if ttl, err := client(3).TTL(ctx, "k").Result(); err != nil || ttl <= 0 || ttl > time.Hour {
		t.Errorf("database 3: TTL k = %v, %v; want up to an hour", ttl, err)
	}
}

// TestSelectEviction: with maxmemory and allkeys-random, writes to database
// 4 alone evict keys of database 4 (through the log) instead of failing
// with OOM; database 0 stays empty. With volatile-ttl, writes to database 0
// evict the keys with a TTL of database 6.
func TestSelectEviction(t *testing.T) {
	_, c0, c4 := selectNode(t, 4)
	ctx := context.Background()
	if err := c0.ConfigSet(ctx, "maxmemory-policy", "allkeys-random").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c0.ConfigSet(ctx, "maxmemory", "2mb").Err(); err != nil {
		t.Fatal(err)
	}
	value := strings.Repeat("v", 1000)
	const writes = 5000 // about 5 MB of values: more than twice the limit
	for i := 0; i < writes; i++ {
		if err := c4.Set(ctx, fmt.Sprintf("ev:%d", i), value, 0).Err(); err != nil {
			t.Fatalf("SET %d in database 4: %v", i, err)
		}
	}
	size, err := c4.DBSize(ctx).Result()
	if err != nil || size <= 0 || size >= writes {
		t.Fatalf("database 4 holds %d keys (%v) after %d writes over maxmemory", size, err, writes)
	}
	info, err := c0.Info(ctx, "stats").Result()
	if err != nil || strings.Contains(info, "evicted_keys:0\r") {
		t.Errorf("no key evicted: %v\n%s", err, info)
	}
	if n, err := c0.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("database 0 holds %d keys (%v), want 0", n, err)
	}

	// A volatile policy: writes to database 0 (no TTL) evict the keys
	// with a TTL of database 6, not database 0's.
	c6 := newGoRedis(t, &redis.Options{Addr: c0.Options().Addr, DB: 6})
	for _, kv := range [][2]string{{"maxmemory", "0"}, {"maxmemory-policy", "volatile-ttl"}} {
		if err := c0.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c0.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	const volatile = 1500 // about 1.7 MB accounted
	for i := 0; i < volatile; i++ {
		if err := c6.Set(ctx, fmt.Sprintf("vol:%d", i), value, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c0.ConfigSet(ctx, "maxmemory", "2mb").Err(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ { // 1.1 MB more: about 650 keys of database 6 must go
		if err := c0.Set(ctx, fmt.Sprintf("keep:%d", i), value, 0).Err(); err != nil {
			t.Fatalf("SET %d in database 0 under volatile-ttl: %v", i, err)
		}
	}
	if n, err := c0.DBSize(ctx).Result(); err != nil || n != 1000 {
		t.Errorf("database 0 holds %d keys (%v), want all 1000", n, err)
	}
	if n, err := c6.DBSize(ctx).Result(); err != nil || n <= 0 || n >= volatile {
		t.Errorf("database 6 holds %d keys (%v), want some of the %d evicted", n, err, volatile)
	}
}

// TestSelectRedisPyDB: a redis-py client with db=3 (Debian's python3-redis,
// which sends SELECT 3 on connect) writes, pipelines and reads database 3.
func TestSelectRedisPyDB(t *testing.T) {
	n, c0, c3 := selectNode(t, 3)
	ctx := context.Background()
	host, port, _ := strings.Cut(n.Addr, ":")
	script := `
import sys, redis
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), db=3)
r.set("py", "three")
p = r.pipeline(transaction=False)
for i in range(10):
    p.set("pp:%d" % i, i)
p.execute()
print(r.get("py").decode(), r.dbsize())
`
	out, err := exec.CommandContext(ctx, pyPython, "-c", script, host, port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "three 11" {
		t.Fatalf("redis-py with db=3: %v\n%s", err, out)
	}
	if got, err := c3.Get(ctx, "pp:9").Result(); err != nil || got != "9" {
		t.Errorf("database 3: pp:9 = %q, %v", got, err)
	}
	if n, err := c0.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("database 0 holds %d keys (%v), want 0", n, err)
	}
}

package integration

// Transactions (MULTI/EXEC/WATCH) through real clients against a 3-node
// cluster: go-redis's TxPipeline and Watch, redis-py's transaction
// pipeline and pipeline.watch (docs/transactions.md), each also across a
// SIGKILL of the leader of the keys' group.

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// leaderOf returns the address of the node of tc that serves key (the
// others answer MOVED).
func leaderOf(t *testing.T, tc *testutil.ShoalCluster, key string) string {
	t.Helper()
	var addr string
	testutil.Eventually(t, 20*time.Second, "the leader of "+key, func() error {
		for _, nd := range tc.Nodes {
			if !nd.Running() {
				continue
			}
			c, err := dialRESP(nd.Addr)
			if err != nil {
				continue
			}
			raw, err := c.Do("EXISTS", key)
			c.Close()
			if err == nil && raw[0] == ':' {
				addr = nd.Addr
				return nil
			}
		}
		return errors.New("no node serves " + key)
	})
	return addr
}

// optimisticIncr adds n to key with go-redis's Watch, retrying on
// TxFailedErr, and returns the increments acknowledged and the retries.
func optimisticIncr(ctx context.Context, c *redis.ClusterClient, key string, n int) (ok, retries int64, err error) {
	for i := 0; i < n; i++ {
		for {
			err = c.Watch(ctx, func(tx *redis.Tx) error {
				v, err := tx.Get(ctx, key).Int64()
				if err != nil && !errors.Is(err, redis.Nil) {
					return err
				}
				_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
					p.Set(ctx, key, v+1, 0)
					return nil
				})
				return err
			}, key)
			if errors.Is(err, redis.TxFailedErr) {
				retries++
				continue
			}
			if err != nil {
				return ok, retries, err
			}
			ok++
			break
		}
	}
	return ok, retries, nil
}

// TestTxGoRedisCluster: go-redis's TxPipeline runs mixed commands as one
// transaction; Watch's optimistic increments from several goroutines lose
// no update and count every retry (the final counter is the number of
// successful transactions); a transaction over keys of two slots is
// CROSSSLOT, and a watched key's slot must be the transaction's. Then
// across a SIGKILL of the leader of the keys' group: TxPipelines of two
// increments apply both or neither, and WATCH still aborts a transaction
// after a concurrent change.
func TestTxGoRedisCluster(t *testing.T) {
	tc := testutil.StartShoalCluster(t, 3)
	// go-redis's own failover handling: it follows MOVED, retries
	// TRYAGAIN, CLUSTERDOWN and network errors up to MaxRedirects times,
	// and reloads its slot map every ClusterStateReloadInterval. A read
	// timeout makes it send a command again that may have applied: a
	// generous one keeps a slow commit on a loaded machine from counting
	// twice.
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tc.Addrs(), ClusterStateReloadInterval: time.Second,
		MaxRedirects: 16, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	testutil.Eventually(t, 20*time.Second, "a writable cluster", func() error {
		return c.Set(ctx, "{tx}probe", "1", 0).Err()
	})

	cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{tx}a", "1", 0)
		p.Incr(ctx, "{tx}a")
		p.Get(ctx, "{tx}a")
		p.Exists(ctx, "{tx}none")
		return nil
	})
	if err != nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	if got := cmds[2].(*redis.StringCmd).Val(); got != "2" || cmds[3].(*redis.IntCmd).Val() != 0 {
		t.Errorf("TxPipelined: GET = %q, EXISTS = %d", got, cmds[3].(*redis.IntCmd).Val())
	}

	const workers, each = 6, 20
	key := "{tx}counter"
	var ok, retries atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, r, err := optimisticIncr(ctx, c, key, each)
			ok.Add(n)
			retries.Add(r)
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("optimistic increment: %v", err)
	}
	final, err := c.Get(ctx, key).Int64()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d increments acknowledged, %d retries (WATCH aborts), counter %d", ok.Load(), retries.Load(), final)
	if final != ok.Load() || final != workers*each {
		t.Errorf("counter = %d, acknowledged %d, want %d", final, ok.Load(), workers*each)
	}
	if retries.Load() == 0 {
		t.Log("no WATCH abort happened: the goroutines did not contend")
	}

	// Raw: CROSSSLOT for keys of two slots on one node, and for a
	// watched key of another slot than the transaction's.
	addr := leaderOf(t, tc, "{tx}a")
	var other string
	for i := 0; other == "" && i < 1000; i++ {
		k := "{o" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + "}k"
		if leaderOf(t, tc, k) == addr {
			other = k
		}
	}
	rc := mustDial(t, addr)
	steps := [][2]string{
		{"MULTI", "+OK\r\n"}, {"SET {tx}a 1", "+QUEUED\r\n"}, {"SET " + other + " 1", "+QUEUED\r\n"},
		{"EXEC", "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{"WATCH " + other, "+OK\r\n"}, {"MULTI", "+OK\r\n"}, {"SET {tx}a 1", "+QUEUED\r\n"},
		{"EXEC", "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		{"WATCH {tx}a " + other, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
	}
	for _, s := range steps {
		raw, err := rc.Do(strings.Fields(s[0])...)
		if err != nil {
			t.Fatal(err)
		}
		if string(raw) != s[1] {
			t.Errorf("%s = %q, want %q", s[0], raw, s[1])
		}
	}
	// A queued command of another node's slot is redirected at once and
	// aborts the transaction, as Redis Cluster.
	var far string
	for i := 0; far == "" && i < 1000; i++ {
		k := "{f" + string(rune('a'+i%26)) + strings.Repeat("y", i/26) + "}k"
		if leaderOf(t, tc, k) != addr {
			far = k
		}
	}
	for _, s := range [][2]string{{"MULTI", "+OK\r\n"}, {"SET " + far + " 1", "-MOVED "},
		{"SET {tx}a 5", "+QUEUED\r\n"}, {"EXEC", "-EXECABORT Transaction discarded because of previous errors.\r\n"}, {"GET {tx}a", "$1\r\n2\r\n"}} {
		raw, err := rc.Do(strings.Fields(s[0])...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(raw), s[1]) {
			t.Errorf("%s = %q, want %q...", s[0], raw, s[1])
		}
	}
	// WATCH of a key another node serves is MOVED.
	for _, nd := range tc.Nodes {
		if nd.Addr == addr {
			continue
		}
		c2 := mustDial(t, nd.Addr)
		if raw, err := c2.Do("WATCH", "{tx}a"); err != nil || !strings.HasPrefix(string(raw), "-MOVED ") {
			t.Errorf("WATCH on a node that does not serve the key = %q, %v", raw, err)
		}
		break
	}

	txAcrossKill(ctx, t, c, tc, addr)
}

// txAcrossKill kills the node at addr, the leader of the {tx} keys'
// group, then runs TxPipelines of INCR {tx}x, INCRBY {tx}y 10 through c:
// each reply, and the keys at the end, must show y = 10 x (every earlier
// transaction applied both increments or neither; one that failed with an
// error other than a refused connection may have applied). Then a WATCH
// of {tx}x changed through another connection must abort the transaction.
//
// go-redis (v9.23) retries a TxPipeline on a connection error against the
// same node, MaxRedirects times with its backoff, without rereading the
// slot map: the first TxPipelines after the kill fail after several
// seconds each although CLUSTER SLOTS names the new leader within a
// second; a later one, with the reloaded map, reaches it.
func txAcrossKill(ctx context.Context, t *testing.T, c *redis.ClusterClient, tc *testutil.ShoalCluster, addr string) {
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{tx}x", 0, 0)
		p.Set(ctx, "{tx}y", 0, 0)
		return nil
	}); err != nil {
		t.Fatalf("TxPipelined before the kill: %v", err)
	}
	for _, nd := range tc.Nodes {
		if nd.Addr == addr {
			t.Logf("killing %s, the leader of the {tx} keys' group", addr)
			nd.Kill()
		}
	}
	const rounds = 10
	failed := 0
	for i := 0; i < rounds; i++ {
		var x, y int64
		testutil.Eventually(t, 90*time.Second, "a TxPipeline after the kill", func() error {
			cmds, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Incr(ctx, "{tx}x")
				p.IncrBy(ctx, "{tx}y", 10)
				return nil
			})
			if err != nil {
				if !errors.Is(err, syscall.ECONNREFUSED) {
					failed++ // may have applied
				}
				t.Logf("TxPipelined after the kill: %v", err)
				return err
			}
			x, y = cmds[0].(*redis.IntCmd).Val(), cmds[1].(*redis.IntCmd).Val()
			return nil
		})
		if y != 10*x {
			t.Errorf("transaction %d after the kill: INCR {tx}x = %d, INCRBY {tx}y 10 = %d: not atomic", i, x, y)
		}
	}
	vals, err := c.MGet(ctx, "{tx}x", "{tx}y").Result()
	if err != nil {
		t.Fatal(err)
	}
	x, _ := strconv.Atoi(vals[0].(string))
	y, _ := strconv.Atoi(vals[1].(string))
	t.Logf("after %d transactions (%d failed): x = %d, y = %d", rounds, failed, x, y)
	if y != 10*x || x < rounds || x > rounds+failed {
		t.Errorf("after %d transactions (%d failed) x = %d, y = %d; want y = 10 x, x in [%d, %d]", rounds, failed, x, y, rounds, rounds+failed)
	}

	// WATCH, a concurrent SET through another connection of the pool,
	// then the transaction: aborted, the concurrent value stays.
	var concurrent int64
	testutil.Eventually(t, 60*time.Second, "a WATCH after the kill", func() error {
		err := c.Watch(ctx, func(tx *redis.Tx) error {
			v, err := tx.Get(ctx, "{tx}x").Int64()
			if err != nil {
				return err
			}
			concurrent = v + 1000
			if err := c.Set(ctx, "{tx}x", concurrent, 0).Err(); err != nil {
				return err
			}
			_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Set(ctx, "{tx}x", -1, 0)
				return nil
			})
			return err
		}, "{tx}x")
		if errors.Is(err, redis.TxFailedErr) {
			return nil
		}
		if err == nil {
			t.Fatal("WATCH after the kill: the transaction ran over a concurrent change of the watched key")
		}
		t.Logf("WATCH after the kill: %v", err)
		return err
	})
	if v, err := c.Get(ctx, "{tx}x").Int64(); err != nil || v != concurrent {
		t.Errorf("{tx}x after the aborted transaction = %d, %v; want %d (the concurrent SET)", v, err, concurrent)
	}
}

// TestTxRedisPy: redis-py's pipeline(transaction=True), and the
// optimistic-lock recipe with pipeline.watch from several threads, on the
// node that serves the keys (py_tx.py finds it with RedisCluster); then
// across a SIGKILL of that node (py_tx.py waits on its stdin for it):
// transactions of two increments apply both or neither, the threads'
// increments are all counted (none lost, none made up), and WATCH still
// aborts an EXEC after a concurrent change.
func TestTxRedisPy(t *testing.T) {
	if _, err := exec.LookPath(pyPython); err != nil {
		t.Fatalf("%s not found (.ci/deps installs python3-redis)", pyPython)
	}
	tc := startCluster(t, 3)
	key := "{py}counter"
	script, _ := filepath.Abs(filepath.Join("testdata", "clients", "py_tx.py"))
	const threads, each = 4, 15
	args := append([]string{script, key, strconv.Itoa(threads), strconv.Itoa(each)}, tc.Addrs()...)
	lines := runAcrossKill(t, pyPython, args, func() {
		leader := tc.leaderOf(t, "{py}probe", "x")
		t.Logf("killing node %d, the leader of %s's group", leader, key)
		tc.nodes[leader].Kill()
	})
	if len(lines) != 2 {
		t.Fatalf("py_tx.py printed %d lines, want 2: %q", len(lines), lines)
	}
	var res struct {
		Tx      []any `json:"tx"`
		OK      int   `json:"ok"`
		Retries int   `json:"retries"`
		Final   int   `json:"final"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &res); err != nil {
		t.Fatalf("redis-py output %q: %v", lines[0], err)
	}
	if got, want := jsonList(res.Tx), `[true 2 "2" 0]`; got != want {
		t.Errorf("transaction pipeline = %s, want %s", got, want)
	}
	if res.Final != res.OK || res.OK != threads*each {
		t.Errorf("counter %d, acknowledged %d, want %d", res.Final, res.OK, threads*each)
	}

	var post struct {
		TxAfter      [][2]int `json:"tx_after"`
		X, Y         int
		OK           int  `json:"ok"`
		Retries      int  `json:"retries"`
		Final        int  `json:"final"`
		Uncertain    int  `json:"uncertain"`
		WatchAborted bool `json:"watch_aborted"`
		Watched      int  `json:"watched"`
		AfterWatch   int  `json:"after_watch"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &post); err != nil {
		t.Fatalf("redis-py output %q: %v", lines[1], err)
	}
	// Each transaction's replies show both increments of every earlier
	// one or neither; those that failed uncertainly may have applied.
	for i, r := range post.TxAfter {
		if r[1] != 10*r[0] {
			t.Errorf("transaction %d after the kill: INCR x = %d, INCRBY y 10 = %d: not atomic", i, r[0], r[1])
		}
	}
	if len(post.TxAfter) != 10 || post.Y != 10*post.X || post.X < 10 || post.X > 10+post.Uncertain {
		t.Errorf("after 10 transactions (%d uncertain): %d replies, x = %d, y = %d", post.Uncertain, len(post.TxAfter), post.X, post.Y)
	}
	if post.OK != threads*each || post.Final < res.Final+post.OK || post.Final > res.Final+post.OK+post.Uncertain {
		t.Errorf("after the kill: counter %d, acknowledged %d more (%d uncertain), want %d more than %d",
			post.Final, post.OK, post.Uncertain, threads*each, res.Final)
	}
	if !post.WatchAborted || post.AfterWatch != post.Watched {
		t.Errorf("WATCH after the kill: aborted %v, counter %d, want aborted and %d (the concurrent SET)",
			post.WatchAborted, post.AfterWatch, post.Watched)
	}
}

// jsonList renders a decoded JSON list compactly for comparisons.
func jsonList(v []any) string {
	parts := make([]string, len(v))
	for i, x := range v {
		b, _ := json.Marshal(x)
		parts[i] = string(b)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestTxWatchLeaderKill: go-redis Watch increments from several goroutines
// while the leader of the counter's slot is killed. No acknowledged
// increment is lost (counter >= acknowledged) and none is made up
// (counter <= acknowledged + attempts that failed with an error, which may
// or may not have applied: a reply lost with the leader).
func TestTxWatchLeaderKill(t *testing.T) {
	tc := testutil.StartShoalCluster(t, 3)
	key := "{kill}counter"
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: tc.Addrs(), ClusterStateReloadInterval: time.Second,
		MaxRedirects: 16, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	testutil.Eventually(t, 20*time.Second, "a writable cluster", func() error {
		return c.Set(ctx, key, "0", 0).Err()
	})
	leader := leaderOf(t, tc, key)

	const workers, each = 4, 40
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(60 * time.Second)
			for done := 0; done < each && time.Now().Before(deadline); {
				n, _, err := optimisticIncr(ctx, c, key, 1)
				if err != nil {
					failed.Add(1) // may have applied
					continue
				}
				ok.Add(n)
				done++
			}
		}()
	}
	testutil.Until(t, 30*time.Second, "a quarter of the increments", func() bool { return ok.Load() >= workers*each/4 })
	for _, nd := range tc.Nodes {
		if nd.Addr == leader {
			t.Logf("killing %s, the leader of %s's slot, after %d increments", nd.Addr, key, ok.Load())
			nd.Kill()
		}
	}
	wg.Wait()
	var final int64
	testutil.Eventually(t, 30*time.Second, "reading the counter", func() error {
		v, err := c.Get(ctx, key).Int64()
		final = v
		return err
	})
	t.Logf("acknowledged %d, failed %d, counter %d", ok.Load(), failed.Load(), final)
	if ok.Load() != workers*each {
		t.Errorf("%d of %d increments acknowledged in time", ok.Load(), workers*each)
	}
	if final < ok.Load() || final > ok.Load()+failed.Load() {
		t.Errorf("counter %d outside [acknowledged %d, acknowledged + failed %d]", final, ok.Load(), ok.Load()+failed.Load())
	}
}

package integration

// The built-in proxy (shoal proxy, --proxy-port) against a real 3-node
// cluster: clients that are not cluster-aware (redis-cli without -c,
// redis-benchmark without --cluster, go-redis redis.NewClient) see one
// standalone server.

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// startProxy runs `shoal proxy` against the nodes at addrs and returns its
// address once it answers PING; it is stopped at the end of the test.
func startProxy(t *testing.T, addrs []string) string {
	t.Helper()
	bin := testutil.ShoalBinary(t)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr := proc.LocalAddr(testutil.FreePort(t))
		cmd := exec.Command(bin, "proxy", "--listen", addr, "--cluster", strings.Join(addrs, ","), "--log-format", "text")
		w := testutil.NewLogWriter(t, "proxy: ")
		cmd.Stdout, cmd.Stderr = w, w
		cmd.WaitDelay = 2 * time.Second
		p, err := proc.Start(cmd, addr, proc.StartTimeout)
		if err != nil {
			w.Close()
			lastErr = err
			continue
		}
		t.Cleanup(func() { p.Stop(5 * time.Second); w.Close() })
		return addr
	}
	t.Fatalf("shoal proxy did not start: %v", lastErr)
	return ""
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("no port in %q", addr)
	}
	return addr[i+1:]
}

// slotLeader returns the index in tc.nodes of the node leading slot,
// according to CLUSTER SLOTS on a running node.
func (tc *testCluster) slotLeader(t *testing.T, slot int) int {
	t.Helper()
	leader := -1
	testutil.Eventually(t, 15*time.Second, "the leader of slot "+strconv.Itoa(slot), func() error {
		for _, nd := range tc.nodes {
			if !nd.Running() {
				continue
			}
			c, err := dialRESP(nd.Addr)
			if err != nil {
				continue
			}
			_, v, err := c.DoValue("CLUSTER", "SLOTS")
			c.Close()
			if err != nil {
				continue
			}
			for _, r := range v.Array {
				if len(r.Array) < 3 || int(r.Array[0].Int) > slot || int(r.Array[1].Int) < slot {
					continue
				}
				addr := fmt.Sprintf("%s:%d", r.Array[2].Array[0].Str, r.Array[2].Array[1].Int)
				for i, n := range tc.nodes {
					if n.Addr == addr {
						leader = i
						return nil
					}
				}
			}
		}
		return fmt.Errorf("no node lists slot %d", slot)
	})
	return leader
}

func TestProxy(t *testing.T) {
	tc := startCluster(t, 3)
	paddr := startProxy(t, tc.Addrs())
	ctx := context.Background()

	t.Run("RedisCli", func(t *testing.T) {
		// 200 keys over many slots, written and read with plain redis-cli.
		var in strings.Builder
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&in, "SET cli:%d v%d\n", i, i)
		}
		for i := 0; i < 200; i++ {
			fmt.Fprintf(&in, "GET cli:%d\n", i)
		}
		cmd := exec.Command("redis-cli", "-p", portOf(t, paddr))
		cmd.Stdin = strings.NewReader(in.String())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(lines) != 400 {
			t.Fatalf("redis-cli printed %d lines, want 400:\n%s", len(lines), out)
		}
		slots := map[int]bool{}
		for i := 0; i < 200; i++ {
			if lines[i] != "OK" {
				t.Fatalf("SET cli:%d: %q", i, lines[i])
			}
			if want := "v" + strconv.Itoa(i); lines[200+i] != want {
				t.Fatalf("GET cli:%d: %q, want %q", i, lines[200+i], want)
			}
			slots[tc.slotLeader(t, shard.Slot("cli:"+strconv.Itoa(i)))] = true
		}
		if len(slots) != 3 {
			t.Fatalf("the keys were led by %d nodes, want 3", len(slots))
		}
	})

	t.Run("Benchmark", func(t *testing.T) {
		out, err := exec.Command("redis-benchmark", "-p", portOf(t, paddr), "-n", "20000",
			"-t", "set,get", "-P", "16", "-q").CombinedOutput()
		if err != nil {
			t.Fatalf("redis-benchmark: %v\n%s", err, out)
		}
		s := string(out)
		t.Logf("redis-benchmark through the proxy:\n%s", s)
		if strings.Contains(strings.ToLower(s), "error") || !strings.Contains(s, "SET:") || !strings.Contains(s, "GET:") {
			t.Fatalf("redis-benchmark output:\n%s", s)
		}
	})

	t.Run("Diff", func(t *testing.T) {
		ref := mustDial(t, testutil.StartRedis(t).Addr)
		px := mustDial(t, paddr)
		steps := [][]string{
			{"FLUSHALL"},
			{"MSET", "a", "1", "b", "2", "{x}c", "3", "d", "4", "{x}e", "5"},
			{"MGET", "a", "b", "nope", "{x}c", "d", "{x}e", "a"},
			{"EXISTS", "a", "b", "nope", "a", "{x}c"},
			{"TOUCH", "a", "nope", "d"},
			{"DBSIZE"},
			{"DEL", "a", "nope", "b"},
			{"UNLINK", "d", "{x}c", "d"},
			{"MGET", "a", "b", "{x}e"},
			{"MSETNX", "{t}1", "x", "{t}2", "y"},
			{"MSETNX", "{t}1", "x", "{t}3", "y"},
			{"DBSIZE"},
			{"MGET"},
			{"MSET", "a"},
			{"DEL"},
			{"SELECT", "0"},
			{"SELECT", "x"},
			{"PING"},
			{"ECHO", "hi"},
			{"HELLO", "3"},
			{"MGET", "a", "{x}e", "nope"},
			{"EXISTS", "a", "{x}e"},
			{"DBSIZE"},
			{"HELLO", "2"},
			{"FLUSHALL"},
			{"DBSIZE"},
		}
		for _, st := range steps {
			want, err1 := ref.Do(st...)
			got, err2 := px.Do(st...)
			if err1 != nil || err2 != nil {
				t.Fatalf("%q: redis %v, proxy %v", st, err1, err2)
			}
			if st[0] == "HELLO" {
				continue // ids and versions differ
			}
			if string(got) != string(want) {
				t.Errorf("%q: proxy %q, redis %q", st, got, want)
			}
		}
	})

	t.Run("Standalone", func(t *testing.T) {
		c := mustDial(t, paddr)
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"CLUSTER", "INFO"}, "-ERR This instance has cluster support disabled\r\n"},
			{[]string{"CLUSTER", "SLOTS"}, "-ERR This instance has cluster support disabled\r\n"},
			{[]string{"SELECT", "1"}, "-ERR DB index is out of range\r\n"},
			{[]string{"MSETNX", "p", "1", "q", "2"}, "-CROSSSLOT Keys in request don't hash to the same slot\r\n"},
		} {
			got, err := c.Do(tt.args...)
			if err != nil || string(got) != tt.want {
				t.Errorf("%q: %q %v, want %q", tt.args, got, err, tt.want)
			}
		}
		_, v, err := c.DoValue("INFO", "cluster")
		if err != nil || !strings.Contains(v.Str, "cluster_enabled:0") {
			t.Errorf("INFO cluster: %q %v", v.Str, err)
		}
	})

	t.Run("FanOut", func(t *testing.T) {
		c := newGoRedis(t, &redis.Options{Addr: paddr, MaxRetries: -1})
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		const n = 3000
		pipe := c.Pipeline()
		for i := 0; i < n; i++ {
			pipe.Set(ctx, "fan:"+strconv.Itoa(i), i, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if got, err := c.DBSize(ctx).Result(); err != nil || got != n {
			t.Fatalf("DBSIZE %d %v, want %d", got, err, n)
		}
		keys, err := c.Keys(ctx, "fan:*").Result()
		if err != nil || len(keys) != n {
			t.Fatalf("KEYS: %d keys %v, want %d", len(keys), err, n)
		}
		seen := map[string]int{}
		var cursor uint64
		for calls := 0; ; calls++ {
			var page []string
			page, cursor, err = c.Scan(ctx, cursor, "fan:*", 100).Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range page {
				seen[k]++
			}
			if cursor == 0 {
				break
			}
			if calls > 10000 {
				t.Fatal("SCAN does not end")
			}
		}
		if len(seen) != n {
			t.Fatalf("SCAN returned %d distinct keys, want %d", len(seen), n)
		}
		for k, cnt := range seen {
			if cnt != 1 {
				t.Fatalf("SCAN returned %s %d times", k, cnt)
			}
		}
		info, err := c.Info(ctx, "keyspace").Result()
		if err != nil || !strings.Contains(info, "db0:keys="+strconv.Itoa(n)+",") {
			t.Fatalf("INFO keyspace: %q %v", info, err)
		}
		if k, err := c.RandomKey(ctx).Result(); err != nil || !strings.HasPrefix(k, "fan:") {
			t.Fatalf("RANDOMKEY: %q %v", k, err)
		}
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := c.DBSize(ctx).Result(); err != nil || got != 0 {
			t.Fatalf("DBSIZE after FLUSHALL: %d %v", got, err)
		}
	})

	t.Run("RESP3", func(t *testing.T) {
		c := newGoRedis(t, &redis.Options{Addr: paddr, Protocol: 3, MaxRetries: -1})
		if err := c.Set(ctx, "r3", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, "r3").Result(); err != nil || v != "v" {
			t.Fatalf("GET: %q %v", v, err)
		}
		if err := c.Get(ctx, "r3:missing").Err(); err != redis.Nil {
			t.Fatalf("GET of a missing key: %v, want redis.Nil", err)
		}
		vals, err := c.MGet(ctx, "r3", "r3:missing", "other").Result()
		if err != nil || len(vals) != 3 || vals[0] != "v" || vals[1] != nil {
			t.Fatalf("MGET: %v %v", vals, err)
		}
	})

	t.Run("NodeOption", func(t *testing.T) {
		port := testutil.FreePort(t)
		tc.AddNode("--proxy-port", strconv.Itoa(port))
		addr := proc.LocalAddr(port)
		c := newGoRedis(t, &redis.Options{Addr: addr, MaxRetries: -1})
		testutil.Eventually(t, 30*time.Second, "the node's proxy serving", func() error {
			return c.Set(ctx, "nodeopt", "1", 0).Err()
		})
		for i := 0; i < 100; i++ {
			k := "nodeopt:" + strconv.Itoa(i)
			if err := c.Set(ctx, k, i, 0).Err(); err != nil {
				t.Fatalf("SET %s: %v", k, err)
			}
			if v, err := c.Get(ctx, k).Int(); err != nil || v != i {
				t.Fatalf("GET %s: %d %v", k, v, err)
			}
		}
	})

	t.Run("LeaderKill", func(t *testing.T) {
		const key = "proxy:failover"
		leader := tc.slotLeader(t, shard.Slot(key))
		c := newGoRedis(t, &redis.Options{Addr: paddr, MaxRetries: -1, ReadTimeout: 20 * time.Second, WriteTimeout: 20 * time.Second})
		last := ""
		var maxPause time.Duration
		// Each round writes a new value and reads it back: a client that
		// retries nothing sees neither an error nor a stale or lost value.
		write := func(i int) {
			v := "v" + strconv.Itoa(i)
			start := time.Now()
			if err := c.Set(ctx, key, v, 0).Err(); err != nil {
				t.Fatalf("SET %s %s through the proxy: %v", key, v, err)
			}
			last = v
			got, err := c.Get(ctx, key).Result()
			if err != nil || got != v {
				t.Fatalf("GET %s through the proxy after SET %s: %q %v", key, v, got, err)
			}
			maxPause = max(maxPause, time.Since(start))
		}
		i := 0
		for ; i < 100; i++ {
			write(i)
		}
		t.Logf("killing node %d (%s), the leader of %s", leader, tc.nodes[leader].Addr, key)
		tc.nodes[leader].Kill()
		killed := time.Now()
		for after := 0; after < 200 || time.Since(killed) < 2*time.Second; after++ {
			write(i)
			i++
		}
		if got, err := c.Get(ctx, key).Result(); err != nil || got != last {
			t.Fatalf("GET after the kill: %q %v, want the last acknowledged %q", got, err, last)
		}
		if nl := tc.slotLeader(t, shard.Slot(key)); nl == leader {
			t.Fatalf("node %d still leads the key's slot after its kill", nl)
		}
		t.Logf("%d writes and reads, no error; longest SET+GET %v", i, maxPause)
	})
}

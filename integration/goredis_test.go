package integration

// go-redis v9 against Shoal: the default client (HELLO 3 handshake), a RESP2
// client, pipelines, and password authentication.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// newGoRedis returns a go-redis client closed at the end of the test.
func newGoRedis(t *testing.T, opt *redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// waitWritable waits until c can write (the Raft group elected a leader).
func waitWritable(t *testing.T, c *redis.Client) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, "a writable node", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Set(ctx, "__ready_probe", "1", 0).Err()
	})
}

// exerciseGoRedis runs the common command mix through c.
func exerciseGoRedis(t *testing.T, c *redis.Client, prefix string) {
	t.Helper()
	ctx := context.Background()
	k := func(s string) string { return prefix + s }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.Set(ctx, k("a"), "1", 0).Err())
	if v, err := c.Get(ctx, k("a")).Result(); err != nil || v != "1" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if _, err := c.Get(ctx, k("missing")).Result(); !errors.Is(err, redis.Nil) {
		t.Fatalf("GET missing: err = %v, want redis.Nil", err)
	}
	if n, err := c.Incr(ctx, k("n")).Result(); err != nil || n != 1 {
		t.Fatalf("INCR = %d, %v", n, err)
	}
	vals, err := c.MGet(ctx, k("a"), k("missing"), k("n")).Result()
	if err != nil || len(vals) != 3 || vals[0] != "1" || vals[1] != nil || vals[2] != "1" {
		t.Fatalf("MGET = %#v, %v", vals, err)
	}
	if ok, err := c.Expire(ctx, k("a"), time.Hour).Result(); err != nil || !ok {
		t.Fatalf("EXPIRE = %v, %v", ok, err)
	}
	if ttl, err := c.TTL(ctx, k("a")).Result(); err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL = %v, %v", ttl, err)
	}
	if n, err := c.Del(ctx, k("a"), k("n"), k("missing")).Result(); err != nil || n != 2 {
		t.Fatalf("DEL = %d, %v", n, err)
	}

	// A pipeline mixes writes and reads; replies come back in order.
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 50; i++ {
			p.Set(ctx, k("p"+strconv.Itoa(i)), i, 0)
			p.Incr(ctx, k("pc"))
			p.Get(ctx, k("p"+strconv.Itoa(i)))
		}
		return nil
	})
	must(err)
	for i := 0; i < 50; i++ {
		if n := cmds[3*i+1].(*redis.IntCmd).Val(); n != int64(i+1) {
			t.Fatalf("pipelined INCR %d = %d", i, n)
		}
		if v := cmds[3*i+2].(*redis.StringCmd).Val(); v != strconv.Itoa(i) {
			t.Fatalf("pipelined GET %d = %q", i, v)
		}
	}

	// Server commands go-redis parses itself.
	info, err := c.Info(ctx, "server", "keyspace").Result()
	must(err)
	if !strings.Contains(info, "redis_version:") || !strings.Contains(info, "# Keyspace") {
		t.Fatalf("INFO = %q", info)
	}
	cfg, err := c.ConfigGet(ctx, "maxmemory*").Result()
	must(err)
	if cfg["maxmemory-policy"] != "noeviction" || cfg["maxmemory"] != "0" {
		t.Fatalf("CONFIG GET maxmemory* = %v", cfg)
	}
	cmdInfo, err := c.Command(ctx).Result()
	must(err)
	if g := cmdInfo["get"]; g == nil || g.Arity != 2 || g.FirstKeyPos != 1 || !g.ReadOnly {
		t.Fatalf("COMMAND get = %+v", g)
	}
	if s := cmdInfo["set"]; s == nil || s.Arity != -3 || s.ReadOnly {
		t.Fatalf("COMMAND set = %+v", s)
	}
	keys, err := c.CommandGetKeys(ctx, "mset", "x", "1", "y", "2").Result()
	if err != nil || fmt.Sprint(keys) != "[x y]" {
		t.Fatalf("COMMAND GETKEYS = %v, %v", keys, err)
	}
	if _, err := c.Time(ctx).Result(); err != nil {
		t.Fatalf("TIME: %v", err)
	}
}

func TestGoRedisRESP3(t *testing.T) {
	addr := startShoal(t)
	c := newGoRedis(t, &redis.Options{Addr: addr})
	waitWritable(t, c)
	exerciseGoRedis(t, c, "r3:")

	ctx := context.Background()
	conn := c.Conn()
	defer conn.Close()
	info, err := conn.ClientInfo(ctx).Result()
	if err != nil {
		t.Fatalf("CLIENT INFO: %v", err)
	}
	if info.Resp != 3 {
		t.Errorf("CLIENT INFO resp = %d, want 3", info.Resp)
	}
	if info.LibName == "" {
		t.Errorf("CLIENT INFO lib-name is empty: CLIENT SETINFO did not stick (%+v)", info)
	}
	// RESP3 replies: a map for CONFIG GET, a verbatim string for INFO.
	v, err := conn.Do(ctx, "CONFIG", "GET", "maxmemory").Result()
	if m, ok := v.(map[interface{}]interface{}); err != nil || !ok || m["maxmemory"] != "0" {
		t.Errorf("CONFIG GET in RESP3 = %#v, %v; want a map", v, err)
	}
}

func TestGoRedisRESP2(t *testing.T) {
	addr := startShoal(t)
	c := newGoRedis(t, &redis.Options{Addr: addr, Protocol: 2})
	waitWritable(t, c)
	exerciseGoRedis(t, c, "r2:")
	ctx := context.Background()
	v, err := c.Do(ctx, "CONFIG", "GET", "maxmemory").Result()
	if s, ok := v.([]interface{}); err != nil || !ok || len(s) != 2 {
		t.Errorf("CONFIG GET in RESP2 = %#v, %v; want a flat array", v, err)
	}
	if resp, err := c.Do(ctx, "HELLO").Result(); err != nil {
		t.Errorf("HELLO: %v", err)
	} else if s, ok := resp.([]interface{}); !ok || len(s) != 14 {
		t.Errorf("HELLO in RESP2 = %#v, want 14 elements", resp)
	}
}

func TestGoRedisPassword(t *testing.T) {
	addr := startShoal(t, "--requirepass", "s3cret")
	ctx := context.Background()

	c := newGoRedis(t, &redis.Options{Addr: addr, Password: "s3cret"})
	waitWritable(t, c)
	exerciseGoRedis(t, c, "pw:")

	c2 := newGoRedis(t, &redis.Options{Addr: addr, Password: "s3cret", Protocol: 2})
	if err := c2.Set(ctx, "pw2", "v", 0).Err(); err != nil {
		t.Fatalf("RESP2 client with password: %v", err)
	}

	acl := newGoRedis(t, &redis.Options{Addr: addr, Username: "default", Password: "s3cret"})
	if err := acl.Ping(ctx).Err(); err != nil {
		t.Fatalf("client with username default: %v", err)
	}

	bad := newGoRedis(t, &redis.Options{Addr: addr, Password: "wrong", MaxRetries: -1})
	if err := bad.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: err = %v, want WRONGPASS", err)
	}

	none := newGoRedis(t, &redis.Options{Addr: addr, MaxRetries: -1})
	if err := none.Get(ctx, "pw2").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("no password: err = %v, want NOAUTH", err)
	}
}

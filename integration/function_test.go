package integration

// Functions on a real 3-node cluster (docs/scripting.md, "Functions"):
// FUNCTION LOAD on the leader of a key's group and on every master, FCALL
// and FCALL_RO through go-redis's ClusterClient, FCALL after that leader is
// killed (the library registry is replicated with the group), and
// FUNCTION DUMP/RESTORE between redis-server 7.0.15 and Shoal both ways.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

const funcLib = "#!lua name=counters\n" +
	"redis.register_function('fincr', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)\n" +
	"redis.register_function{function_name='fget', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}"

func TestFunctionsCluster(t *testing.T) {
	// 6 groups: each node leads about two, which FUNCTION LOAD must all
	// reach.
	tc := startCluster(t, 3, "--groups", "6")
	cc := tc.clusterClient(nil)
	ctx := context.Background()
	key := "fn:{f1}:n"

	leader := tc.leaderOf(t, "fn:{f1}:probe", "x")
	c := mustDial(t, tc.nodes[leader].Addr)
	raw, err := c.Do("FUNCTION", "LOAD", funcLib)
	c.Close()
	if err != nil || string(raw) != "$8\r\ncounters\r\n" {
		t.Fatalf("FUNCTION LOAD on node %d: %q %v", leader, raw, err)
	}
	for want := int64(2); want <= 6; want += 2 {
		if n, err := cc.FCall(ctx, "fincr", []string{key}, 2).Int64(); err != nil || n != want {
			t.Fatalf("FCALL fincr = %d, %v; want %d", n, err, want)
		}
	}
	if v, err := cc.FCallRo(ctx, "fget", []string{key}).Text(); err != nil || v != "6" {
		t.Fatalf("FCALL_RO fget = %q, %v", v, err)
	}
	if err := cc.FCallRo(ctx, "fincr", []string{key}, 1).Err(); err == nil ||
		err.Error() != "ERR Can not execute a script with write flag using *_ro command." {
		t.Fatalf("FCALL_RO of a write function: %v", err)
	}
	if err := cc.FCall(ctx, "fincr", []string{key, "fn:other"}, 1).Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Fatalf("FCALL with keys of two slots: %v", err)
	}

	// Loaded on every master (as Redis Cluster needs: go-redis 9.23's
	// FunctionLoad goes to one node), FCALL works on keys of every group.
	lib2 := "#!lua name=tagger\nredis.register_function('ftag', function(keys, args) return redis.call('SET', keys[1], args[1]) end)"
	if err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		return m.FunctionLoad(ctx, lib2).Err()
	}); err != nil {
		t.Fatalf("FUNCTION LOAD on every master: %v", err)
	}
	for i := 0; i < 32; i++ {
		k := fmt.Sprintf("fn:spread:%d", i)
		if err := cc.FCall(ctx, "ftag", []string{k}, "v").Err(); err != nil {
			t.Fatalf("FCALL ftag on %s: %v", k, err)
		}
	}

	// Kill the leader: a new leader of the group has the library (never
	// "Function not found") and the count goes on.
	t.Logf("killing node %d, leader of %s's group", leader, key)
	tc.nodes[leader].Kill()
	// Raw FCALL on every running node until one serves it (redirects and
	// CLUSTERDOWN while the group elects are retried); "Function not
	// found" fails at once.
	testutil.Eventually(t, 30*time.Second, "FCALL on the new leader", func() error {
		last := ""
		for _, nd := range tc.nodes {
			if !nd.Running() {
				continue
			}
			d, err := dialRESP(nd.Addr)
			if err != nil {
				continue
			}
			raw, err := d.Do("FCALL", "fincr", "1", key, "1")
			d.Close()
			if err != nil {
				continue
			}
			r := string(raw)
			if strings.Contains(r, "Function not found") {
				t.Fatalf("FCALL after failover: %q (the library was not replicated)", r)
			}
			if strings.HasPrefix(r, ":") {
				if r != ":7\r\n" {
					t.Fatalf("FCALL after failover = %q, want 7", r)
				}
				return nil
			}
			last = r
		}
		return fmt.Errorf("no node serves FCALL yet (last reply %q)", last)
	})
	// A new ClusterClient (the old one knows the dead node) goes on.
	cc2 := tc.clusterClient(nil)
	testutil.Eventually(t, 20*time.Second, "FCALL through a new ClusterClient", func() error {
		n, err := cc2.FCall(ctx, "fincr", []string{key}, 1).Int64()
		if err != nil {
			return err
		}
		if n != 8 {
			t.Fatalf("FCALL = %d, want 8", n)
		}
		return nil
	})
	var list []redis.Library
	testutil.Eventually(t, 10*time.Second, "FUNCTION LIST on the new leader", func() error {
		nl := tc.leaderOf(t, "fn:{f1}:probe", "y")
		d := redis.NewClient(&redis.Options{Addr: tc.nodes[nl].Addr})
		defer d.Close()
		var err error
		list, err = d.FunctionList(ctx, redis.FunctionListQuery{WithCode: true}).Result()
		if err != nil {
			return err
		}
		if len(list) != 2 {
			return fmt.Errorf("FUNCTION LIST on node %d: %d libraries", nl, len(list))
		}
		return nil
	})
	if list[0].Name != "counters" || list[0].Code != funcLib || len(list[0].Functions) != 2 || list[1].Name != "tagger" {
		t.Fatalf("FUNCTION LIST = %+v", list)
	}
}

// TestFunctionsDumpRestoreRedis moves libraries between redis-server
// 7.0.15 and Shoal with FUNCTION DUMP and FUNCTION RESTORE, both ways
// (Redis's payloads have LZF-compressed codes; Shoal's plain ones).
func TestFunctionsDumpRestoreRedis(t *testing.T) {
	ctx := context.Background()
	rs := testutil.StartRedis(t)
	r := redis.NewClient(&redis.Options{Addr: rs.Addr})
	defer r.Close()
	sh := redis.NewClient(&redis.Options{Addr: startShoal(t)})
	defer sh.Close()

	if err := r.FunctionLoad(ctx, funcLib).Err(); err != nil {
		t.Fatal(err)
	}
	payload, err := r.FunctionDump(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.FunctionRestore(ctx, payload).Err(); err != nil {
		t.Fatalf("FUNCTION RESTORE of Redis's payload into Shoal: %v", err)
	}
	if n, err := sh.FCall(ctx, "fincr", []string{"k"}, 5).Int64(); err != nil || n != 5 {
		t.Fatalf("FCALL of the restored function on Shoal = %d, %v", n, err)
	}

	// The reverse: Shoal's dump (a second library) into Redis, FLUSH.
	if err := sh.FunctionLoad(ctx, "#!lua name=second\nredis.register_function('twice', function(keys, args) return args[1] .. args[1] end)").Err(); err != nil {
		t.Fatal(err)
	}
	payload, err = sh.FunctionDump(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.FunctionRestore(ctx, payload).Err(); err == nil || err.Error() != "ERR Library counters already exists" {
		t.Fatalf("Redis: FUNCTION RESTORE APPEND of a library it has: %v", err)
	}
	if err := r.Do(ctx, "FUNCTION", "RESTORE", payload, "FLUSH").Err(); err != nil {
		t.Fatalf("Redis: FUNCTION RESTORE of Shoal's payload: %v", err)
	}
	if v, err := r.FCall(ctx, "twice", nil, "ab").Text(); err != nil || v != "abab" {
		t.Fatalf("Redis: FCALL twice = %q, %v", v, err)
	}
	if n, err := r.FCall(ctx, "fincr", []string{"k"}, 3).Int64(); err != nil || n != 3 {
		t.Fatalf("Redis: FCALL fincr = %d, %v", n, err)
	}
}

// TestFunctionsPipeline: write FCALLs of a pipeline are proposed back to
// back and answered in order, interleaved with EVAL, plain writes and a
// read-only FCALL that must see them.
func TestFunctionsPipeline(t *testing.T) {
	ctx := context.Background()
	sh := redis.NewClient(&redis.Options{Addr: startShoal(t)})
	defer sh.Close()
	if err := sh.FunctionLoad(ctx, funcLib).Err(); err != nil {
		t.Fatal(err)
	}
	p := sh.Pipeline()
	var cmds []redis.Cmder
	for i := 0; i < 5; i++ {
		cmds = append(cmds, p.FCall(ctx, "fincr", []string{"pk"}, 1))
		cmds = append(cmds, p.Eval(ctx, "return redis.call('INCRBY', KEYS[1], 10)", []string{"pk"}))
	}
	cmds = append(cmds, p.IncrBy(ctx, "pk", 100), p.FCallRo(ctx, "fget", []string{"pk"}), p.FCall(ctx, "nope", nil))
	if _, err := p.Exec(ctx); err != nil && !strings.Contains(err.Error(), "Function not found") {
		t.Fatal(err)
	}
	want := int64(0)
	for i := 0; i < 10; i++ {
		if i%2 == 0 {
			want++
		} else {
			want += 10
		}
		if n, err := cmds[i].(*redis.Cmd).Int64(); err != nil || n != want {
			t.Fatalf("reply %d = %d, %v; want %d", i, n, err, want)
		}
	}
	if n, err := cmds[10].(*redis.IntCmd).Result(); err != nil || n != want+100 {
		t.Fatalf("INCRBY = %d, %v", n, err)
	}
	if v, err := cmds[11].(*redis.Cmd).Text(); err != nil || v != fmt.Sprint(want+100) {
		t.Fatalf("FCALL_RO after the pipeline's writes = %q, %v", v, err)
	}
	if err := cmds[12].Err(); err == nil || err.Error() != "ERR Function not found" {
		t.Fatalf("FCALL nope: %v", err)
	}
}

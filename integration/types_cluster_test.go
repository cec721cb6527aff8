package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/shard"
)

// TestClusterDataTypes drives the data types through go-redis's cluster
// client on a 3-node cluster: every family in a pipeline, the numkeys
// commands routed by their keys (a hash tag keeps them in one slot),
// CROSSSLOT for keys of two slots, MOVED for another node's keys, and
// WRONGTYPE across types.
func TestClusterDataTypes(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := tc.clusterClient(nil)

	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, "{u}h", "f", "1", "g", "2")
		p.SAdd(ctx, "{u}s1", "a", "b", "c")
		p.SAdd(ctx, "{u}s2", "b", "c", "d")
		p.RPush(ctx, "{u}l", "x", "y", "z")
		p.ZAdd(ctx, "{u}z1", redis.Z{Score: 1, Member: "a"}, redis.Z{Score: 2, Member: "b"})
		p.ZAdd(ctx, "{u}z2", redis.Z{Score: 10, Member: "b"})
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	if v, err := c.HGetAll(ctx, "{u}h").Result(); err != nil || v["f"] != "1" || v["g"] != "2" {
		t.Fatalf("HGETALL: %v %v", v, err)
	}
	if n, err := c.SInterCard(ctx, 0, "{u}s1", "{u}s2").Result(); err != nil || n != 2 {
		t.Fatalf("SINTERCARD: %d %v", n, err)
	}
	if zs, err := c.ZUnionWithScores(ctx, redis.ZStore{Keys: []string{"{u}z1", "{u}z2"}}).Result(); err != nil ||
		len(zs) != 2 || zs[1].Member != "b" || zs[1].Score != 12 {
		t.Fatalf("ZUNION WITHSCORES: %v %v", zs, err)
	}
	if n, err := c.ZUnionStore(ctx, "{u}dst", &redis.ZStore{Keys: []string{"{u}z1", "{u}z2"}}).Result(); err != nil || n != 2 {
		t.Fatalf("ZUNIONSTORE: %d %v", n, err)
	}
	if key, vals, err := c.LMPop(ctx, "left", 2, "{u}nokey", "{u}l").Result(); err != nil || key != "{u}l" || len(vals) != 2 || vals[0] != "x" {
		t.Fatalf("LMPOP: %s %v %v", key, vals, err)
	}
	if err := c.Get(ctx, "{u}h").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("GET of a hash: %v", err)
	}

	// Raw: keys of two slots are CROSSSLOT on the node that serves the
	// first; another node's keys are MOVED.
	a, b := "a", "b"
	if shard.Slot([]byte(a)) == shard.Slot([]byte(b)) {
		t.Fatal("a and b share a slot")
	}
	sawCross := false
	var conn *respclient.Conn
	for _, addr := range tc.Addrs() {
		cn, err := respclient.Dial(ctx, addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer cn.Close()
		conn = cn
		for _, args := range [][]any{
			{"ZUNION", "2", a, b}, {"SINTERCARD", "2", a, b}, {"ZUNIONSTORE", a, "1", b}, {"LMPOP", "2", a, b, "LEFT"},
		} {
			_, err := cn.Do(ctx, args...)
			switch {
			case err != nil && strings.HasPrefix(err.Error(), "CROSSSLOT"):
				sawCross = true
			case err != nil && strings.HasPrefix(err.Error(), "MOVED"):
			default:
				t.Fatalf("%v across two slots on %s: %v, want CROSSSLOT or MOVED", args, addr, err)
			}
		}
	}
	if !sawCross {
		t.Fatal("no node answered CROSSSLOT for keys of two slots")
	}
	// A single-key numkeys call on every key of a few: served or MOVED,
	// never an error of another kind.
	for _, k := range []string{"k1", "k2", "k3", "k4", "k5", "k6"} {
		_, err := conn.Do(ctx, "ZUNION", "1", k)
		if err != nil && !strings.HasPrefix(err.Error(), "MOVED") {
			t.Fatalf("ZUNION 1 %s: %v", k, err)
		}
	}
}

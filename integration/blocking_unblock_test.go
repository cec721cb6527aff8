package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClientUnblock runs one script of two connections against redis-server
// and Shoal and compares every reply: connection A blocks (BLPOP, BLMOVE,
// BZPOPMIN, BLMPOP, in RESP2 and RESP3), B sees it in INFO's
// blocked_clients and in CLIENT LIST's flags (b), then releases it with
// CLIENT UNBLOCK (ERROR, TIMEOUT, the default) or a push; a second
// UNBLOCK, and one of a connection not blocked, reply 0. The client ids
// differ between the servers: each side uses its own A's id.
func TestClientUnblock(t *testing.T) {
	redisAddr := testutil.StartRedis(t).Addr
	tgtAddr, tgtName := startTarget(t)
	ref := unblockScript(t, "redis", redisAddr)
	got := unblockScript(t, tgtName, tgtAddr)
	t.Logf("redis's transcript:\n%s", strings.Join(ref, "\n"))
	if len(ref) != len(got) {
		t.Fatalf("redis ran %d steps, %s %d", len(ref), tgtName, len(got))
	}
	for i := range ref {
		if ref[i] != got[i] {
			t.Errorf("step %d differs:\n\tredis: %s\n\t%s: %s", i, ref[i], tgtName, got[i])
		}
	}
	// The replies that matter, as Redis gives them (the comparison above
	// would pass if both servers ignored UNBLOCK alike).
	for _, want := range []string{
		`A: BLPOP ul 0 -> "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"`,
		`A: BLMOVE ul ul2 LEFT RIGHT 0 -> "*-1\r\n"`,
		`A: BZPOPMIN uz 0 -> "_\r\n"`,
	} {
		found := false
		for _, s := range ref {
			found = found || s == want
		}
		if !found {
			t.Errorf("redis's transcript lacks %s:\n%s", want, strings.Join(ref, "\n"))
		}
	}
}

// unblockScript runs TestClientUnblock's script against addr and returns
// its transcript, one line per reply.
func unblockScript(t *testing.T, name, addr string) []string {
	t.Helper()
	a, b := mustDial(t, addr), mustDial(t, addr)
	var out []string
	var id string
	do := func(c *respConn, who string, args ...string) string {
		t.Helper()
		raw, err := c.Do(args...)
		if err != nil {
			t.Fatalf("%s: %s %v: %v", name, who, args, err)
		}
		line := strings.Join(args, " ")
		if args[0] == "CLIENT" {
			line = strings.ReplaceAll(line, " "+id+"", " <A>") // ids differ
		}
		out = append(out, fmt.Sprintf("%s: %s -> %q", who, line, raw))
		return string(raw)
	}
	idRaw, err := a.Do("CLIENT", "ID")
	if err != nil {
		t.Fatalf("%s: CLIENT ID: %v", name, err)
	}
	id = strings.TrimSuffix(strings.TrimPrefix(string(idRaw), ":"), "\r\n")
	// flagsOfA is A's flags in CLIENT LIST, seen from B.
	flagsOfA := func() string {
		raw, err := b.Do("CLIENT", "LIST")
		if err != nil {
			t.Fatalf("%s: CLIENT LIST: %v", name, err)
		}
		v, err := respclient.Parse(raw)
		if err != nil {
			t.Fatalf("%s: CLIENT LIST reply %q: %v", name, raw, err)
		}
		list, _ := v.Text()
		for _, line := range strings.Split(list, "\n") {
			if !strings.HasPrefix(line, "id="+id+" ") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "flags="); ok {
					return v
				}
			}
		}
		t.Fatalf("%s: connection %s not in CLIENT LIST: %q", name, id, list)
		return ""
	}
	blocked := func() string {
		raw, err := b.Do("INFO", "clients")
		if err != nil {
			t.Fatalf("%s: INFO: %v", name, err)
		}
		for _, line := range strings.Split(string(raw), "\r\n") {
			if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
				return v
			}
		}
		return "?"
	}
	slot := 0 // out's line for the reply A waits for
	// send writes a command on A without reading its reply; A blocks.
	send := func(args ...string) {
		t.Helper()
		if _, err := a.conn.Write(encodeCommand(args)); err != nil {
			t.Fatalf("%s: A %v: %v", name, args, err)
		}
		testutil.Eventually(t, 10*time.Second, name+": A blocks", func() error {
			if n := blocked(); n != "1" {
				return fmt.Errorf("blocked_clients %s", n)
			}
			return nil
		})
		out = append(out, "A: "+strings.Join(args, " ")+" blocks, flags="+flagsOfA())
		if err := a.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
			t.Fatal(err)
		}
		slot = len(out)
		out = append(out, "") // A's reply, set by recv
	}
	recv := func(args ...string) {
		t.Helper()
		v, err := respclient.ReadRaw(a.r)
		if err != nil {
			t.Fatalf("%s: A's reply to %v: %v", name, args, err)
		}
		out[slot] = fmt.Sprintf("A: %s -> %q", strings.Join(args, " "), v.Raw)
	}

	do(b, "B", "DEL", "ul", "ul2", "uz")
	out = append(out, "A flags="+flagsOfA()+" blocked_clients="+blocked())
	do(b, "B", "CLIENT", "UNBLOCK", id)

	send("BLPOP", "ul", "0")
	do(b, "B", "CLIENT", "UNBLOCK", id, "ERROR")
	recv("BLPOP", "ul", "0")
	do(b, "B", "CLIENT", "UNBLOCK", id, "ERROR")

	send("BLMOVE", "ul", "ul2", "LEFT", "RIGHT", "0")
	do(b, "B", "CLIENT", "UNBLOCK", id, "TIMEOUT")
	recv("BLMOVE", "ul", "ul2", "LEFT", "RIGHT", "0")

	send("BLMPOP", "0", "1", "ul", "RIGHT")
	do(b, "B", "RPUSH", "ul", "x")
	recv("BLMPOP", "0", "1", "ul", "RIGHT")
	do(b, "B", "CLIENT", "UNBLOCK", id)

	if _, err := a.Hello(3); err != nil { // its reply holds the id
		t.Fatalf("%s: HELLO 3: %v", name, err)
	}
	send("BZPOPMIN", "uz", "0")
	do(b, "B", "CLIENT", "UNBLOCK", id)
	recv("BZPOPMIN", "uz", "0")

	send("BLMPOP", "0", "2", "uz", "ul", "LEFT")
	do(b, "B", "CLIENT", "UNBLOCK", id, "timeout")
	recv("BLMPOP", "0", "2", "uz", "ul", "LEFT")

	send("BZMPOP", "0", "1", "uz", "MAX")
	do(b, "B", "ZADD", "uz", "1.5", "m")
	recv("BZMPOP", "0", "1", "uz", "MAX")
	testutil.Eventually(t, 10*time.Second, name+": A no longer counts as blocked", func() error {
		if n := blocked(); n != "0" {
			return fmt.Errorf("blocked_clients %s", n)
		}
		return nil
	})
	out = append(out, "A flags="+flagsOfA())
	do(a, "A", "PING")
	return out
}

// TestClusterMultiBlocking: on a 3-node cluster, blocking commands inside
// a transaction (go-redis TxPipelined, routed by their keys' slot) reply at
// once: a pop with data in the blocking command's shape, nil without; a
// blocking command on another slot's key is refused as any command would
// be (CROSSSLOT).
func TestClusterMultiBlocking(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := tc.clusterClient(nil)
	if err := c.RPush(ctx, "{m}l", "a", "b").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.ZAdd(ctx, "{m}z", redis.Z{Score: 1.5, Member: "x"}).Err(); err != nil {
		t.Fatal(err)
	}
	var blpop, empty *redis.StringSliceCmd
	var bzpop *redis.ZWithKeyCmd
	var blmove *redis.StringCmd
	_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		blpop = p.BLPop(ctx, 0, "{m}nokey", "{m}l")
		bzpop = p.BZPopMin(ctx, 0, "{m}z")
		blmove = p.BLMove(ctx, "{m}l", "{m}l2", "LEFT", "RIGHT", 0)
		empty = p.BRPop(ctx, 0, "{m}l")
		return nil
	})
	if err != nil && err != redis.Nil {
		t.Fatalf("TxPipelined: %v", err)
	}
	if got := blpop.Val(); len(got) != 2 || got[0] != "{m}l" || got[1] != "a" {
		t.Errorf("BLPOP in MULTI = %q, %v", got, blpop.Err())
	}
	if z := bzpop.Val(); z == nil || z.Key != "{m}z" || z.Member != "x" || z.Score != 1.5 {
		t.Errorf("BZPOPMIN in MULTI = %+v, %v", z, bzpop.Err())
	}
	if blmove.Val() != "b" {
		t.Errorf("BLMOVE in MULTI = %q, %v", blmove.Val(), blmove.Err())
	}
	if empty.Err() != redis.Nil {
		t.Errorf("BRPOP of an empty list in MULTI = %q, %v; want nil", empty.Val(), empty.Err())
	}
	if got := c.LRange(ctx, "{m}l2", 0, -1).Val(); len(got) != 1 || got[0] != "b" {
		t.Errorf("{m}l2 = %q", got)
	}
	_, err = c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.BLPop(ctx, 0, "{m}l", "{other}l")
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("BLPOP of two slots in MULTI: %v, want CROSSSLOT", err)
	}
}

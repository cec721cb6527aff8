package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// blockedClients returns the sum of INFO's blocked_clients over addrs.
func blockedClients(ctx context.Context, t *testing.T, addrs []string) int {
	t.Helper()
	n := 0
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		info, err := c.Info(ctx, "clients").Result()
		c.Close()
		if err != nil {
			t.Fatalf("INFO clients on %s: %v", a, err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "blocked_clients:"); ok {
				k, _ := strconv.Atoi(v)
				n += k
			}
		}
	}
	return n
}

// TestClusterBlockingCommands: on a 3-node cluster, BLPOP, BZPOPMIN, BLMOVE
// and BLMPOP block until another client's write (applied through Raft)
// gives them something, each element served exactly once (two clients
// blocked on one element: one gets it, the other times out); a timeout
// answers nil, not before its time.
func TestClusterBlockingCommands(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := tc.clusterClient(nil)
	pusher := tc.clusterClient(nil)

	type result struct {
		v   []string
		err error
	}
	block := func(fn func() ([]string, error)) chan result {
		ch := make(chan result, 1)
		go func() {
			v, err := fn()
			ch <- result{v, err}
		}()
		testutil.Eventually(t, 10*time.Second, "the client blocks", func() error {
			if n := blockedClients(ctx, t, tc.Addrs()); n != 1 {
				return fmt.Errorf("%d blocked clients", n)
			}
			return nil
		})
		return ch
	}
	wait := func(ch chan result, what string) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: not woken", what)
		}
		return result{}
	}

	ch := block(func() ([]string, error) { return c.BLPop(ctx, 10*time.Second, "{b}l1", "{b}l2").Result() })
	if err := pusher.RPush(ctx, "{b}l2", "v1").Err(); err != nil {
		t.Fatal(err)
	}
	if r := wait(ch, "BLPOP"); r.err != nil || len(r.v) != 2 || r.v[0] != "{b}l2" || r.v[1] != "v1" {
		t.Fatalf("BLPOP woken: %v %v", r.v, r.err)
	}
	if n, _ := pusher.LLen(ctx, "{b}l2").Result(); n != 0 {
		t.Fatalf("the pushed element is still there (%d)", n)
	}

	ch = block(func() ([]string, error) {
		z, err := c.BZPopMin(ctx, 10*time.Second, "{b}z").Result()
		if err != nil {
			return nil, err
		}
		return []string{z.Key, fmt.Sprint(z.Member), fmt.Sprint(z.Score)}, nil
	})
	pusher.ZAdd(ctx, "{b}z", redis.Z{Score: 2.5, Member: "m"})
	if r := wait(ch, "BZPOPMIN"); r.err != nil || r.v[1] != "m" || r.v[2] != "2.5" {
		t.Fatalf("BZPOPMIN woken: %v %v", r.v, r.err)
	}

	ch = block(func() ([]string, error) {
		v, err := c.BLMove(ctx, "{b}src", "{b}dst", "LEFT", "RIGHT", 10*time.Second).Result()
		return []string{v}, err
	})
	pusher.LPush(ctx, "{b}src", "moved")
	if r := wait(ch, "BLMOVE"); r.err != nil || r.v[0] != "moved" {
		t.Fatalf("BLMOVE woken: %v %v", r.v, r.err)
	}
	if v, _ := pusher.LRange(ctx, "{b}dst", 0, -1).Result(); len(v) != 1 || v[0] != "moved" {
		t.Fatalf("BLMOVE's destination: %v", v)
	}

	// A timeout answers nil.
	start := time.Now()
	if err := c.BLPop(ctx, 300*time.Millisecond, "{b}empty").Err(); err != redis.Nil {
		t.Fatalf("BLPOP timeout: %v, want nil", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("BLPOP timed out after %v, before its timeout", d)
	}

	// Two blocked clients, one element: exactly one gets it.
	c2 := tc.clusterClient(nil)
	ch1 := make(chan result, 1)
	ch2 := make(chan result, 1)
	go func() { v, err := c.BLPop(ctx, 3*time.Second, "{b}one").Result(); ch1 <- result{v, err} }()
	go func() { v, err := c2.BLPop(ctx, 3*time.Second, "{b}one").Result(); ch2 <- result{v, err} }()
	testutil.Eventually(t, 10*time.Second, "two clients block", func() error {
		if n := blockedClients(ctx, t, tc.Addrs()); n != 2 {
			return fmt.Errorf("%d blocked clients", n)
		}
		return nil
	})
	pusher.RPush(ctx, "{b}one", "only")
	r1, r2 := wait(ch1, "first BLPOP"), wait(ch2, "second BLPOP")
	got := 0
	for _, r := range []result{r1, r2} {
		switch {
		case r.err == nil && r.v[1] == "only":
			got++
		case r.err == redis.Nil:
		default:
			t.Fatalf("BLPOP: %v %v", r.v, r.err)
		}
	}
	if got != 1 {
		t.Fatalf("%d clients got the one element", got)
	}
}

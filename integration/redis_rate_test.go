package integration

import (
	"context"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestRedisRate runs go-redis/redis_rate (a GCRA rate limiter: a Lua
// script with redis.call("TIME"), EVALSHA then EVAL) on a 3-node cluster:
// a burst of 10 allows exactly 10 of 25 requests made at once, and reports
// the remaining quota and the wait as the limiter's model says. Then
// across a SIGKILL of the leader of a limiter key's group: the quota goes
// on where it was (no reset, no extra allowance), and the new leader runs
// the limiter's EVALSHA from its replicated script cache (no NOSCRIPT, no
// EVAL).
func TestRedisRate(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	// go-redis's own failover handling: it follows MOVED, retries
	// TRYAGAIN, CLUSTERDOWN and network errors up to MaxRedirects times,
	// and reloads its slot map every ClusterStateReloadInterval. A read
	// timeout makes it send a command again that may have applied: a
	// generous one keeps a slow commit on a loaded machine from counting
	// twice.
	c := tc.clusterClient(&redis.ClusterOptions{MaxRedirects: 16, ClusterStateReloadInterval: time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second})
	limiter := redis_rate.NewLimiter(c)
	limit := redis_rate.PerMinute(10) // burst 10, then one per 6 s
	allowed := 0
	for i := 0; i < 25; i++ {
		res, err := limiter.Allow(ctx, "user:42", limit)
		if err != nil {
			t.Fatalf("Allow %d: %v", i, err)
		}
		if res.Allowed > 0 {
			allowed++
			if res.Remaining != 9-i {
				t.Errorf("request %d: remaining %d, want %d", i, res.Remaining, 9-i)
			}
		} else if res.RetryAfter <= 0 {
			t.Errorf("request %d refused without a retry-after", i)
		}
	}
	if allowed != 10 {
		t.Fatalf("%d of 25 requests allowed, want the burst of 10", allowed)
	}
	res, err := limiter.AllowN(ctx, "user:43", limit, 4)
	if err != nil || res.Allowed != 4 || res.Remaining != 6 {
		t.Fatalf("AllowN 4: %+v %v", res, err)
	}
	if err := limiter.Reset(ctx, "user:42"); err != nil {
		t.Fatal(err)
	}
	if res, err := limiter.Allow(ctx, "user:42", limit); err != nil || res.Allowed != 1 {
		t.Fatalf("Allow after Reset: %+v %v", res, err)
	}

	// Across a leader kill. At 10 per hour one event comes back every 6
	// minutes: none while the test runs, so the quota is exact.
	hourly := redis_rate.PerHour(10)
	const key = "{rk}" // the limiter's key is "rate:{rk}"
	for i := 0; i < 4; i++ {
		res, err := limiter.Allow(ctx, key, hourly)
		if err != nil || res.Allowed != 1 || res.Remaining != 9-i {
			t.Fatalf("Allow %d before the kill: %+v %v; want allowed, %d remaining", i, res, err, 9-i)
		}
	}
	leader := tc.leaderOf(t, "probe:{rk}", "x")
	var survivors []*shoalNode
	for i, nd := range tc.nodes {
		if i != leader {
			survivors = append(survivors, nd)
		}
	}
	before := scriptStats(t, survivors)
	t.Logf("killing node %d, the leader of rate:{rk}'s group, after 4 of 10 events", leader)
	tc.nodes[leader].Kill()
	// A call that fails with an error may have been applied (its reply
	// lost): each such error may take one event of the quota.
	errs := 0
	testutil.Eventually(t, 90*time.Second, "Allow after the kill", func() error {
		res, err = limiter.Allow(ctx, key, hourly)
		if err != nil {
			errs++
			t.Logf("Allow after the kill: %v", err)
			return err
		}
		return nil
	})
	t.Logf("first Allow after the kill (%d errors before it): %+v", errs, res)
	if res.Allowed != 1 || res.Remaining > 5 || res.Remaining < 5-errs {
		t.Fatalf("first Allow after the kill: allowed %d, remaining %d; want allowed, 5 remaining (the quota went on where it was; %d errors)",
			res.Allowed, res.Remaining, errs)
	}
	// The rest of the quota, exactly, then refusals.
	for want := res.Remaining - 1; want >= 0; want-- {
		res, err := limiter.Allow(ctx, key, hourly)
		if err != nil || res.Allowed != 1 || res.Remaining != want {
			t.Fatalf("Allow after the kill: %+v %v; want allowed, %d remaining", res, err, want)
		}
	}
	res, err = limiter.Allow(ctx, key, hourly)
	if err != nil || res.Allowed != 0 || res.Remaining != 0 || res.RetryAfter <= 0 {
		t.Fatalf("Allow past the quota after the kill: %+v %v; want refused with a retry-after", res, err)
	}
	after := scriptStats(t, survivors)
	t.Logf("script calls on the surviving nodes: before the kill %+v, after %+v", before, after)
	if after.noscript != before.noscript || after.eval != before.eval {
		t.Errorf("after the kill the new leader answered NOSCRIPT %d times and ran EVAL %d times: the script cache did not survive",
			after.noscript-before.noscript, after.eval-before.eval)
	}
	if after.evalsha <= before.evalsha {
		t.Errorf("no EVALSHA reached the surviving nodes after the kill (%d, then %d)", before.evalsha, after.evalsha)
	}
}

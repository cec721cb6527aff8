package integration

import (
	"context"
	"testing"

	"github.com/go-redis/redis_rate/v10"
)

// TestRedisRate runs go-redis/redis_rate (a GCRA rate limiter: a Lua
// script with redis.call("TIME"), EVALSHA then EVAL) on a 3-node cluster:
// a burst of 10 allows exactly 10 of 25 requests made at once, and reports
// the remaining quota and the wait as the limiter's model says.
func TestRedisRate(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := tc.clusterClient(nil)
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
}

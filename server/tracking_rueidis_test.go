package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestTrackingRueidis: rueidis with its default options (RESP3, CLIENT
// TRACKING ON OPTIN, and DoCache's CLIENT CACHING YES + MULTI PTTL GET
// EXEC) connects, serves the second read from its cache, and drops the
// cached value when another client writes the key.
func TestTrackingRueidis(t *testing.T) {
	_, addr, _ := trackingServer(t)
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}})
	if err != nil {
		t.Fatalf("rueidis connects with default options: %v", err)
	}
	t.Cleanup(rc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rc.Do(ctx, rc.B().Set().Key("k").Value("v1").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	get := func() rueidis.RedisResult {
		return rc.DoCache(ctx, rc.B().Get().Key("k").Cache(), time.Minute)
	}
	if v, err := get().ToString(); err != nil || v != "v1" {
		t.Fatalf("first DoCache GET = %q, %v", v, err)
	}
	r := get()
	if v, err := r.ToString(); err != nil || v != "v1" || !r.IsCacheHit() {
		t.Fatalf("second DoCache GET = %q, %v, cache hit %v; want v1 from the cache", v, err, r.IsCacheHit())
	}

	other := dialRaw(t, addr)
	if got := other.do("SET", "k", "v2"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	testutil.Eventually(t, 10*time.Second, "the cached value is invalidated", func() error {
		r := get()
		v, err := r.ToString()
		switch {
		case err != nil:
			return err
		case v != "v2":
			return errors.New("still " + v)
		}
		return nil
	})
	if r := get(); !r.IsCacheHit() {
		t.Error("the new value is not cached")
	}
}

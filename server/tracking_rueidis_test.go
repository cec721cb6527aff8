package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/valkey-io/valkey-go"

	"github.com/shoalcache/shoal/internal/testutil"
)

// cachingClient is a client-side caching client under test: set writes
// k, get reads it through the client's cache and reports whether the
// cache answered.
type cachingClient struct {
	set func(ctx context.Context, v string) error
	get func(ctx context.Context) (v string, hit bool, err error)
}

// TestTrackingRueidis: rueidis and valkey-go (its fork) with their default
// options (RESP3, CLIENT TRACKING ON OPTIN, and DoCache's CLIENT CACHING
// YES + MULTI PTTL GET EXEC) connect, serve the second read from their
// cache, and drop the cached value when another client writes the key.
func TestTrackingRueidis(t *testing.T) {
	for _, tc := range []struct {
		name string
		dial func(t *testing.T, addr string) cachingClient
	}{
		{"rueidis", func(t *testing.T, addr string) cachingClient {
			rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}})
			if err != nil {
				t.Fatalf("rueidis connects with default options: %v", err)
			}
			t.Cleanup(rc.Close)
			return cachingClient{
				set: func(ctx context.Context, v string) error {
					return rc.Do(ctx, rc.B().Set().Key("k").Value(v).Build()).Error()
				},
				get: func(ctx context.Context) (string, bool, error) {
					r := rc.DoCache(ctx, rc.B().Get().Key("k").Cache(), time.Minute)
					v, err := r.ToString()
					return v, r.IsCacheHit(), err
				},
			}
		}},
		{"valkey-go", func(t *testing.T, addr string) cachingClient {
			vc, err := valkey.NewClient(valkey.ClientOption{InitAddress: []string{addr}})
			if err != nil {
				t.Fatalf("valkey-go connects with default options: %v", err)
			}
			t.Cleanup(vc.Close)
			return cachingClient{
				set: func(ctx context.Context, v string) error {
					return vc.Do(ctx, vc.B().Set().Key("k").Value(v).Build()).Error()
				},
				get: func(ctx context.Context) (string, bool, error) {
					r := vc.DoCache(ctx, vc.B().Get().Key("k").Cache(), time.Minute)
					v, err := r.ToString()
					return v, r.IsCacheHit(), err
				},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _ := trackingServer(t)
			c := tc.dial(t, addr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := c.set(ctx, "v1"); err != nil {
				t.Fatal(err)
			}
			if v, _, err := c.get(ctx); err != nil || v != "v1" {
				t.Fatalf("first DoCache GET = %q, %v", v, err)
			}
			if v, hit, err := c.get(ctx); err != nil || v != "v1" || !hit {
				t.Fatalf("second DoCache GET = %q, %v, cache hit %v; want v1 from the cache", v, err, hit)
			}

			other := dialRaw(t, addr)
			if got := other.do("SET", "k", "v2"); got != "+OK\r\n" {
				t.Fatal(got)
			}
			testutil.Eventually(t, 10*time.Second, "the cached value is invalidated", func() error {
				v, _, err := c.get(ctx)
				switch {
				case err != nil:
					return err
				case v != "v2":
					return errors.New("still " + v)
				}
				return nil
			})
			if _, hit, _ := c.get(ctx); !hit {
				t.Error("the new value is not cached")
			}
		})
	}
}

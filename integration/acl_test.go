package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestACLCluster checks that ACL users are the cluster's: a user made on
// node A authenticates on B and C, its key patterns hold on every node
// (whichever node owns the key's slot), go-redis's ClusterClient works as
// that user, and ACL DELUSER on B closes that user's connections on every
// node.
func TestACLCluster(t *testing.T) {
	ctx := context.Background()
	tc := startCluster(t, 3)
	addrs := tc.Addrs()
	a := redis.NewClient(&redis.Options{Addr: addrs[0]})
	t.Cleanup(func() { a.Close() })
	if err := a.Do(ctx, "ACL", "SETUSER", "app", "on", ">secret", "~app:*", "+@all", "-flushall").Err(); err != nil {
		t.Fatalf("ACL SETUSER on A: %v", err)
	}
	// Every node learns the user from the map.
	for _, addr := range addrs {
		testutil.Eventually(t, 20*time.Second, "user app on "+addr, func() error {
			c := redis.NewClient(&redis.Options{Addr: addr, Username: "app", Password: "secret", MaxRetries: -1})
			defer c.Close()
			who, err := c.Do(ctx, "ACL", "WHOAMI").Text()
			if err != nil || who != "app" {
				return fmt.Errorf("WHOAMI = %q, %v", who, err)
			}
			return nil
		})
	}
	// Key patterns and command rules on every node, before routing.
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr, Username: "app", Password: "secret", MaxRetries: -1})
		err := c.Get(ctx, "other").Err()
		if err == nil || !strings.Contains(err.Error(), "NOPERM this user has no permissions to access one of the keys") {
			t.Errorf("%s: GET other as app: %v, want NOPERM", addr, err)
		}
		err = c.FlushAll(ctx).Err()
		if err == nil || err.Error() != "NOPERM this user has no permissions to run the 'flushall' command" {
			t.Errorf("%s: FLUSHALL as app: %v, want NOPERM", addr, err)
		}
		if err := c.Do(ctx, "AUTH", "app", "wrong").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			t.Errorf("%s: AUTH with a wrong password: %v", addr, err)
		}
		c.Close()
	}
	// go-redis's cluster client as the user: keys of every slot range.
	cc := tc.clusterClient(&redis.ClusterOptions{Username: "app", Password: "secret"})
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("app:%d", i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s as app: %v", k, err)
		}
		if v, err := cc.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("GET %s as app = %d, %v", k, v, err)
		}
		if err := cc.Set(ctx, fmt.Sprintf("x:%d", i), i, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Fatalf("SET x:%d as app: %v, want NOPERM", i, err)
		}
	}
	// DELUSER on B closes app's connections on every node.
	conns := make([]*respConn, len(addrs))
	for i, addr := range addrs {
		conns[i] = mustDial(t, addr)
		if r, err := conns[i].Do("AUTH", "app", "secret"); err != nil || string(r) != "+OK\r\n" {
			t.Fatalf("AUTH app on %s: %q, %v", addr, r, err)
		}
	}
	b := redis.NewClient(&redis.Options{Addr: addrs[1]})
	t.Cleanup(func() { b.Close() })
	if n, err := b.Do(ctx, "ACL", "DELUSER", "app").Int(); err != nil || n != 1 {
		t.Fatalf("ACL DELUSER on B = %d, %v", n, err)
	}
	for i, c := range conns {
		testutil.Eventually(t, 20*time.Second, "app's connection to "+addrs[i]+" closed", func() error {
			if r, err := c.Do("PING"); err == nil {
				return fmt.Errorf("PING answered %q", r)
			}
			return nil
		})
	}
	for _, addr := range addrs {
		testutil.Eventually(t, 20*time.Second, "user app gone on "+addr, func() error {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			users, err := c.Do(ctx, "ACL", "USERS").StringSlice()
			if err != nil || strings.Join(users, ",") != "default" {
				return fmt.Errorf("ACL USERS = %q, %v", users, err)
			}
			return nil
		})
	}
}

// TestACLFile checks --aclfile: users loaded at start, ACL SAVE writing
// the file and ACL LOAD reading it back (standalone node).
func TestACLFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users.acl")
	if err := os.WriteFile(path, []byte("# users\nuser ops on >pw ~ops:* +@all\nuser default on nopass ~* &* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := testutil.StartShoal(t, "--aclfile", path)
	c := redis.NewClient(&redis.Options{Addr: n.Addr, Username: "ops", Password: "pw", MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	if err := c.Set(ctx, "ops:a", "1", 0).Err(); err != nil {
		t.Fatalf("SET as ops: %v", err)
	}
	if err := c.Set(ctx, "b", "1", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("SET b as ops: %v", err)
	}
	if err := c.Do(ctx, "ACL", "SETUSER", "extra", "on", "nopass", "+get", "~e*").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "ACL", "SAVE").Err(); err != nil {
		t.Fatalf("ACL SAVE: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), "user extra on nopass ~e* resetchannels -@all +get\n") {
		t.Fatalf("saved file %q, %v", b, err)
	}
	if err := os.WriteFile(path, []byte("user ops on >pw ~ops:* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "ACL", "LOAD").Err(); err != nil {
		t.Fatalf("ACL LOAD: %v", err)
	}
	users, err := c.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil || strings.Join(users, ",") != "default,ops" {
		t.Fatalf("ACL USERS after LOAD = %q, %v", users, err)
	}
}

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestClusterHashFieldExpiry checks per-field expiry on a 3-node cluster:
// the leader's active expiry deletes short-lived fields (and the key with
// its last field) without any client touching them, through the log, so
// that after the leader is killed the new leader has the same hash: the
// expired fields gone, the long-lived field's time unchanged.
func TestClusterHashFieldExpiry(t *testing.T) {
	tc := startCluster(t, 3)
	const key, gone = "hfe:{k}", "hfe:{k}:gone"
	leader := tc.leaderOf(t, "hfe:{k}:probe", "x")
	c := mustDial(t, tc.nodes[leader].Addr)
	do := func(args ...string) string {
		t.Helper()
		raw, err := c.Do(args...)
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		return string(raw)
	}
	do("HSET", key, "short", "1", "long", "2", "plain", "3")
	do("HSET", gone, "a", "1", "b", "2")
	if r := do("HPEXPIRE", key, "300", "FIELDS", "1", "short"); r != "*1\r\n:1\r\n" {
		t.Fatalf("HPEXPIRE short = %q", r)
	}
	longAt := time.Now().Add(time.Hour).UnixMilli()
	if r := do("HPEXPIREAT", key, fmt.Sprint(longAt), "FIELDS", "1", "long"); r != "*1\r\n:1\r\n" {
		t.Fatalf("HPEXPIREAT long = %q", r)
	}
	if r := do("HPEXPIRE", gone, "300", "FIELDS", "2", "a", "b"); r != "*2\r\n:1\r\n:1\r\n" {
		t.Fatalf("HPEXPIRE gone = %q", r)
	}
	// Nothing reads the hashes: only active expiry can delete the fields.
	// DBSIZE and OBJECT do not look at fields.
	testutil.Eventually(t, 10*time.Second, "the expired fields' key deleted", func() error {
		if r := do("EXISTS", gone); r != ":0\r\n" {
			return fmt.Errorf("EXISTS %s = %q", gone, r)
		}
		return nil
	})
	want := "*4\r\n$4\r\nlong\r\n$1\r\n2\r\n$5\r\nplain\r\n$1\r\n3\r\n"
	if r := do("HGETALL", key); r != want {
		t.Fatalf("HGETALL on the leader = %q, want %q", r, want)
	}
	if r := do("INFO", "stats"); !strings.Contains(r, "expired_subkeys:3") {
		t.Errorf("INFO stats has no expired_subkeys:3")
	}

	tc.nodes[leader].Kill()
	next := tc.leaderOf(t, "hfe:{k}:probe", "y")
	c = mustDial(t, tc.nodes[next].Addr)
	if r := do("HGETALL", key); r != want {
		t.Fatalf("HGETALL on the new leader = %q, want %q", r, want)
	}
	if r := do("HPEXPIRETIME", key, "FIELDS", "3", "short", "long", "plain"); r != fmt.Sprintf("*3\r\n:-2\r\n:%d\r\n:-1\r\n", longAt) {
		t.Fatalf("HPEXPIRETIME on the new leader = %q", r)
	}
	if r := do("OBJECT", "ENCODING", key); r != "$10\r\nlistpackex\r\n" {
		t.Fatalf("OBJECT ENCODING on the new leader = %q", r)
	}
}

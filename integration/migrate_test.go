package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// TestClusterMigrateUnderLoad moves a slot range between groups with
// SHOAL MIGRATE while a go-redis ClusterClient keeps writing to keys of
// those slots and others, and checks that the client saw no error beyond
// its own retries, every acknowledged write is there after the move, every
// node's CLUSTER SLOTS names the new owner within a second of the flip, and
// no key is left in two groups (the DBSIZE of the groups' leaders adds up
// to the number of keys).
func TestClusterMigrateUnderLoad(t *testing.T) {
	tc := startCluster(t, 3)
	ctx := context.Background()
	c := tc.clusterClient(nil)

	conn, err := respclient.Dial(ctx, tc.Addrs()[1], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The range to move: slots 0-199, from the group that serves them to
	// another group, whose master serves its first slot.
	const lo, hi = 0, 199
	target, targetSlot := otherGroup(t, conn, lo, hi)
	topo := clusterSlotsOwner(t, tc.Addrs()[0])
	dst := topo[targetSlot]
	for s := lo; s <= hi; s++ {
		if topo[s] != topo[lo] || topo[s] == dst {
			t.Fatalf("slots %d-%d are not all served by one master other than %s", lo, hi, dst)
		}
	}

	// Keys: 4000 spread over all slots, and 20 per moved slot (hash tags
	// of known slots are found by search).
	keys := make([]string, 0, 8000)
	for i := 0; i < 4000; i++ {
		keys = append(keys, "k"+strconv.Itoa(i))
	}
	perSlot := make(map[int]int)
	for i := 0; len(perSlot) < hi-lo+1 || minCount(perSlot, lo, hi) < 20; i++ {
		k := "m" + strconv.Itoa(i)
		if s := shard.Slot([]byte(k)); s >= lo && s <= hi && perSlot[s] < 20 {
			perSlot[s]++
			keys = append(keys, k)
		}
	}
	acked := make([]atomic.Int64, len(keys)) // last acknowledged value + 1
	for i, k := range keys {
		if err := c.Set(ctx, k, 0, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		acked[i].Store(1)
	}
	// Hashes in the moved slots: small ones (listpack), a large one
	// (hashtable), and a counter field that a writer increments during the
	// migration. Migration must carry them whole, encoding included.
	hashes := map[string]map[string]string{}
	var hashKeys []string
	for i := 0; len(hashKeys) < 41; i++ {
		k := "hm" + strconv.Itoa(i)
		if s := shard.Slot([]byte(k)); s < lo || s > hi {
			continue
		}
		fields := map[string]string{}
		n := 5
		if len(hashKeys) == 0 {
			n = 600
		}
		args := []any{}
		for f := 0; f < n; f++ {
			fields["f"+strconv.Itoa(f)] = k + "-" + strconv.Itoa(f)
			args = append(args, "f"+strconv.Itoa(f), k+"-"+strconv.Itoa(f))
		}
		if err := c.HSet(ctx, k, args...).Err(); err != nil {
			t.Fatalf("HSET %s: %v", k, err)
		}
		hashes[k] = fields
		hashKeys = append(hashKeys, k)
	}
	counterKey := hashKeys[1]
	// Field times travel with their hashes: two far ones on a listpack, one
	// on the hashtable, and a hash whose fields all expire a few seconds
	// from now, which active expiry must delete wherever it is by then.
	ttlKey, goneKey := hashKeys[2], hashKeys[3]
	farAt := time.Now().Add(time.Hour).UnixMilli()
	for _, args := range [][]any{
		{"HPEXPIREAT", ttlKey, farAt, "FIELDS", 1, "f1"},
		{"HPEXPIREAT", ttlKey, farAt + 1000, "FIELDS", 1, "f2"},
		{"HPEXPIREAT", hashKeys[0], farAt, "FIELDS", 1, "f7"},
		{"HPEXPIRE", goneKey, 3000, "FIELDS", 5, "f0", "f1", "f2", "f3", "f4"},
	} {
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	delete(hashes, goneKey)
	hashKeys = slices.DeleteFunc(hashKeys, func(k string) bool { return k == goneKey })
	// A list of 300 elements, and a set of each encoding.
	listKey := ""
	for i := 0; listKey == ""; i++ {
		if k := "lm" + strconv.Itoa(i); shard.Slot([]byte(k)) >= lo && shard.Slot([]byte(k)) <= hi {
			listKey = k
		}
	}
	for i := 0; i < 300; i++ {
		if err := c.ZAdd(ctx, "{"+listKey+"}z", redis.Z{Score: float64(i) / 4, Member: i}).Err(); err != nil {
			t.Fatalf("ZADD: %v", err)
		}
		if err := c.RPush(ctx, listKey, i).Err(); err != nil {
			t.Fatalf("RPUSH %s: %v", listKey, err)
		}
	}
	var setKeys []string
	for i := 0; len(setKeys) < 2; i++ {
		k := "sm" + strconv.Itoa(i)
		if s := shard.Slot([]byte(k)); s < lo || s > hi {
			continue
		}
		members := []any{"1", "2", "3"}
		if len(setKeys) == 1 {
			members = append(members, "x")
		}
		if err := c.SAdd(ctx, k, members...).Err(); err != nil {
			t.Fatalf("SADD %s: %v", k, err)
		}
		setKeys = append(setKeys, k)
	}
	var counterAcked atomic.Int64

	// Writers: each owns a disjoint part of the keys, so the last
	// acknowledged value of a key is known.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErrs atomic.Int64
	var firstErr atomic.Pointer[string]
	const writers = 8
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := c.HIncrBy(ctx, counterKey, "counter", 1).Err(); err != nil {
				if writeErrs.Add(1) == 1 {
					msg := counterKey + ": " + err.Error()
					firstErr.Store(&msg)
				}
				continue
			}
			counterAcked.Add(1)
		}
	}()
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := int64(1); ; n++ {
				for i := w; i < len(keys); i += writers {
					select {
					case <-stop:
						return
					default:
					}
					if i%7 != int(n%7) {
						continue
					}
					if err := c.Set(ctx, keys[i], n, 0).Err(); err != nil {
						if writeErrs.Add(1) == 1 {
							msg := keys[i] + ": " + err.Error()
							firstErr.Store(&msg)
						}
						continue
					}
					acked[i].Store(n + 1)
				}
			}
		}(w)
	}

	v, err := conn.Do(ctx, "SHOAL", "MIGRATE", fmt.Sprintf("%d-%d", lo, hi), target)
	if err != nil {
		t.Fatalf("SHOAL MIGRATE: %v", err)
	}
	job, _ := v.Text()
	t.Logf("job %s moves slots %d-%d to %s", job, lo, hi, target)
	var flipped time.Time
	testutil.Eventually(t, 60*time.Second, "job "+job+" done", func() error {
		phase, reason := jobPhase(t, conn, job)
		switch phase {
		case "done":
			flipped = time.Now()
			// The finished job keeps what it moved.
			if n := jobKeys(t, conn, job); n < int64(hi-lo+1)*20 {
				t.Errorf("SHOAL JOBS reports %d keys moved by the done job, want at least %d", n, (hi-lo+1)*20)
			}
			return nil
		case "aborted":
			t.Fatalf("job %s aborted: %s", job, reason)
		}
		return fmt.Errorf("phase %q", phase)
	})
	for _, addr := range tc.Addrs() {
		testutil.Eventually(t, time.Second+time.Since(flipped), "CLUSTER SLOTS on "+addr+" names the new owner", func() error {
			if o := clusterSlotsOwner(t, addr); o[lo] != dst || o[hi] != dst {
				return fmt.Errorf("slot %d served by %s, slot %d by %s, want %s", lo, o[lo], hi, o[hi], dst)
			}
			return nil
		})
	}
	time.Sleep(500 * time.Millisecond) // writes keep going through the new owner
	close(stop)
	wg.Wait()
	if n := writeErrs.Load(); n > 0 {
		t.Errorf("%d writes failed after the client's retries; first: %s", n, *firstErr.Load())
	}
	for i, k := range keys {
		want := acked[i].Load() - 1
		got, err := c.Get(ctx, k).Int64()
		if err != nil || got < want {
			t.Fatalf("GET %s = %d (%v), want at least the last acknowledged %d", k, got, err, want)
		}
	}
	for _, k := range hashKeys {
		got, err := c.HGetAll(ctx, k).Result()
		if err != nil {
			t.Fatalf("HGETALL %s: %v", k, err)
		}
		want := hashes[k]
		if k == counterKey {
			if n, _ := strconv.ParseInt(got["counter"], 10, 64); n < counterAcked.Load() {
				t.Fatalf("HGET %s counter = %d, want at least the %d acknowledged HINCRBYs", k, n, counterAcked.Load())
			}
			delete(got, "counter")
		}
		if !maps.Equal(got, want) {
			t.Fatalf("HGETALL %s after the migration: %d fields, want %d", k, len(got), len(want))
		}
	}
	if enc, err := c.ObjectEncoding(ctx, hashKeys[0]).Result(); err != nil || enc != "hashtable" {
		t.Fatalf("OBJECT ENCODING of the moved 600-field hash = %q, %v; want hashtable", enc, err)
	}
	if got, err := c.Do(ctx, "HPEXPIRETIME", ttlKey, "FIELDS", 3, "f1", "f2", "f3").Int64Slice(); err != nil ||
		!slices.Equal(got, []int64{farAt, farAt + 1000, -1}) {
		t.Fatalf("HPEXPIRETIME %s after the migration = %v, %v", ttlKey, got, err)
	}
	if enc, err := c.ObjectEncoding(ctx, ttlKey).Result(); err != nil || enc != "listpackex" {
		t.Fatalf("OBJECT ENCODING %s = %q, %v; want listpackex", ttlKey, enc, err)
	}
	if got, err := c.Do(ctx, "HPEXPIRETIME", hashKeys[0], "FIELDS", 2, "f7", "f8").Int64Slice(); err != nil ||
		!slices.Equal(got, []int64{farAt, -1}) {
		t.Fatalf("HPEXPIRETIME %s after the migration = %v, %v", hashKeys[0], got, err)
	}
	testutil.Eventually(t, 20*time.Second, "the hash whose fields expired deleted", func() error {
		if n, err := c.Exists(ctx, goneKey).Result(); err != nil || n != 0 {
			return fmt.Errorf("EXISTS %s = %d, %v", goneKey, n, err)
		}
		return nil
	})
	if typ, err := c.Type(ctx, hashKeys[1]).Result(); err != nil || typ != "hash" {
		t.Fatalf("TYPE %s = %q, %v", hashKeys[1], typ, err)
	}
	for i, k := range setKeys {
		wantEnc, n := "intset", int64(3)
		if i == 1 {
			wantEnc, n = "hashtable", 4
		}
		if enc, err := c.ObjectEncoding(ctx, k).Result(); err != nil || enc != wantEnc {
			t.Fatalf("OBJECT ENCODING %s = %q, %v; want %s", k, enc, err, wantEnc)
		}
		if got, err := c.SCard(ctx, k).Result(); err != nil || got != n {
			t.Fatalf("SCARD %s = %d, %v; want %d", k, got, err, n)
		}
	}
	keys = append(keys, hashKeys...) // for the count below
	keys = append(keys, setKeys...)
	if got, err := c.LRange(ctx, listKey, 0, -1).Result(); err != nil || len(got) != 300 || got[0] != "0" || got[299] != "299" {
		t.Fatalf("LRANGE %s after the migration: %d elements, %v", listKey, len(got), err)
	}
	keys = append(keys, listKey)
	if got, err := c.ZRangeWithScores(ctx, "{"+listKey+"}z", 0, -1).Result(); err != nil || len(got) != 300 || got[299].Score != 299.0/4 {
		t.Fatalf("ZRANGE {%s}z after the migration: %d members, %v", listKey, len(got), err)
	}
	if enc, _ := c.ObjectEncoding(ctx, "{"+listKey+"}z").Result(); enc != "skiplist" {
		t.Fatalf("OBJECT ENCODING {%s}z = %q after the migration", listKey, enc)
	}
	keys = append(keys, "{"+listKey+"}z")
	testutil.Eventually(t, 10*time.Second, "every key in exactly one group", func() error {
		var total atomic.Int64 // ForEachMaster calls fn concurrently
		err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			n, err := m.DBSize(ctx).Result()
			total.Add(n)
			return err
		})
		if err != nil {
			return err
		}
		if total := total.Load(); total != int64(len(keys)) {
			return fmt.Errorf("the masters hold %d keys, want %d", total, len(keys))
		}
		return nil
	})
}

// clusterSlotsOwner returns, for every slot, the address of its master in
// the CLUSTER SLOTS reply of the node at addr.
func clusterSlotsOwner(t *testing.T, addr string) []string {
	t.Helper()
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: addr})
	defer cl.Close()
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS on %s: %v", addr, err)
	}
	out := make([]string, shard.NumSlots)
	for _, r := range slots {
		for s := r.Start; s <= r.End; s++ {
			out[s] = r.Nodes[0].Addr
		}
	}
	return out
}

// otherGroup returns, from SHOAL GROUPS, a group that serves none of the
// slots lo-hi, and its first slot.
func otherGroup(t *testing.T, conn *respclient.Conn, lo, hi int) (string, int) {
	t.Helper()
	v, err := conn.Do(context.Background(), "SHOAL", "GROUPS")
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range v.Array {
		var id string
		var slots []respclient.Value
		for _, p := range g.Map {
			k, _ := p.Key.Text()
			switch k {
			case "id":
				id, _ = p.Value.Text()
			case "slots":
				slots = p.Value.Array
			}
		}
		if len(g.Map) == 0 { // RESP2: a flat key-value array
			for i := 0; i+1 < len(g.Array); i += 2 {
				k, _ := g.Array[i].Text()
				switch k {
				case "id":
					id, _ = g.Array[i+1].Text()
				case "slots":
					slots = g.Array[i+1].Array
				}
			}
		}
		if len(slots) < 2 {
			continue
		}
		first, last := int(slots[0].Int), int(slots[len(slots)-1].Int)
		if last < lo || first > hi {
			return id, first
		}
	}
	t.Fatalf("no group outside slots %d-%d in SHOAL GROUPS", lo, hi)
	return "", 0
}

// jobKeys returns the keys SHOAL JOBS reports for job (-1 when absent).
func jobKeys(t *testing.T, conn *respclient.Conn, job string) int64 {
	t.Helper()
	v, err := conn.Do(context.Background(), "SHOAL", "JOBS")
	if err != nil {
		t.Fatalf("SHOAL JOBS: %v", err)
	}
	for _, j := range v.Array {
		if f := fields(j); f["id"] == job {
			n, _ := strconv.ParseInt(f["keys"], 10, 64)
			return n
		}
	}
	return -1
}

// jobPhase returns the phase and abort reason of job from SHOAL JOBS.
func jobPhase(t *testing.T, conn *respclient.Conn, job string) (phase, reason string) {
	t.Helper()
	v, err := conn.Do(context.Background(), "SHOAL", "JOBS")
	if err != nil {
		var re *respclient.ReplyError
		if errors.As(err, &re) {
			t.Fatalf("SHOAL JOBS: %v", err)
		}
		return "", ""
	}
	for _, j := range v.Array {
		f := fields(j)
		if f["id"] == job {
			return f["phase"], f["reason"]
		}
	}
	return "", ""
}

// fields turns a map reply (RESP3) or a flat key-value array (RESP2) into
// its text fields.
func fields(v respclient.Value) map[string]string {
	out := make(map[string]string)
	kv := v.Array
	if len(v.Map) > 0 {
		for _, p := range v.Map {
			k, _ := p.Key.Text()
			val, _ := p.Value.Text()
			out[k] = val
		}
		return out
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k, _ := kv[i].Text()
		val, _ := kv[i+1].Text()
		out[k] = val
	}
	return out
}

func minCount(m map[int]int, lo, hi int) int {
	n := -1
	for s := lo; s <= hi; s++ {
		if n < 0 || m[s] < n {
			n = m[s]
		}
	}
	return n
}

// TestClusterMigrateCancel cancels a slow migration (4 MB of keys, its
// mover limited to 1 MB/s) while the target holds part of the copy: the job ends aborted,
// the slots stay with their group on every node, every key keeps its value,
// and the target drops its partial copy (no key in two groups).
func TestClusterMigrateCancel(t *testing.T) {
	tc := startCluster(t, 3, "--migrate-rate", "1mb")
	ctx := context.Background()
	c := tc.clusterClient(nil)
	conn, err := respclient.Dial(ctx, tc.Addrs()[0], 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const lo, hi = 0, 199
	target, _ := otherGroup(t, conn, lo, hi)
	before := clusterSlotsOwner(t, tc.Addrs()[0])

	val := strings.Repeat("v", 1000)
	var keys []string
	for i := 0; len(keys) < 4000; i++ {
		k := "c" + strconv.Itoa(i)
		if s := shard.Slot([]byte(k)); s >= lo && s <= hi {
			keys = append(keys, k)
		}
	}
	for i := 0; i < 2000; i++ {
		keys = append(keys, "o"+strconv.Itoa(i))
	}
	pipe := c.Pipeline()
	for _, k := range keys {
		pipe.Set(ctx, k, val+k, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("loading the keys: %v", err)
	}
	v, err := conn.Do(ctx, "SHOAL", "MIGRATE", fmt.Sprintf("%d-%d", lo, hi), target)
	if err != nil {
		t.Fatalf("SHOAL MIGRATE: %v", err)
	}
	job, _ := v.Text()
	testutil.Eventually(t, 30*time.Second, "the target to hold part of the copy", func() error {
		f := jobFields(t, conn, job)
		if f == nil {
			return fmt.Errorf("job %s not in SHOAL JOBS yet", job)
		}
		if f["phase"] != "copying" {
			t.Fatalf("job %s is %s before the cancel (reason %q)", job, f["phase"], f["reason"])
		}
		if n, _ := strconv.Atoi(f["keys"]); n == 0 {
			return fmt.Errorf("no key ingested yet")
		}
		return nil
	})
	if _, err := conn.Do(ctx, "SHOAL", "CANCEL", job); err != nil {
		t.Fatalf("SHOAL CANCEL %s: %v", job, err)
	}
	testutil.Eventually(t, 5*time.Second, "the job to show aborted", func() error {
		if phase, reason := jobPhase(t, conn, job); phase != "aborted" || !strings.Contains(reason, "cancel") {
			return fmt.Errorf("the job is %q (reason %q), want aborted by an operator", phase, reason)
		}
		return nil
	})
	for _, addr := range tc.Addrs() {
		if after := clusterSlotsOwner(t, addr); after[lo] != before[lo] || after[hi] != before[hi] {
			t.Fatalf("%s: slots %d-%d moved to %s/%s despite the cancel (were %s)", addr, lo, hi, after[lo], after[hi], before[lo])
		}
	}
	for _, k := range keys {
		if got, err := c.Get(ctx, k).Result(); err != nil || got != val+k {
			t.Fatalf("GET %s after the cancel: %.20q (%v)", k, got, err)
		}
	}
	testutil.Eventually(t, 10*time.Second, "the target to drop its partial copy", func() error {
		var total atomic.Int64
		if err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
			n, err := m.DBSize(ctx).Result()
			total.Add(n)
			return err
		}); err != nil {
			return err
		}
		if n := total.Load(); n != int64(len(keys)) {
			return fmt.Errorf("the masters hold %d keys, want %d", n, len(keys))
		}
		return nil
	})
}

// jobFields returns job's fields from SHOAL JOBS (nil when the node's map
// does not have the job yet).
func jobFields(t *testing.T, conn *respclient.Conn, job string) map[string]string {
	t.Helper()
	v, err := conn.Do(context.Background(), "SHOAL", "JOBS")
	if err != nil {
		t.Fatalf("SHOAL JOBS: %v", err)
	}
	for _, j := range v.Array {
		if f := fields(j); f["id"] == job {
			return f
		}
	}
	return nil
}

package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestCrashRecoveryKeepsAcknowledgedWrites writes from many clients to a node
// with --data-dir, kills it with SIGKILL in the middle of the writes,
// restarts it on the same directory and checks that every acknowledged write
// is there: unique SETs by value, and INCR counters between the acknowledged
// and the attempted increments.
func TestCrashRecoveryKeepsAcknowledgedWrites(t *testing.T) {
	for round := 0; round < 2; round++ {
		t.Run(fmt.Sprintf("round%d", round), func(t *testing.T) { crashRound(t) })
	}
}

func crashRound(t *testing.T) {
	n := startNode(t, "--data-dir", "data")
	c := nodeClient(t, n)
	waitReady(t, c)

	const writers = 16
	const counters = 4
	var (
		mu        sync.Mutex
		acked     = make(map[string]string) // key -> value acknowledged
		ackedIncr [counters]atomic.Int64
		triedIncr [counters]atomic.Int64
		stop      atomic.Bool
		wg        sync.WaitGroup
		nAcked    atomic.Int64
	)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			wc := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
			defer wc.Close()
			for i := 0; !stop.Load(); i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if i%5 == 0 {
					k := i / 5 % counters
					triedIncr[k].Add(1)
					if err := wc.Incr(ctx, fmt.Sprintf("counter:%d", k)).Err(); err == nil {
						ackedIncr[k].Add(1)
					}
				} else {
					key := fmt.Sprintf("w%d:k%d", w, i)
					val := fmt.Sprintf("v%d-%d", w, i)
					if err := wc.Set(ctx, key, val, 0).Err(); err == nil {
						mu.Lock()
						acked[key] = val
						mu.Unlock()
						nAcked.Add(1)
					}
				}
				cancel()
			}
		}(w)
	}
	// Let writes flow, then kill the node while they are in flight.
	testutil.Eventually(t, 20*time.Second, "writes in flight", func() error {
		if nAcked.Load() < 3000 {
			return fmt.Errorf("only %d writes acknowledged", nAcked.Load())
		}
		return nil
	})
	n.Kill() // SIGKILL
	stop.Store(true)
	wg.Wait()
	t.Logf("acknowledged %d SETs; counters acked/tried: %v/%v", nAcked.Load(), loadAll(ackedIncr[:]), loadAll(triedIncr[:]))

	n.Restart()
	c2 := nodeClient(t, n)
	waitReady(t, c2)
	ctx := context.Background()
	missing := 0
	mu.Lock()
	defer mu.Unlock()
	for key, want := range acked {
		got, err := c2.Get(ctx, key).Result()
		if err != nil || got != want {
			missing++
			if missing <= 10 {
				t.Errorf("acknowledged write lost: %s = %q, got %q (%v)", key, want, got, err)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	for k := 0; k < counters; k++ {
		v, err := c2.Get(ctx, fmt.Sprintf("counter:%d", k)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("read counter %d: %v", k, err)
		}
		if v < ackedIncr[k].Load() || v > triedIncr[k].Load() {
			t.Errorf("counter:%d = %d, want between %d acknowledged and %d attempted", k, v, ackedIncr[k].Load(), triedIncr[k].Load())
		}
	}
}

func loadAll(a []atomic.Int64) []int64 {
	out := make([]int64, len(a))
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}

// TestInMemoryLogIsCompacted runs a long write workload against a node
// without --data-dir and checks that memory stays bounded: the Raft log is
// compacted by snapshots even when nothing is persisted.
func TestInMemoryLogIsCompacted(t *testing.T) {
	n := startNode(t)
	c := nodeClient(t, n)
	waitReady(t, c)
	ctx := context.Background()
	val := make([]byte, 1024)
	for i := range val {
		val[i] = 'x'
	}
	// Each round overwrites the same 2000 keys with unpipelined writes, so
	// the data set is constant while the log grows by ~40k entries a round.
	const rounds, perRound, writers = 6, 40000, 16
	var rss []int64
	for r := 0; r < rounds; r++ {
		var wg sync.WaitGroup
		var failed atomic.Int64
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < perRound; i += writers {
					if err := c.Set(ctx, fmt.Sprintf("key:%d", i%2000), val, 0).Err(); err != nil {
						failed.Add(1)
					}
				}
			}(w)
		}
		wg.Wait()
		if failed.Load() > 0 {
			t.Fatalf("round %d: %d writes failed", r, failed.Load())
		}
		rss = append(rss, rssBytes(t, n.Pid()))
	}
	t.Logf("RSS after each round of %d writes: %v", perRound, rss)
	// Without compaction the log would hold every write (240k entries of
	// ~1 KB, ~240 MB by the last round). With it, the last rounds
	// stay within a small margin of the first.
	first, last := rss[1], rss[rounds-1]
	if last > first+60<<20 {
		t.Fatalf("memory grew from %d to %d bytes over %d rounds: the log is not compacted", first, last, rounds-2)
	}
	dbsize, err := c.DBSize(ctx).Result()
	if err != nil || dbsize != 2000 {
		t.Fatalf("DBSIZE = %d, %v; want 2000", dbsize, err)
	}
}

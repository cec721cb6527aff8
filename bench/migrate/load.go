package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/shard"
)

// op is one request of the load: when it started (ns since the load's t0),
// how long it took (µs) and what it was.
type op struct {
	start int64
	lat   int32
	flags uint8
}

const (
	opWrite    uint8 = 1 << iota // a SET (else a GET)
	opMoved                      // on a key of the moved slots (else of untouched slots)
	opErr                        // failed after go-redis's retries
	opOnTarget                   // an untouched key on the moves' target master (else on the third one)
)

// loadGen is the concurrent load: workers goroutines, each doing SET and
// GET 50/50 in a closed loop on one class of keys, even workers on keys
// of the slots being moved, odd workers on keys of untouched slots.
type loadGen struct {
	t0    time.Time
	moved atomic.Pointer[[]string]
	stop  atomic.Bool
	wg    sync.WaitGroup
	ops   [][]op // per worker, read after wg.Wait

	mu     sync.Mutex
	errMsg map[string]int // distinct error messages and how many
}

// keysIn returns n key names "load:<i>" whose slots are in [lo, hi],
// skipping the first skip such names.
func keysIn(n, lo, hi, skip int) []string {
	var out []string
	for i := 0; len(out) < n; i++ {
		k := "load:" + strconv.Itoa(i)
		if s := shard.Slot(k); s >= lo && s <= hi {
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, k)
		}
	}
	return out
}

// startLoad starts the load on c with values of size bytes. onTarget[i]
// says whether untouched[i] is on the master the moves go to.
func startLoad(c *redis.ClusterClient, moved, untouched []string, onTarget []bool, workers, size int) *loadGen {
	g := &loadGen{t0: time.Now(), ops: make([][]op, workers), errMsg: map[string]int{}}
	g.moved.Store(&moved)
	val := strings.Repeat("v", size)
	for w := 0; w < workers; w++ {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(w), 8))
			buf := make([]op, 0, 1<<18)
			for !g.stop.Load() {
				var k string
				var class uint8
				if w%2 == 0 {
					keys := *g.moved.Load()
					k, class = keys[rng.IntN(len(keys))], opMoved
				} else if i := rng.IntN(len(untouched)); onTarget[i] {
					k, class = untouched[i], opOnTarget
				} else {
					k = untouched[i]
				}
				write := rng.IntN(2) == 0
				s := time.Now()
				var err error
				if write {
					err = c.Set(ctx, k, val, 0).Err()
				} else if err = c.Get(ctx, k).Err(); errors.Is(err, redis.Nil) {
					err = nil
				}
				f := class
				if write {
					f |= opWrite
				}
				if err != nil {
					f |= opErr
					g.mu.Lock()
					g.errMsg[err.Error()]++
					g.mu.Unlock()
				}
				buf = append(buf, op{start: s.Sub(g.t0).Nanoseconds(), lat: int32(time.Since(s).Microseconds()), flags: f})
			}
			g.ops[w] = buf
		}()
	}
	return g
}

// setMoved switches the moved-slot workers to other keys.
func (g *loadGen) setMoved(keys []string) { g.moved.Store(&keys) }

// at is t as an op start.
func (g *loadGen) at(t time.Time) int64 { return t.Sub(g.t0).Nanoseconds() }

// finish stops the workers and returns every op, by start.
func (g *loadGen) finish() []op {
	g.stop.Store(true)
	g.wg.Wait()
	var all []op
	for _, o := range g.ops {
		all = append(all, o...)
	}
	slices.SortFunc(all, func(a, b op) int { return int(a.start - b.start) })
	return all
}

// window is [from, to] in op start units.
type window struct{ from, to int64 }

// count is the number of ops with flags&mask == want that started in w.
func count(ops []op, w window, mask, want uint8) int {
	n := 0
	for _, o := range between(ops, w) {
		if o.flags&mask == want {
			n++
		}
	}
	return n
}

// rate is count per second of w.
func rate(ops []op, w window, mask, want uint8) float64 {
	return float64(count(ops, w, mask, want)) / (float64(w.to-w.from) / 1e9)
}

// between returns the ops that started in w (ops sorted by start).
func between(ops []op, w window) []op {
	i, _ := slices.BinarySearchFunc(ops, w.from, func(o op, t int64) int { return cmpInt(o.start, t) })
	j, _ := slices.BinarySearchFunc(ops, w.to+1, func(o op, t int64) int { return cmpInt(o.start, t) })
	return ops[i:j]
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stall returns the latencies (µs) of the moved-slot writes that were in
// flight at some time in w, failed ones included. A write that started up
// to maxLat before w may still overlap it.
func stall(ops []op, w window) (lats []int64) {
	const maxLat = int64(30 * time.Second)
	for _, o := range between(ops, window{w.from - maxLat, w.to}) {
		if o.flags&(opWrite|opMoved) != opWrite|opMoved || o.start+int64(o.lat)*1000 < w.from {
			continue
		}
		lats = append(lats, int64(o.lat))
	}
	return lats
}

// errorsIn counts the failed ops that started in w.
func errorsIn(ops []op, w window) int {
	n := 0
	for _, o := range between(ops, w) {
		if o.flags&opErr != 0 {
			n++
		}
	}
	return n
}

// pct is the p-th percentile (nearest rank) of lats, which it sorts.
func pct(lats []int64, p float64) int64 {
	if len(lats) == 0 {
		return 0
	}
	slices.Sort(lats)
	i := int(p/100*float64(len(lats))+0.999999) - 1
	return lats[max(0, min(i, len(lats)-1))]
}

// ms formats µs as milliseconds.
func ms(us int64) string { return strconv.FormatFloat(float64(us)/1000, 'f', 1, 64) }

// over counts the latencies (µs) above limit.
func over(lats []int64, limit int64) int {
	n := 0
	for _, l := range lats {
		if l > limit {
			n++
		}
	}
	return n
}

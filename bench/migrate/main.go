// Command migrate measures slot migration, side by side: a 3-node Shoal
// cluster moving one group's slots to another group (SHOAL MIGRATE, polled
// with SHOAL JOBS) against Redis Cluster (3 masters + 3 replicas) moving the
// same slots with `redis-cli --cluster reshard`. Both clusters are started
// fresh on free loopback ports, loaded with the same keys, and stopped at
// the end.
//
// Without -load it moves the first -slots slots of an idle cluster and
// prints keys/s and MB/s. With -load the move runs under a concurrent
// go-redis load (closed loop, SET/GET 50/50, half the workers on keys of
// the moved slots, half on keys of untouched slots): it adds the untouched
// slots' throughput during the move as a fraction of the -baseline before
// it, and the latency of the moved-slot writes around the handover. With
// -handovers N it then moves -handover-slots slots back and forth N times
// under the same load and pools the handovers' write latencies.
// `make bench-migrate` runs all of them; BENCHMARKS.md says what each
// number is.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/shard"
)

type config struct {
	keys, size, slots  int
	load               bool
	handovers, hslots  int
	workers, loadKeys  int
	loadSize           int
	baseline, postWait time.Duration
	timeline           bool
	profDir            string
}

// rows are one system's table rows.
type rows struct {
	move     string   // the big move: idle or loaded
	stall    []string // the big move's moved-slot write latencies (loaded)
	handover string   // the handover series
}

func main() {
	var cfg config
	shoalBin := flag.String("shoal", "bin/shoal", "shoal binary")
	flag.IntVar(&cfg.keys, "keys", 1000000, "keys to load")
	flag.IntVar(&cfg.size, "d", 64, "value size in bytes")
	flag.IntVar(&cfg.slots, "slots", 5461, "slots to move (from the start of the first master's range); 0: none")
	flag.BoolVar(&cfg.load, "load", false, "move the -slots under a concurrent load")
	flag.IntVar(&cfg.handovers, "handovers", 0, "then move -handover-slots slots back and forth N times under the load")
	flag.IntVar(&cfg.hslots, "handover-slots", 64, "slots per handover (slots 0..N-1)")
	flag.IntVar(&cfg.workers, "workers", 16, "load goroutines (half on moved slots, half on untouched ones)")
	flag.IntVar(&cfg.loadKeys, "load-keys", 1000, "keys per load class")
	flag.IntVar(&cfg.loadSize, "load-d", 64, "load value size in bytes")
	flag.DurationVar(&cfg.baseline, "baseline", 5*time.Second, "load-only window before the moves (throughput before)")
	flag.DurationVar(&cfg.postWait, "window", time.Second, "stall window after the flip (and, for Shoal, before it)")
	flag.BoolVar(&cfg.timeline, "timeline", false, "log the load's ops per second per class, and the moves")
	flag.StringVar(&cfg.profDir, "profile-dir", "", "write Shoal's CPU profiles to DIR (for a missed target): "+
		"without load each node's whole run, shoal-<i>.prof; with load each node's baseline window, base-<i>.prof, "+
		"and as long from the big move's start, move-<i>.prof")
	shoalArgs := flag.String("shoal-args", "", "extra arguments for each shoal server, split at spaces (e.g. \"--migrate-rate 4mb\")")
	keep := flag.Bool("keep-logs", false, "keep the servers' logs (the directory is printed)")
	skipRedis := flag.Bool("skip-redis", false, "measure Shoal only")
	flag.Parse()
	if cfg.slots < 0 || cfg.slots > shard.NumSlots/3 || cfg.hslots < 1 || cfg.hslots > shard.NumSlots/3 {
		log.Fatalf("-slots and -handover-slots must be within the first master's %d slots", shard.NumSlots/3)
	}
	dir, err := os.MkdirTemp("", "shoal-bench-migrate-")
	if err != nil {
		log.Fatal(err)
	}
	if *keep {
		log.Printf("logs in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	ctx := context.Background()

	var all []rows
	sh, err := newShoal(*shoalBin, strings.Fields(*shoalArgs), dir, cfg.profDir, cfg.load)
	if err != nil {
		log.Fatal(err)
	}
	r, err := run(ctx, sh, cfg)
	stopAll(sh.nodes)
	if err != nil {
		log.Fatalf("shoal: %v", err)
	}
	all = append(all, r)
	if !*skipRedis {
		rc, err := newRedis(dir)
		if err != nil {
			log.Fatal(err)
		}
		r, err := run(ctx, rc, cfg)
		stopAll(rc.nodes)
		if err != nil {
			log.Fatalf("redis cluster: %v", err)
		}
		all = append(all, r)
	}
	printTables(cfg, all)
}

func printTables(cfg config, all []rows) {
	table := func(header string, cells func(r rows) []string) {
		fmt.Println(header)
		fmt.Println("|---" + strings.Repeat("|---:", strings.Count(header, "|")-2) + "|")
		for _, r := range all {
			for _, c := range cells(r) {
				fmt.Println(c)
			}
		}
		fmt.Println()
	}
	if cfg.slots > 0 && !cfg.load {
		table("| system | keys | value | slots moved | keys moved | seconds | keys/s | MB/s |",
			func(r rows) []string { return []string{r.move} })
	}
	if cfg.slots > 0 && cfg.load {
		table("| system | keys | value | slots moved | keys moved | seconds | keys/s | MB/s | untouched ops/s before | "+
			"during | ratio | on the target | on the third master | untouched ops lost | moved slots' ops ratio | errors |",
			func(r rows) []string { return []string{r.move} })
		table("| system | window | moved-slot writes | p50 ms | p99 ms | max ms | writes > 100 ms | p99 before ms |",
			func(r rows) []string { return r.stall })
	}
	if cfg.handovers > 0 {
		table("| system | handovers | slots each | keys each | move s (mean) | moved-slot writes in windows | "+
			"p50 ms | p99 ms | max ms | writes > 100 ms | per-handover max: p50 ms | p99 ms | p99 before ms | "+
			"untouched ratio | errors |",
			func(r rows) []string { return []string{r.handover} })
	}
}

// handover is one measured move.
type handover struct {
	sp    span
	moved int64
}

// run loads sys, makes the moves cfg asks for, and returns its rows.
func run(ctx context.Context, sys *system, cfg config) (rows, error) {
	var addrs []string
	for _, p := range sys.nodes {
		addrs = append(addrs, addrOf(p))
	}
	// The same retry policy for both systems: MOVED and ASK are followed at
	// once, TRYAGAIN and CLUSTERDOWN are retried after 1-32 ms.
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, MaxRedirects: 16,
		MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 32 * time.Millisecond, PoolSize: 2 * cfg.workers})
	defer c.Close()
	if err := load(ctx, c, cfg.keys, cfg.size); err != nil {
		return rows{}, fmt.Errorf("load: %w", err)
	}
	a, _, err := sys.owner(ctx, 0)
	if err != nil {
		return rows{}, err
	}
	b, _, err := sys.owner(ctx, shard.NumSlots-1)
	if err != nil {
		return rows{}, err
	}
	if a == b {
		return rows{}, fmt.Errorf("slots 0 and %d have the same owner %s", shard.NumSlots-1, a)
	}

	// The load's keys: moved-slot keys spread over the big move's slots,
	// then over the handovers' slots; untouched keys above both.
	var bigKeys []string
	if cfg.slots > 0 {
		bigKeys = keysIn(cfg.loadKeys, 0, cfg.slots-1, 0)
	}
	handKeys := keysIn(cfg.loadKeys, 0, cfg.hslots-1, 0)
	untouched := keysIn(cfg.loadKeys, max(cfg.slots, cfg.hslots), shard.NumSlots-1, 0)
	var lg *loadGen
	var ops []op
	var profiling sync.WaitGroup
	defer profiling.Wait()
	stopLoad := func() {
		if lg != nil && ops == nil {
			ops = lg.finish()
		}
	}
	defer stopLoad()
	var base window // the load-only window before the moves
	beginLoad := func(keys []string, profile bool) error {
		if lg == nil {
			if err := setAll(ctx, c, append(append(append([]string{}, bigKeys...), handKeys...), untouched...),
				cfg.loadSize); err != nil {
				return fmt.Errorf("preload of the load's keys: %w", err)
			}
			onTarget := make([]bool, len(untouched))
			for i, k := range untouched {
				id, _, err := sys.owner(ctx, shard.Slot(k))
				if err != nil {
					return err
				}
				onTarget[i] = id == b
			}
			lg = startLoad(c, keys, untouched, onTarget, cfg.workers, cfg.loadSize)
			measureFor(time.Second) // warm-up: connections, slot maps
		}
		lg.setMoved(keys)
		if profile {
			profileWindow(&profiling, sys.pprof, cfg.profDir, "base", cfg.baseline)
		}
		t := time.Now()
		measureFor(cfg.baseline)
		base = window{lg.at(t), lg.at(time.Now())}
		return nil
	}

	var out rows
	var big handover
	if cfg.slots > 0 {
		if cfg.load {
			if err := beginLoad(bigKeys, cfg.profDir != ""); err != nil {
				return rows{}, err
			}
		}
		onStart := func() {
			if cfg.load && cfg.profDir != "" {
				profileWindow(&profiling, sys.pprof, cfg.profDir, "move", cfg.baseline)
			}
		}
		if big, err = moveOnce(ctx, sys, a, b, 0, cfg.slots-1, onStart); err != nil {
			return rows{}, err
		}
		if lg != nil {
			measureFor(time.Until(big.sp.end.Add(cfg.postWait)))
		}
	}
	bigBase := base
	var hs []handover
	if cfg.handovers > 0 {
		if err := beginLoad(handKeys, false); err != nil {
			return rows{}, err
		}
		for i := 0; i < cfg.handovers; i++ {
			from, _, err := sys.owner(ctx, 0)
			if err != nil {
				return rows{}, err
			}
			to := a
			if from == a {
				to = b
			}
			h, err := moveOnce(ctx, sys, from, to, 0, cfg.hslots-1, func() {})
			if err != nil {
				return rows{}, fmt.Errorf("handover %d: %w", i+1, err)
			}
			hs = append(hs, h)
			measureFor(time.Until(h.sp.end.Add(cfg.postWait)))
		}
	}
	stopLoad()
	if lg != nil {
		if cfg.timeline {
			logTimeline(sys.name, lg, ops, append([]handover{big}, hs...))
		}
		for msg, n := range lg.errMsg {
			log.Printf("%s: %d load ops failed with %q", sys.name, n, msg)
		}
	}

	if cfg.slots > 0 {
		secs := big.sp.end.Sub(big.sp.req).Seconds()
		mb := float64(big.moved) * float64(cfg.size+16) / 1e6
		out.move = fmt.Sprintf("| %s | %d | %s | %d | %d | %.2f | %.0f | %.1f |", sys.name, cfg.keys, sizeName(cfg.size),
			cfg.slots, big.moved, secs, float64(big.moved)/secs, mb/secs)
		if cfg.load {
			during := window{lg.at(big.sp.req), lg.at(big.sp.end)}
			ratio := func(mask, want uint8) float64 { return rate(ops, during, mask, want) / rate(ops, bigBase, mask, want) }
			whole := window{during.from, lg.at(big.sp.end.Add(cfg.postWait))}
			before, dur := rate(ops, bigBase, opMoved, 0), rate(ops, during, opMoved, 0)
			out.move += fmt.Sprintf(" %.0f | %.0f | %.2f | %.2f | %.2f | %.0f | %.2f | %d |", before, dur, dur/before,
				ratio(opMoved|opOnTarget, opOnTarget), ratio(opMoved|opOnTarget, 0), (before-dur)*secs,
				ratio(opMoved, opMoved), errorsIn(ops, whole))
			quiet := stall(ops, bigBase)
			stallRow := func(what string, w window) string {
				lats := stall(ops, w)
				return fmt.Sprintf("| %s | %s | %d | %s | %s | %s | %d | %s |", sys.name, what, len(lats), ms(pct(lats, 50)),
					ms(pct(lats, 99)), ms(pct(lats, 100)), over(lats, 100000), ms(pct(quiet, 99)))
			}
			if !big.sp.flip.IsZero() {
				out.stall = append(out.stall, stallRow(fmt.Sprintf("flip ± %v", cfg.postWait), stallWindow(lg, big.sp, cfg.postWait)))
			}
			out.stall = append(out.stall, stallRow(fmt.Sprintf("whole move + %v", cfg.postWait), whole))
		}
	}
	if cfg.handovers > 0 {
		var all, maxes []int64
		var keys, errs, untouchedOps int
		var moveSecs, moveNs float64
		for _, h := range hs {
			w := stallWindow(lg, h.sp, cfg.postWait)
			lats := stall(ops, w)
			all = append(all, lats...)
			maxes = append(maxes, pct(lats, 100))
			keys += int(h.moved)
			moveSecs += h.sp.end.Sub(h.sp.req).Seconds()
			during := window{lg.at(h.sp.req), lg.at(h.sp.end)}
			moveNs += float64(during.to - during.from)
			untouchedOps += count(ops, during, opMoved, 0)
			errs += errorsIn(ops, window{during.from, w.to})
		}
		n := float64(len(hs))
		before := stall(ops, base)
		ratio := float64(untouchedOps) / (moveNs / 1e9) / rate(ops, base, opMoved, 0)
		out.handover = fmt.Sprintf("| %s | %d | %d | %.0f | %.3f | %d | %s | %s | %s | %d | %s | %s | %s | %.2f | %d |",
			sys.name, len(hs), cfg.hslots, float64(keys)/n, moveSecs/n, len(all), ms(pct(all, 50)), ms(pct(all, 99)),
			ms(pct(all, 100)), over(all, 100000), ms(pct(maxes, 50)), ms(pct(maxes, 99)), ms(pct(before, 99)), ratio, errs)
	}
	return out, nil
}

// moveOnce counts the keys of slots lo..hi on their owner from, calls
// onStart, moves them to to, and waits until every node agrees on the new
// owner.
func moveOnce(ctx context.Context, sys *system, from, to string, lo, hi int, onStart func()) (handover, error) {
	_, src, err := sys.owner(ctx, lo)
	if err != nil {
		return handover{}, err
	}
	// Count on the slots' master: a Redis Cluster node counts only its own.
	n, err := countKeys(ctx, src, lo, hi)
	if err != nil {
		return handover{}, err
	}
	onStart()
	sp, err := sys.move(ctx, from, to, lo, hi)
	if err != nil {
		return handover{}, err
	}
	if os.Getenv("BENCH_DEBUG") != "" {
		log.Printf("moveOnce %d-%d from %s (%s) to %s: %d keys", lo, hi, from, src, to, n)
	}
	return handover{sp: sp, moved: n}, waitMoved(ctx, sys.nodes, lo, src)
}

// stallWindow is where a move's handover is: for Shoal from postWait
// before the flip (not before the request) to postWait after it; for
// Redis, whose slots hand over one by one during the whole reshard, from
// the request to postWait after redis-cli's exit.
func stallWindow(lg *loadGen, sp span, postWait time.Duration) window {
	if sp.flip.IsZero() {
		return window{lg.at(sp.req), lg.at(sp.end.Add(postWait))}
	}
	from := sp.flip.Add(-postWait)
	if from.Before(sp.req) {
		from = sp.req
	}
	return window{lg.at(from), lg.at(sp.flip.Add(postWait))}
}

// measureFor lets the load run for d: a measurement window, not a wait for
// something to happen.
func measureFor(d time.Duration) {
	if d > 0 {
		time.Sleep(d)
	}
}

// countKeys sums CLUSTER COUNTKEYSINSLOT over slots lo..hi on addr.
func countKeys(ctx context.Context, addr string, lo, hi int) (int64, error) {
	src := redis.NewClient(&redis.Options{Addr: addr})
	defer src.Close()
	var n int64
	for s := lo; s <= hi; s++ {
		k, err := src.ClusterCountKeysInSlot(ctx, s).Result()
		if err != nil {
			return 0, fmt.Errorf("CLUSTER COUNTKEYSINSLOT %d on %s: %w", s, addr, err)
		}
		n += k
	}
	return n, nil
}

// load writes keys "key:<i>" with values of size bytes, pipelined.
func load(ctx context.Context, c *redis.ClusterClient, keys, size int) error {
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("key:%d", i)
	}
	return setAll(ctx, c, names, size)
}

// setAll sets every key to a value of size bytes, pipelined.
func setAll(ctx context.Context, c *redis.ClusterClient, keys []string, size int) error {
	val := strings.Repeat("x", size)
	const batch = 2000
	for i := 0; i < len(keys); i += batch {
		p := c.Pipeline()
		for _, k := range keys[i:min(i+batch, len(keys))] {
			p.Set(ctx, k, val, 0)
		}
		if _, err := p.Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func sizeName(size int) string {
	if size >= 1024 && size%1024 == 0 {
		return fmt.Sprintf("%d KB", size/1024)
	}
	return fmt.Sprintf("%d B", size)
}

// logTimeline logs, per second of the load, the ops of each class (and how
// many failed), and when each move started and ended.
func logTimeline(name string, lg *loadGen, ops []op, moves []handover) {
	if len(ops) == 0 {
		return
	}
	for t := int64(0); t <= ops[len(ops)-1].start; t += 1e9 {
		w := window{t, t + 1e9 - 1}
		var marks []string
		for i, m := range moves {
			for _, e := range []struct {
				what string
				at   time.Time
			}{{"req", m.sp.req}, {"flip", m.sp.flip}, {"end", m.sp.end}} {
				if a := lg.at(e.at); !e.at.IsZero() && a >= w.from && a <= w.to {
					marks = append(marks, fmt.Sprintf("move %d %s +%dms", i, e.what, (a-w.from)/1e6))
				}
			}
		}
		log.Printf("%s t=%3ds moved %5d untouched: target %5d third %5d errors %d %s", name, t/1e9,
			count(ops, w, opMoved, opMoved), count(ops, w, opMoved|opOnTarget, opOnTarget),
			count(ops, w, opMoved|opOnTarget, 0), errorsIn(ops, w), strings.Join(marks, ", "))
	}
}

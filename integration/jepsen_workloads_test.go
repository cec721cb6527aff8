package integration

// Workloads of the Jepsen harness. Each worker is a goroutine with its own
// go-redis ClusterClient working on keys spread over many slots (so every
// group is used). Every operation is recorded with its invocation and
// completion times and one of three outcomes, in Jepsen's terms:
//
//	ok    acknowledged (for reads: the value read)
//	fail  definitely had no effect (the request never reached a node, or the
//	      node refused it before proposing: MOVED, CLUSTERDOWN, ...)
//	info  indeterminate: it may or may not have taken effect (timeouts,
//	      broken connections, Shoal's TIMEOUT reply). Its completion time is
//	      math.MaxInt64 and its worker continues under a new process id.
//
// go-redis retries some failures by itself (a timed-out command is sent
// again), which would let one recorded write take effect twice. A hook on
// every node client turns such ambiguous errors into jAmbiguousError, which
// go-redis does not retry; safe retries (dial errors, MOVED) still happen.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// jOp is one operation of the history.
type jOp struct {
	Workload string `json:"workload"`
	Process  int    `json:"process"` // porcupine client id
	Worker   int    `json:"worker"`
	Key      string `json:"key"`
	F        string `json:"f"` // read, write, swap, add, incr, final-read
	Value    string `json:"value,omitempty"`
	Out      string `json:"out,omitempty"`
	OutNil   bool   `json:"out_nil,omitempty"`
	Type     string `json:"type"` // ok, fail, info
	Err      string `json:"error,omitempty"`
	Call     int64  `json:"call"`
	Return   int64  `json:"return"`
}

// jAmbiguousError hides an error go-redis would retry although the command
// may have taken effect.
type jAmbiguousError struct{ err error }

func (e *jAmbiguousError) Error() string { return "ambiguous: " + e.err.Error() }

type jNoRetryHook struct{}

func (jNoRetryHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (jNoRetryHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil || isDialError(err) {
			return err
		}
		var re redis.Error
		if errors.As(err, &re) {
			return err
		}
		amb := &jAmbiguousError{err}
		cmd.SetErr(amb)
		return amb
	}
}

func (jNoRetryHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// newJClient returns a cluster client for the harness: short timeouts, no
// retries of ambiguous failures, MOVED followed.
func newJClient(addrs []string, timeout time.Duration) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:           addrs,
		MaxRedirects:    6,
		MaxRetries:      -1,
		DialTimeout:     time.Second,
		ReadTimeout:     timeout,
		WriteTimeout:    timeout,
		PoolSize:        2,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 200 * time.Millisecond,
		NewClient: func(opt *redis.Options) *redis.Client {
			c := redis.NewClient(opt)
			c.AddHook(jNoRetryHook{})
			return c
		},
	})
}

// classify maps a command's error to ok, fail or info.
func classify(err error) string {
	if err == nil || err == redis.Nil {
		return "ok"
	}
	var amb *jAmbiguousError
	if errors.As(err, &amb) {
		return "info"
	}
	if isDialError(err) {
		return "fail"
	}
	msg := err.Error()
	for _, p := range []string{"MOVED ", "ASK ", "CLUSTERDOWN ", "TRYAGAIN ", "CROSSSLOT ", "LOADING ",
		"redis: connection pool timeout", "redis: client is closed"} {
		if strings.HasPrefix(msg, p) {
			return "fail"
		}
	}
	// Shoal's "TIMEOUT the write may or may not have been applied", a
	// shutting-down server, and anything unknown: indeterminate.
	return "info"
}

// jEnv is shared by the workers of a phase.
type jEnv struct {
	base     time.Time
	addrs    []string
	seed     uint64
	phase    int
	nextProc atomic.Int64
	nextVal  atomic.Int64

	regKeys, setKeys, ctrKeys []string
}

func (e *jEnv) now() int64 { return time.Since(e.base).Nanoseconds() }

func newJEnv(addrs []string, seed uint64, phase int, cfg *jConfig) *jEnv {
	e := &jEnv{base: time.Now(), addrs: addrs, seed: seed, phase: phase}
	// A third of the registers are strings; the others are fields of
	// hashes, two per hash, so that fields of one hash change concurrently.
	for i := 0; i < cfg.regKeys; i++ {
		switch i % 3 {
		case 0:
			e.regKeys = append(e.regKeys, fmt.Sprintf("jr:%d", i))
		case 1:
			e.regKeys = append(e.regKeys, fmt.Sprintf("jh:%d.a", i/3))
		default:
			e.regKeys = append(e.regKeys, fmt.Sprintf("jh:%d.b", i/3))
		}
	}
	for i := 0; i < cfg.setKeys; i++ {
		e.setKeys = append(e.setKeys, fmt.Sprintf("js:%d", i))
	}
	// Counters are strings (INCR), hash fields (HINCRBY) and sorted set
	// members (ZINCRBY), in turn.
	for i := 0; i < cfg.ctrKeys; i++ {
		switch i % 3 {
		case 1:
			e.ctrKeys = append(e.ctrKeys, fmt.Sprintf("jh:c%d.n", i))
		case 2:
			e.ctrKeys = append(e.ctrKeys, fmt.Sprintf("jz:c%d.m", i))
		default:
			e.ctrKeys = append(e.ctrKeys, fmt.Sprintf("jc:%d", i))
		}
	}
	return e
}

// jWorker is one client goroutine.
type jWorker struct {
	env      *jEnv
	id       int
	workload string
	rng      *rand.Rand
	cli      *redis.ClusterClient
	proc     int
	ops      []jOp
}

func newJWorker(env *jEnv, id int, workload string, timeout time.Duration) *jWorker {
	return &jWorker{env: env, id: id, workload: workload,
		rng:  rand.New(rand.NewPCG(env.seed, uint64(env.phase)<<32|uint64(id))),
		cli:  newJClient(env.addrs, timeout),
		proc: int(env.nextProc.Add(1) - 1)}
}

// record completes op from err and appends it; after an indeterminate
// outcome the worker continues under a new process id.
func (w *jWorker) record(op jOp, err error) {
	op.Workload, op.Worker, op.Process = w.workload, w.id, w.proc
	op.Type = classify(err)
	op.Return = w.env.now()
	if err != nil && err != redis.Nil {
		op.Err = err.Error()
	}
	if op.Type == "info" {
		op.Return = math.MaxInt64
		w.proc = int(w.env.nextProc.Add(1) - 1)
	}
	w.ops = append(w.ops, op)
	if op.Type != "ok" {
		// Refresh the slot map after a failure, as cluster clients do
		// (go-redis itself only does on MOVED or every 10 s).
		w.cli.ReloadState(context.Background())
	}
}

func (w *jWorker) uniq(prefix string) string {
	return prefix + strconv.FormatInt(w.env.nextVal.Add(1), 10)
}

// run performs operations until stop is closed.
func (w *jWorker) run(stop <-chan struct{}) {
	defer w.cli.Close()
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		default:
		}
		switch w.workload {
		case "register":
			w.registerOp(ctx)
		case "set":
			w.setOp(ctx)
		case "counter":
			w.counterOp(ctx)
		case "bank":
			w.bankOp(ctx)
		}
	}
}

// hashField splits a workload key "jh:<n>.<field>" into the hash and the
// field it stands for; other keys are strings.
func hashField(key string) (hash, field string, ok bool) {
	if !strings.HasPrefix(key, "jh:") {
		return "", "", false
	}
	hash, field, ok = strings.Cut(key, ".")
	return hash, field, ok
}

// zsetMember splits a workload key "jz:<n>.<member>" into the sorted set
// and the member it stands for.
func zsetMember(key string) (zset, member string, ok bool) {
	if !strings.HasPrefix(key, "jz:") {
		return "", "", false
	}
	return strings.Cut(key, ".")
}

// get reads a workload key: GET, HGET of a hash field, or ZSCORE of a
// sorted set member (an integer score, formatted as one).
func (w *jWorker) get(ctx context.Context, key string) (string, error) {
	return readKey(ctx, w.cli, key)
}

func readKey(ctx context.Context, cli *redis.ClusterClient, key string) (string, error) {
	if h, f, ok := hashField(key); ok {
		return cli.HGet(ctx, h, f).Result()
	}
	if z, m, ok := zsetMember(key); ok {
		v, err := cli.ZScore(ctx, z, m).Result()
		return strconv.FormatInt(int64(v), 10), err
	}
	return cli.Get(ctx, key).Result()
}

// registerOp: GET, SET of a unique value, or SET k v XX GET (a swap that
// only writes when the key exists and returns the old value); for a hash
// field, HGET or HSET.
func (w *jWorker) registerOp(ctx context.Context) {
	key := w.env.regKeys[w.rng.IntN(len(w.env.regKeys))]
	op := jOp{Key: key, Call: w.env.now()}
	if h, f, ok := hashField(key); ok {
		if w.rng.IntN(10) < 5 {
			op.F = "read"
			v, err := w.cli.HGet(ctx, h, f).Result()
			op.Out, op.OutNil = v, err == redis.Nil
			w.record(op, err)
			return
		}
		op.F, op.Value = "write", w.uniq("v")
		w.record(op, w.cli.HSet(ctx, h, f, op.Value).Err())
		return
	}
	switch r := w.rng.IntN(10); {
	case r < 5:
		op.F = "read"
		v, err := w.cli.Get(ctx, key).Result()
		op.Out, op.OutNil = v, err == redis.Nil
		w.record(op, err)
	case r < 8:
		op.F, op.Value = "write", w.uniq("v")
		w.record(op, w.cli.Set(ctx, key, op.Value, 0).Err())
	default:
		op.F, op.Value = "swap", w.uniq("v")
		v, err := w.cli.SetArgs(ctx, key, op.Value, redis.SetArgs{Mode: "XX", Get: true}).Result()
		op.Out, op.OutNil = v, err == redis.Nil
		w.record(op, err)
	}
}

// setOp: APPEND a unique token ("t<n>,") to a set key, or read one.
func (w *jWorker) setOp(ctx context.Context) {
	key := w.env.setKeys[w.rng.IntN(len(w.env.setKeys))]
	op := jOp{Key: key, Call: w.env.now()}
	if w.rng.IntN(10) < 8 {
		op.F, op.Value = "add", w.uniq("t")
		w.record(op, w.cli.Append(ctx, key, op.Value+",").Err())
		return
	}
	op.F = "read"
	v, err := w.cli.Get(ctx, key).Result()
	op.Out, op.OutNil = v, err == redis.Nil
	w.record(op, err)
}

// counterOp: INCR (its reply is a read too) or GET.
func (w *jWorker) counterOp(ctx context.Context) {
	key := w.env.ctrKeys[w.rng.IntN(len(w.env.ctrKeys))]
	op := jOp{Key: key, Call: w.env.now()}
	if w.rng.IntN(10) < 7 {
		op.F = "incr"
		var n int64
		var err error
		if h, f, ok := hashField(key); ok {
			n, err = w.cli.HIncrBy(ctx, h, f, 1).Result()
		} else if z, m, ok := zsetMember(key); ok {
			var v float64
			v, err = w.cli.ZIncrBy(ctx, z, 1, m).Result()
			n = int64(v)
		} else {
			n, err = w.cli.Incr(ctx, key).Result()
		}
		if err == nil {
			op.Out = strconv.FormatInt(n, 10)
		}
		w.record(op, err)
		return
	}
	op.F = "read"
	v, err := w.get(ctx, key)
	op.Out, op.OutNil = v, err == redis.Nil
	w.record(op, err)
}

// runWorkloads runs every configured workload's workers until stop closes
// and returns all their operations.
func runWorkloads(env *jEnv, cfg *jConfig, stop <-chan struct{}) []jOp {
	var workers []*jWorker
	// Most workers time out after 1 s. Every fourth waits 10 s instead: a
	// request queued at a paused or cut-off leader is then answered when
	// the node comes back, which is when a deposed leader could serve a
	// stale read.
	add := func(workload string, n int) {
		for i := 0; i < n; i++ {
			timeout := time.Second
			if i%4 == 3 {
				timeout = 10 * time.Second
			}
			workers = append(workers, newJWorker(env, len(workers), workload, timeout))
		}
	}
	for _, wl := range cfg.workloads {
		switch wl {
		case "register":
			add(wl, cfg.regWorkers)
		case "set":
			add(wl, cfg.setWorkers)
		case "counter":
			add(wl, cfg.ctrWorkers)
		case "bank":
			add(wl, cfg.bankWorkers)
		}
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *jWorker) {
			defer wg.Done()
			w.run(stop)
		}(w)
	}
	wg.Wait()
	var ops []jOp
	for _, w := range workers {
		ops = append(ops, w.ops...)
	}
	return ops
}

// finalReads reads every set and counter key once the cluster is healed,
// retrying each until it succeeds or timeout passes. A key that cannot be
// read is returned with type fail.
func finalReads(env *jEnv, cfg *jConfig, timeout time.Duration) []jOp {
	cli := newJClient(env.addrs, time.Second)
	defer cli.Close()
	ctx := context.Background()
	var keys [][2]string
	for _, wl := range cfg.workloads {
		switch wl {
		case "set":
			for _, k := range env.setKeys {
				keys = append(keys, [2]string{wl, k})
			}
		case "counter":
			for _, k := range env.ctrKeys {
				keys = append(keys, [2]string{wl, k})
			}
		case "bank":
			keys = append(keys, [2]string{wl, bankKey})
		}
	}
	var ops []jOp
	deadline := time.Now().Add(timeout)
	for _, wk := range keys {
		for {
			op := jOp{Workload: wk[0], Key: wk[1], F: "final-read", Worker: -1, Process: -1, Call: env.now()}
			var v string
			var err error
			if wk[0] == "bank" {
				var m map[string]string
				m, err = cli.HGetAll(ctx, wk[1]).Result()
				v = bankString(m)
			} else {
				v, err = readKey(ctx, cli, wk[1])
			}
			op.Return = env.now()
			if err == nil || err == redis.Nil {
				op.Type, op.Out, op.OutNil = "ok", v, err == redis.Nil
				ops = append(ops, op)
				break
			}
			if time.Now().After(deadline) {
				op.Type, op.Err = "fail", err.Error()
				ops = append(ops, op)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return ops
}

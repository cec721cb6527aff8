package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// liveLoad is a client load that runs through a test's cluster changes:
// writers own disjoint keys (so the last acknowledged value of each is
// known), readers check that a value never goes below what was
// acknowledged before the read started. It counts operations and the
// errors left after the client's own retries.
type liveLoad struct {
	c      *redis.ClusterClient
	prefix string
	acked  []atomic.Int64 // last acknowledged value + 1
	stop   chan struct{}
	wg     sync.WaitGroup

	ops, errs atomic.Int64
	firstErr  atomic.Pointer[string]
	// writes[w] are writer w's SETs: when each started and how long it
	// took (acknowledged or not); read them after halt.
	writes [][]timedOp
	// failed holds the attempts a node answered with an error (or could
	// not be reached for), up to maxFailed, in order: what a slow write
	// went through.
	failedMu sync.Mutex
	failed   []failedAttempt
}

// timedOp is one operation's key, start and duration.
type timedOp struct {
	key   string
	start time.Time
	took  time.Duration
}

// failedAttempt is one attempt of a command on one node that failed.
type failedAttempt struct {
	at   time.Time
	node string
	key  string
	err  string
}

const maxFailed = 10000

// attemptHook records the failed attempts on one node of the cluster
// client (go-redis runs each attempt on a node's own client).
type attemptHook struct {
	l    *liveLoad
	node string
}

func (attemptHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h attemptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err != nil && err != redis.Nil && len(cmd.Args()) > 1 {
			key, _ := cmd.Args()[1].(string)
			h.l.failedMu.Lock()
			if len(h.l.failed) < maxFailed {
				h.l.failed = append(h.l.failed, failedAttempt{time.Now(), h.node, key, err.Error()})
			}
			h.l.failedMu.Unlock()
		}
		return err
	}
}

func (attemptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// attempts describes the failed attempts of op: each one's
// time since the op started, node and error.
func (l *liveLoad) attempts(op timedOp) []string {
	l.failedMu.Lock()
	defer l.failedMu.Unlock()
	var out []string
	end := op.start.Add(op.took)
	for _, a := range l.failed {
		if a.key == op.key && !a.at.Before(op.start) && !a.at.After(end) {
			out = append(out, fmt.Sprintf("+%v %s %s", a.at.Sub(op.start).Round(time.Millisecond), a.node, a.err))
		}
	}
	return out
}

// startLiveLoad runs 3 writers and 3 readers over nkeys keys named
// prefix+i until stop (also called at the test's end). It hooks c's node
// clients to record their failed attempts.
func startLiveLoad(t *testing.T, c *redis.ClusterClient, prefix string, nkeys int) *liveLoad {
	const workers = 6
	l := &liveLoad{c: c, prefix: prefix, acked: make([]atomic.Int64, nkeys), stop: make(chan struct{}),
		writes: make([][]timedOp, workers)}
	// Every node client records its failed attempts: those created from
	// now on, and those the client already has (OnNewNode does not run
	// for them).
	var hooked sync.Map // *redis.Client → struct{}
	hook := func(rdb *redis.Client) {
		if _, dup := hooked.LoadOrStore(rdb, struct{}{}); !dup {
			rdb.AddHook(attemptHook{l, rdb.Options().Addr})
		}
	}
	c.OnNewNode(hook)
	_ = c.ForEachShard(context.Background(), func(_ context.Context, rdb *redis.Client) error {
		hook(rdb)
		return nil
	})
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			ctx := context.Background()
			for n := int64(1); ; n++ {
				for i := w; i < nkeys; i += workers {
					select {
					case <-l.stop:
						return
					default:
					}
					k := prefix + strconv.Itoa(i)
					start := time.Now()
					if w%2 == 1 {
						want := l.acked[i].Load() - 1
						got, err := c.Get(ctx, k).Int64()
						switch {
						case err == redis.Nil && want < 0:
						case err != nil:
							l.fail("GET", timedOp{k, start, time.Since(start)}, err)
						case got < want:
							l.fail("GET", timedOp{k, start, time.Since(start)}, fmt.Errorf("read %d after %d was acknowledged", got, want))
						}
					} else {
						err := c.Set(ctx, k, n, 0).Err()
						l.writes[w] = append(l.writes[w], timedOp{k, start, time.Since(start)})
						if err != nil {
							l.fail("SET", timedOp{k, start, time.Since(start)}, err)
						} else {
							l.acked[i].Store(n + 1)
						}
					}
					l.ops.Add(1)
				}
			}
		}(w)
	}
	t.Cleanup(l.halt)
	return l
}

// fail counts a failed operation; the first one's text and attempts
// are kept for first.
func (l *liveLoad) fail(what string, op timedOp, err error) {
	if l.errs.Add(1) == 1 {
		msg := fmt.Sprintf("%s %s at %s (took %v): %v; its failed attempts: %q", what, op.key,
			op.start.UTC().Format("15:04:05.000"), op.took.Round(time.Millisecond), err, l.attempts(op))
		l.firstErr.Store(&msg)
	}
}

// halt stops the load and waits for it; later calls do nothing.
func (l *liveLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
		l.wg.Wait()
	}
}

// first returns the first error's text, "" when none.
func (l *liveLoad) first() string {
	if p := l.firstErr.Load(); p != nil {
		return *p
	}
	return ""
}

// checkAcked fails the test if a key reads below its last acknowledged
// value (call after halt).
func (l *liveLoad) checkAcked(t *testing.T) {
	t.Helper()
	for i := range l.acked {
		want := l.acked[i].Load() - 1
		if want < 0 {
			continue
		}
		k := l.prefix + strconv.Itoa(i)
		got, err := l.c.Get(context.Background(), k).Int64()
		if err != nil || got < want {
			t.Fatalf("GET %s = %d (%v), want at least the last acknowledged %d", k, got, err, want)
		}
	}
}

// writesBetween returns the writes that started in [from, to), after halt.
func (l *liveLoad) writesBetween(from, to time.Time) []timedOp {
	var out []timedOp
	for _, ws := range l.writes {
		for _, w := range ws {
			if !w.start.Before(from) && w.start.Before(to) {
				out = append(out, w)
			}
		}
	}
	return out
}

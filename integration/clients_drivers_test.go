package integration

// The clients of the client matrix (clients_test.go): the two Go clients
// run in the test process, the others as child processes
// (testdata/clients/) that answer one JSON request line with one JSON
// reply line. Both kinds encode a client reply the same way: a string, an
// integer, null, a list, or {"err": "..."}.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/shoalcache/shoal/internal/testutil"
)

// matrixReq is one request to a matrix client; clients_test.go describes
// the ops.
type matrixReq struct {
	Op        string   `json:"op"`
	Keys      []string `json:"keys,omitempty"`
	Values    []string `json:"values,omitempty"`
	CrossKeys []string `json:"cross_keys,omitempty"`
	Key       string   `json:"key,omitempty"`
	Missing   string   `json:"missing,omitempty"`
	Match     string   `json:"match,omitempty"`
	Value     string   `json:"value,omitempty"`
	TimeoutMS int      `json:"timeout_ms,omitempty"`
}

// matrixClient is one client library under test. Do is called from one
// goroutine at a time.
type matrixClient interface {
	Name() string
	Version() string
	Do(ctx context.Context, req matrixReq) (json.RawMessage, error)
}

// scriptClient is a client library driven in a child process.
type scriptClient struct {
	name, version string
	cmd           *exec.Cmd
	in            io.WriteCloser
	out           *bufio.Reader
}

// startScriptClient starts argv, which connects to the cluster and prints
// {"ready": true, "version": ...}.
func startScriptClient(t *testing.T, name string, argv ...string) (*scriptClient, error) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	logw := testutil.NewLogWriter(t, name+": ")
	cmd.Stderr = logw
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %v (.ci/deps installs it): %w", argv, err)
	}
	c := &scriptClient{name: name, cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		_ = in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logw.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	line, err := c.readLine(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s did not connect: %w", name, err)
	}
	var ready struct {
		Ready   bool   `json:"ready"`
		Version string `json:"version"`
	}
	if err := json.Unmarshal(line, &ready); err != nil || !ready.Ready {
		return nil, fmt.Errorf("%s: first line %q, want ready", name, line)
	}
	c.version = ready.Version
	return c, nil
}

func (c *scriptClient) Name() string    { return c.name }
func (c *scriptClient) Version() string { return c.version }

func (c *scriptClient) Do(ctx context.Context, req matrixReq) (json.RawMessage, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.in.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("%s: write request: %w", c.name, err)
	}
	line, err := c.readLine(ctx)
	if err != nil {
		return nil, err
	}
	var fatal struct {
		Fatal string `json:"fatal"`
	}
	if json.Unmarshal(line, &fatal) == nil && fatal.Fatal != "" {
		return nil, fmt.Errorf("%s: op %s raised %s", c.name, req.Op, fatal.Fatal)
	}
	return line, nil
}

// readLine reads one reply line; past ctx's deadline it kills the process
// (which ends the read) and returns an error.
func (c *scriptClient) readLine(ctx context.Context) ([]byte, error) {
	type res struct {
		line []byte
		err  error
	}
	ch := make(chan res, 1)
	go func() {
		line, err := c.out.ReadBytes('\n')
		ch <- res{line, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%s: read reply: %w (its stderr is in the log)", c.name, r.err)
		}
		return r.line, nil
	case <-ctx.Done():
		_ = c.cmd.Process.Kill()
		<-ch
		return nil, fmt.Errorf("%s: no reply: %w (killed; its stderr is in the log)", c.name, ctx.Err())
	}
}

// nodeModules returns the folder of the Node.js clients, failing the test
// when npm ci has not run.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "clients", "node"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ioredis", "redis"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			t.Fatalf("%s not installed in %s: run .ci/deps (npm ci there): %v", p, dir, err)
		}
	}
	return dir
}

// moduleVersion returns the version go.mod requires of a module.
func moduleVersion(path string) string {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	return "unknown"
}

// goReply encodes a Go client's reply as the scripts do.
func goReply(v any, err error) any {
	switch {
	case errors.Is(err, redis.Nil) || rueidis.IsRedisNil(err):
		return nil
	case err != nil:
		return map[string]string{"err": err.Error()}
	}
	return v
}

// goOps are the ops of a Go client; the matrix calls them as the scripts'.
type goOps interface {
	set(ctx context.Context, k, v string) any
	setPX(ctx context.Context, k, v string, ms int64) any
	get(ctx context.Context, k string) any
	mset(ctx context.Context, kvs ...string) any
	mget(ctx context.Context, ks ...string) any
	del(ctx context.Context, ks ...string) any
	expire(ctx context.Context, k string, s int64) any
	ttl(ctx context.Context, k string) any
	pttl(ctx context.Context, k string) any
	pipeline(ctx context.Context, keys []string, counter string) any
	cross(ctx context.Context, keys []string) any
	primaries(ctx context.Context) []string
	scan(ctx context.Context, match string) any
	keys(ctx context.Context, match string) any
	dbsize(ctx context.Context) any
}

// goClient runs the ops through a Go client library in the test process.
type goClient struct {
	name, version string
	ops           goOps
}

func (c *goClient) Name() string    { return c.name }
func (c *goClient) Version() string { return c.version }

func (c *goClient) Do(ctx context.Context, req matrixReq) (json.RawMessage, error) {
	o := c.ops
	var out any
	switch req.Op {
	case "slots":
		// Eight goroutines share the client, as an application's would.
		set, get := make([]any, len(req.Keys)), make([]any, len(req.Keys))
		var wg sync.WaitGroup
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < len(req.Keys); i += 8 {
					set[i] = o.set(ctx, req.Keys[i], req.Values[i])
				}
				for i := w; i < len(req.Keys); i += 8 {
					get[i] = o.get(ctx, req.Keys[i])
				}
			}(w)
		}
		wg.Wait()
		out = map[string]any{"set": set, "get": get}
	case "touch":
		errs, first := 0, ""
		for _, k := range req.Keys {
			if m, ok := o.get(ctx, k).(map[string]string); ok {
				if errs++; first == "" {
					first = m["err"]
				}
			}
		}
		out = map[string]any{"errors": errs, "first": first}
	case "pipeline":
		out = map[string]any{"replies": o.pipeline(ctx, req.Keys, req.Key), "cross": o.cross(ctx, req.CrossKeys)}
	case "multikey":
		a, b, d := req.Keys[0], req.Keys[1], req.Keys[2]
		out = map[string]any{"mset": o.mset(ctx, a, "1", b, "2", d, "3"),
			"mget": o.mget(ctx, a, b, d, req.Missing), "del": o.del(ctx, a, b, req.Missing)}
	case "crossslot":
		a, b := req.Keys[0], req.Keys[1]
		out = map[string]any{"mset": o.mset(ctx, a, "1", b, "2"), "mget": o.mget(ctx, a, b)}
	case "scan":
		out = map[string]any{"primaries": o.primaries(ctx), "scan": o.scan(ctx, req.Match),
			"keys": o.keys(ctx, req.Match), "dbsize": o.dbsize(ctx)}
	case "ttl":
		k1, k2, k3 := req.Keys[0], req.Keys[1], req.Keys[2]
		out = map[string]any{"set": o.set(ctx, k1, "v"), "expire": o.expire(ctx, k1, 100), "ttl": o.ttl(ctx, k1),
			"setpx": o.setPX(ctx, k2, "v", 100000), "pttl": o.pttl(ctx, k2), "setshort": o.setPX(ctx, k3, "v", 300)}
	case "get":
		out = map[string]any{"get": o.get(ctx, req.Key)}
	case "rw":
		out = goRW(ctx, o, req)
	default:
		return nil, fmt.Errorf("%s: unknown op %q", c.name, req.Op)
	}
	return json.Marshal(out)
}

// goRW is the scripts' rw op: SET then GET until the GET returns the
// value or the time is up.
func goRW(ctx context.Context, o goOps, req matrixReq) map[string]any {
	start := time.Now()
	var errs []string
	for attempts := 1; ; attempts++ {
		got := o.set(ctx, req.Key, req.Value)
		if got == "OK" {
			got = o.get(ctx, req.Key)
		}
		ms := time.Since(start).Milliseconds()
		if got == req.Value {
			return map[string]any{"ok": true, "attempts": attempts, "errors": errs, "ms": ms}
		}
		if len(errs) < 5 {
			errs = append(errs, fmt.Sprint(got))
		}
		if ms > int64(req.TimeoutMS) || ctx.Err() != nil {
			return map[string]any{"ok": false, "attempts": attempts, "errors": errs, "ms": ms}
		}
		time.Sleep(50 * time.Millisecond) // the application's pause between retries
	}
}

// goRedisOps: go-redis v9's ClusterClient.
type goRedisOps struct{ c *redis.ClusterClient }

func (o goRedisOps) set(ctx context.Context, k, v string) any {
	return goReply(o.c.Set(ctx, k, v, 0).Result())
}
func (o goRedisOps) setPX(ctx context.Context, k, v string, ms int64) any {
	return goReply(o.c.Set(ctx, k, v, time.Duration(ms)*time.Millisecond).Result())
}
func (o goRedisOps) get(ctx context.Context, k string) any { return goReply(o.c.Get(ctx, k).Result()) }
func (o goRedisOps) mset(ctx context.Context, kvs ...string) any {
	return goReply(o.c.MSet(ctx, anys(kvs)...).Result())
}
func (o goRedisOps) mget(ctx context.Context, ks ...string) any {
	return goReply(o.c.MGet(ctx, ks...).Result())
}
func (o goRedisOps) del(ctx context.Context, ks ...string) any {
	return goReply(o.c.Del(ctx, ks...).Result())
}
func (o goRedisOps) expire(ctx context.Context, k string, s int64) any {
	ok, err := o.c.Expire(ctx, k, time.Duration(s)*time.Second).Result()
	return goReply(map[bool]int{true: 1, false: 0}[ok], err)
}
func (o goRedisOps) ttl(ctx context.Context, k string) any {
	d, err := o.c.TTL(ctx, k).Result()
	return goReply(int64(d/time.Second), err)
}
func (o goRedisOps) pttl(ctx context.Context, k string) any {
	d, err := o.c.PTTL(ctx, k).Result()
	return goReply(d.Milliseconds(), err)
}

func (o goRedisOps) pipeline(ctx context.Context, keys []string, counter string) any {
	cmds, err := o.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			p.Set(ctx, k, strconv.Itoa(i), 0)
			p.Incr(ctx, counter)
			p.Get(ctx, k)
		}
		return nil
	})
	return goCmds(cmds, err)
}

func (o goRedisOps) cross(ctx context.Context, keys []string) any {
	cmds, err := o.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Set(ctx, k, k, 0)
		}
		return nil
	})
	return goCmds(cmds, err)
}

// goCmds encodes the replies of a go-redis pipeline.
func goCmds(cmds []redis.Cmder, err error) any {
	if len(cmds) == 0 && err != nil {
		return goReply(nil, err)
	}
	out := make([]any, len(cmds))
	for i, c := range cmds {
		switch c := c.(type) {
		case *redis.StatusCmd:
			out[i] = goReply(c.Result())
		case *redis.IntCmd:
			out[i] = goReply(c.Result())
		case *redis.StringCmd:
			out[i] = goReply(c.Result())
		default:
			out[i] = goReply(nil, fmt.Errorf("unexpected %T", c))
		}
	}
	return out
}

func (o goRedisOps) primaries(ctx context.Context) []string {
	var mu sync.Mutex
	var out []string
	_ = o.c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		mu.Lock()
		out = append(out, n.Options().Addr)
		mu.Unlock()
		return nil
	})
	sort.Strings(out)
	return out
}

// scan and keys fan out with ForEachMaster; DBSize sums over the masters
// itself.
func (o goRedisOps) scan(ctx context.Context, match string) any {
	var mu sync.Mutex
	out := []string{}
	err := o.c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		it := n.Scan(ctx, 0, match, 1000).Iterator()
		for it.Next(ctx) {
			mu.Lock()
			out = append(out, it.Val())
			mu.Unlock()
		}
		return it.Err()
	})
	return goReply(out, err)
}

func (o goRedisOps) keys(ctx context.Context, match string) any {
	var mu sync.Mutex
	out := []string{}
	err := o.c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		ks, err := n.Keys(ctx, match).Result()
		mu.Lock()
		out = append(out, ks...)
		mu.Unlock()
		return err
	})
	return goReply(out, err)
}

func (o goRedisOps) dbsize(ctx context.Context) any { return goReply(o.c.DBSize(ctx).Result()) }

// rueidisOps: rueidis's cluster client (chosen by rueidis itself when the
// server answers CLUSTER SLOTS).
type rueidisOps struct{ c rueidis.Client }

func (o rueidisOps) str(r rueidis.RedisResult) any     { return goReply(r.ToString()) }
func (o rueidisOps) integer(r rueidis.RedisResult) any { return goReply(r.AsInt64()) }

// build builds a command; rueidis panics on a multi-key command across
// slots (it checks slots before sending), which is returned as an error.
func (o rueidisOps) build(f func() rueidis.Completed) (c rueidis.Completed, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rueidis refused the command: %v", r)
		}
	}()
	return f(), nil
}

func (o rueidisOps) do(ctx context.Context, f func() rueidis.Completed, conv func(rueidis.RedisResult) any) any {
	cmd, err := o.build(f)
	if err != nil {
		return goReply(nil, err)
	}
	return conv(o.c.Do(ctx, cmd))
}

func (o rueidisOps) set(ctx context.Context, k, v string) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Set().Key(k).Value(v).Build() }, o.str)
}
func (o rueidisOps) setPX(ctx context.Context, k, v string, ms int64) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Set().Key(k).Value(v).PxMilliseconds(ms).Build() }, o.str)
}
func (o rueidisOps) get(ctx context.Context, k string) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Get().Key(k).Build() }, o.str)
}
func (o rueidisOps) mset(ctx context.Context, kvs ...string) any {
	return o.do(ctx, func() rueidis.Completed {
		b := o.c.B().Mset().KeyValue()
		for i := 0; i+1 < len(kvs); i += 2 {
			b = b.KeyValue(kvs[i], kvs[i+1])
		}
		return b.Build()
	}, o.str)
}
func (o rueidisOps) mget(ctx context.Context, ks ...string) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Mget().Key(ks...).Build() }, func(r rueidis.RedisResult) any {
		msgs, err := r.ToArray()
		if err != nil {
			return goReply(nil, err)
		}
		out := make([]any, len(msgs))
		for i, m := range msgs {
			out[i] = goReply(m.ToString())
		}
		return out
	})
}
func (o rueidisOps) del(ctx context.Context, ks ...string) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Del().Key(ks...).Build() }, o.integer)
}
func (o rueidisOps) expire(ctx context.Context, k string, s int64) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Expire().Key(k).Seconds(s).Build() }, o.integer)
}
func (o rueidisOps) ttl(ctx context.Context, k string) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Ttl().Key(k).Build() }, o.integer)
}
func (o rueidisOps) pttl(ctx context.Context, k string) any {
	return o.do(ctx, func() rueidis.Completed { return o.c.B().Pttl().Key(k).Build() }, o.integer)
}

// pipeline and cross send their commands with DoMulti, rueidis's pipeline
// (it splits the commands by node).
func (o rueidisOps) pipeline(ctx context.Context, keys []string, counter string) any {
	var cmds rueidis.Commands
	for i, k := range keys {
		cmds = append(cmds, o.c.B().Set().Key(k).Value(strconv.Itoa(i)).Build(),
			o.c.B().Incr().Key(counter).Build(), o.c.B().Get().Key(k).Build())
	}
	res := o.c.DoMulti(ctx, cmds...)
	out := make([]any, len(res))
	for i, r := range res {
		if i%3 == 1 {
			out[i] = o.integer(r)
		} else {
			out[i] = o.str(r)
		}
	}
	return out
}

func (o rueidisOps) cross(ctx context.Context, keys []string) any {
	var cmds rueidis.Commands
	for _, k := range keys {
		cmds = append(cmds, o.c.B().Set().Key(k).Value(k).Build())
	}
	var out []any
	for _, r := range o.c.DoMulti(ctx, cmds...) {
		out = append(out, o.str(r))
	}
	return out
}

// The cluster-wide fan-out goes to every node of Nodes(): rueidis has no
// masters-only list, and with one group led by each node every node is a
// master.
func (o rueidisOps) primaries(ctx context.Context) []string {
	var out []string
	for addr := range o.c.Nodes() {
		out = append(out, addr)
	}
	sort.Strings(out)
	return out
}

func (o rueidisOps) scan(ctx context.Context, match string) any {
	out := []string{}
	for _, n := range o.c.Nodes() {
		var cursor uint64
		for {
			e, err := n.Do(ctx, n.B().Scan().Cursor(cursor).Match(match).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return goReply(nil, err)
			}
			out = append(out, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return out
}

func (o rueidisOps) keys(ctx context.Context, match string) any {
	out := []string{}
	for _, n := range o.c.Nodes() {
		ks, err := n.Do(ctx, n.B().Keys().Pattern(match).Build()).AsStrSlice()
		if err != nil {
			return goReply(nil, err)
		}
		out = append(out, ks...)
	}
	return out
}

func (o rueidisOps) dbsize(ctx context.Context) any {
	var total int64
	for _, n := range o.c.Nodes() {
		k, err := n.Do(ctx, n.B().Dbsize().Build()).AsInt64()
		if err != nil {
			return goReply(nil, err)
		}
		total += k
	}
	return total
}

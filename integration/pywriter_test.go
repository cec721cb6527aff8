package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// pyPython is Debian's Python, which has python3-redis (installed by
// .ci/deps); a python3 earlier in PATH (pyenv, a venv) may lack it.
const pyPython = "/usr/bin/python3"

// pyWriter is a redis-py RedisCluster writing keys in a child process
// (testdata/pycluster_writer.py) until stopped.
type pyWriter struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	prefix string
}

// pyResult is what the writer reports when it stops.
type pyResult struct {
	Ops    int64            `json:"ops"`
	Errors int64            `json:"errors"`
	First  string           `json:"first"`
	Acked  map[string]int64 `json:"acked"`
}

// startPyWriter starts redis-py writing prefix0..prefix{nkeys-1} through
// the cluster at addrs, and waits until it is connected.
func startPyWriter(t *testing.T, addrs []string, prefix string, nkeys int) *pyWriter {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "pycluster_writer.py"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{script, prefix, strconv.Itoa(nkeys)}, addrs...)
	cmd := exec.Command(pyPython, args...)
	logw := testutil.NewLogWriter(t, "redis-py: ")
	cmd.Stderr = logw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-py writer (%s; .ci/deps installs python3-redis): %v", pyPython, err)
	}
	w := &pyWriter{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), prefix: prefix}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logw.Close()
	})
	line, err := w.out.ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("redis-py writer did not start: %q, %v", line, err)
	}
	return w
}

// stop ends the writer and returns its report.
func (w *pyWriter) stop() pyResult {
	w.t.Helper()
	_ = w.stdin.Close()
	done := make(chan struct{})
	var line string
	var err error
	go func() {
		line, err = w.out.ReadString('\n')
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.t.Fatal("redis-py writer did not stop within 30 s")
	}
	var r pyResult
	if err != nil || json.Unmarshal([]byte(line), &r) != nil {
		w.t.Fatalf("redis-py writer's report %q: %v", line, err)
	}
	return r
}

// checkPyAcked fails the test if a key the writer had acknowledged reads
// below that value.
func checkPyAcked(t *testing.T, c *redis.ClusterClient, r pyResult) {
	t.Helper()
	for k, want := range r.Acked {
		got, err := c.Get(context.Background(), k).Int64()
		if err != nil || got < want {
			t.Fatalf("GET %s = %d (%v), want at least redis-py's last acknowledged %d", k, got, err, want)
		}
	}
}

// TestRedisPyClusterView checks redis-py's RedisCluster sees every node of
// a 3-node cluster as a primary (each leads a group) and so sends FLUSHALL
// (and DBSIZE and KEYS when asked for every primary) to all of them. redis-py keeps one role per node and
// takes it from the node's first appearance in CLUSTER SLOTS: had the
// leaders also been listed as the replicas of each other's ranges, it
// would have seen one primary only and counted (and flushed) a third of
// the keys.
func TestRedisPyClusterView(t *testing.T) {
	tc := startCluster(t, 3)
	script, err := filepath.Abs(filepath.Join("testdata", "pycluster_view.py"))
	if err != nil {
		t.Fatal(err)
	}
	const nkeys = 100
	args := append([]string{script, strconv.Itoa(nkeys)}, tc.Addrs()...)
	cmd := exec.Command(pyPython, args...)
	logw := testutil.NewLogWriter(t, "redis-py: ")
	defer logw.Close()
	cmd.Stderr = logw
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("redis-py (%s; .ci/deps installs python3-redis): %v", pyPython, err)
	}
	var view struct {
		Primaries, Replicas []string
		DBSize              int `json:"dbsize"`
		Keys                int `json:"keys"`
		AfterFlush          int `json:"dbsize_after_flushall"`
	}
	if err := json.Unmarshal(out, &view); err != nil {
		t.Fatalf("redis-py's report %q: %v", out, err)
	}
	t.Logf("redis-py's view: %s", out)
	want := slices.Sorted(slices.Values(tc.Addrs()))
	if !slices.Equal(view.Primaries, want) || len(view.Replicas) != 0 {
		t.Errorf("primaries %v, replicas %v; want primaries %v and no replicas", view.Primaries, view.Replicas, want)
	}
	if view.DBSize != nkeys || view.Keys != nkeys || view.AfterFlush != 0 {
		t.Errorf("DBSIZE %d, KEYS %d, DBSIZE after FLUSHALL %d; want %d, %d, 0", view.DBSize, view.Keys, view.AfterFlush, nkeys, nkeys)
	}
}

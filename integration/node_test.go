package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// shoalNode is a Shoal process the test controls: it can be killed and
// restarted on the same port and data directory.
type shoalNode struct {
	t     *testing.T
	port  int
	args  []string
	dir   string
	proc  *proc
	logw  *logWriter
	addr  string
	bin   string
	index int
	// paused is set while the process is stopped with SIGSTOP.
	paused bool
}

// startNode starts `shoal server` with extra flags on a free port.
func startNode(t *testing.T, extra ...string) *shoalNode {
	t.Helper()
	return startNodeOnPort(t, 0, extra...)
}

// startNodeOnPort starts `shoal server` on port (a free one when 0).
func startNodeOnPort(t *testing.T, port int, extra ...string) *shoalNode {
	t.Helper()
	n, err := tryStartNode(t, port, extra...)
	if err != nil {
		t.Fatalf("could not start shoal: %v", err)
	}
	return n
}

// tryStartNode is startNodeOnPort that returns its error. With a fixed
// port it tries once: the caller picked the port (and maybe others in
// extra) and must pick again.
func tryStartNode(t *testing.T, port int, extra ...string) (*shoalNode, error) {
	t.Helper()
	bin := shoalBinary(t)
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("shoal binary not found at %s: run `make build` first: %v", bin, err)
	}
	n := &shoalNode{t: t, bin: bin, args: extra, dir: t.TempDir()}
	attempts := maxStartAttempts
	if port != 0 {
		attempts = 1
	}
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		n.port = port
		if port == 0 {
			n.port = freePort(t)
		}
		if err = n.start(); err == nil {
			t.Cleanup(func() { n.stop(5 * time.Second) })
			return n, nil
		}
	}
	return nil, err
}

func (n *shoalNode) start() error {
	n.index++
	args := append([]string{"server", "--port", strconv.Itoa(n.port), "--bind", "127.0.0.1"}, n.args...)
	cmd := exec.Command(n.bin, args...)
	cmd.Dir = n.dir
	n.logw = newLogWriter(n.t, fmt.Sprintf("shoal#%d: ", n.index))
	cmd.Stdout, cmd.Stderr = n.logw, n.logw
	cmd.WaitDelay = 2 * time.Second
	n.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(n.port))
	p, err := launch(cmd, n.addr)
	if err != nil {
		n.logw.close()
		return err
	}
	n.proc = p
	return nil
}

// stop stops the process (grace 0 is SIGKILL).
func (n *shoalNode) stop(grace time.Duration) {
	if n.proc == nil {
		return
	}
	n.proc.stop(n.t, grace)
	n.logw.close()
	n.proc = nil
}

// restart starts the node again on the same port and flags.
func (n *shoalNode) restart() {
	n.t.Helper()
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = n.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	n.t.Fatalf("restart: %v", err)
}

// pid returns the process id.
func (n *shoalNode) pid() int { return n.proc.cmd.Process.Pid }

// client returns a go-redis client for the node with default options.
func (n *shoalNode) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: n.addr})
	n.t.Cleanup(func() { c.Close() })
	return c
}

// waitReady waits until the node serves reads (its group has a ready leader).
func (n *shoalNode) waitReady(c *redis.Client) {
	n.t.Helper()
	eventually(n.t, 15*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := c.Get(ctx, "__ready_probe").Err()
		if err == redis.Nil {
			return nil
		}
		return fmt.Errorf("not ready: %v", err)
	})
}

// rssBytes reads the process's resident set size from /proc.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatalf("parse VmRSS %q: %v", line, err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// quietLogger routes go-redis's internal logs (dial retries while a node is
// down are expected in these tests) nowhere.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...interface{}) {}

func init() { redis.SetLogger(quietLogger{}) }

package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// shoalNode is a Shoal process the test controls: it can be killed and
// restarted on the same port and data directory.
type shoalNode = testutil.ShoalNode

// startNode starts `shoal server` with extra flags on a free port.
func startNode(t *testing.T, extra ...string) *shoalNode {
	t.Helper()
	return testutil.StartShoal(t, extra...)
}

// nodeClient returns a go-redis client for the node with default options.
func nodeClient(t *testing.T, n *shoalNode) *redis.Client {
	return newGoRedis(t, &redis.Options{Addr: n.Addr})
}

// waitReady waits until c's node serves reads (its group has a ready
// leader).
func waitReady(t *testing.T, c *redis.Client) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, "the node serves reads", func() error {
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

package testutil

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
)

// fatalTB records Fatalf instead of stopping the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()                           {}
func (f *fatalTB) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestEventually(t *testing.T) {
	calls := 0
	Eventually(t, time.Second, "third call", func() error {
		if calls++; calls < 3 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
	f := &fatalTB{TB: t}
	start := time.Now()
	Eventually(f, 100*time.Millisecond, "never", func() error { return errors.New("last error") })
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Errorf("gave up after %v, want about 100ms", d)
	}
	if f.msg != "never: not within 100ms: last error" {
		t.Errorf("failure message %q", f.msg)
	}
}

func TestFreePorts(t *testing.T) {
	ps := FreePorts(t, 20)
	seen := map[int]bool{}
	for _, p := range ps {
		if seen[p] {
			t.Fatalf("port %d twice in %v", p, ps)
		}
		seen[p] = true
	}
	p := FreePortWithOffsets(t, 10000, 20000)
	for _, q := range []int{p, p + 10000, p + 20000} {
		l, err := net.Listen("tcp", proc.LocalAddr(q))
		if err != nil {
			t.Fatalf("port %d of %d+offsets not free: %v", q, p, err)
		}
		l.Close()
	}
}

func TestStartRedis(t *testing.T) {
	r := StartRedis(t, "--requirepass", "pw")
	ctx := context.Background()
	c, err := respclient.Dial(ctx, r.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Do(ctx, "AUTH", "pw"); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if v, err := c.Do(ctx, "CONFIG", "GET", "dir"); err != nil || len(v.Elems()) != 2 || v.Elems()[1].Str != r.Dir {
		t.Errorf("CONFIG GET dir = %s, %v; want %s", v, err, r.Dir)
	}
	r.Kill()
	if err := proc.Ping(r.Addr, time.Second); err == nil {
		t.Error("redis-server answers PING after Kill")
	}
}

// TestShoalNode starts one node and pauses, kills and restarts it.
func TestShoalNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs bin/shoal")
	}
	n := StartShoal(t)
	if !n.Running() || n.Paused() || n.Pid() <= 0 {
		t.Fatalf("started node: running %v paused %v pid %d", n.Running(), n.Paused(), n.Pid())
	}
	n.Pause()
	if err := proc.Ping(n.Addr, 200*time.Millisecond); err == nil || !n.Paused() {
		t.Errorf("a paused node answered PING (paused %v)", n.Paused())
	}
	n.Resume()
	Eventually(t, 5*time.Second, "PING after SIGCONT", func() error { return proc.Ping(n.Addr, time.Second) })
	n.Kill()
	if n.Running() || proc.Ping(n.Addr, time.Second) == nil {
		t.Fatal("node still up after Kill")
	}
	n.Restart()
	if err := proc.Ping(n.Addr, time.Second); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if !strings.HasPrefix(n.Addr, "127.0.0.1:") {
		t.Errorf("Addr %q", n.Addr)
	}
}

func TestStartRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six redis-servers")
	}
	nodes := StartRedisCluster(t, 3, 1)
	if len(nodes) != 6 {
		t.Fatalf("%d nodes, want 6", len(nodes))
	}
	info, err := clusterInfo(nodes[0].Addr)
	if err != nil || info["cluster_size"] != "3" || info["cluster_known_nodes"] != "6" || info["cluster_slots_assigned"] != "16384" {
		t.Fatalf("CLUSTER INFO = %v, %v", info, err)
	}
}

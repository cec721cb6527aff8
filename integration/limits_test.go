package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
)

// vmRSS returns the process's resident set (VmRSS) in bytes.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// infoField returns one field of INFO.
func infoField(t *testing.T, rc *redis.Client, section, name string) string {
	t.Helper()
	s, err := rc.Info(context.Background(), section).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s, "\r\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO %s has no %s", section, name)
	return ""
}

// isClosed reports whether the server closed nc (after any reply bytes).
func isClosed(nc net.Conn) bool {
	_ = nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := io.Copy(io.Discard, nc)
	var ne net.Error
	if err != nil && (errorsAs(err, &ne) && ne.Timeout()) {
		return false
	}
	return true
}

func errorsAs(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok
}

// TestLimitsSlowReader: a client pipelines 3000 GETs of a 1 MB value and
// never reads. With the default limits (normal: 1 GB hard, 64 MB soft for
// 60 s; here 3 s so the test is short) the node writes out what it has
// once over the soft limit and closes the client when it does not take it
// in time: the node's RSS stays bounded, INFO counts the disconnection,
// the log says why, and another client is served meanwhile and after.
func TestLimitsSlowReader(t *testing.T) {
	n := startNode(t, "--client-output-buffer-limit", "normal 1gb 64mb 3")
	rc := nodeClient(t, n)
	ctx := context.Background()
	if err := rc.Set(ctx, "big", strings.Repeat("x", 1<<20), 0).Err(); err != nil {
		t.Fatal(err)
	}
	rss0 := vmRSS(t, n.Pid())
	nc, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// A small receive buffer: the client takes next to nothing.
	_ = nc.(*net.TCPConn).SetReadBuffer(4096)
	var req []byte
	for i := 0; i < 3000; i++ {
		req = append(req, "*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n"...)
	}
	go func() { _, _ = nc.Write(req) }()
	maxRSS := int64(0)
	testutil.Until(t, 60*time.Second, "the slow reader is disconnected", func() bool {
		maxRSS = max(maxRSS, vmRSS(t, n.Pid()))
		if err := rc.Ping(ctx).Err(); err != nil {
			t.Fatalf("another client is not served: %v", err)
		}
		return infoField(t, rc, "stats", "client_output_buffer_limit_disconnections") == "1"
	})
	maxRSS = max(maxRSS, vmRSS(t, n.Pid()))
	t.Logf("RSS before %d MB, max while the slow reader was connected %d MB", rss0>>20, maxRSS>>20)
	// The soft limit (64 MB) plus a reply, the value, Go's heap headroom.
	if bound := rss0 + 400<<20; maxRSS > bound {
		t.Errorf("RSS reached %d MB, bound %d MB", maxRSS>>20, bound>>20)
	}
	testutil.Until(t, 10*time.Second, "the slow reader's connection is closed", func() bool { return isClosed(nc) })
	if got := rc.Get(ctx, "big").Val(); len(got) != 1<<20 {
		t.Fatalf("GET after: %d bytes", len(got))
	}
	if n, _ := strconv.Atoi(infoField(t, rc, "clients", "connected_clients")); n != 1 {
		t.Errorf("connected_clients %d, want 1", n)
	}
}

// TestLimitsHardOutput: over the hard limit the client is closed at once,
// without its replies.
func TestLimitsHardOutput(t *testing.T) {
	n := startNode(t)
	rc := nodeClient(t, n)
	ctx := context.Background()
	if err := rc.ConfigSet(ctx, "client-output-buffer-limit", "normal 10mb 0 0").Err(); err != nil {
		t.Fatal(err)
	}
	if got := rc.ConfigGet(ctx, "client-output-buffer-limit").Val()["client-output-buffer-limit"]; got !=
		"normal 10485760 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60" {
		t.Fatalf("CONFIG GET: %q", got)
	}
	rc.Set(ctx, "v", strings.Repeat("y", 1<<20), 0)
	nc, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var req []byte
	for i := 0; i < 20; i++ {
		req = append(req, "*2\r\n$3\r\nGET\r\n$1\r\nv\r\n"...)
	}
	if _, err := nc.Write(req); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(nc)
	if len(got) != 0 {
		t.Errorf("read %d bytes of replies, want none", len(got))
	}
	if v := infoField(t, rc, "stats", "client_output_buffer_limit_disconnections"); v != "1" {
		t.Errorf("client_output_buffer_limit_disconnections %s", v)
	}
	// A client that reads is not limited by the soft limit's write-out.
	if err := rc.ConfigSet(ctx, "client-output-buffer-limit", "normal 0 2mb 10").Err(); err != nil {
		t.Fatal(err)
	}
	p := rc.Pipeline()
	for i := 0; i < 20; i++ {
		p.Get(ctx, "v")
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatalf("pipelined GETs under a 2 MB soft limit: %v", err)
	}
}

// rawReply sends req on a new connection and returns what the node
// replies until it closes the connection or 3 s pass.
func rawReply(t *testing.T, addr string, req string) (string, bool) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	var buf bytes.Buffer
	_, err = io.Copy(&buf, nc)
	var ne net.Error
	closed := !(err != nil && errorsAs(err, &ne) && ne.Timeout())
	return buf.String(), closed
}

// TestLimitsRequests: proto-max-bulk-len and client-query-buffer-limit.
func TestLimitsRequests(t *testing.T) {
	n := startNode(t)
	rc := nodeClient(t, n)
	ctx := context.Background()
	rss0 := vmRSS(t, n.Pid())
	got, closed := rawReply(t, n.Addr, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$600000000\r\n")
	if got != "-ERR Protocol error: invalid bulk length\r\n" || !closed {
		t.Errorf("600 MB bulk: %q closed %v", got, closed)
	}
	got, closed = rawReply(t, n.Addr, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000000\r\n")
	if got != "-ERR Protocol error: invalid bulk length\r\n" || !closed {
		t.Errorf("2 GB bulk: %q closed %v", got, closed)
	}
	// A declared 2 billion arguments allocate nothing until they come.
	got, closed = rawReply(t, n.Addr, "*2000000000\r\n$3\r\nSET\r\n$1\r\nk\r\n")
	if got != "" || closed {
		t.Errorf("*2000000000: %q closed %v", got, closed)
	}
	if rss := vmRSS(t, n.Pid()); rss > rss0+64<<20 {
		t.Errorf("RSS grew from %d MB to %d MB", rss0>>20, rss>>20)
	}
	// proto-max-bulk-len lowered: a 2 MB bulk is refused, 1 MB accepted.
	if err := rc.ConfigSet(ctx, "proto-max-bulk-len", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	got, _ = rawReply(t, n.Addr, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2097152\r\n")
	if got != "-ERR Protocol error: invalid bulk length\r\n" {
		t.Errorf("2 MB bulk over a 1 MB proto-max-bulk-len: %q", got)
	}
	if err := rc.Set(ctx, "k", strings.Repeat("z", 1<<20), 0).Err(); err != nil {
		t.Errorf("1 MB bulk: %v", err)
	}
	// client-query-buffer-limit: a request buffering more is closed
	// without a reply.
	if err := rc.ConfigSet(ctx, "client-query-buffer-limit", "1mb").Err(); err != nil {
		t.Fatal(err)
	}
	req := "*2000000000\r\n" + strings.Repeat("$1\r\na\r\n", 300_000)
	got, closed = rawReply(t, n.Addr, req)
	if got != "" || !closed {
		t.Errorf("over client-query-buffer-limit: %q closed %v", got, closed)
	}
	if v := infoField(t, rc, "stats", "client_query_buffer_limit_disconnections"); v != "1" {
		t.Errorf("client_query_buffer_limit_disconnections %s", v)
	}
}

// TestLimitsTimeout: timeout closes an idle client, not a busy one.
func TestLimitsTimeout(t *testing.T) {
	n := startNode(t, "--timeout", "1")
	rc := nodeClient(t, n)
	ctx := context.Background()
	if v := rc.ConfigGet(ctx, "timeout").Val()["timeout"]; v != "1" {
		t.Fatalf("timeout %q", v)
	}
	nc, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	start := time.Now()
	testutil.Until(t, 15*time.Second, "the idle client is closed", func() bool { return isClosed(nc) })
	if d := time.Since(start); d < time.Second {
		t.Errorf("closed after %v, before the timeout", d)
	}
	if err := rc.ConfigSet(ctx, "timeout", "0").Err(); err != nil {
		t.Fatal(err)
	}
}

// TestLimitsMaxClients: with maxclients N, N connections are served and
// one more gets Redis's error and is closed; rejected_connections counts
// it. Run with a small maxclients and, when the file limit allows, with
// the default 10000.
func TestLimitsMaxClients(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 25000 && lim.Max >= 25000 {
		// This process holds the client ends; the child inherits it.
		lim.Cur = 25000
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	for _, max := range []int{100, 10000} {
		t.Run(strconv.Itoa(max), func(t *testing.T) {
			if lim.Cur < uint64(max)+1000 {
				t.Fatalf("RLIMIT_NOFILE %d is too low for %d clients: raise it (ulimit -n 65536, as .ci/run does)", lim.Cur, max)
			}
			args := []string{}
			if max != 10000 {
				args = append(args, "--maxclients", strconv.Itoa(max))
			}
			n := startNode(t, args...)
			conns := make([]net.Conn, 0, max)
			t.Cleanup(func() {
				for _, c := range conns {
					c.Close()
				}
			})
			for len(conns) < max {
				c, err := net.Dial("tcp", n.Addr)
				if err != nil {
					t.Fatalf("connection %d: %v", len(conns), err)
				}
				conns = append(conns, c)
			}
			// Every one is registered: each answers a PING.
			for _, c := range conns {
				_, _ = c.Write([]byte("PING\r\n"))
			}
			for i, c := range conns {
				_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if l, err := bufio.NewReader(c).ReadString('\n'); l != "+PONG\r\n" {
					t.Fatalf("PING on connection %d: %q %v", i, l, err)
				}
			}
			got, closed := rawReply(t, n.Addr, "PING\r\n")
			if got != "-ERR max number of clients reached\r\n" || !closed {
				t.Fatalf("connection %d: %q closed %v", max+1, got, closed)
			}
			conns[0].Close()
			conns = conns[1:]
			rc := redis.NewClient(&redis.Options{Addr: n.Addr, PoolSize: 1})
			defer rc.Close()
			testutil.Eventually(t, 10*time.Second, "a client is served once one left", func() error {
				return rc.Ping(context.Background()).Err()
			})
			if v := infoField(t, rc, "stats", "rejected_connections"); v == "0" {
				t.Errorf("rejected_connections %s", v)
			}
		})
	}
}

// nonLoopbackIP returns an IPv4 address of this machine other than
// 127.0.0.1 (another interface's, else 127.0.0.2, which Redis 7.0 does not
// count as local either).
func nonLoopbackIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	return "127.0.0.2"
}

// dialFrom connects to addr from the local address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

// TestLimitsProtectedMode: without a password, a client from another
// address than 127.0.0.1 gets Redis 7.0's DENIED error (the same bytes as
// redis-server's) and is closed; 127.0.0.1 is served; with a password or
// protected-mode no, the other address is served too.
func TestLimitsProtectedMode(t *testing.T) {
	ip := nonLoopbackIP()
	red := testutil.StartRedis(t, "--bind", "0.0.0.0", "--protected-mode", "yes")
	n := startNode(t, "--bind", "0.0.0.0")
	try := func(addr string) (string, bool) {
		nc := dialFrom(t, ip, addr)
		defer nc.Close()
		_, _ = nc.Write([]byte("PING\r\n"))
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		var buf bytes.Buffer
		_, err := io.Copy(&buf, nc)
		var ne net.Error
		closed := !(err != nil && errorsAs(err, &ne) && ne.Timeout())
		return buf.String(), closed
	}
	want, _ := try(red.Addr)
	t.Logf("redis-server from %s: %.60q...", ip, want)
	if !strings.HasPrefix(want, "-DENIED Redis is running in protected mode") {
		t.Fatalf("redis-server's reply: %q", want)
	}
	got, closed := try(n.Addr)
	if got != want || !closed {
		t.Fatalf("shoal from %s: %q closed %v, want redis-server's %q", ip, got, closed, want)
	}
	rc := nodeClient(t, n)
	ctx := context.Background()
	if v := infoField(t, rc, "stats", "rejected_connections"); v != "1" {
		t.Errorf("rejected_connections %s", v)
	}
	for _, set := range [][2]string{{"requirepass", "pw"}, {"protected-mode", "no"}} {
		if err := rc.ConfigSet(ctx, set[0], set[1]).Err(); err != nil {
			t.Fatal(err)
		}
		got, closed := try(n.Addr)
		if strings.HasPrefix(got, "-DENIED") || closed {
			t.Errorf("with %s %s: %q closed %v", set[0], set[1], got, closed)
		}
		if set[0] == "requirepass" {
			rc = newGoRedis(t, &redis.Options{Addr: n.Addr, Password: "pw"})
			if err := rc.ConfigSet(ctx, "requirepass", "").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLimitsMaxMemoryClients: over maxmemory-clients the client using the
// most memory (CLIENT LIST tot-mem: its 3 MB request buffer) is closed;
// the small ones stay; evicted_clients counts it.
func TestLimitsMaxMemoryClients(t *testing.T) {
	n := startNode(t)
	rc := newGoRedis(t, &redis.Options{Addr: n.Addr, PoolSize: 1})
	ctx := context.Background()
	big, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	v := strings.Repeat("b", 3<<20)
	fmt.Fprintf(big, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n%s\r\n", len(v), v)
	_ = big.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := bufio.NewReader(big).ReadString('\n'); l != "+OK\r\n" {
		t.Fatalf("SET: %q %v", l, err)
	}
	if err := rc.ConfigSet(ctx, "maxmemory-clients", "2mb").Err(); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, 10*time.Second, "the big client is evicted", func() bool {
		return infoField(t, rc, "stats", "evicted_clients") == "1"
	})
	if !isClosed(big) {
		t.Error("the big client's connection is open")
	}
	if err := rc.Ping(ctx).Err(); err != nil {
		t.Errorf("the small client: %v", err)
	}
	if err := rc.ConfigSet(ctx, "maxmemory-clients", "0").Err(); err != nil {
		t.Fatal(err)
	}
}

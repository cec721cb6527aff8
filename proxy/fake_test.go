package proxy

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/internal/testutil"
)

// fakeNode is an in-process RESP server standing in for a cluster node:
// HELLO answers a RESP3 map, CLUSTER SLOTS the ranges of its slots
// function, GET k the bulk "k" (so replies show which command they
// answer), SET +OK; its hook, when set, may answer any command first.
type fakeNode struct {
	ln   net.Listener
	addr string
	gets atomic.Int64

	mu    sync.Mutex // guards slots and hook, set by tests while it serves
	slots func() []slotRange
	hook  func(args [][]byte) []byte // nil reply: not handled
}

func (f *fakeNode) setSlots(fn func() []slotRange) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slots = fn
}

func (f *fakeNode) setHook(fn func(args [][]byte) []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = fn
}

func startFake(t *testing.T) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeNode{ln: ln, addr: ln.Addr().String()}
	f.slots = func() []slotRange { return []slotRange{{0, numSlots - 1, f.addr}} }
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				f.serve(nc)
			}()
		}
	}()
	return f
}

func (f *fakeNode) serve(nc net.Conn) {
	defer nc.Close()
	rr := newReqReader(nc)
	var out []byte
	for {
		reqs, err := rr.readBatch()
		out = out[:0]
		for _, r := range reqs {
			var hangUp bool
			if out, hangUp = f.reply(out, r.args); hangUp {
				return
			}
		}
		if len(out) > 0 {
			if _, err := nc.Write(out); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hangUp, returned by a hook, closes the connection without a reply.
var hangUp = []byte{}

func (f *fakeNode) reply(out []byte, args [][]byte) ([]byte, bool) {
	f.mu.Lock()
	hook, slots := f.hook, f.slots
	f.mu.Unlock()
	if hook != nil {
		if r := hook(args); r != nil {
			return append(out, r...), len(r) == 0
		}
	}
	return f.answer(out, args, slots), false
}

func (f *fakeNode) answer(out []byte, args [][]byte, slots func() []slotRange) []byte {
	switch {
	case isCmd(args, "hello"):
		return append(out, "%1\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"...)
	case isCmd(args, "cluster"):
		rs := slots()
		out = resp.AppendArray(out, len(rs))
		for _, r := range rs {
			host, port, _ := net.SplitHostPort(r.addr)
			p, _ := strconv.Atoi(port)
			out = resp.AppendArray(out, 3)
			out = resp.AppendInt(out, int64(r.start))
			out = resp.AppendInt(out, int64(r.end))
			out = resp.AppendArray(out, 3)
			out = resp.AppendBulkString(out, host)
			out = resp.AppendInt(out, int64(p))
			out = resp.AppendBulkString(out, strings.Repeat("0", 40))
		}
		return out
	case isCmd(args, "get"):
		f.gets.Add(1)
		return resp.AppendBulk(out, args[1])
	case isCmd(args, "set"):
		return resp.AppendOK(out)
	}
	return resp.AppendError(out, "ERR unknown command '"+string(args[0])+"'")
}

// isCmd reports whether args name the command name (lower case), without
// allocating.
func isCmd(args [][]byte, name string) bool {
	if len(args[0]) != len(name) {
		return false
	}
	for i, c := range args[0] {
		if c|0x20 != name[i] {
			return false
		}
	}
	return true
}

// startTestProxy runs a proxy in-process against the nodes at addrs.
// It returns the proxy and its client address.
func startTestProxy(t *testing.T, mod func(*Config), addrs ...string) (*Proxy, string) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Cluster = addrs
	cfg.Logger = testutil.Logger(t)
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != ErrClosed {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return p, ln.Addr().String()
}

// rawClient is a client connection that sends raw bytes and reads whole
// replies, allocation-free after its first use.
type rawClient struct {
	nc  net.Conn
	rd  *bufio.Reader
	buf []byte
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{nc: nc, rd: bufio.NewReaderSize(nc, 64<<10)}
}

// roundTrip sends req and reads n replies into c.buf.
func (c *rawClient) roundTrip(req []byte, n int) ([]byte, error) {
	if _, err := c.nc.Write(req); err != nil {
		return nil, err
	}
	c.buf = c.buf[:0]
	pos := 0
	for got := 0; got < n; {
		e, ok, err := replyEnd(c.buf, pos)
		if err != nil {
			return nil, err
		}
		if ok {
			pos = e
			got++
			continue
		}
		b, err := c.rd.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		c.buf = append(c.buf, b...)
	}
	return c.buf, nil
}

func (c *rawClient) do(t testing.TB, args ...string) string {
	t.Helper()
	var b []byte
	b = resp.AppendArray(b, len(args))
	for _, a := range args {
		b = resp.AppendBulkString(b, a)
	}
	r, err := c.roundTrip(b, 1)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return string(r)
}

// Pipelines of many clients, sharing the backend connections of two
// nodes, each get their own replies, in order.
func TestProxyPipelinesInOrder(t *testing.T) {
	a, b := startFake(t), startFake(t)
	ranges := func() []slotRange { return []slotRange{{0, 8191, a.addr}, {8192, numSlots - 1, b.addr}} }
	a.setSlots(ranges)
	b.setSlots(ranges)
	_, addr := startTestProxy(t, nil, a.addr)
	const clients, batches, depth = 8, 50, 40
	var wg sync.WaitGroup
	errs := make(chan string, clients)
	for ci := 0; ci < clients; ci++ {
		c := dialRaw(t, addr)
		wg.Add(1)
		go func(ci int) {
			defer wg.Done()
			for bi := 0; bi < batches; bi++ {
				var req, want []byte
				for k := 0; k < depth; k++ {
					key := "c" + strconv.Itoa(ci) + ":" + strconv.Itoa(bi) + ":" + strconv.Itoa(k)
					req = resp.AppendArray(req, 2)
					req = resp.AppendBulkString(req, "GET")
					req = resp.AppendBulkString(req, key)
					want = resp.AppendBulkString(want, key)
				}
				got, err := c.roundTrip(req, depth)
				if err != nil || string(got) != string(want) {
					errs <- "client " + strconv.Itoa(ci) + " batch " + strconv.Itoa(bi) + ": " + string(got)
					return
				}
			}
		}(ci)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if a.gets.Load() == 0 || b.gets.Load() == 0 {
		t.Fatalf("GETs per node: %d, %d; want both nodes used", a.gets.Load(), b.gets.Load())
	}
}

// Forwarding allocates nothing per command: the allocations of a batch of
// pipelined GETs do not grow with the batch.
func TestProxyForwardAllocs(t *testing.T) {
	f := startFake(t)
	_, addr := startTestProxy(t, nil, f.addr)
	c := dialRaw(t, addr)
	for _, depth := range []int{1, 100} {
		var req []byte
		for k := 0; k < depth; k++ {
			req = resp.AppendArray(req, 2)
			req = resp.AppendBulkString(req, "GET")
			req = resp.AppendBulkString(req, "key:"+strconv.Itoa(k))
		}
		if _, err := c.roundTrip(req, depth); err != nil { // warm up the buffers
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := c.roundTrip(req, depth); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("pipeline of %d GETs: %.2f allocations per batch", depth, allocs)
		if allocs > 3 {
			t.Errorf("pipeline of %d GETs: %.2f allocations per batch, want at most 3 (none per command)", depth, allocs)
		}
	}
}

// MOVED sends the command to the named node and updates the map, so that
// the next command for the slot goes there directly.
func TestProxyMoved(t *testing.T) {
	a, b := startFake(t), startFake(t)
	var moved atomic.Int64
	a.setHook(func(args [][]byte) []byte {
		if isCmd(args, "get") {
			moved.Add(1)
			return []byte("-MOVED " + strconv.Itoa(slotOf(args[1])) + " " + b.addr + "\r\n")
		}
		return nil
	})
	_, addr := startTestProxy(t, nil, a.addr)
	c := dialRaw(t, addr)
	for i := 0; i < 3; i++ {
		if got := c.do(t, "GET", "k"); got != "$1\r\nk\r\n" {
			t.Fatalf("GET %d: %q", i, got)
		}
	}
	if moved.Load() != 1 || b.gets.Load() != 3 {
		t.Fatalf("MOVED answered %d times, node b served %d GETs; want 1 and 3", moved.Load(), b.gets.Load())
	}
}

// ASK sends ASKING and the command to the named node once, without
// changing the map.
func TestProxyAsk(t *testing.T) {
	a, b := startFake(t), startFake(t)
	var asking atomic.Int64
	a.setHook(func(args [][]byte) []byte {
		if isCmd(args, "get") {
			return []byte("-ASK " + strconv.Itoa(slotOf(args[1])) + " " + b.addr + "\r\n")
		}
		return nil
	})
	b.setHook(func(args [][]byte) []byte {
		if isCmd(args, "asking") {
			asking.Add(1)
			return []byte("+OK\r\n")
		}
		return nil
	})
	p, addr := startTestProxy(t, nil, a.addr)
	c := dialRaw(t, addr)
	for i := 0; i < 2; i++ {
		if got := c.do(t, "GET", "k"); got != "$1\r\nk\r\n" {
			t.Fatalf("GET %d: %q", i, got)
		}
	}
	if asking.Load() != 2 || p.smap.Load().nodeFor(slotOf([]byte("k"))).addr != a.addr {
		t.Fatalf("ASKING sent %d times (want 2); slot led by %s (want a, unchanged)", asking.Load(),
			p.smap.Load().nodeFor(slotOf([]byte("k"))).addr)
	}
}

// TRYAGAIN, CLUSTERDOWN and TIMEOUT are retried until the node answers;
// past the retry budget the client gets the error.
func TestProxyTransientRetries(t *testing.T) {
	for _, e := range []string{"-TRYAGAIN x\r\n", "-CLUSTERDOWN Hash slot not served\r\n", "-TIMEOUT maybe\r\n"} {
		t.Run(strings.Fields(e)[0][1:], func(t *testing.T) {
			f := startFake(t)
			var left atomic.Int64
			left.Store(3)
			var always atomic.Bool
			f.setHook(func(args [][]byte) []byte {
				if isCmd(args, "get") && (always.Load() || left.Add(-1) >= 0) {
					return []byte(e)
				}
				return nil
			})
			_, addr := startTestProxy(t, func(c *Config) { c.RetryBudget = 300 * time.Millisecond }, f.addr)
			c := dialRaw(t, addr)
			if got := c.do(t, "GET", "k"); got != "$1\r\nk\r\n" {
				t.Fatalf("GET after 3 %q: %q", e, got)
			}
			always.Store(true)
			start := time.Now()
			if got := c.do(t, "GET", "k"); got != e {
				t.Fatalf("GET past the budget: %q, want %q", got, e)
			}
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Fatalf("gave up after %v, before the 300ms budget", d)
			}
		})
	}
}

// A node that closes its connection (killed) fails the calls it owed;
// they are retried on the node the reloaded map names.
func TestProxyNodeLost(t *testing.T) {
	a, b := startFake(t), startFake(t)
	var lost atomic.Bool
	owner := func() []slotRange {
		if lost.Load() {
			return []slotRange{{0, numSlots - 1, b.addr}}
		}
		return []slotRange{{0, numSlots - 1, a.addr}}
	}
	a.setSlots(owner)
	b.setSlots(owner)
	a.setHook(func(args [][]byte) []byte {
		if isCmd(args, "get") && lost.Load() {
			a.ln.Close()
			return hangUp
		}
		return nil
	})
	_, addr := startTestProxy(t, nil, a.addr, b.addr)
	c := dialRaw(t, addr)
	if got := c.do(t, "GET", "k"); got != "$1\r\nk\r\n" {
		t.Fatalf("GET: %q", got)
	}
	lost.Store(true)
	if got := c.do(t, "GET", "k2"); got != "$2\r\nk2\r\n" {
		t.Fatalf("GET after the node was lost: %q", got)
	}
	if b.gets.Load() != 1 {
		t.Fatalf("node b served %d GETs, want 1", b.gets.Load())
	}
}

// With a password, clients must AUTH (passed through to a node) first;
// HELLO AUTH works too and switches the protocol; node replies are in
// RESP3 and reach RESP2 clients downgraded.
func TestProxyAuthAndProtocols(t *testing.T) {
	f := startFake(t)
	f.setHook(func(args [][]byte) []byte {
		switch {
		case isCmd(args, "auth"):
			if string(args[len(args)-1]) == "pw" {
				return []byte("+OK\r\n")
			}
			return []byte("-WRONGPASS invalid username-password pair or user is disabled.\r\n")
		case isCmd(args, "get") && string(args[1]) == "missing":
			return []byte("_\r\n")
		}
		return nil
	})
	_, addr := startTestProxy(t, func(c *Config) { c.Password = "pw" }, f.addr)

	c := dialRaw(t, addr)
	for _, step := range []struct{ args, want string }{
		{"GET k", "-NOAUTH Authentication required.\r\n"},
		{"PING", "-NOAUTH Authentication required.\r\n"},
		{"AUTH nope", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"GET k", "-NOAUTH Authentication required.\r\n"},
		{"AUTH pw", "+OK\r\n"},
		{"GET k", "$1\r\nk\r\n"},
		{"GET missing", "$-1\r\n"}, // RESP2: the node's RESP3 null, downgraded
		{"HELLO 3", ""},
		{"GET missing", "_\r\n"},
		{"CLIENT SETNAME app", "+OK\r\n"},
		{"CLIENT GETNAME", "$3\r\napp\r\n"},
		{"SELECT 0", "+OK\r\n"},
		{"SELECT 1", "-ERR DB index is out of range\r\n"},
		{"READONLY", "-ERR This instance has cluster support disabled\r\n"},
		{"MULTI", "-" + errUnsupported + "\r\n"},
	} {
		got := c.do(t, strings.Fields(step.args)...)
		if step.want == "" {
			if !strings.HasPrefix(got, "%7\r\n") || !strings.Contains(got, "$4\r\nmode\r\n$10\r\nstandalone\r\n") {
				t.Fatalf("%s: %q", step.args, got)
			}
			continue
		}
		if got != step.want {
			t.Fatalf("%s: %q, want %q", step.args, got, step.want)
		}
	}

	c2 := dialRaw(t, addr)
	if got := c2.do(t, "HELLO", "3", "AUTH", "default", "nope"); !strings.HasPrefix(got, "-WRONGPASS") {
		t.Fatalf("HELLO with a wrong password: %q", got)
	}
	if got := c2.do(t, "HELLO", "3", "AUTH", "default", "pw"); !strings.HasPrefix(got, "%7\r\n") || !strings.Contains(got, "$5\r\nproto\r\n:3\r\n") {
		t.Fatalf("HELLO 3 AUTH: %q", got)
	}
	if got := c2.do(t, "GET", "k"); got != "$1\r\nk\r\n" {
		t.Fatalf("GET after HELLO AUTH: %q", got)
	}
}

// A slot map reload asks a node that could not be reached last.
func TestProxyRefreshSkipsFailedNodes(t *testing.T) {
	a, b := startFake(t), startFake(t)
	p, _ := startTestProxy(t, nil, a.addr, b.addr)
	var asked atomic.Int64
	b.setHook(func(args [][]byte) []byte {
		if isCmd(args, "cluster") {
			asked.Add(1)
		}
		return nil
	})
	p.node(a.addr).dialFailed.Store(time.Now().UnixNano())
	p.refreshMu.Lock()
	p.lastRefresh = time.Time{} // no "reloaded just now" shortcut
	p.refreshMu.Unlock()
	if err := p.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if asked.Load() != 1 {
		t.Fatalf("node b was asked %d times for CLUSTER SLOTS, want 1 (a failed lately)", asked.Load())
	}
}

// TestProxySubcommandKeys checks that a subcommand's key routes the call
// (OBJECT ENCODING key goes to the node of the key's slot), and that a
// MOVED answering a command the proxy took for keyless sends it to the
// node the MOVED names rather than to any node again.
func TestProxySubcommandKeys(t *testing.T) {
	a, b := startFake(t), startFake(t)
	split := func() []slotRange { return []slotRange{{0, 8191, a.addr}, {8192, numSlots - 1, b.addr}} }
	a.setSlots(split)
	b.setSlots(split)
	var aObject atomic.Int64
	a.setHook(func(args [][]byte) []byte {
		switch {
		case isCmd(args, "object"):
			aObject.Add(1)
			return []byte("-MOVED 9000 " + b.addr + "\r\n")
		case isCmd(args, "x-keyless"):
			return []byte("-MOVED 9000 " + b.addr + "\r\n")
		}
		return nil
	})
	b.setHook(func(args [][]byte) []byte {
		switch {
		case isCmd(args, "object"):
			return []byte("+embstr\r\n")
		case isCmd(args, "x-keyless"):
			return []byte("+b\r\n")
		}
		return nil
	})
	key := ""
	for i := 0; key == ""; i++ {
		if k := "k" + strconv.Itoa(i); slotOf([]byte(k)) >= 8192 {
			key = k
		}
	}
	_, addr := startTestProxy(t, func(c *Config) { c.RetryBudget = time.Second }, a.addr)
	c := dialRaw(t, addr)
	if got := c.do(t, "OBJECT", "ENCODING", key); got != "+embstr\r\n" {
		t.Fatalf("OBJECT ENCODING %s: %q", key, got)
	}
	if n := aObject.Load(); n != 0 {
		t.Fatalf("OBJECT ENCODING of a key of node b reached node a %d times", n)
	}
	// Keyless calls go to a node chosen by connection: several
	// connections, so that some reach node a first.
	for i := 0; i < 4; i++ {
		if got := dialRaw(t, addr).do(t, "X-KEYLESS"); got != "+b\r\n" {
			t.Fatalf("connection %d: X-KEYLESS: %q, want node b's +b", i, got)
		}
	}
}

package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// fakeGroup is a Group without Raft: Propose applies the commands at once
// with the command package's Executor, under the store's write lock, as the
// FSM does. It records whether any proposal found the store read-locked.
type fakeGroup struct {
	t  *testing.T
	st *shard.Store

	mu        sync.Mutex
	proposals int
	cmds      int
	// lockedDuringPropose counts proposals made while some goroutine held
	// the store's read lock (the connection must release it first).
	lockedDuringPropose int
	// refuse makes Propose answer as the FSM does for a write to a slot
	// the group does not own (the map changed after routing).
	refuse bool
	// notLeader makes Propose fail as raft does when leadership moved
	// before the entry was taken (nothing applied); onPropose, when set,
	// runs first.
	notLeader bool
	onPropose func()
	// entered, when set, receives a value as a proposal starts; the
	// proposal then waits for release to be closed.
	entered chan struct{}
	release chan struct{}
}

func newFakeGroup(t *testing.T) *fakeGroup { return &fakeGroup{t: t, st: shard.New()} }

func (g *fakeGroup) ID() string                        { return "fake" }
func (g *fakeGroup) Store() *shard.Store               { return g.st }
func (g *fakeGroup) IsLeader() bool                    { return true }
func (g *fakeGroup) Ready() bool                       { return true }
func (g *fakeGroup) VerifyRound(context.Context) error { return nil }
func (g *fakeGroup) LeaseHolds() bool                  { return false }
func (g *fakeGroup) Snapshot(context.Context) error    { return nil }
func (g *fakeGroup) LastSave() int64                   { return 0 }
func (g *fakeGroup) AppliedIndex() uint64              { return 0 }
func (g *fakeGroup) Status() raftfsm.Status            { return raftfsm.Status{State: "leader"} }
func (g *fakeGroup) Owns(int) bool                     { return true }
func (g *fakeGroup) Fenced(int) bool                   { return false }

func (g *fakeGroup) ProposeExpire(ctx context.Context, db int, keys []shard.ExpiredKey) (int, error) {
	g.t.Error("unexpected ProposeExpire")
	return 0, nil
}

func (g *fakeGroup) ProposeEvict(ctx context.Context, db int, keys [][]byte) (int, error) {
	g.t.Error("unexpected ProposeEvict")
	return 0, nil
}

func (g *fakeGroup) TryProposeDB(db int, cmds [][][]byte) (raftfsm.Replies, bool, error) {
	out, err := g.ProposeDB(context.Background(), db, cmds)
	return out, true, err
}

func (g *fakeGroup) Propose(ctx context.Context, cmds [][][]byte) (raftfsm.Replies, error) {
	return g.ProposeDB(ctx, 0, cmds)
}

// ProposeDB applies cmds in database db at once, as the FSM would.
func (g *fakeGroup) ProposeDB(_ context.Context, db int, cmds [][][]byte) (raftfsm.Replies, error) {
	if g.entered != nil {
		g.entered <- struct{}{}
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.onPropose != nil {
		g.onPropose()
	}
	if g.notLeader {
		return raftfsm.Replies{}, raftfsm.ErrNotLeader
	}
	g.proposals++
	g.cmds += len(cmds)
	// The FSM's apply takes the write lock; a connection still holding a
	// read lock would block it forever. TryLock tells without blocking.
	if !g.st.TryLock() {
		g.lockedDuringPropose++
		g.st.Lock()
	}
	defer g.st.Unlock()
	exec := command.Executor()
	now := time.Now().UnixMilli()
	replies := make([][]byte, len(cmds))
	for i, args := range cmds {
		if g.refuse {
			replies[i] = []byte("-" + raftfsm.NotOwnerPrefix + " " + strconv.Itoa(shard.Slot(args[1])) + "\r\n")
			continue
		}
		replies[i] = exec.Exec(g.st.DB(db), now, args, nil)
	}
	return raftfsm.NewReplies(replies...), nil
}

// serveTest serves s on an OS-chosen loopback port until the test ends and
// returns the address.
func serveTest(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return ln.Addr().String()
}

// startFakeServer serves a Server routed to g on an OS-chosen port.
func startFakeServer(t *testing.T, r Router) string {
	t.Helper()
	s, err := New(DefaultConfig(), r)
	if err != nil {
		t.Fatal(err)
	}
	return serveTest(t, s)
}

// pipeline sends cmds (inline commands) in one write and returns the raw
// replies, one line each (the replies used here are single-line).
func pipeline(t *testing.T, addr string, cmds ...string) []string {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte(strings.Join(cmds, "\r\n") + "\r\n")); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(nc)
	out := make([]string, 0, len(cmds))
	for range cmds {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("reading replies of %q: %v (so far %q)", cmds, err, out)
		}
		if line[0] == '$' && line != "$-1\r\n" {
			body, err := rd.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			line += body
		}
		out = append(out, line)
	}
	return out
}

// TestPipelineWithFakeGroup drives the connection pipeline (reads under the
// store's read lock, writes packed into proposals) without Raft, and checks
// the rule that a connection never proposes while it holds a store read
// lock: reads before each write leave the lock held until the write.
func TestPipelineWithFakeGroup(t *testing.T) {
	g := newFakeGroup(t)
	addr := startFakeServer(t, SingleRouter{Group: g})
	got := pipeline(t, addr,
		"GET a", "SET a 1", "GET a", "EXISTS a", "INCR n", "INCR n", "GET n", "SET b 2", "STRLEN b", "DEL a b")
	want := []string{"$-1\r\n", "+OK\r\n", "$1\r\n1\r\n", ":1\r\n", ":1\r\n", ":2\r\n", "$1\r\n2\r\n", "+OK\r\n", ":1\r\n", ":2\r\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies\n got %q\nwant %q", got, want)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.lockedDuringPropose != 0 {
		t.Fatalf("%d of %d proposals were made while the store was read-locked", g.lockedDuringPropose, g.proposals)
	}
	// Writes between reads flush separately; consecutive writes share one.
	if g.cmds != 5 || g.proposals != 4 {
		t.Fatalf("%d commands in %d proposals, want 5 commands in 4", g.cmds, g.proposals)
	}
}

// TestNilRouterServesNoSlot: a Server made without a router answers keyed
// commands with an error instead of panicking on the first one.
func TestNilRouterServesNoSlot(t *testing.T) {
	addr := startFakeServer(t, nil)
	got := pipeline(t, addr, "SET a 1", "GET a", "PING", "DBSIZE")
	want := []string{"-CLUSTERDOWN Hash slot not served\r\n", "-CLUSTERDOWN Hash slot not served\r\n", "+PONG\r\n", ":0\r\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replies\n got %q\nwant %q", got, want)
	}
}

// redirectRouter routes every slot to g, which this node does not lead;
// the slot's leader is at addr.
type redirectRouter struct {
	g    Group
	addr string
}

func (r redirectRouter) ClusterEnabled() bool { return true }
func (r redirectRouter) Route(int) (Group, bool, string, bool) {
	return r.g, false, r.addr, true
}
func (r redirectRouter) LocalGroups() []Group  { return nil }
func (r redirectRouter) HostedGroups() []Group { return []Group{r.g} }
func (r redirectRouter) Topology() *Topology   { return nil }
func (r redirectRouter) Admin() Admin          { return nil }
func (r redirectRouter) Incoming(int) Group    { return nil }

// TestNotOwnerReply: a write the group's FSM refused because the group does
// not own the slot is answered TRYAGAIN while the map still routes the slot
// here, and MOVED to the new leader once it names another node; it is
// never answered with the FSM's internal NOTOWNER error.
func TestNotOwnerReply(t *testing.T) {
	g := newFakeGroup(t)
	g.refuse = true
	addr := startFakeServer(t, SingleRouter{Group: g})
	got := pipeline(t, addr, "SET a 1", "INCR a")
	want := "-" + command.ErrTryAgainOwnership + "\r\n"
	for _, r := range got {
		if r != want {
			t.Fatalf("replies %q, want %q each", got, want)
		}
	}

	s, err := New(DefaultConfig(), redirectRouter{g: g, addr: "10.0.0.9:7001"})
	if err != nil {
		t.Fatal(err)
	}
	b := s.notOwnerReply(nil, shard.Slot([]byte("a")))
	if want := "-MOVED 15495 10.0.0.9:7001\r\n"; string(b) != want {
		t.Fatalf("notOwnerReply = %q, want %q", b, want)
	}
}

// movingRouter routes every slot to g, led here until moved is set; then
// to the leader at addr.
type movingRouter struct {
	redirectRouter
	moved *atomic.Bool
}

func (r movingRouter) Route(int) (Group, bool, string, bool) {
	if r.moved.Load() {
		return r.g, false, r.addr, true
	}
	return r.g, true, "", true
}

// TestProposeNotLeaderReply: writes whose proposal raft never took (the
// leadership moved first) were not applied: they are redirected to the new
// leader (MOVED) once the map names it, and answered TRYAGAIN while it
// names none; never an indeterminate error.
func TestProposeNotLeaderReply(t *testing.T) {
	g := newFakeGroup(t)
	g.notLeader = true
	addr := startFakeServer(t, SingleRouter{Group: g})
	want := "-" + command.ErrTryAgainOwnership + "\r\n"
	if got := pipeline(t, addr, "SET a 1", "INCR b"); got[0] != want || got[1] != want {
		t.Fatalf("replies %q, want %q each", got, want)
	}

	moved := new(atomic.Bool)
	g2 := newFakeGroup(t)
	g2.notLeader = true
	g2.onPropose = func() { moved.Store(true) }
	addr = startFakeServer(t, movingRouter{redirectRouter{g: g2, addr: "10.0.0.9:7001"}, moved})
	got := pipeline(t, addr, "SET a 1", "INCR b")
	if got[0] != "-MOVED 15495 10.0.0.9:7001\r\n" || got[1] != "-MOVED 3300 10.0.0.9:7001\r\n" {
		t.Fatalf("replies %q, want MOVED for each", got)
	}
}

// TestShutdownFinishesBatch: Shutdown lets a connection whose write is in
// flight get its reply before the connection closes, and closes idle
// connections at once.
func TestShutdownFinishesBatch(t *testing.T) {
	g := newFakeGroup(t)
	g.entered, g.release = make(chan struct{}), make(chan struct{})
	s, err := New(DefaultConfig(), SingleRouter{Group: g})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, s) // the test shuts it down itself; the cleanup's call does nothing
	dial := func() net.Conn {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
		return nc
	}
	idle, busy := dial(), dial()
	if _, err := busy.Write([]byte("SET a 1\r\n")); err != nil {
		t.Fatal(err)
	}
	<-g.entered // the write is being proposed
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	// The idle connection is closed without waiting for the write.
	if n, err := idle.Read(make([]byte, 16)); err == nil {
		t.Fatalf("idle connection read %d bytes, want it closed", n)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a write was in flight", err)
	default:
	}
	close(g.release)
	rd := bufio.NewReader(busy)
	if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
		t.Fatalf("reply to the write in flight: %q, %v", line, err)
	}
	if line, err := rd.ReadString('\n'); err == nil {
		t.Fatalf("the connection stayed open after its batch: read %q", line)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// TestHalfClosedClient: a client that sends its commands and then closes
// its side (as `redis-cli < file` and `nc -q` do) gets each reply once.
func TestHalfClosedClient(t *testing.T) {
	addr := startFakeServer(t, SingleRouter{Group: newFakeGroup(t)})
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write([]byte("PING\r\nSET a 1\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "+PONG\r\n+OK\r\n" {
		t.Fatalf("replies %q, want each once", got)
	}
}

// TestDrainWaitsForRedirectedClients: Drain keeps waiting while requests
// arrive, even ones that are refused (after a hand-off every keyed command
// gets MOVED, and those do not count as commands processed), and returns
// once they stop.
func TestDrainWaitsForRedirectedClients(t *testing.T) {
	s, err := New(DefaultConfig(), SingleRouter{Group: newFakeGroup(t)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTest(t, s)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	drained := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Drain(ctx, 200*time.Millisecond)
		close(drained)
	}()
	// Refused requests every 20 ms for a second: Drain must not return.
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if _, err := nc.Write([]byte("NOSUCHCOMMAND\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "-ERR unknown command") {
			t.Fatalf("reply %q, %v", line, err)
		}
		select {
		case <-drained:
			t.Fatal("Drain returned while requests kept arriving")
		case <-time.After(20 * time.Millisecond):
		}
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return once requests stopped")
	}
}

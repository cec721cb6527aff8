package server

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
)

// invalidation is the raw RESP3 push invalidating key ("" for a flush).
func invalidation(key string) string {
	if key == "" {
		return ">2\r\n$10\r\ninvalidate\r\n_\r\n"
	}
	return ">2\r\n$10\r\ninvalidate\r\n*1\r\n$" + strconv.Itoa(len(key)) + "\r\n" + key + "\r\n"
}

// trackingServer serves a standalone server over a one-replica Raft group
// and returns it, its address and the group.
func trackingServer(t *testing.T) (*Server, string, *raftfsm.Group) {
	t.Helper()
	g := startInmemGroups(t, 1)[0]
	waitReady(t, g)
	s, addr := introServer(t, g, nil)
	return s, addr, g
}

// resp3 dials addr and switches the connection to RESP3.
func resp3(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	c.val("HELLO", "3")
	return c
}

// want reads the next message and fails unless it is want.
func (c *rawConn) want(want string) {
	c.t.Helper()
	if got := string(c.read().Raw); got != want {
		c.t.Errorf("read %q, want %q", got, want)
	}
}

// quiet checks that no message is waiting before the reply of a PING (a
// message queued before the PING would come before its reply or right
// after it).
func (c *rawConn) quiet() {
	c.t.Helper()
	for range 2 {
		if got := c.do("PING"); got != "+PONG\r\n" {
			c.t.Errorf("unexpected message %q", got)
		}
	}
}

// TestTrackingOtherClientsWrites: a client that read a key hears once of
// a change by another client, expiry, and FLUSHALL; a key it did not read
// (or read before the last change and not since) brings nothing.
func TestTrackingOtherClientsWrites(t *testing.T) {
	_, addr, _ := trackingServer(t)
	a, b := resp3(t, addr), dialRaw(t, addr)
	if got := a.do("CLIENT", "TRACKING", "on"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := a.do("GET", "k"); got != "_\r\n" {
		t.Fatalf("GET k = %q", got)
	}
	b.do("SET", "k", "1")
	a.want(invalidation("k"))
	b.do("SET", "k", "2") // forgotten after the first message
	b.do("SET", "other", "x")
	a.quiet()

	a.do("MGET", "k", "m")
	b.do("DEL", "nothere") // changes nothing
	b.do("MSET", "m", "1", "x", "2")
	a.want(invalidation("m"))
	b.do("PEXPIRE", "k", "1") // a write, then the leader's expiry
	a.want(invalidation("k"))
	a.quiet()

	a.do("GET", "k")
	b.do("FLUSHALL")
	a.want(invalidation(""))

	// A tracking client that never read anything still hears a flush.
	c := resp3(t, addr)
	c.do("CLIENT", "TRACKING", "on")
	b.do("FLUSHDB")
	a.want(invalidation(""))
	c.want(invalidation(""))
	if got := c.do("CLIENT", "TRACKING", "off"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	b.do("FLUSHALL")
	a.want(invalidation(""))
	c.quiet()
}

// TestTrackingActiveExpiry: the leader's expiry deletes the key through the
// log; the reader is told.
func TestTrackingActiveExpiry(t *testing.T) {
	_, addr, _ := trackingServer(t)
	a := resp3(t, addr)
	a.do("CLIENT", "TRACKING", "on")
	a.do("SET", "soon", "v", "PX", "30")
	a.do("GET", "soon")
	_ = a.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := respclient.ReadRaw(a.rd)
	if err != nil || string(v.Raw) != invalidation("soon") {
		t.Fatalf("read %q, %v; want the expiry's invalidation", v.Raw, err)
	}
}

// TestTrackingModes: NOLOOP skips the client's own writes, and forgets the
// key as Redis does (another client's later write is not told) until the
// client reads it again;
// OPTIN tracks only after CLIENT CACHING yes; BCAST sends every change
// under its prefixes; REDIRECT sends to another RESP3 client, and says
// when that client is gone.
func TestTrackingModes(t *testing.T) {
	_, addr, _ := trackingServer(t)
	a, b := resp3(t, addr), dialRaw(t, addr)

	a.do("CLIENT", "TRACKING", "on", "NOLOOP")
	a.do("GET", "k")
	a.do("SET", "k", "mine")
	a.quiet()
	b.do("SET", "k", "theirs")
	a.quiet()
	a.do("GET", "k")
	b.do("SET", "k", "again")
	a.want(invalidation("k"))
	a.do("CLIENT", "TRACKING", "off")

	a.do("CLIENT", "TRACKING", "on", "OPTIN")
	a.do("GET", "k")
	a.do("CLIENT", "CACHING", "yes")
	a.do("GET", "j")
	b.do("SET", "k", "1")
	b.do("SET", "j", "1")
	a.want(invalidation("j"))
	a.quiet()
	a.do("CLIENT", "TRACKING", "off")

	a.do("CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:")
	b.do("SET", "user:1", "x")
	b.do("SET", "cart:1", "x")
	b.do("SET", "user:2", "x")
	a.want(invalidation("user:1"))
	a.want(invalidation("user:2"))
	a.quiet()
	a.do("CLIENT", "TRACKING", "off")

	r := resp3(t, addr)
	id := clientID(r)
	b.do("CLIENT", "TRACKING", "on", "REDIRECT", id)
	if got := b.do("CLIENT", "GETREDIR"); got != ":"+id+"\r\n" {
		t.Errorf("GETREDIR = %q, want %s", got, id)
	}
	b.do("GET", "k")
	a.do("SET", "k", "2")
	r.want(invalidation("k"))
	r.nc.Close()
	testutil.Until(t, 5*time.Second, "the redirect target is gone", func() bool {
		return b.do("CLIENT", "LIST", "ID", id) == "$0\r\n\r\n"
	})
	c := resp3(t, addr) // b is RESP2: a RESP3 client is told of the broken redirect
	r2 := dialRaw(t, addr)
	id2 := clientID(r2)
	c.do("CLIENT", "TRACKING", "on", "REDIRECT", id2)
	c.do("GET", "k")
	r2.nc.Close()
	testutil.Until(t, 5*time.Second, "the redirect target is gone", func() bool {
		return b.do("CLIENT", "LIST", "ID", id2) == "$0\r\n\r\n"
	})
	a.do("SET", "k", "3")
	c.want(">2\r\n$21\r\ntracking-redir-broken\r\n:" + id2 + "\r\n")
	if got := c.do("CLIENT", "TRACKINGINFO"); !strings.Contains(got, "broken_redirect") {
		t.Errorf("TRACKINGINFO = %q, want broken_redirect", got)
	}
}

// clientID returns the connection's CLIENT ID.
func clientID(c *rawConn) string {
	c.t.Helper()
	id := c.do("CLIENT", "ID")
	return id[1 : len(id)-2]
}

// TestTrackingOnFollower: a READONLY client reading on a follower is told
// when the follower applies a write that a client of the leader's node made
// (here proposed to the leader directly).
func TestTrackingOnFollower(t *testing.T) {
	gs := startInmemGroups(t, 2)
	_, addr := introServer(t, gs[1], nil)
	a := resp3(t, addr)
	a.do("READONLY")
	a.do("CLIENT", "TRACKING", "on")
	if got := a.do("GET", "k"); got != "_\r\n" {
		t.Fatalf("GET k on the follower = %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := gs[0].Propose(ctx, [][][]byte{{[]byte("SET"), []byte("k"), []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	_ = a.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	v, err := respclient.ReadRaw(a.rd)
	if err != nil || string(v.Raw) != invalidation("k") {
		t.Fatalf("read %q, %v; want the invalidation of k", v.Raw, err)
	}
	if got := a.do("GET", "k"); got != "$1\r\nv\r\n" {
		t.Errorf("GET k after the invalidation = %q", got)
	}
}

// TestTrackingPushOrder: in a pipeline, the invalidation of the client's
// own write follows that write's reply and comes before the next reply, as
// Redis sends it.
func TestTrackingPushOrder(t *testing.T) {
	_, addr, _ := trackingServer(t)
	a := resp3(t, addr)
	a.do("CLIENT", "TRACKING", "on")
	a.do("GET", "k")
	// One write: the server reads both commands as one batch.
	var b []byte
	for _, cmd := range [][]any{{"SET", "k", "v"}, {"PING"}} {
		var err error
		if b, err = respclient.AppendCommand(b, cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.nc.Write(b); err != nil {
		t.Fatal(err)
	}
	a.want("+OK\r\n")
	a.want(invalidation("k"))
	a.want("+PONG\r\n")
}

// TestTrackingTableBound: beyond the table's bound, remembered keys are
// invalidated and forgotten, so the table does not grow without limit.
func TestTrackingTableBound(t *testing.T) {
	s, addr, _ := trackingServer(t)
	s.track.mu.Lock()
	s.track.limit = 2
	s.track.mu.Unlock()
	a := resp3(t, addr)
	a.do("CLIENT", "TRACKING", "on")
	a.do("GET", "k1")
	a.do("GET", "k2")
	// The third key pushes one of the first two out: its message comes
	// after the GET's reply.
	if got := a.do("GET", "k3"); got != "_\r\n" {
		t.Fatalf("GET k3 = %q", got)
	}
	got := string(a.read().Raw)
	if got != invalidation("k1") && got != invalidation("k2") {
		t.Fatalf("read %q, want the invalidation of k1 or k2", got)
	}
	s.track.mu.Lock()
	n := len(s.track.keys)
	s.track.mu.Unlock()
	if n != 2 {
		t.Errorf("the table holds %d keys, want 2", n)
	}
}

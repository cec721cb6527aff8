package server

import (
	"errors"
	"github.com/shoalcache/shoal/internal/testutil"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
)

// adminServer serves a standalone server over a fake group.
func adminServer(t *testing.T) string {
	t.Helper()
	_, addr := introServer(t, newFakeGroup(t), nil)
	return addr
}

// silent checks that c receives nothing for d: a command it sent is
// still waiting. (Timing can only make this pass wrongly, never fail.)
func (c *rawConn) silent(d time.Duration) {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(d))
	v, err := respclient.ReadRaw(c.rd)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		c.t.Fatalf("received %q (%v) while paused", v.Raw, err)
	}
}

// closed checks that the server closed c's connection.
func (c *rawConn) closed() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	v, err := respclient.ReadRaw(c.rd)
	if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(errString(err), "reset") {
		c.t.Fatalf("read %q, %v; want the connection closed", v.Raw, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestClientPauseWrite: under CLIENT PAUSE WRITE a write waits (it is not
// refused) while reads go on, until CLIENT UNPAUSE.
func TestClientPauseWrite(t *testing.T) {
	addr := adminServer(t)
	a, b, c := dialRaw(t, addr), dialRaw(t, addr), dialRaw(t, addr)
	if got := a.do("CLIENT", "PAUSE", "60000", "WRITE"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	b.send("SET", "k", "v")
	if got := c.do("GET", "k"); got != "$-1\r\n" {
		t.Errorf("GET during a write pause = %q", got)
	}
	b.silent(200 * time.Millisecond)
	a.do("CLIENT", "UNPAUSE")
	b.want("+OK\r\n")
	if got := c.do("GET", "k"); got != "$1\r\nv\r\n" {
		t.Errorf("GET after the pause = %q", got)
	}
}

// TestClientPauseAllTimeout: under CLIENT PAUSE ALL every command waits
// until the pause's end.
func TestClientPauseAllTimeout(t *testing.T) {
	addr := adminServer(t)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	t0 := time.Now()
	a.do("CLIENT", "PAUSE", "300", "ALL")
	if got := b.do("PING"); got != "+PONG\r\n" {
		t.Fatal(got)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("PING answered %v after a 300 ms pause began", d)
	}
	// A later, shorter pause does not shorten the current one: the
	// stronger mode and the later end apply (Redis's pauseClients).
	t0 = time.Now()
	a.do("CLIENT", "PAUSE", "300", "WRITE")
	b.send("CLIENT", "PAUSE", "0", "ALL") // waits: writes are paused, not CLIENT
	b.want("+OK\r\n")
	if got := b.do("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("SET answered %v after a 300 ms write pause began", d)
	}
}

// TestClientKill: the old form and the filters close the connections they
// select (the caller's own after its reply, with SKIPME no); a client
// waiting in a pause is killed without running its command.
func TestClientKill(t *testing.T) {
	addr := adminServer(t)
	a, b := dialRaw(t, addr), registered(t, addr)
	if got := a.do("CLIENT", "KILL", b.nc.LocalAddr().String()); got != "+OK\r\n" {
		t.Fatalf("CLIENT KILL addr = %q", got)
	}
	b.closed()

	b = registered(t, addr)
	for _, filter := range []func(b *rawConn) []string{
		func(b *rawConn) []string { return []string{"ID", clientID(b)} },
		func(b *rawConn) []string { return []string{"ADDR", b.nc.LocalAddr().String()} },
		func(b *rawConn) []string { return []string{"LADDR", b.nc.RemoteAddr().String(), "ID", clientID(b)} },
		func(*rawConn) []string { return []string{"TYPE", "normal"} },
		func(*rawConn) []string { return []string{"USER", "default", "MAXAGE", "0"} },
	} {
		f := filter(b)
		if got := a.do(append([]string{"CLIENT", "KILL"}, f...)...); got != ":1\r\n" {
			t.Errorf("CLIENT KILL %q = %q, want :1", f, got)
		}
		b.closed()
		// The server drops the killed client from its list on its own
		// goroutine: wait for it, or the next filter may count it too.
		testutil.Until(t, 5*time.Second, "the killed client gone", func() bool {
			return strings.Count(a.do("CLIENT", "LIST"), "id=") == 1
		})
		b = registered(t, addr)
	}
	if got := a.do("CLIENT", "KILL", "MAXAGE", "1000"); got != ":0\r\n" {
		t.Errorf("CLIENT KILL MAXAGE 1000 = %q", got)
	}

	// A paused write of a killed client never runs.
	a.do("CLIENT", "PAUSE", "60000", "WRITE")
	b.send("SET", "killed", "v")
	b.silent(100 * time.Millisecond)
	if got := a.do("CLIENT", "KILL", "ID", clientID2(t, a, b)); got != ":1\r\n" {
		t.Fatalf("CLIENT KILL of the paused client = %q", got)
	}
	b.closed()
	a.do("CLIENT", "UNPAUSE")
	if got := a.do("EXISTS", "killed"); got != ":0\r\n" {
		t.Errorf("the killed client's paused SET ran: EXISTS = %q", got)
	}

	if got := a.do("CLIENT", "KILL", "SKIPME", "no", "ID", clientID(a)); got != ":1\r\n" {
		t.Errorf("CLIENT KILL SKIPME no = %q", got)
	}
	a.closed()
}

// clientID2 finds b's id from a's CLIENT LIST (b cannot ask: its
// connection waits in a pause).
func clientID2(t *testing.T, a, b *rawConn) string {
	t.Helper()
	list := a.do("CLIENT", "LIST")
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " addr="+b.nc.LocalAddr().String()+" ") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			return id
		}
	}
	t.Fatalf("%s not in %q", b.nc.LocalAddr(), list)
	return ""
}

// TestClientListFlags: NO-EVICT, tracking and an open transaction show in
// CLIENT LIST.
func TestClientListFlags(t *testing.T) {
	addr := adminServer(t)
	a := dialRaw(t, addr)
	a.do("CLIENT", "NO-EVICT", "on")
	a.do("CLIENT", "TRACKING", "on", "BCAST")
	if got := a.do("CLIENT", "INFO"); !strings.Contains(got, " flags=tBe ") || !strings.Contains(got, " redir=0 ") {
		t.Errorf("CLIENT INFO = %q, want flags=tBe and redir=0", got)
	}
	a.do("CLIENT", "NO-EVICT", "off")
	a.do("CLIENT", "TRACKING", "off")
	if got := a.do("CLIENT", "INFO"); !strings.Contains(got, " flags=N ") || !strings.Contains(got, " redir=-1 ") {
		t.Errorf("CLIENT INFO = %q, want flags=N and redir=-1", got)
	}
	a.do("MULTI")
	a.do("GET", "k")
	b := dialRaw(t, addr)
	if got := b.do("CLIENT", "LIST", "ID", clientID2(t, b, a)); !strings.Contains(got, " flags=x db=0 sub=0 psub=0 ssub=0 multi=1 ") {
		t.Errorf("CLIENT LIST of a client in MULTI = %q, want flags=x and multi=1", got)
	}
	a.do("DISCARD")
	if got := b.do("CLIENT", "LIST", "ID", clientID(a)); !strings.Contains(got, " flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 ") {
		t.Errorf("CLIENT LIST after DISCARD = %q, want flags=N and multi=-1", got)
	}
}

// registered dials addr and waits for the server to have registered the
// connection (one round trip), so that CLIENT KILL and LIST see it.
func registered(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING = %q", got)
	}
	return c
}

// TestPauseStateEnds: a pause that ended, even unobserved, does not make a
// later weaker pause stronger; a timeout of 0 pauses nothing. The clock is
// injected.
func TestPauseStateEnds(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &pauseState{now: func() time.Time { return now }}
	p.set(pauseAll, now.Add(time.Second))
	if m, _, _ := p.current(); m != pauseAll {
		t.Fatalf("mode %d, want ALL", m)
	}
	now = now.Add(2 * time.Second) // the ALL pause ended; nobody looked
	p.set(pauseWrite, now.Add(time.Second))
	if m, _, left := p.current(); m != pauseWrite || left != time.Second {
		t.Errorf("mode %d for %v, want WRITE for 1s", m, left)
	}
	p.set(pauseAll, now.Add(time.Second/2)) // stronger, shorter: ALL until the later end
	if m, _, left := p.current(); m != pauseAll || left != time.Second {
		t.Errorf("mode %d for %v, want ALL for 1s", m, left)
	}
	p.lift()
	p.set(pauseAll, now)
	if m, _, _ := p.current(); m != pauseOff || p.writesPaused() {
		t.Errorf("a pause of 0 ms left mode %d", m)
	}
}

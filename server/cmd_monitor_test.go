package server

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// monitorSession is the commands TestMonitorMatchesRedis sends from a
// second connection while the first monitors: executed commands are
// shown (failed ones too, with AUTH and HELLO's secrets redacted),
// refused and administrative ones are not.
var monitorSession = [][]string{
	{"SET", "k", "a b\x01\n\"\\\t\xff"},
	{"GET"},            // refused: wrong arity
	{"INCR", "k"},      // failed
	{"NOSUCH", "x"},    // unknown
	{"AUTH", "foo"},    // failed, redacted
	{"AUTH", "a", "b"}, // failed, redacted
	{"HELLO", "2", "AUTH", "default", "x", "SETNAME", "n"}, // redacted
	{"CONFIG", "GET", "maxmemory"},                         // admin: hidden
	{"SLOWLOG", "LEN"},                                     // admin: hidden
	{"CLIENT", "SETNAME", "x"},
	{"SELECT", "3"}, // the database once run: [3 ...]
	{"SET", "in3", "v"},
	{"SELECT", "0"},
	{"PING"},
	{"SET", "123", "456"},
	{"ECHO", ""},
	{"MONITOR"}, // admin: hidden; this connection becomes a monitor too
}

// TestMonitorMatchesRedis compares MONITOR's stream with redis-server's,
// times and ports aside.
func TestMonitorMatchesRedis(t *testing.T) {
	r := testutil.StartRedis(t)
	_, addr := introServer(t, newFakeGroup(t), nil)
	shoal := monitorStream(t, addr)
	redis := monitorStream(t, r.Addr)
	if shoal != redis {
		t.Errorf("MONITOR streams differ:\nshoal %q\nredis %q", shoal, redis)
	}
	if !strings.Contains(redis, `"SET" "k" "a b\x01\n\"\\\t\xff"`) {
		t.Errorf("redis stream %q lacks the escaped SET", redis)
	}
}

// monitorStream runs monitorSession against addr while another connection
// monitors, then has the monitor send MONITOR again (no reply) and PING,
// and returns what the monitor received, with times and ports replaced.
func monitorStream(t *testing.T, addr string) string {
	t.Helper()
	m := dialRaw(t, addr)
	if got := m.do("MONITOR"); got != "+OK\r\n" {
		t.Fatalf("MONITOR = %q", got)
	}
	c := dialRaw(t, addr)
	for _, args := range monitorSession {
		c.do(args...)
	}
	m.send("MONITOR")
	m.send("PING")
	// Read until the monitor's own PING shows up.
	var b strings.Builder
	buf := make([]byte, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.String(), `:P] "PING"`) {
		_ = m.nc.SetReadDeadline(deadline)
		n, err := m.rd.Read(buf)
		if err != nil {
			t.Fatalf("reading the monitor stream %q: %v", b.String(), err)
		}
		b.Write(buf[:n])
		s := normMonitor(b.String(), m.nc.LocalAddr(), c.nc.LocalAddr())
		b.Reset()
		b.WriteString(s)
	}
	return b.String()
}

var monitorTime = regexp.MustCompile(`(?m)^\+[0-9]{10}\.[0-9]{6} \[([0-9]+) `)

// normMonitor replaces the times and names the two clients M and C.
func normMonitor(s string, monitor, client net.Addr) string {
	s = monitorTime.ReplaceAllString(s, "+T [$1 ")
	s = strings.ReplaceAll(s, monitor.String()+"]", ":P]")
	return strings.ReplaceAll(s, client.String()+"]", ":C]")
}

// TestMonitorLine: the line format, microseconds zero-padded.
func TestMonitorLine(t *testing.T) {
	now := time.Unix(1700000000, 123456789)
	got := string(monitorLine(nil, now, 0, "127.0.0.1:5555", [][]byte{[]byte("SET"), []byte("k"), []byte("v\r")}))
	if want := "+1700000000.123456 [0 127.0.0.1:5555] \"SET\" \"k\" \"v\\r\"\r\n"; got != want {
		t.Errorf("monitorLine = %q, want %q", got, want)
	}
	got = string(monitorLine(nil, time.Unix(5, 7000), 15, "a", [][]byte{[]byte("PING")}))
	if want := "+5.000007 [15 a] \"PING\"\r\n"; got != want {
		t.Errorf("monitorLine = %q, want %q", got, want)
	}
}

// TestMonitorDetach: the slow path is taken by every command only while
// a monitor is attached.
func TestMonitorDetach(t *testing.T) {
	s, addr := introServer(t, newFakeGroup(t), nil)
	before := s.intro.slowNs.Load()
	m := dialRaw(t, addr)
	m.do("MONITOR")
	if got := s.intro.slowNs.Load(); got != 0 {
		t.Fatalf("slow-path threshold with a monitor = %d, want 0", got)
	}
	m.nc.Close()
	testutil.Eventually(t, 5*time.Second, "the closed monitor detaches", func() error {
		if got := s.intro.slowNs.Load(); got != before {
			return fmt.Errorf("slow-path threshold %d, want %d", got, before)
		}
		return nil
	})
}

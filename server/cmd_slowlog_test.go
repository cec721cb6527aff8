package server

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// pair is the same client session against Shoal and against redis-server.
type pair struct {
	t            *testing.T
	shoal, redis *rawConn
}

// newPair starts redis-server (see testutil.StartRedis) and a Shoal server
// over a fakeGroup, and connects to both.
func newPair(t *testing.T) (*pair, *Server) {
	t.Helper()
	r := testutil.StartRedis(t)
	s, addr := introServer(t, newFakeGroup(t), nil)
	return &pair{t: t, shoal: dialRaw(t, addr), redis: dialRaw(t, r.Addr)}, s
}

// dial opens one more connection to each.
func (p *pair) dial(s *Server, redisAddr string) *pair {
	return &pair{t: p.t, shoal: dialRaw(p.t, s.Addr().String()), redis: dialRaw(p.t, redisAddr)}
}

// do runs a command on both and returns both raw replies.
func (p *pair) do(args ...string) (shoal, redis string) {
	p.t.Helper()
	return p.shoal.do(args...), p.redis.do(args...)
}

// same runs a command on both and fails unless the replies are equal.
func (p *pair) same(args ...string) string {
	p.t.Helper()
	s, r := p.do(args...)
	if s != r {
		p.t.Errorf("%q:\nshoal %q\nredis %q", args, s, r)
	}
	return s
}

// vals runs a command on both and returns both parsed replies.
func (p *pair) vals(args ...string) (shoal, redis respclient.Value) {
	p.t.Helper()
	return p.shoal.val(args...), p.redis.val(args...)
}

// TestSlowlogMatchesRedis compares SLOWLOG with redis-server's: errors, help,
// and the entries (argument truncation, client address and name) with
// slowlog-log-slower-than 0, times and ids aside.
func TestSlowlogMatchesRedis(t *testing.T) {
	p, _ := newPair(t)
	for _, args := range [][]string{
		{"SLOWLOG", "GET", "-2"},
		{"SLOWLOG", "GET", "x"},
		{"SLOWLOG", "GET", "1", "2"},
		{"SLOWLOG", "foo"},
		{"SLOWLOG"},
		{"SLOWLOG", "LEN", "x"},
		{"SLOWLOG", "RESET", "x"},
		{"SLOWLOG", "HELP"},
		{"SLOWLOG", "help"},
		{"CONFIG", "SET", "slowlog-log-slower-than", "-2"},
		{"CONFIG", "SET", "slowlog-log-slower-than", "1k"},
		{"CONFIG", "SET", "slowlog-max-len", "-1"},
		{"CONFIG", "SET", "slowlog-max-len", "x"},
		{"CONFIG", "SET", "slowlog-max-len", "3"},
		{"CONFIG", "SET", "slowlog-log-slower-than", "0"},
		{"SLOWLOG", "RESET"},
		{"SLOWLOG", "LEN"},
	} {
		p.same(args...)
	}
	// Redis's order of matched parameters is its dict's (random): compare
	// them as sets.
	if s, r := p.vals("CONFIG", "GET", "slowlog*"); !reflect.DeepEqual(pairSet(s), pairSet(r)) {
		t.Errorf("CONFIG GET slowlog*: shoal %s, redis %s", s, r)
	}
	long := strings.Repeat("v", 200)
	del := []string{"DEL"}
	for i := range 40 {
		del = append(del, "k"+strconv.Itoa(i))
	}
	p.same("SET", "k", long)
	p.same(del...)
	p.same("CLIENT", "SETNAME", "nm")
	p.same("AUTH", "default", "secret")
	p.same("SLOWLOG", "LEN")
	p.same("CONFIG", "SET", "slowlog-max-len", "128")

	s, r := p.vals("SLOWLOG", "GET")
	se, re := slowlogEntries(t, s, p.shoal.nc.LocalAddr().String()), slowlogEntries(t, r, p.redis.nc.LocalAddr().String())
	if !reflect.DeepEqual(se, re) {
		t.Errorf("SLOWLOG GET entries:\nshoal %q\nredis %q", se, re)
	}
	if len(re) != 4 || re[2][0] != "AUTH" || re[2][1] != "(redacted)" {
		t.Errorf("redis kept %q, expected the last 4 commands, AUTH redacted", re)
	}
	// Ids count on after a reset.
	if s.Elems()[0].Elems()[0].Int <= s.Elems()[2].Elems()[0].Int {
		t.Errorf("ids do not decrease from newest to oldest: %s", s)
	}
	s, r = p.vals("SLOWLOG", "GET", "1")
	if se, re := slowlogEntries(t, s, p.shoal.nc.LocalAddr().String()), slowlogEntries(t, r, p.redis.nc.LocalAddr().String()); !reflect.DeepEqual(se, re) || len(se) != 1 {
		t.Errorf("SLOWLOG GET 1 entries:\nshoal %q\nredis %q", se, re)
	}
	if s, r := p.vals("SLOWLOG", "GET", "-1"); len(s.Elems()) != len(r.Elems()) {
		t.Errorf("SLOWLOG GET -1: %d entries, redis %d", len(s.Elems()), len(r.Elems()))
	}
	p.do("HELLO", "3") // replies differ by the connection id
	p.same("SLOWLOG", "HELP")
	p.same("SLOWLOG", "LEN")
	s, r = p.vals("SLOWLOG", "GET", "2")
	if se, re := slowlogEntries(t, s, p.shoal.nc.LocalAddr().String()), slowlogEntries(t, r, p.redis.nc.LocalAddr().String()); !reflect.DeepEqual(se, re) || len(se) != 2 {
		t.Errorf("SLOWLOG GET 2 in RESP3:\nshoal %q\nredis %q", se, re)
	}
	p.same("SLOWLOG", "RESET")
	p.same("CONFIG", "SET", "slowlog-log-slower-than", "-1")
	p.same("PING")
	p.same("SLOWLOG", "LEN")
}

// slowlogEntries checks the shape of SLOWLOG GET's entries (id, unix time,
// duration, arguments, client address, client name) and returns each as
// its arguments followed by the address (with the connection's own as
// "self") and the name.
func slowlogEntries(t *testing.T, v respclient.Value, self string) [][]string {
	t.Helper()
	var out [][]string
	for _, e := range v.Elems() {
		f := e.Elems()
		if len(f) != 6 || f[0].Kind != respclient.KindInt || f[1].Kind != respclient.KindInt ||
			f[2].Kind != respclient.KindInt || f[3].Kind != respclient.KindArray ||
			f[4].Kind != respclient.KindBulk || f[5].Kind != respclient.KindBulk {
			t.Fatalf("malformed SLOWLOG entry %s", e)
		}
		var row []string
		for _, a := range f[3].Elems() {
			row = append(row, a.Str)
		}
		addr := f[4].Str
		if addr == self {
			addr = "self"
		}
		out = append(out, append(row, addr, f[5].Str))
	}
	return out
}

// pairSet returns the key-value pairs of a flat array as a map.
func pairSet(v respclient.Value) map[string]string {
	out := map[string]string{}
	e := v.Elems()
	for i := 0; i+1 < len(e); i += 2 {
		out[e[i].Str] = e[i+1].Str
	}
	return out
}

// TestSlowlogArgs: Redis's truncation of a slowlog entry's arguments.
func TestSlowlogArgs(t *testing.T) {
	var args [][]byte
	for i := range 40 {
		args = append(args, []byte(strconv.Itoa(i)))
	}
	args[1] = []byte(strings.Repeat("x", 130))
	got := slowlogArgs(args)
	if len(got) != 32 || string(got[31]) != "... (9 more arguments)" ||
		string(got[1]) != strings.Repeat("x", 128)+"... (2 more bytes)" || string(got[30]) != "30" {
		t.Errorf("slowlogArgs = %q", got)
	}
	exact := args[:32]
	if got := slowlogArgs(exact); len(got) != 32 || string(got[31]) != "31" {
		t.Errorf("32 arguments were cut: %q", got)
	}
}

// TestSlowlogSkipFlag: commands flagged skip_slowlog never enter the
// slowlog; the others do once at least slowlog-log-slower-than µs.
func TestSlowlogSkipFlag(t *testing.T) {
	s, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{srv: s, addr: "1.2.3.4:5"}
	skip := &command.Command{Name: "secret", Flags: command.FlagSkipSlowlog}
	plain := &command.Command{Name: "plain"}
	args := [][]byte{[]byte("X")}
	c.slowPath(skip, args, 20_000_000)
	c.slowPath(plain, args, 9_999_999) // 9999 µs: under the default 10000
	c.slowPath(plain, args, 10_000_000)
	l := &s.intro.slowlog
	if len(l.entries) != 1 || l.entries[0].usec != 10000 || l.entries[0].addr != "1.2.3.4:5" {
		t.Errorf("slowlog %+v, want the 10000 µs plain command only", l.entries)
	}
}

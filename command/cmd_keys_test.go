package command

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// keysClock is the fixed time (ms) of the keys-family tests.
const keysClock = int64(1_700_000_000_000)

// keysExec runs one command against st at now the way the front end does
// (arity check, then run: writes as in the FSM with RESP3, reads on a
// connection with RESP2) and returns the raw reply.
func keysExec(t *testing.T, st *shard.Store, now int64, args ...string) string {
	t.Helper()
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	cmd := Lookup(bargs[0])
	if cmd == nil {
		t.Fatalf("unknown command %q", args[0])
	}
	if !cmd.ArityOK(len(bargs)) {
		return string(resp.AppendError(nil, ErrWrongArgs(cmd.Name)))
	}
	x := Ctx{St: st, Now: now, Proto: resp.RESP3, LFURand: 0.5}
	if cmd.Kind != KindWrite {
		x.Proto = resp.RESP2
		x.Conn, x.Rng = struct{}{}, NewRand()
	}
	cmd.Run(&x, bargs)
	return string(x.Out)
}

// keysStep is one command of a scripted test and its expected raw reply.
type keysStep struct {
	args string // space-separated; "''" is the empty argument
	want string
}

// runKeysScript runs steps in order on st at keysClock.
func runKeysScript(t *testing.T, st *shard.Store, steps []keysStep) {
	t.Helper()
	for _, s := range steps {
		args := strings.Fields(s.args)
		for i, a := range args {
			if a == "''" {
				args[i] = ""
			}
		}
		if got := keysExec(t, st, keysClock, args...); got != s.want {
			t.Errorf("%s: got %q, want %q", s.args, got, s.want)
		}
	}
}

func keysSet(st *shard.Store, key, value string, expireAt int64) {
	st.Set([]byte(key), []byte(value), expireAt, keysClock)
}

func TestKeyspaceCommands(t *testing.T) {
	st := shard.New()
	keysSet(st, "a", "1", 0)
	keysSet(st, "b", "2", 0)
	keysSet(st, "c", "3", keysClock+10_000)
	keysSet(st, "gone", "x", keysClock-1)
	runKeysScript(t, st, []keysStep{
		{"EXISTS a b nokey", ":2\r\n"},
		{"EXISTS a a a", ":3\r\n"},
		{"EXISTS gone", ":0\r\n"},
		{"TOUCH a gone nokey c", ":2\r\n"},
		{"TYPE a", "+string\r\n"},
		{"TYPE gone", "+none\r\n"},
		{"DBSIZE", ":4\r\n"}, // counts the expired key, as Redis does
		{"DEL gone", ":0\r\n"},
		{"DBSIZE", ":3\r\n"}, // DEL deleted it lazily
		{"DEL a a nokey", ":1\r\n"},
		{"UNLINK b", ":1\r\n"},
		{"DEL", "-ERR wrong number of arguments for 'del' command\r\n"},
		{"TYPE a b", "-ERR wrong number of arguments for 'type' command\r\n"},
		{"FLUSHALL FOO", "-ERR syntax error\r\n"},
		{"FLUSHDB SYNC x", "-ERR syntax error\r\n"},
		{"FLUSHALL async", "+OK\r\n"},
		{"DBSIZE", ":0\r\n"},
		{"RANDOMKEY", "$-1\r\n"},
		{"KEYS *", "*0\r\n"},
	})
}

func TestRenameAndCopy(t *testing.T) {
	st := shard.New()
	keysSet(st, "r1", "v1", keysClock+5000)
	keysSet(st, "r3", "v3", 0)
	keysSet(st, "old", "x", keysClock-1)
	runKeysScript(t, st, []keysStep{
		{"RENAME nokey nokey", "-ERR no such key\r\n"},
		{"RENAMENX nokey x", "-ERR no such key\r\n"},
		{"RENAME old x", "-ERR no such key\r\n"}, // expired
		{"RENAME r1 r2", "+OK\r\n"},
		{"PTTL r2", ":5000\r\n"},
		{"EXISTS r1", ":0\r\n"},
		{"RENAME r2 r2", "+OK\r\n"},
		{"RENAMENX r2 r2", ":0\r\n"},
		{"RENAMENX r2 r3", ":0\r\n"},
		{"RENAME r2 r3", "+OK\r\n"},
		{"PTTL r3", ":5000\r\n"},
		{"RENAMENX r3 r4", ":1\r\n"},
		{"COPY r4 r4", "-ERR source and destination objects are the same\r\n"},
		{"COPY nokey d", ":0\r\n"},
		{"COPY r4 d", ":1\r\n"},
		{"PTTL d", ":5000\r\n"},
		{"COPY r4 d", ":0\r\n"},
		{"COPY r4 d REPLACE", ":1\r\n"},
		{"COPY r4 d DB 0 replace", ":1\r\n"},
		{"COPY r4 d DB 1", ":1\r\n"},
		{"COPY r4 r4 DB 15", ":1\r\n"},
		{"COPY r4 d DB 16", "-ERR DB index is out of range\r\n"},
		{"COPY r4 d DB -1", "-ERR DB index is out of range\r\n"},
		{"COPY r4 d DB abc", "-ERR value is not an integer or out of range\r\n"},
		{"COPY r4 d DB 2147483648", "-" + errIntRange + "\r\n"},
		{"COPY r4 d DB", "-ERR syntax error\r\n"},
		{"COPY r4 d FOO DB abc", "-ERR syntax error\r\n"},
		{"COPY r4 r4 DB abc", "-ERR value is not an integer or out of range\r\n"},
	})
	// COPY stores its own copy of the value.
	a, b := st.Peek([]byte("r4")), st.Peek([]byte("d"))
	if a == nil || b == nil || &a.Value[0] == &b.Value[0] {
		t.Fatal("COPY shares the value buffer")
	}
	// COPY ... DB n copies into database n, with the expiry.
	for _, c := range []struct {
		db  int
		key string
	}{{1, "d"}, {15, "r4"}} {
		if e := st.DB(c.db).Peek([]byte(c.key)); e == nil || string(e.Value) != string(a.Value) || e.ExpireAt != a.ExpireAt {
			t.Errorf("database %d: %s = %+v, want a copy of r4", c.db, c.key, e)
		}
	}
}

func TestExpireCommands(t *testing.T) {
	st := shard.New()
	keysSet(st, "p", "v", 0)
	keysSet(st, "k", "v", 0)
	keysSet(st, "o", "v", 0)
	keysSet(st, "gone", "v", keysClock-1)
	in := func(ms int64) string { return ":" + strconv.FormatInt(ms, 10) + "\r\n" }
	runKeysScript(t, st, []keysStep{
		{"TTL nokey", ":-2\r\n"},
		{"PEXPIRETIME gone", ":-2\r\n"},
		{"TTL p", ":-1\r\n"},
		{"EXPIRETIME p", ":-1\r\n"},
		{"EXPIRE k 100", ":1\r\n"},
		{"TTL k", ":100\r\n"},
		{"PTTL k", in(100_000)},
		{"PEXPIREAT k 4102444800499", ":1\r\n"},
		{"EXPIRETIME k", ":4102444800\r\n"},
		{"PEXPIREAT k 4102444800500", ":1\r\n"},
		{"EXPIRETIME k", ":4102444801\r\n"}, // rounded half up
		{"PEXPIRE k 1499", ":1\r\n"},
		{"TTL k", ":1\r\n"},
		{"PEXPIRE k 1500", ":1\r\n"},
		{"TTL k", ":2\r\n"},
		{"EXPIRE nokey 10", ":0\r\n"},
		{"EXPIRE gone 10", ":0\r\n"},
		{"EXPIRE k abc", "-ERR value is not an integer or out of range\r\n"},
		{"EXPIRE k abc NX XX", "-" + errExpireNXCompat + "\r\n"}, // options first
		{"EXPIRE k 10 GT LT", "-" + errExpireGTLT + "\r\n"},
		{"EXPIRE k 10 NX NX", ":0\r\n"},
		{"EXPIRE k 10 FOO", "-ERR Unsupported option FOO\r\n"},
		{"EXPIRE k 10 ''", "-ERR Unsupported option \r\n"},
		{"EXPIRE k 9223372036854775", "-ERR invalid expire time in 'expire' command\r\n"},
		{"EXPIRE k -9223372036854776", "-ERR invalid expire time in 'expire' command\r\n"},
		{"PEXPIRE k 9223372036854775807", "-ERR invalid expire time in 'pexpire' command\r\n"},
		{"EXPIREAT k 9223372036854775", ":1\r\n"},
		{"PEXPIRETIME k", in(9223372036854775000)},
		// Conditions on a key without TTL: GT fails (infinite), LT passes.
		{"EXPIRE o 1000 XX", ":0\r\n"},
		{"EXPIRE o 1000 GT", ":0\r\n"},
		{"EXPIRE o -5 GT", ":0\r\n"},
		{"EXISTS o", ":1\r\n"},
		{"EXPIRE o 1000 LT", ":1\r\n"},
		{"EXPIRE o 1000 NX", ":0\r\n"},
		{"EXPIRE o 999 GT", ":0\r\n"},
		{"EXPIRE o 1001 GT", ":1\r\n"},
		{"EXPIRE o 1001 LT", ":0\r\n"},
		{"EXPIRE o 1000 XX LT", ":1\r\n"},
		{"PERSIST o", ":1\r\n"},
		{"PERSIST o", ":0\r\n"},
		{"PERSIST nokey", ":0\r\n"},
		{"TTL o", ":-1\r\n"},
		// Past times delete the key and reply 1.
		{"EXPIRE o 0 XX", ":0\r\n"},
		{"EXPIRE o 0", ":1\r\n"},
		{"EXISTS o", ":0\r\n"},
		{"PEXPIREAT p -9223372036854775808", ":1\r\n"},
		{"EXISTS p", ":0\r\n"},
		{"TTL", "-ERR wrong number of arguments for 'ttl' command\r\n"},
		{"EXPIRE k", "-ERR wrong number of arguments for 'expire' command\r\n"},
	})
}

func TestParseExpireFlags(t *testing.T) {
	tests := []struct {
		opts  []string
		flags int
		err   string
	}{
		{nil, 0, ""},
		{[]string{"nx"}, expireNX, ""},
		{[]string{"Gt", "XX"}, expireGT | expireXX, ""},
		{[]string{"LT", "LT"}, expireLT, ""},
		{[]string{"nx\x00junk"}, expireNX, ""}, // C string compare
		{[]string{"NX", "XX"}, 0, errExpireNXCompat},
		{[]string{"NX", "LT"}, 0, errExpireNXCompat},
		{[]string{"NX", "GT", "LT"}, 0, errExpireNXCompat},
		{[]string{"GT", "LT"}, 0, errExpireGTLT},
		{[]string{"NX", "FOO", "XX"}, 0, "ERR Unsupported option FOO"},
		{[]string{"f\x00oo"}, 0, "ERR Unsupported option f"},
		{[]string{"\r\nfo\no\r\n"}, 0, "ERR Unsupported option   fo o"},
	}
	for _, tt := range tests {
		opts := make([][]byte, len(tt.opts))
		for i, o := range tt.opts {
			opts[i] = []byte(o)
		}
		flags, err := parseExpireFlags(opts)
		if flags != tt.flags || err != tt.err {
			t.Errorf("parseExpireFlags(%q) = %d, %q; want %d, %q", tt.opts, flags, err, tt.flags, tt.err)
		}
	}
}

func TestKeysPattern(t *testing.T) {
	st := shard.New()
	for _, k := range []string{"", "a", "ab", "abc", "b", "a*", "[x]"} {
		keysSet(st, k, "v", 0)
	}
	keysSet(st, "aexp", "v", keysClock-1)
	tests := []struct {
		pattern string
		want    []string
	}{
		{"*", []string{"", "[x]", "a", "a*", "ab", "abc", "b"}},
		{"**", []string{"[x]", "a", "a*", "ab", "abc", "b"}},
		{"", []string{""}},
		{"a*", []string{"a", "a*", "ab", "abc"}},
		{"a\\*", []string{"a*"}},
		{"[[]x]", []string{"[x]"}},
		{"?", []string{"a", "b"}},
		{"nomatch*", nil},
	}
	for _, tt := range tests {
		got := keysList(t, keysExec(t, st, keysClock, "KEYS", tt.pattern))
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(tt.want, ",") || len(got) != len(tt.want) {
			t.Errorf("KEYS %q = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// keysList decodes a RESP2 array of bulk strings.
func keysList(t *testing.T, r string) []string {
	t.Helper()
	if !strings.HasPrefix(r, "*") {
		t.Fatalf("not an array: %q", r)
	}
	i := strings.Index(r, "\r\n")
	n, err := strconv.Atoi(r[1:i])
	if err != nil {
		t.Fatalf("bad array header in %q", r)
	}
	r = r[i+2:]
	out := make([]string, 0, n)
	for ; n > 0; n-- {
		i = strings.Index(r, "\r\n")
		l, err := strconv.Atoi(r[1:i])
		if err != nil || r[0] != '$' {
			t.Fatalf("bad bulk header in %q", r)
		}
		out = append(out, r[i+2:i+2+l])
		r = r[i+4+l:]
	}
	if r != "" {
		t.Fatalf("trailing bytes %q", r)
	}
	return out
}

// scanCall runs SCAN and splits the reply into the cursor and the keys.
func scanCall(t *testing.T, st *shard.Store, args ...string) (string, []string) {
	t.Helper()
	r := keysExec(t, st, keysClock, append([]string{"SCAN"}, args...)...)
	if !strings.HasPrefix(r, "*2\r\n$") {
		t.Fatalf("SCAN %q: not a scan reply: %q", args, r)
	}
	r = r[len("*2\r\n"):]
	i := strings.Index(r, "\r\n")
	l, _ := strconv.Atoi(r[1:i])
	cursor := r[i+2 : i+2+l]
	return cursor, keysList(t, r[i+4+l:])
}

func TestScanIteration(t *testing.T) {
	st := shard.New()
	const n = 1000
	for i := 0; i < n; i++ {
		keysSet(st, "key:"+strconv.Itoa(i), "v", 0)
	}
	for i := 0; i < 50; i++ {
		keysSet(st, "dead:"+strconv.Itoa(i), "v", keysClock-1)
	}
	for _, count := range []string{"1", "10", "37", "100000"} {
		seen := map[string]int{}
		cursor, calls := "0", 0
		for {
			next, keys := scanCall(t, st, cursor, "COUNT", count)
			for _, k := range keys {
				seen[k]++
			}
			calls++
			if next == "0" {
				break
			}
			if calls > shard.NumSlots+1 {
				t.Fatalf("COUNT %s: iteration does not end", count)
			}
			cursor = next
		}
		if len(seen) != n {
			t.Errorf("COUNT %s: %d distinct keys, want %d", count, len(seen), n)
		}
		for k, c := range seen {
			if c != 1 || strings.HasPrefix(k, "dead:") {
				t.Errorf("COUNT %s: key %q returned %d times", count, k, c)
			}
		}
		if count == "100000" && calls != 1 {
			t.Errorf("COUNT %s: %d calls, want 1", count, calls)
		}
	}
}

func TestScanOptions(t *testing.T) {
	st := shard.New()
	for _, k := range []string{"k1", "k2", "k10", "other"} {
		keysSet(st, k, "v", 0)
	}
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"0", "COUNT", "1000"}, []string{"k1", "k10", "k2", "other"}},
		{[]string{"0", "MATCH", "k?", "COUNT", "1000"}, []string{"k1", "k2"}},
		{[]string{"0", "match", "x", "MATCH", "k1*", "COUNT", "1000"}, []string{"k1", "k10"}},
		{[]string{"0", "TYPE", "sTrInG", "COUNT", "1000"}, []string{"k1", "k10", "k2", "other"}},
		{[]string{"0", "TYPE", "list", "COUNT", "1000"}, nil},
		{[]string{"0", "TYPE", "none", "COUNT", "1000"}, nil},
		{[]string{"16384"}, nil},
		{[]string{"-1"}, nil},
	}
	for _, tt := range tests {
		cursor, got := scanCall(t, st, tt.args...)
		sort.Strings(got)
		if cursor != "0" || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("SCAN %q = %s %q, want 0 %q", tt.args, cursor, got, tt.want)
		}
	}
	errs := []struct {
		args []string
		want string
	}{
		{[]string{"abc"}, ErrInvalidCursor},
		{[]string{" 0"}, ErrInvalidCursor},
		{[]string{"18446744073709551616"}, ErrInvalidCursor},
		{[]string{"0", "COUNT", "0"}, ErrSyntax},
		{[]string{"0", "COUNT", "abc"}, ErrNotInteger},
		{[]string{"0", "COUNT"}, ErrSyntax},
		{[]string{"0", "FOO", "bar"}, ErrSyntax},
		{[]string{"0", "MATCH", "k*", "TYPE"}, ErrSyntax},
	}
	for _, tt := range errs {
		got := keysExec(t, st, keysClock, append([]string{"SCAN"}, tt.args...)...)
		if want := "-" + tt.want + "\r\n"; got != want {
			t.Errorf("SCAN %q = %q, want %q", tt.args, got, want)
		}
	}
}

func TestParseCursor(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"", 0, true},
		{"007", 7, true},
		{"+5", 5, true},
		{"-0", 0, true},
		{"-1", math.MaxUint64, true},
		{"-18446744073709551615", 1, true},
		{"18446744073709551615", math.MaxUint64, true},
		{"18446744073709551616", 0, false},
		{"-18446744073709551616", 0, false},
		{"5\x00junk", 5, true},
		{"\x00", 0, true},
		{" 1", 0, false},
		{"\t1", 0, false},
		{"1 ", 0, false},
		{"+", 0, false},
		{"-", 0, false},
		{"+-1", 0, false},
		{"1.5", 0, false},
		{"0x10", 0, false},
		{"abc", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseCursor([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseCursor(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRandomKeyCommand(t *testing.T) {
	st := shard.New()
	if got := keysExec(t, st, keysClock, "RANDOMKEY"); got != "$-1\r\n" {
		t.Fatalf("empty: %q", got)
	}
	keysSet(st, "dead", "v", keysClock-1)
	if got := keysExec(t, st, keysClock, "RANDOMKEY"); got != "$-1\r\n" {
		t.Fatalf("only expired keys: %q", got)
	}
	keysSet(st, "live", "v", 0)
	for i := 0; i < 20; i++ {
		if got := keysExec(t, st, keysClock, "RANDOMKEY"); got != "$4\r\nlive\r\n" {
			t.Fatalf("got %q", got)
		}
	}
}

func TestErrFormat(t *testing.T) {
	tests := []struct{ arg, want string }{
		{"FOO", "P FOO"},
		{"", "P "},
		{"a\x00b", "P a"},
		{"a\r\nb\r\n\n", "P a  b"},
	}
	for _, tt := range tests {
		if got := errFormat("P ", []byte(tt.arg)); got != tt.want {
			t.Errorf("errFormat(%q) = %q, want %q", tt.arg, got, tt.want)
		}
	}
}

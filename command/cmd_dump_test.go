package command

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/rdb"
	"github.com/shoalcache/shoal/shard"
)

// fsmExec applies a write command as the FSM does (RESP3 reply).
func fsmExec(st *shard.Store, now int64, args ...string) string {
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	st.Lock()
	defer st.Unlock()
	return string(Executor().Exec(st, now, argv, nil))
}

func TestDumpRestore(t *testing.T) {
	const now = int64(1_700_000_000_000)
	st := shard.New()
	none := fakeMemConf{}
	lfu := fakeMemConf{maxmemory: 1 << 30, policy: shard.AllKeysLFU}
	read := func(args ...string) string {
		r, _, _ := readExec(t, st, now, none, args...)
		return r
	}
	if r := read("DUMP", "nokey"); r != "$-1\r\n" {
		t.Fatalf("DUMP of a missing key: %q", r)
	}
	fsmExec(st, now, "RPUSH", "src", "a", "1", "b")
	fsmExec(st, now, "HSET", "h", "f", "v")
	fsmExec(st, now, "SET", "str", "12")
	payload := rdb.DumpObject(st.Peek([]byte("src")).Object())
	if r := read("DUMP", "src"); r != "$"+strconv.Itoa(len(payload))+"\r\n"+string(payload)+"\r\n" {
		t.Fatalf("DUMP src: %q", r)
	}
	p := string(payload)
	good := rdb.DumpString([]byte("hello"))
	bad := append([]byte{}, good...)
	bad[len(bad)-1] ^= 1
	v11 := append([]byte{}, good[:len(good)-10]...)
	v11 = append(v11, 11, 0)
	v11 = append(v11, make([]byte, 8)...)
	sum := rdb.CRC64(0, v11[:len(v11)-8])
	for i := 0; i < 8; i++ {
		v11[len(v11)-8+i] = byte(sum >> (8 * i))
	}
	garbage := []byte{0x63}
	garbage = append(garbage, 10, 0)
	sum = rdb.CRC64(0, garbage)
	for i := 0; i < 8; i++ {
		garbage = append(garbage, byte(sum>>(8*i)))
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"RESTORE", "dst", "0", p}, "+OK\r\n"},
		{[]string{"RESTORE", "dst", "0", p}, "-BUSYKEY Target key name already exists.\r\n"},
		{[]string{"RESTORE", "dst", "x", p, "REPLACE"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"RESTORE", "dst", "-1", p, "REPLACE"}, "-ERR Invalid TTL value, must be >= 0\r\n"},
		// BUSYKEY comes before the TTL check, options before BUSYKEY.
		{[]string{"RESTORE", "dst", "-1", p}, "-BUSYKEY Target key name already exists.\r\n"},
		{[]string{"RESTORE", "dst", "-1", p, "BOGUS"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "n", "0", p, "IDLETIME", "1", "FREQ", "1"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "n", "0", p, "FREQ", "1", "IDLETIME", "1"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "n", "0", p, "IDLETIME"}, "-ERR syntax error\r\n"},
		{[]string{"RESTORE", "n", "0", p, "IDLETIME", "-1"}, "-ERR Invalid IDLETIME value, must be >= 0\r\n"},
		{[]string{"RESTORE", "n", "0", p, "IDLETIME", "x"}, "-ERR value is not an integer or out of range\r\n"},
		{[]string{"RESTORE", "n", "0", p, "FREQ", "256"}, "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"},
		{[]string{"RESTORE", "n", "0", p, "FREQ", "-1"}, "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n"},
		{[]string{"RESTORE", "n", "0", string(bad)}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "n", "0", string(v11)}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "n", "0", "short"}, "-ERR DUMP payload version or checksum are wrong\r\n"},
		{[]string{"RESTORE", "n", "0", string(garbage)}, "-ERR Bad data format\r\n"},
		{[]string{"RESTORE", "dst", "0", string(good), "REPLACE"}, "+OK\r\n"},
		// Already expired: nothing stored, the old key deleted.
		{[]string{"RESTORE", "h", "1", string(good), "REPLACE", "ABSTTL"}, "+OK\r\n"},
		{[]string{"RESTORE", "gone", "1", string(good), "ABSTTL"}, "+OK\r\n"},
		{[]string{"RESTORE", "ttl", "5000", string(good)}, "+OK\r\n"},
		{[]string{"RESTORE", "abs", strconv.FormatInt(now+9000, 10), string(good), "absttl"}, "+OK\r\n"},
		{[]string{"RESTORE", "idle", "0", string(good), "IDLETIME", "100"}, "+OK\r\n"},
		{[]string{"RESTORE", "freq", "0", string(good), "FREQ", "77"}, "+OK\r\n"},
		{[]string{"RESTORE", "str", "0", string(good), "REPLACE", "IDLETIME", "0"}, "+OK\r\n"},
	}
	for _, c := range cases {
		if got := fsmExec(st, now, c.args...); got != c.want {
			t.Errorf("%.40q: got %q want %q", strings.Join(c.args[:3], " ")+" "+strings.Join(c.args[4:], " "), got, c.want)
		}
	}
	checks := []struct {
		args []string
		want string
	}{
		{[]string{"GET", "dst"}, "$5\r\nhello\r\n"},
		{[]string{"EXISTS", "h"}, ":0\r\n"},
		{[]string{"EXISTS", "gone"}, ":0\r\n"},
		{[]string{"PTTL", "ttl"}, ":5000\r\n"},
		{[]string{"PTTL", "abs"}, ":9000\r\n"},
		{[]string{"TTL", "dst"}, ":-1\r\n"},
		{[]string{"OBJECT", "IDLETIME", "idle"}, ":100\r\n"},
		{[]string{"OBJECT", "IDLETIME", "str"}, ":0\r\n"},
		{[]string{"OBJECT", "ENCODING", "dst"}, "$6\r\nembstr\r\n"},
	}
	for _, c := range checks {
		if got := read(c.args...); got != c.want {
			t.Errorf("%v: got %q want %q", c.args, got, c.want)
		}
	}
	if r, _, _ := readExec(t, st, now, lfu, "OBJECT", "FREQ", "freq"); r != ":77\r\n" {
		t.Errorf("OBJECT FREQ after FREQ 77: %q", r)
	}
	if r, _, _ := readExec(t, st, now, lfu, "OBJECT", "FREQ", "idle"); r != ":5\r\n" {
		t.Errorf("OBJECT FREQ without FREQ: %q", r)
	}
}

// TestRestoreDeterministic applies the same RESTOREs to two stores, as two
// replicas do, and compares what they hold.
func TestRestoreDeterministic(t *testing.T) {
	const now = int64(1_700_000_000_000)
	src := shard.New()
	fsmExec(src, now, "ZADD", "z", "1", "a", "2", "b")
	for i := 0; i < 700; i++ {
		fsmExec(src, now, "HSET", "h", "f"+strconv.Itoa(i), "v")
		fsmExec(src, now, "SADD", "s", "m"+strconv.Itoa(i))
	}
	var replicas [2]*shard.Store
	for i := range replicas {
		replicas[i] = shard.New()
		for _, k := range []string{"z", "h", "s"} {
			p := string(rdb.DumpObject(src.Peek([]byte(k)).Object()))
			if r := fsmExec(replicas[i], now, "RESTORE", k, "1000", p, "IDLETIME", "3"); r != "+OK\r\n" {
				t.Fatalf("RESTORE %s: %q", k, r)
			}
		}
	}
	for _, k := range []string{"z", "h", "s"} {
		a, b := replicas[0].Peek([]byte(k)), replicas[1].Peek([]byte(k))
		if string(rdb.DumpObject(a.Object())) != string(rdb.DumpObject(b.Object())) ||
			a.ExpireAt != b.ExpireAt || a.LastAccess() != b.LastAccess() || a.LFUCounter(0) != b.LFUCounter(0) {
			t.Errorf("%s differs between replicas", k)
		}
	}
}

// TestRestoreKeys: the FSM checks the slot of RESTORE's key (argument 1)
// against its group's ownership, as for every keyed write.
func TestRestoreKeys(t *testing.T) {
	for _, args := range [][]string{{"restore", "thekey", "0", "payload", "REPLACE"}, {"dump", "thekey"}} {
		argv := make([][]byte, len(args))
		for i, a := range args {
			argv[i] = []byte(a)
		}
		if keys := Executor().Keys(argv, nil); len(keys) != 1 || string(keys[0]) != "thekey" {
			t.Errorf("%s keys: %q", args[0], keys)
		}
	}
}

package command

import (
	"strconv"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/shard"
)

// fakeMemConf is a connection's MemoryConfig in tests.
type fakeMemConf struct {
	maxmemory int64
	policy    shard.Policy
	cluster   bool
}

func (f fakeMemConf) MemoryConfig() (int64, shard.Policy, bool) {
	return f.maxmemory, f.policy, f.cluster
}

// readExec runs a read command (or a subcommand, resolved as the front end
// does) on a connection with memory settings conf, in RESP2, and returns
// the raw reply and the keyspace hits and misses it counted.
func readExec(t *testing.T, st *shard.Store, now int64, conf fakeMemConf, args ...string) (reply string, hits, misses int64) {
	t.Helper()
	argv := make([][]byte, len(args))
	for i, a := range args {
		argv[i] = []byte(a)
	}
	cmd := Lookup(argv[0])
	if cmd != nil && len(cmd.Subs) > 0 && len(argv) > 1 {
		cmd = cmd.Sub(argv[1])
	}
	if cmd == nil || cmd.Run == nil {
		t.Fatalf("no command for %q", args)
	}
	if !cmd.ArityOK(len(argv)) {
		return "-" + ErrWrongArgs(cmd.Name) + "\r\n", 0, 0
	}
	x := Ctx{St: st, Now: now, Proto: 2, LFURand: 0.5, Conn: conf, Rng: NewRand()}
	st.RLock()
	cmd.Run(&x, argv)
	st.RUnlock()
	return string(x.Out), x.Hits, x.Misses
}

func TestObjectEncodingAndRefcount(t *testing.T) {
	st := shard.New()
	noEvict := fakeMemConf{}
	lru := fakeMemConf{maxmemory: 1 << 30, policy: shard.AllKeysLRU}
	raw := strings.Repeat("r", 45)
	cases := []struct {
		writes   []string // commands separated by '|', run in order on key k
		enc      string
		refcount int64
		conf     fakeMemConf
	}{
		{[]string{"SET|k|0"}, encInt, sharedRefcount, noEvict},
		{[]string{"SET|k|9999"}, encInt, sharedRefcount, noEvict},
		{[]string{"SET|k|9999"}, encInt, 1, lru},
		{[]string{"SET|k|10000"}, encInt, 1, noEvict},
		{[]string{"SET|k|-1"}, encInt, 1, noEvict},
		{[]string{"SET|k|9223372036854775807"}, encInt, 1, noEvict},
		{[]string{"SET|k|9223372036854775808"}, encEmbstr, 1, noEvict},
		{[]string{"SET|k|01"}, encEmbstr, 1, noEvict},
		{[]string{"SET|k|" + raw[:44]}, encEmbstr, 1, noEvict},
		{[]string{"SET|k|" + raw}, encRaw, 1, noEvict},
		{[]string{"SET|k|abc", "APPEND|k|"}, encRaw, 1, noEvict},
		{[]string{"SET|k|5", "APPEND|k|"}, encRaw, 1, noEvict},
		{[]string{"SET|k|5", "APPEND|k|", "INCR|k"}, encInt, sharedRefcount, noEvict},
		{[]string{"SET|k|abc", "SETRANGE|k|0|x"}, encRaw, 1, noEvict},
		{[]string{"DEL|k", "SETRANGE|k|2|x"}, encRaw, 1, noEvict},
		{[]string{"DEL|k", "APPEND|k|7"}, encInt, sharedRefcount, noEvict},
		{[]string{"SET|k|9999", "INCR|k"}, encInt, 1, noEvict},
		{[]string{"SET|k|10000", "DECR|k"}, encInt, sharedRefcount, noEvict},
		{[]string{"SET|k|10", "INCRBYFLOAT|k|0"}, encEmbstr, 1, noEvict},
		{[]string{"DEL|k", "INCRBYFLOAT|k|1e300"}, encRaw, 1, noEvict},
		{[]string{"SET|src|5", "COPY|src|k|REPLACE"}, encInt, 1, noEvict},
		{[]string{"SET|src|5", "COPY|src|k|REPLACE", "INCR|k"}, encInt, sharedRefcount, noEvict},
		{[]string{"SET|src|abc", "APPEND|src|", "COPY|src|k|REPLACE"}, encRaw, 1, noEvict},
		{[]string{"SET|src|10", "INCRBYFLOAT|src|0", "COPY|src|k|REPLACE"}, encEmbstr, 1, noEvict},
		{[]string{"SET|src|abc", "APPEND|src|", "RENAME|src|k"}, encRaw, 1, noEvict},
		{[]string{"SET|k|abc", "APPEND|k|", "EXPIRE|k|100"}, encRaw, 1, noEvict},
		{[]string{"SET|k|abc", "APPEND|k|", "SET|k|abc"}, encEmbstr, 1, noEvict},
		{[]string{"SET|k|abc", "APPEND|k|", "GETSET|k|12"}, encInt, sharedRefcount, noEvict},
	}
	for _, c := range cases {
		for _, w := range c.writes {
			strExec(t, st, strT0, strings.Split(w, "|")...)
		}
		name := strings.Join(c.writes, " ; ")
		if got, _, _ := readExec(t, st, strT0, c.conf, "OBJECT", "ENCODING", "k"); got != "$"+strconv.Itoa(len(c.enc))+"\r\n"+c.enc+"\r\n" {
			t.Errorf("%s: OBJECT ENCODING = %q, want %s", name, got, c.enc)
		}
		if got, _, _ := readExec(t, st, strT0, c.conf, "OBJECT", "REFCOUNT", "k"); got != ":"+strconv.FormatInt(c.refcount, 10)+"\r\n" {
			t.Errorf("%s: OBJECT REFCOUNT = %q, want %d", name, got, c.refcount)
		}
	}
}

// TestObjectAccessMetadata checks IDLETIME and FREQ, their policy errors,
// that OBJECT is no access but counts a keyspace hit or miss, and that an
// expired key is missing.
func TestObjectAccessMetadata(t *testing.T) {
	st := shard.New()
	lfu := fakeMemConf{policy: shard.AllKeysLFU}
	noEvict := fakeMemConf{}
	strExec(t, st, strT0, "SET", "k", "v")
	strExec(t, st, strT0, "SET", "e", "v", "PX", "1000")
	steps := []struct {
		at    int64 // ms after strT0
		conf  fakeMemConf
		cmd   string
		want  string
		hit   bool
		check bool // hit/miss counted
	}{
		{0, noEvict, "OBJECT|IDLETIME|k", ":0\r\n", true, true},
		{30_000, noEvict, "OBJECT|IDLETIME|k", ":30\r\n", true, true},
		{31_000, noEvict, "OBJECT|IDLETIME|k", ":31\r\n", true, true}, // OBJECT did not touch it
		{31_000, noEvict, "OBJECT|FREQ|k", "-" + errLFUNotSelected + "\r\n", true, true},
		{31_000, lfu, "OBJECT|FREQ|k", ":5\r\n", true, true},
		{31_000, lfu, "OBJECT|IDLETIME|k", "-" + errLFUSelected + "\r\n", true, true},
		{32_000, lfu, "GET|k", "$1\r\nv\r\n", true, true},
		{32_000, lfu, "OBJECT|FREQ|k", ":6\r\n", true, true},
		{33_000, noEvict, "OBJECT|IDLETIME|k", ":1\r\n", true, true},
		// The counter decays by one a minute without access.
		{32_000 + 3*60_000, lfu, "OBJECT|FREQ|k", ":3\r\n", true, true},
		{0, noEvict, "OBJECT|IDLETIME|nokey", "$-1\r\n", false, true},
		{0, lfu, "OBJECT|FREQ|nokey", "$-1\r\n", false, true},
		{999, noEvict, "OBJECT|ENCODING|e", "$6\r\nembstr\r\n", true, true},
		{1000, noEvict, "OBJECT|ENCODING|e", "$-1\r\n", false, true},
		{1000, noEvict, "OBJECT|REFCOUNT|e", "$-1\r\n", false, true},
		// MEMORY USAGE sees the expired key still there, as Redis's
		// dictFind, and counts nothing.
		{1000, noEvict, "MEMORY|USAGE|e", ":64\r\n", false, false},
	}
	for i, s := range steps {
		got, hits, misses := readExec(t, st, strT0+s.at, s.conf, strings.Split(s.cmd, "|")...)
		if got != s.want {
			t.Errorf("step %d %s: got %q, want %q", i, s.cmd, got, s.want)
		}
		wantHits, wantMisses := int64(0), int64(0)
		if s.check {
			if s.hit {
				wantHits = 1
			} else {
				wantMisses = 1
			}
		}
		if hits != wantHits || misses != wantMisses {
			t.Errorf("step %d %s: hits/misses %d/%d, want %d/%d", i, s.cmd, hits, misses, wantHits, wantMisses)
		}
	}
}

// TestMemoryUsage checks MEMORY USAGE against figures redis-server 7.0.15
// (jemalloc 5.3) replied for the same writes, with the key "k" (8 bytes of
// sds, 24 of dictEntry) unless the case names another.
func TestMemoryUsage(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		writes []string
		key    string
		want   int64
	}{
		{[]string{"SET|k|0"}, "k", 48},
		{[]string{"SET|k|" + a(12)}, "k", 64},
		{[]string{"SET|k|" + a(13)}, "k", 80},
		{[]string{"SET|k|" + a(44)}, "k", 96},
		{[]string{"SET|k|" + a(45)}, "k", 112},
		{[]string{"SET|k|" + a(61)}, "k", 128},
		{[]string{"SET|k|" + a(253)}, "k", 368},
		{[]string{"SET|k|" + a(256)}, "k", 368},
		{[]string{"SET|k|" + a(508)}, "k", 688},
		{[]string{"SET|k|" + a(5000)}, "k", 5168},
		{[]string{"SET|k|" + a(32767)}, "k", 41008},
		// APPEND grows as sds does: doubling, then in place.
		{[]string{"SET|k|abc", "APPEND|k|"}, "k", 56},
		{[]string{"SET|k|abc", "APPEND|k|", "APPEND|k|d"}, "k", 64},
		{[]string{"SET|k|abc", "APPEND|k|", "APPEND|k|d", "APPEND|k|e"}, "k", 64},
		{[]string{"SET|k|abc", "APPEND|k|", "APPEND|k|d", "APPEND|k|e", "APPEND|k|0123456789"}, "k", 96},
		{[]string{"SET|k|abcde0123456789", "APPEND|k|" + a(40)}, "k", 176},
		{[]string{"DEL|k", "SETRANGE|k|0|abc"}, "k", 56},
		{[]string{"DEL|k", "SETRANGE|k|0|abc", "SETRANGE|k|10|y"}, "k", 80},
		{[]string{"SET|k|1e300", "INCRBYFLOAT|k|1e300"}, "k", 368},
		{[]string{"SET|k|" + a(50), "APPEND|k|x", "COPY|k|k2|REPLACE"}, "k2", 112},
		{[]string{"SET|k|" + a(50), "APPEND|k|x"}, "k", 160},
		// Keys: sds type 5, 8 and 16 headers, and the empty key.
		// (the value "x" is a 32-byte embstr)
		{[]string{"SET|" + a(31) + "|x"}, a(31), 32 + 48 + 24},
		{[]string{"SET|" + a(32) + "|x"}, a(32), 32 + 48 + 24},
		{[]string{"SET||x"}, "", 32 + 8 + 24},
		{[]string{"SET|" + a(256) + "|x"}, a(256), 32 + 320 + 24},
	}
	for _, c := range cases {
		st := shard.New()
		for _, w := range c.writes {
			strExec(t, st, strT0, strings.Split(w, "|")...)
		}
		name := strings.Join(c.writes, " ; ")
		for _, cluster := range []bool{false, true} {
			want := c.want
			if cluster {
				want += 16
			}
			got, _, _ := readExec(t, st, strT0, fakeMemConf{cluster: cluster}, "MEMORY", "USAGE", c.key)
			if got != ":"+strconv.FormatInt(want, 10)+"\r\n" {
				t.Errorf("%s (cluster %v): MEMORY USAGE %.20q = %q, want %d", name, cluster, c.key, got, want)
			}
		}
	}
}

func TestMemoryUsageOptions(t *testing.T) {
	st := shard.New()
	strExec(t, st, strT0, "SET", "k", "v")
	for _, c := range []struct{ cmd, want string }{
		{"MEMORY|USAGE|k|SAMPLES|0", ":64\r\n"},
		{"MEMORY|USAGE|k|samples|5|SAMPLES|9223372036854775807", ":64\r\n"},
		{"MEMORY|USAGE|k|SAMPLES|-1", "-ERR syntax error\r\n"},
		{"MEMORY|USAGE|k|SAMPLES|x", "-ERR value is not an integer or out of range\r\n"},
		{"MEMORY|USAGE|k|SAMPLES", "-ERR syntax error\r\n"},
		{"MEMORY|USAGE|k|FOO|1", "-ERR syntax error\r\n"},
		{"MEMORY|USAGE|nokey|SAMPLES|x", "-ERR value is not an integer or out of range\r\n"},
		{"MEMORY|USAGE|nokey", "$-1\r\n"},
		{"MEMORY|USAGE", "-ERR wrong number of arguments for 'memory|usage' command\r\n"},
		{"OBJECT|ENCODING", "-ERR wrong number of arguments for 'object|encoding' command\r\n"},
		{"OBJECT|ENCODING|k|x", "-ERR wrong number of arguments for 'object|encoding' command\r\n"},
	} {
		if got, _, _ := readExec(t, st, strT0, fakeMemConf{}, strings.Split(c.cmd, "|")...); got != c.want {
			t.Errorf("%s: got %q, want %q", c.cmd, got, c.want)
		}
	}
	help, _, _ := readExec(t, st, strT0, fakeMemConf{}, "OBJECT", "HELP")
	if !strings.HasPrefix(help, "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n") {
		t.Errorf("OBJECT HELP = %q", help)
	}
}

func TestJemallocSize(t *testing.T) {
	for _, c := range [][2]int64{
		{1, 8}, {8, 8}, {9, 16}, {17, 32}, {33, 48}, {128, 128}, {129, 160}, {160, 160},
		{161, 192}, {257, 320}, {513, 640}, {1025, 1280}, {4097, 5120}, {32769, 40960},
		{65538, 81920}, {1 << 20, 1 << 20}, {1<<20 + 1, 1<<20 + 1<<18},
	} {
		if got := jemallocSize(c[0]); got != c[1] {
			t.Errorf("jemallocSize(%d) = %d, want %d", c[0], got, c[1])
		}
	}
}

// TestSdsModel checks the sds alloc figures the model derives, including
// the type 8 cap at 255 and type 16 at 65535 and the 1 MB preallocation step.
func TestSdsModel(t *testing.T) {
	for _, c := range []struct{ n, alloc int64 }{
		{0, 4}, {1, 1}, {31, 31}, {32, 44}, {45, 60}, {252, 252}, {253, 255}, {256, 314}, {65530, 65530}, {65531, 65535},
	} {
		if got := sdsNewAlloc(c.n); got != c.alloc {
			t.Errorf("sdsNewAlloc(%d) = %d, want %d", c.n, got, c.alloc)
		}
	}
	if got := sdsGrowAlloc(3, 3, 1); got != 12 {
		t.Errorf("sdsGrowAlloc(3, 3, 1) = %d, want 12", got)
	}
	// 130 bytes doubled is 260: a type 16 header, a 320-byte class.
	if got := sdsGrowAlloc(120, 124, 10); got != 320-5-1 {
		t.Errorf("sdsGrowAlloc(120, 124, 10) = %d, want %d", got, 320-5-1)
	}
	// 127 doubled is 254: type 8, a 320-byte class whose alloc is capped at 255.
	if got := sdsGrowAlloc(120, 124, 7); got != 255 {
		t.Errorf("sdsGrowAlloc(120, 124, 7) = %d, want 255", got)
	}
	// Beyond 1 MB the string grows by 1 MB, not twice.
	if got, want := sdsGrowAlloc(1<<20, 1<<20, 1), jemallocSize(9+2<<20+2)-9-1; got != want {
		t.Errorf("sdsGrowAlloc(1MB, 1MB, 1) = %d, want %d", got, want)
	}
}

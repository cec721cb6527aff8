package command

import (
	"bufio"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// lcsRun runs LCS with args after the two keys in protocol proto.
func lcsRun(st *shard.Store, proto int, args ...string) (string, int64, int64) {
	argv := [][]byte{[]byte("LCS")}
	for _, a := range args {
		argv = append(argv, []byte(a))
	}
	x := Ctx{St: st, Now: strT0, Proto: 2, LFURand: 0.5, Conn: struct{}{}}
	if proto == 3 {
		x.Proto = 3
	}
	st.RLock()
	lcsCommand(&x, argv)
	st.RUnlock()
	return string(x.Out), x.Hits, x.Misses
}

func TestLCSReplies(t *testing.T) {
	st := shard.New()
	strExec(t, st, strT0, "MSET", "key1", "ohmytext", "key2", "mynewtext", "empty", "", "a", "ABCBDAB", "b", "BDCABA")
	ranges := "*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n"
	cases := []struct {
		proto int
		args  string
		want  string
	}{
		{2, "key1 key2", "$6\r\nmytext\r\n"},
		{2, "key1 key2 LEN", ":6\r\n"},
		{2, "key1 key2 IDX", "*4\r\n$7\r\nmatches\r\n" + ranges + "$3\r\nlen\r\n:6\r\n"},
		{3, "key1 key2 IDX", "%2\r\n$7\r\nmatches\r\n" + ranges + "$3\r\nlen\r\n:6\r\n"},
		{2, "key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN",
			"*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n"},
		{2, "key1 key2 IDX MINMATCHLEN -3", "*4\r\n$7\r\nmatches\r\n" + ranges + "$3\r\nlen\r\n:6\r\n"},
		{2, "nokey key1", "$0\r\n\r\n"},
		// Ties resolve as in Redis (redis-server 7.0.15's replies).
		{2, "a b", "$4\r\nBDAB\r\n"},
		{2, "a b IDX WITHMATCHLEN", "*4\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:5\r\n:6\r\n*2\r\n:3\r\n:4\r\n:2\r\n" +
			"*3\r\n*2\r\n:3\r\n:4\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:4\r\n"},
		{2, "empty empty IDX", "*4\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n"},
		{2, "key1 key2 LEN IDX", "-" + errLCSLenAndIdx + "\r\n"},
		{2, "key1 key2 FOO LEN IDX", "-ERR syntax error\r\n"},
		{2, "key1 key2 MINMATCHLEN", "-ERR syntax error\r\n"},
		{2, "key1 key2 MINMATCHLEN x", "-ERR value is not an integer or out of range\r\n"},
	}
	for _, c := range cases {
		got, _, _ := lcsRun(st, c.proto, strings.Fields(c.args)...)
		if got != c.want {
			t.Errorf("RESP%d LCS %s: got %q, want %q", c.proto, c.args, got, c.want)
		}
	}
	// Both keys are looked up, and counted, before the options are checked.
	if _, hits, misses := lcsRun(st, 2, "key1", "nokey", "FOO"); hits != 1 || misses != 1 {
		t.Errorf("LCS key1 nokey FOO: hits/misses %d/%d, want 1/1", hits, misses)
	}
	// The table of (12000+1)^2 4-byte cells exceeds proto-max-bulk-len.
	strExec(t, st, strT0, "SETRANGE", "big", "11999", "x")
	if got, _, _ := lcsRun(st, 2, "big", "big", "LEN"); got != "-"+errLCSMemory+"\r\n" {
		t.Errorf("LCS big big LEN: got %q", got)
	}
}

// TestLCSRandom checks LCS on random strings against a brute-force
// reference: the string is a common subsequence of the LEN the plain
// table finds, the IDX ranges name equal bytes in both strings, in
// decreasing order, and add up to LEN.
func TestLCSRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(testutil.Seed(t), 0))
	st := shard.New()
	for iter := 0; iter < 300; iter++ {
		gen := func() string {
			b := make([]byte, rng.IntN(40))
			for i := range b {
				b[i] = "abc\x00"[rng.IntN(3+iter%2)]
			}
			return string(b)
		}
		a, b := gen(), gen()
		strExec(t, st, strT0, "MSET", "a", a, "b", b)
		want := lcsRef(a, b)
		got, _, _ := lcsRun(st, 2, "a", "b", "LEN")
		if got != ":"+strconv.Itoa(want)+"\r\n" {
			t.Fatalf("LCS %q %q LEN = %q, want %d", a, b, got, want)
		}
		raw, _, _ := lcsRun(st, 2, "a", "b")
		v := parseReply(t, raw)
		if len(v.Str) != want || !isSubseq(v.Str, a) || !isSubseq(v.Str, b) {
			t.Fatalf("LCS %q %q = %q: not a common subsequence of length %d", a, b, v.Str, want)
		}
		raw, _, _ = lcsRun(st, 2, "a", "b", "IDX", "WITHMATCHLEN")
		v = parseReply(t, raw)
		total, prevA := int64(0), int64(len(a))
		for _, m := range v.Array[1].Array {
			as, ae := m.Array[0].Array[0].Int, m.Array[0].Array[1].Int
			bs, be := m.Array[1].Array[0].Int, m.Array[1].Array[1].Int
			if ae-as != be-bs || m.Array[2].Int != ae-as+1 || a[as:ae+1] != b[bs:be+1] || ae >= prevA {
				t.Fatalf("LCS %q %q IDX: bad range %q", a, b, raw)
			}
			total += ae - as + 1
			prevA = as
		}
		if total != int64(want) || v.Array[3].Int != int64(want) {
			t.Fatalf("LCS %q %q IDX: ranges add up to %d, len %d, want %d", a, b, total, v.Array[3].Int, want)
		}
	}
}

// lcsRef is the textbook recursion with memoization.
func lcsRef(a, b string) int {
	memo := map[[2]int]int{}
	var f func(i, j int) int
	f = func(i, j int) int {
		if i == len(a) || j == len(b) {
			return 0
		}
		k := [2]int{i, j}
		if v, ok := memo[k]; ok {
			return v
		}
		v := max(f(i+1, j), f(i, j+1))
		if a[i] == b[j] {
			v = max(v, 1+f(i+1, j+1))
		}
		memo[k] = v
		return v
	}
	return f(0, 0)
}

func isSubseq(s, of string) bool {
	i := 0
	for j := 0; j < len(of) && i < len(s); j++ {
		if s[i] == of[j] {
			i++
		}
	}
	return i == len(s)
}

func parseReply(t *testing.T, raw string) respclient.Value {
	t.Helper()
	v, err := respclient.ReadRaw(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatalf("reply %q: %v", raw, err)
	}
	return v
}

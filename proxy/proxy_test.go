package proxy

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

func bs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestSplitBySlot(t *testing.T) {
	// {a}x and {a}y share a slot; b and c have their own.
	args := bs("mget", "{a}x", "b", "{a}y", "c", "b")
	var s splitter
	s.split(args, 1, 1)
	if len(s.slots) != 3 {
		t.Fatalf("slots %v: want 3 groups", s.slots)
	}
	wantSlots := []int{shard.Slot("a"), shard.Slot("b"), shard.Slot("c")}
	for i, w := range wantSlots {
		if s.slots[i] != w {
			t.Fatalf("group %d slot %d, want %d", i, s.slots[i], w)
		}
	}
	wantWhere := []int{0, 1, 0, 2, 1}
	if len(s.where) != len(wantWhere) {
		t.Fatalf("where %v, want %v", s.where, wantWhere)
	}
	for i, w := range wantWhere {
		if s.where[i] != w {
			t.Fatalf("where %v, want %v", s.where, wantWhere)
		}
	}
	sub := s.buildSub(nil, "mget", args, 0, 1)
	if want := "*3\r\n$4\r\nmget\r\n$4\r\n{a}x\r\n$4\r\n{a}y\r\n"; string(sub) != want {
		t.Fatalf("sub-command %q, want %q", sub, want)
	}
	// MSET: pairs stay together; reuse of the splitter resets it.
	args = bs("mset", "{a}x", "1", "b", "2", "{a}y", "3")
	s.split(args, 1, 2)
	if len(s.slots) != 2 {
		t.Fatalf("mset slots %v: want 2 groups", s.slots)
	}
	sub = s.buildSub(nil, "mset", args, 0, 2)
	if want := "*5\r\n$4\r\nmset\r\n$4\r\n{a}x\r\n$1\r\n1\r\n$4\r\n{a}y\r\n$1\r\n3\r\n"; string(sub) != want {
		t.Fatalf("mset sub-command %q, want %q", sub, want)
	}
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name    string
		merge   func([]byte, resp.Proto, [][]byte) []byte
		proto   resp.Proto
		replies []string
		want    string
	}{
		{"sum", mergeSum, resp.RESP2, []string{":2\r\n", ":0\r\n", ":3\r\n"}, ":5\r\n"},
		{"sum error", mergeSum, resp.RESP2, []string{":2\r\n", "-ERR x\r\n"}, "-ERR x\r\n"},
		{"sum lost", mergeSum, resp.RESP2, []string{":2\r\n", ""}, "-" + errClusterDown + "\r\n"},
		{"ok", mergeOK, resp.RESP2, []string{"+OK\r\n", "+OK\r\n"}, "+OK\r\n"},
		{"ok error", mergeOK, resp.RESP2, []string{"+OK\r\n", "-OOM no\r\n"}, "-OOM no\r\n"},
		{"arrays", mergeArrays, resp.RESP2, []string{"*1\r\n$1\r\na\r\n", "*0\r\n", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"},
			"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rs [][]byte
			for _, r := range tt.replies {
				rs = append(rs, []byte(r))
			}
			if got := tt.merge(nil, tt.proto, rs); string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMergeMGet(t *testing.T) {
	// Keys k0..k4 in groups 0,1,0,2,1; the nodes answer in RESP3 (nulls "_").
	replies := [][]byte{
		[]byte("*2\r\n$2\r\nv0\r\n_\r\n"),
		[]byte("*2\r\n$2\r\nv1\r\n$2\r\nv4\r\n"),
		[]byte("*1\r\n$2\r\nv3\r\n"),
	}
	where := []int{0, 1, 0, 2, 1}
	got := mergeMGet(nil, resp.RESP2, replies, where)
	want := "*5\r\n$2\r\nv0\r\n$2\r\nv1\r\n$-1\r\n$2\r\nv3\r\n$2\r\nv4\r\n"
	if string(got) != want {
		t.Fatalf("RESP2: got %q, want %q", got, want)
	}
	got = mergeMGet(nil, resp.RESP3, replies, where)
	want = "*5\r\n$2\r\nv0\r\n$2\r\nv1\r\n_\r\n$2\r\nv3\r\n$2\r\nv4\r\n"
	if string(got) != want {
		t.Fatalf("RESP3: got %q, want %q", got, want)
	}
	// A group's error is the reply.
	replies[1] = []byte("-TRYAGAIN x\r\n")
	if got := mergeMGet(nil, resp.RESP2, replies, where); string(got) != "-TRYAGAIN x\r\n" {
		t.Fatalf("error: got %q", got)
	}
}

func TestScanCursor(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < 1000; i++ {
		node := rng.IntN(1 << scanNodeBits)
		cur := rng.Uint64N(1 << 40)
		n, c := decodeScanCursor(encodeScanCursor(node, cur))
		if n != node || c != cur {
			t.Fatalf("encode(%d, %d) decodes to (%d, %d)", node, cur, n, c)
		}
	}
	// A scan over 3 leaders: node 0 until its cursor is 0, then node 1 from
	// its start, ..., and 0 after the last.
	if got := nextScanCursor(0, 3, 500); got != encodeScanCursor(0, 500) {
		t.Fatalf("node 0 continues: %d", got)
	}
	if got := nextScanCursor(0, 3, 0); got != encodeScanCursor(1, 0) || got == 0 {
		t.Fatalf("node 0 done: %d", got)
	}
	if got := nextScanCursor(2, 3, 0); got != 0 {
		t.Fatalf("last node done: %d, want 0", got)
	}
	if n, c := decodeScanCursor(0); n != 0 || c != 0 {
		t.Fatalf("cursor 0 starts node 0 at 0: (%d, %d)", n, c)
	}
}

func TestReplyEnd(t *testing.T) {
	tests := []struct {
		in  string
		end int // -1: incomplete
		bad bool
	}{
		{"+OK\r\n", 5, false},
		{"+OK\r", -1, false},
		{"$3\r\nfoo\r\n", 9, false},
		{"$3\r\nfo", -1, false},
		{"$-1\r\n", 5, false},
		{"_\r\n", 3, false},
		{"*2\r\n:1\r\n$1\r\na\r\n", 15, false},
		{"*2\r\n:1\r\n", -1, false},
		{"%1\r\n+a\r\n:1\r\n", 12, false},
		{"|1\r\n+a\r\n:1\r\n+OK\r\n", 17, false},
		{"~1\r\n,1.5\r\n", 10, false},
		{"?x\r\n", 0, true},
		{"$x\r\n", 0, true},
	}
	for _, tt := range tests {
		end, ok, err := replyEnd([]byte(tt.in+"+NEXT\r\n"), 0)
		if tt.bad {
			if err == nil {
				t.Errorf("%q: no error", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if tt.end < 0 {
			end, ok, _ = replyEnd([]byte(tt.in), 0)
			if ok {
				t.Errorf("%q: complete at %d, want incomplete", tt.in, end)
			}
			continue
		}
		if !ok || end != tt.end {
			t.Errorf("%q: end %d ok %v, want %d", tt.in, end, ok, tt.end)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want replyClass
	}{
		{"+OK\r\n", replyFinal},
		{"-ERR wrong\r\n", replyFinal},
		{"-MOVED 12 127.0.0.1:7001\r\n", replyMoved},
		{"-ASK 12 127.0.0.1:7001\r\n", replyAsk},
		{"-TRYAGAIN x\r\n", replyTransient},
		{"-CLUSTERDOWN Hash slot not served\r\n", replyTransient},
		{"-TIMEOUT the write may or may not have been applied\r\n", replyTransient},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.in)); got != tt.want {
			t.Errorf("classify(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	slot, addr, ok := redirectAddr([]byte("-MOVED 3999 127.0.0.1:6381\r\n"))
	if !ok || slot != 3999 || addr != "127.0.0.1:6381" {
		t.Fatalf("redirectAddr: %d %q %v", slot, addr, ok)
	}
	if _, _, ok := redirectAddr([]byte("-MOVED 99999 h:1\r\n")); ok {
		t.Fatal("a slot out of range was accepted")
	}
}

// oneByteReader returns at most one byte per Read, so that every command
// arrives in pieces.
type oneByteReader struct{ r *bytes.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(1, len(p))]) }

func TestRequestReader(t *testing.T) {
	in := "*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n  set  a b\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"
	want := [][]string{{"GET", "k"}, {"PING"}, {"set", "a", "b"}, {"SET", "k", "hello"}}
	wantRaw := []string{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "", "", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"}
	for _, pieces := range []bool{false, true} {
		var rr *reqReader
		if pieces {
			rr = newReqReader(oneByteReader{bytes.NewReader([]byte(in))})
		} else {
			rr = newReqReader(bytes.NewReader([]byte(in)))
		}
		var got [][]string
		var raws []string
		for {
			reqs, err := rr.readBatch()
			for _, r := range reqs {
				var a []string
				for _, x := range r.args {
					a = append(a, string(x))
				}
				got = append(got, a)
				raws = append(raws, string(r.raw))
			}
			if err != nil {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("pieces=%v: got %q, want %q", pieces, got, want)
		}
		for i := range want {
			if strings.Join(got[i], " ") != strings.Join(want[i], " ") || raws[i] != wantRaw[i] {
				t.Fatalf("pieces=%v: command %d = %q raw %q, want %q raw %q", pieces, i, got[i], raws[i], want[i], wantRaw[i])
			}
		}
	}
}

func TestRequestReaderProtocolErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"*x\r\n", "ERR Protocol error: invalid multibulk length"},
		{"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"},
		{"*1\r\n+foo\r\n", "ERR Protocol error: expected '$', got '+'"},
	}
	for _, tt := range tests {
		rr := newReqReader(strings.NewReader(tt.in))
		_, err := rr.readBatch()
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: error %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestRewriteInfo(t *testing.T) {
	a := "# Server\r\nredis_mode:cluster\r\n\r\n# Cluster\r\ncluster_enabled:1\r\n\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=10\r\n"
	b := "# Cluster\r\ncluster_enabled:1\r\n\r\n# Keyspace\r\ndb0:keys=4,expires=0,avg_ttl=0\r\n"
	got := rewriteInfo([]string{a, b})
	want := "# Server\r\nredis_mode:standalone\r\n\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\ndb0:keys=7,expires=1,avg_ttl=10\r\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// The first node has no key: the line is added under its header.
	empty := "# Keyspace\r\n"
	if got := rewriteInfo([]string{empty, b}); got != "# Keyspace\r\ndb0:keys=4,expires=0,avg_ttl=0\r\n" {
		t.Fatalf("empty first: got %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.Cluster = []string{"127.0.0.1:7000"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	tests := []struct {
		name string
		mod  func(*Config)
	}{
		{"no cluster", func(c *Config) { c.Cluster = nil }},
		{"bad listen", func(c *Config) { c.Listen = "nope" }},
		{"bad cluster", func(c *Config) { c.Cluster = []string{"127.0.0.1"} }},
		{"conns", func(c *Config) { c.ConnsPerNode = 0 }},
		{"timeout", func(c *Config) { c.NodeTimeout = 0 }},
	}
	for _, tt := range tests {
		c := ok
		tt.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

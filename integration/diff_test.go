package integration

// Differential compatibility tests: every command is sent to a reference
// redis-server and to Shoal (or, with SHOAL_DIFF_AGAINST_REDIS=1, to a second
// redis-server) and the raw replies are compared.
//
//	go test ./integration/ -run Diff -v
//	SHOAL_DIFF_AGAINST_REDIS=1 go test ./integration/ -run Diff   # self-check
//
// Environment:
//
//	SHOAL_BIN                 Shoal binary (default: bin/shoal, built by the test)
//	SHOAL_DIFF_AGAINST_REDIS  compare redis-server with a second redis-server
//	SHOAL_DIFF_SEED           replay TestDiffRandom with this seed
//	SHOAL_DIFF_N              number of random commands (default 5000)
//	SHOAL_DIFF_FILE           only run corpus files whose name contains this
//	SHOAL_DIFF_TRANSCRIPT     log every corpus command with Redis's reply

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// diffPair is one connection to the reference Redis and one to the target
// (the current pair: a "!conn N" step switches to pair N, dialed then).
type diffPair struct {
	ref, tgt   *respConn
	tgtName    string
	transcript bool

	refAddr, tgtAddr string
	conns            [maxDiffConns][2]*respConn
	// cur is the current pair; sent[n] is the !send step whose replies
	// pair n has not read yet (!recv), or nil.
	cur  int
	sent [maxDiffConns]*step
}

// maxDiffConns is the number of connections a corpus may use (!conn).
const maxDiffConns = 4

func newDiffPair(t *testing.T, refAddr, tgtAddr, tgtName string) *diffPair {
	t.Helper()
	p := &diffPair{
		ref:        mustDial(t, refAddr),
		tgt:        mustDial(t, tgtAddr),
		tgtName:    tgtName,
		transcript: os.Getenv("SHOAL_DIFF_TRANSCRIPT") != "",
		refAddr:    refAddr,
		tgtAddr:    tgtAddr,
	}
	p.conns[0] = [2]*respConn{p.ref, p.tgt}
	return p
}

// use makes connection pair n the current one, dialing it the first time.
func (p *diffPair) use(t *testing.T, n int) {
	t.Helper()
	if p.conns[n][0] == nil {
		p.conns[n] = [2]*respConn{mustDial(t, p.refAddr), mustDial(t, p.tgtAddr)}
	}
	p.ref, p.tgt = p.conns[n][0], p.conns[n][1]
	p.cur = n
}

// runAsync runs the steps of a command left waiting: !send writes it on the
// current pair, !recv reads and compares its replies, !blocked waits until
// both servers count that many blocked clients. handled is false for any
// other step, which must not run on a pair with a command pending.
func (p *diffPair) runAsync(t *testing.T, where string, st step) (msg string, handled bool) {
	t.Helper()
	pending := p.sent[p.cur]
	switch {
	case st.recv:
		if pending == nil {
			t.Fatalf("%s: !recv without a !send pending on connection %d", where, p.cur)
		}
		p.sent[p.cur] = nil
		var raw [2][]byte
		for i, c := range []*respConn{p.ref, p.tgt} {
			if err := c.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			v, err := respclient.ReadRaw(c.r)
			if err != nil {
				t.Fatalf("%s: reply to %s (line %d) on %s: %v", where, pending, pending.line, [2]string{"redis", p.tgtName}[i], err)
			}
			raw[i] = v.Raw
		}
		if p.transcript {
			t.Logf("%s: %s -> %q", where, pending, raw[0])
		}
		if d := compareReplies(pending.mode, pending.tol, raw[0], raw[1]); d != "" {
			return p.report(where, *pending, d, raw[0], raw[1]), true
		}
		return "", true
	case pending != nil:
		t.Fatalf("%s: %s on connection %d, which waits for the reply to line %d (!recv first)", where, st, p.cur, pending.line)
	case st.send:
		for i, c := range []*respConn{p.ref, p.tgt} {
			if err := c.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.conn.Write(encodeCommand(st.args)); err != nil {
				t.Fatalf("%s: %s on %s: %v", where, st, [2]string{"redis", p.tgtName}[i], err)
			}
		}
		p.sent[p.cur] = &st
		return "", true
	case st.blocked != 0:
		want := strconv.Itoa(st.blocked - 1)
		testutil.Eventually(t, 10*time.Second, where+": blocked_clients:"+want+" on both servers", func() error {
			for i, c := range []*respConn{p.ref, p.tgt} {
				raw, err := c.Do("INFO", "clients")
				if err != nil {
					t.Fatalf("%s: INFO: %v", where, err)
				}
				if !strings.Contains(string(raw), "\r\nblocked_clients:"+want+"\r\n") {
					return fmt.Errorf("%s: %q", [2]string{"redis", p.tgtName}[i], raw)
				}
			}
			return nil
		})
		return "", true
	}
	return "", false
}

// run executes st on both servers and returns a mismatch report or "".
// A transport error is fatal: the connections are out of sync after it.
func (p *diffPair) run(t *testing.T, where string, st step) string {
	t.Helper()
	if st.conn != 0 {
		p.use(t, st.conn-1)
		return ""
	}
	if msg, ok := p.runAsync(t, where, st); ok {
		return msg
	}
	if st.proto != 0 {
		ra, err := p.ref.Hello(st.proto)
		if err != nil {
			t.Fatalf("%s: HELLO %d on redis: %v", where, st.proto, err)
		}
		rb, err := p.tgt.Hello(st.proto)
		if err != nil {
			t.Fatalf("%s: HELLO %d on %s: %v", where, st.proto, p.tgtName, err)
		}
		if p.transcript {
			t.Logf("%s: HELLO %d -> %q", where, st.proto, ra)
		}
		if d := compareReplies(modeAny, 0, ra, rb); d != "" {
			return p.report(where, st, d, ra, rb)
		}
		return ""
	}
	if st.mode == modeScan {
		ka, ra, okA, err := scanAll(p.ref, st.args)
		if err != nil {
			t.Fatalf("%s: %s on redis: %v", where, st, err)
		}
		kb, rb, okB, err := scanAll(p.tgt, st.args)
		if err != nil {
			t.Fatalf("%s: %s on %s: %v", where, st, p.tgtName, err)
		}
		if p.transcript {
			t.Logf("%s: %s -> keys %q raw %q", where, st, ka, ra)
		}
		switch {
		case okA && okB:
			if !slices.Equal(ka, kb) {
				return p.report(where, st, "scanned key sets differ",
					[]byte(fmt.Sprintf("%q", ka)), []byte(fmt.Sprintf("%q", kb)))
			}
		case okA != okB:
			if okA {
				ra = []byte(fmt.Sprintf("scan keys %q", ka))
			} else {
				rb = []byte(fmt.Sprintf("scan keys %q", kb))
			}
			return p.report(where, st, "one side is not a SCAN reply", ra, rb)
		default:
			if d := compareReplies(modeExact, 0, ra, rb); d != "" {
				return p.report(where, st, d, ra, rb)
			}
		}
		return ""
	}
	ra, err := p.ref.Do(st.args...)
	if err != nil {
		t.Fatalf("%s: %s on redis: %v", where, st, err)
	}
	rb, err := p.tgt.Do(st.args...)
	if err != nil {
		t.Fatalf("%s: %s on %s: %v (reply so far %q; redis replied %q)", where, st, p.tgtName, err, rb, ra)
	}
	if p.transcript {
		t.Logf("%s: %s -> %q", where, st, ra)
	}
	if d := compareReplies(st.mode, st.tol, ra, rb); d != "" {
		if settled, ok := p.settledMemoryUsage(t, st.args); ok && compareReplies(st.mode, st.tol, settled, rb) == "" {
			t.Logf("%s: %s: redis said %q while rehashing the value's dict, %q once done", where, st, ra, settled)
			return ""
		}
		return p.report(where, st, d, ra, rb)
	}
	return ""
}

// settledMemoryUsage asks redis-server MEMORY USAGE again, args being a
// MEMORY USAGE of a set, hash or sorted set, after finishing the rehash of
// the value's dict, and reports whether it did. Redis moves a dict's
// buckets to its new table one step per access, and MEMORY USAGE counts
// both tables until the move ends; how many steps that takes depends on
// its randomly seeded hash function, so its answer right after a resize
// is not reproducible. Shoal answers for the table after the move. The
// lookups that finish it (64 steps: every table the random sequences
// build) only read, and go to redis-server alone.
func (p *diffPair) settledMemoryUsage(t *testing.T, args []string) ([]byte, bool) {
	t.Helper()
	if len(args) < 3 || !strings.EqualFold(args[0], "MEMORY") || !strings.EqualFold(args[1], "USAGE") {
		return nil, false
	}
	typ, err := p.ref.Do("TYPE", args[2])
	if err != nil {
		t.Fatalf("TYPE %s on redis: %v", args[2], err)
	}
	probe := map[string]string{"+set\r\n": "SISMEMBER", "+hash\r\n": "HEXISTS", "+zset\r\n": "ZSCORE"}[string(typ)]
	if probe == "" {
		return nil, false
	}
	for i := 0; i < 64; i++ {
		if _, err := p.ref.Do(probe, args[2], "shoal:rehash-probe"); err != nil {
			t.Fatalf("%s on redis: %v", probe, err)
		}
	}
	settled, err := p.ref.Do(args...)
	if err != nil {
		t.Fatalf("%s on redis: %v", strings.Join(args, " "), err)
	}
	return settled, true
}

func (p *diffPair) report(where string, st step, why string, ra, rb []byte) string {
	mode := ""
	if st.mode != modeExact {
		mode = " [" + st.mode.String() + "]"
	}
	return fmt.Sprintf("%s: %s%s: %s\n\tredis: %q\n\t%s: %q", where, st, mode, why, ra, p.tgtName, rb)
}

func corpusFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "diff", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no corpus files in testdata/diff")
	}
	sort.Strings(files)
	if f := os.Getenv("SHOAL_DIFF_FILE"); f != "" {
		var keep []string
		for _, p := range files {
			if strings.Contains(filepath.Base(p), f) {
				keep = append(keep, p)
			}
		}
		files = keep
	}
	return files
}

// TestDiffCorpus replays testdata/diff/*.txt against Redis and the target.
func TestDiffCorpus(t *testing.T) {
	files := corpusFiles(t)
	// Parse everything first so a corpus typo fails fast.
	scripts := map[string][]step{}
	total := 0
	for _, f := range files {
		steps, err := parseScript(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(steps) == 0 || !strings.EqualFold(steps[0].args[0], "flushall") {
			t.Fatalf("%s: the first command must be FLUSHALL", f)
		}
		scripts[f] = steps
		total += len(steps)
	}
	refAddr := testutil.StartRedis(t).Addr
	tgtAddr, tgtName := startTarget(t)
	t.Logf("redis at %s, %s at %s, %d files, %d steps", refAddr, tgtName, tgtAddr, len(files), total)
	for _, f := range files {
		f := f
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			p := newDiffPair(t, refAddr, tgtAddr, tgtName)
			mismatches := 0
			for _, st := range scripts[f] {
				where := fmt.Sprintf("%s:%d", f, st.line)
				if msg := p.run(t, where, st); msg != "" {
					mismatches++
					t.Error(msg)
				}
			}
			for n, st := range p.sent {
				if st != nil {
					t.Errorf("%s:%d: !send on connection %d without !recv", f, st.line, n)
				}
			}
			if mismatches > 0 {
				t.Logf("%s: %d of %d commands mismatched", f, mismatches, len(scripts[f]))
			}
		})
	}
}

// TestDiffScriptParsing checks the corpus line splitter and directives.
func TestDiffScriptParsing(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`SET k v`, []string{"SET", "k", "v"}},
		{`  set   "a b"  'c d' `, []string{"set", "a b", "c d"}},
		{`SET k "\x00\xff\n\r\t\"\\"`, []string{"SET", "k", "\x00\xff\n\r\t\"\\"}},
		{`SET k ''`, []string{"SET", "k", ""}},
		{`SET k 'it\'s'`, []string{"SET", "k", "it's"}},
		{`SET k "\xZZ"`, []string{"SET", "k", "xZZ"}},
		{`SET k ab"c"`, []string{"SET", "k", "abc"}},
	}
	for _, c := range cases {
		got, err := splitArgs(c.in)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		if back, err := splitArgs(formatArgs(got)); err != nil || !slices.Equal(back, got) {
			t.Errorf("formatArgs round trip of %q = %q, %v", got, back, err)
		}
	}
	for _, bad := range []string{`SET "k`, `SET 'k`, `SET "k"x`, `SET 'k'x`} {
		if got, err := splitArgs(bad); err == nil {
			t.Errorf("splitArgs(%q) = %q, want error", bad, got)
		}
	}
}

// TestDiffAsyncDirectives checks the parsing of !send, !recv and !blocked.
func TestDiffAsyncDirectives(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.txt")
	if err := os.WriteFile(good, []byte("FLUSHALL\n!send\nBLPOP k 0\n!blocked 1\n!recv\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	steps, err := parseScript(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 || !steps[1].send || steps[1].args[0] != "BLPOP" || steps[2].blocked != 2 || !steps[3].recv {
		t.Errorf("parsed %+v", steps)
	}
	for _, bad := range []string{"!blocked\n", "!blocked x\n", "!send\n", "!send\n!sort\nGET k\n"} {
		f := filepath.Join(dir, "bad.txt")
		if err := os.WriteFile(f, []byte("FLUSHALL\n"+bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parseScript(f); err == nil {
			t.Errorf("parseScript accepted %q", bad)
		}
	}
}

// TestDiffReplyReader checks compareReplies (the raw reply framing it
// relies on is respclient's, tested by respclient.TestReadRaw).
func TestDiffReplyReader(t *testing.T) {
	cases := []struct {
		mode compareMode
		tol  int64
		a, b string
		ok   bool
	}{
		{modeTTL, 1, ":100\r\n", ":99\r\n", true},
		{modeTTL, 1, ":100\r\n", ":98\r\n", false},
		{modeTTL, 1, ":-1\r\n", ":-2\r\n", false},
		{modeTTL, 1000, ":100000\r\n", ":99100\r\n", true},
		{modeTTL, 1000, "*2\r\n:100000\r\n:-1\r\n", "*2\r\n:99999\r\n:-1\r\n", true}, // HPTTL
		{modeTTL, 1000, "*2\r\n:100000\r\n:-1\r\n", "*2\r\n:99999\r\n:-2\r\n", false},
		{modeTTL, 1, "*1\r\n:100\r\n", "*2\r\n:100\r\n:1\r\n", false},
		{modeTTL, 1, "*1\r\n:100\r\n", "*1\r\n:97\r\n", false},
		{modeSort, 0, "*2\r\n$1\r\na\r\n$1\r\nb\r\n", "*2\r\n$1\r\nb\r\n$1\r\na\r\n", true},
		{modeSort, 0, "*2\r\n$1\r\na\r\n$1\r\na\r\n", "*2\r\n$1\r\na\r\n$1\r\nb\r\n", false},
		{modeAny, 0, ":1\r\n", ":2\r\n", true},
		{modeAny, 0, ":1\r\n", "$1\r\n1\r\n", false},
		{modeErrPrefix, 0, "-ERR a\r\n", "-ERR b\r\n", true},
		{modeErrPrefix, 0, "-ERR a\r\n", "-WRONGTYPE a\r\n", false},
		{modeTTLCategory, 0, ":5\r\n", ":1000\r\n", true},
		{modeTTLCategory, 0, ":5\r\n", ":-1\r\n", false},
	}
	for _, c := range cases {
		if got := compareReplies(c.mode, c.tol, []byte(c.a), []byte(c.b)) == ""; got != c.ok {
			t.Errorf("compare %v %q %q = %v, want %v", c.mode, c.a, c.b, got, c.ok)
		}
	}
}

// randomSeed returns SHOAL_DIFF_SEED or a time-based seed.
func randomSeed(t *testing.T) int64 {
	t.Helper()
	if s := os.Getenv("SHOAL_DIFF_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("bad SHOAL_DIFF_SEED %q: %v", s, err)
		}
		return seed
	}
	return time.Now().UnixNano()
}

// TestDiffRandom sends a seeded random command sequence to both servers.
func TestDiffRandom(t *testing.T) {
	seed := randomSeed(t)
	n := 5000
	if s := os.Getenv("SHOAL_DIFF_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			t.Fatalf("bad SHOAL_DIFF_N %q", s)
		}
		n = v
	}
	t.Logf("seed %d, %d commands (replay with SHOAL_DIFF_SEED=%d SHOAL_DIFF_N=%d)", seed, n, seed, n)
	refAddr := testutil.StartRedis(t).Addr
	tgtAddr, tgtName := startTarget(t)
	p := newDiffPair(t, refAddr, tgtAddr, tgtName)
	p.transcript = false
	g := newCmdGen(seed)
	if msg := p.run(t, "random:0", step{args: []string{"FLUSHALL"}}); msg != "" {
		t.Fatal(msg)
	}
	const maxReported = 50
	mismatches := 0
	for i := 1; i <= n; i++ {
		st := g.next(i)
		if msg := p.run(t, fmt.Sprintf("random:%d", i), st); msg != "" {
			mismatches++
			if mismatches <= maxReported {
				t.Error(msg)
			}
		}
	}
	// A final full-state comparison catches divergence that no reply showed.
	for _, st := range []step{
		{args: []string{"DBSIZE"}},
		{args: []string{"KEYS", "*"}, mode: modeSort},
		{args: []string{"MGET"}},
	} {
		if st.args[0] == "MGET" {
			st.args = append(st.args, g.keys...)
		}
		if msg := p.run(t, "random:final", st); msg != "" {
			mismatches++
			t.Error(msg)
		}
	}
	if mismatches > 0 {
		t.Errorf("%d mismatches (showing at most %d); replay with SHOAL_DIFF_SEED=%d SHOAL_DIFF_N=%d",
			mismatches, maxReported, seed, n)
	}
}

// TestDiffExpiry checks that short TTLs really expire on both servers (the
// corpus itself only uses times far from now, so that it is deterministic).
func TestDiffExpiry(t *testing.T) {
	refAddr := testutil.StartRedis(t).Addr
	tgtAddr, tgtName := startTarget(t)
	for _, addr := range []string{refAddr, tgtAddr} {
		c := mustDial(t, addr)
		for _, cmd := range [][]string{
			{"FLUSHALL"},
			{"SET", "px", "v", "PX", "50"},
			{"SET", "keep", "v"},
			{"PEXPIRE", "keep", "60000"},
			{"SET", "ex", "v"},
			{"PEXPIRE", "ex", "80"},
		} {
			if _, err := c.Do(cmd...); err != nil {
				t.Fatalf("%s: %v", addr, err)
			}
		}
		name := tgtName
		if addr == refAddr {
			name = "redis"
		}
		testutil.Eventually(t, 5*time.Second, name+": expired keys gone", func() error {
			raw, err := c.Do("EXISTS", "px", "ex", "keep")
			if err != nil {
				return err
			}
			if string(raw) != ":1\r\n" {
				return fmt.Errorf("%s: EXISTS px ex keep = %q, want :1 once px and ex expired", name, raw)
			}
			return nil
		})
		// Redis deletes an expired key when a command touches it; Shoal's
		// reads never write, and the leader's active expiry deletes it
		// through the log within an expiry interval. Either way DBSIZE
		// soon drops to the one live key.
		testutil.Eventually(t, 5*time.Second, name+": DBSIZE drops to the live key", func() error {
			raw, err := c.Do("DBSIZE")
			if err != nil {
				return err
			}
			if string(raw) != ":1\r\n" {
				return fmt.Errorf("%s: DBSIZE = %q, want :1", name, raw)
			}
			return nil
		})
		for _, want := range []struct{ cmd, reply string }{
			{"GET px", "$-1\r\n"},
			{"TTL ex", ":-2\r\n"},
		} {
			raw, err := c.Do(strings.Fields(want.cmd)...)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if string(raw) != want.reply {
				t.Errorf("%s: %s = %q, want %q", name, want.cmd, raw, want.reply)
			}
		}
	}
}

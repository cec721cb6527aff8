package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

// chunkReader returns at most n bytes per Read (n cycles through sizes).
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	n = min(n, len(p), len(c.data))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// readOutcome is what reading a whole input gave: the commands (copied)
// and the error that ended it.
type readOutcome struct {
	cmds  [][]string
	err   error
	calls int
}

// readEverything calls readBatch until it fails, copying every argument.
// maxCalls bounds the calls (each call must consume input).
func readEverything(rd *reader, maxCalls int) readOutcome {
	var out readOutcome
	var dst [][][]byte
	for out.calls < maxCalls {
		var err error
		out.calls++
		dst, err = rd.readBatch(dst)
		for _, c := range dst {
			s := make([]string, len(c))
			for i, a := range c {
				s[i] = string(a)
			}
			out.cmds = append(out.cmds, s)
		}
		if err != nil {
			out.err = err
			return out
		}
		if len(dst) == 0 {
			out.err = errors.New("readBatch returned no command and no error")
			return out
		}
	}
	out.err = fmt.Errorf("no error after %d calls", maxCalls)
	return out
}

// errText is "" for io.EOF, the message of a *protoError, or err's text.
func errText(err error) string {
	var pe *protoError
	switch {
	case err == io.EOF:
		return ""
	case errors.As(err, &pe):
		return pe.msg
	}
	return "unexpected error: " + err.Error()
}

func fmtCmds(cmds [][]string) string {
	var b strings.Builder
	for _, c := range cmds {
		fmt.Fprintf(&b, "%q", c)
	}
	return b.String()
}

func ping() []string { return []string{"PING"} }

// readerErrorCases are inputs with the commands and the protocol error
// redis-server 7.0.15 gives for them ("" = no error: it waits for more).
// TestReaderAgainstRedis checks them against a live server.
var readerErrorCases = []struct {
	name   string
	in     string
	unauth bool
	cmds   [][]string
	err    string
}{
	{"inline", "PING\r\n", false, [][]string{ping()}, ""},
	{"inline LF only", "PING\nPING\n", false, [][]string{ping(), ping()}, ""},
	{"multibulk", "*1\r\n$4\r\nPING\r\n", false, [][]string{ping()}, ""},
	{"blank lines skipped", "\r\n\n  \t \r\nPING\r\n", false, [][]string{ping()}, ""},
	{"*0 skipped", "*0\r\nPING\r\n", false, [][]string{ping()}, ""},
	{"*-1 skipped", "*-1\r\nPING\r\n", false, [][]string{ping()}, ""},
	{"*-5 skipped", "*-5\r\nPING\r\n", false, [][]string{ping()}, ""},
	{"*MinInt64 skipped", "*-9223372036854775808\r\nPING\r\n", false, [][]string{ping()}, ""},
	{"*MinInt64-1", "*-9223372036854775809\r\nPING\r\n", false, nil, "invalid multibulk length"},
	{"*-0", "*-0\r\nPING\r\n", false, nil, "invalid multibulk length"},
	{"*01", "*01\r\nPING\r\n", false, nil, "invalid multibulk length"},
	{"*+1", "*+1\r\n", false, nil, "invalid multibulk length"},
	{"* empty", "*\r\n", false, nil, "invalid multibulk length"},
	{"* space", "* 1\r\n", false, nil, "invalid multibulk length"},
	{"*x", "PING\r\n*x\r\n", false, [][]string{ping()}, "invalid multibulk length"},
	{"*INT_MAX waits", "*2147483647\r\n", false, nil, ""},
	{"*INT_MAX+1", "*2147483648\r\n", false, nil, "invalid multibulk length"},
	{"*MaxInt64", "*9223372036854775807\r\n", false, nil, "invalid multibulk length"},
	{"*20 digits", "*99999999999999999999\r\n", false, nil, "invalid multibulk length"},
	{"* no LF yet", "*1\r", false, nil, ""},
	{"* CR then any byte", "*1\rX$4\r\nPING\r\n", false, [][]string{ping()}, ""},
	{"* LF only waits", "*1\n$4\nPING\n", false, nil, ""},
	{"too big mbulk count string", "*1" + strings.Repeat("1", 65535), false, nil, "too big mbulk count string"},
	{"mbulk count 64KB waits", "*" + strings.Repeat("1", 65535), false, nil, ""},
	{"mbulk count NUL never ends", "*1\x00\r\n$4\r\nPING\r\n", false, nil, ""},
	{"mbulk count NUL too big", "*1\x00" + strings.Repeat("\r\n", 40000), false, nil, "too big mbulk count string"},
	{"expected $ got x", "*1\r\nx\r\n", false, nil, "expected '$', got 'x'"},
	{"expected $ got CR", "*1\r\n\r\n", false, nil, "expected '$', got ' '"},
	{"expected $ got LF", "*1\r\n\n\r\n", false, nil, "expected '$', got ' '"},
	{"expected $ got 0xff", "*1\r\n\xff\r\n", false, nil, "expected '$', got '\xff'"},
	{"expected $ got *", "*2\r\n$4\r\nPING\r\n*1\r\n", false, nil, "expected '$', got '*'"},
	{"bulk count NUL never ends", "*1\r\n\x00$4\r\nPING\r\n", false, nil, ""},
	{"bulk count NUL after $", "*1\r\n$4\x00\r\nPING\r\n", false, nil, ""},
	{"too big bulk count string", "*1\r\n$" + strings.Repeat("1", 65536), false, nil, "too big bulk count string"},
	{"bulk count 64KB waits", "*1\r\n$" + strings.Repeat("1", 65535), false, nil, ""},
	{"bulk -1", "*1\r\n$-1\r\n", false, nil, "invalid bulk length"},
	{"bulk -0", "*1\r\n$-0\r\n", false, nil, "invalid bulk length"},
	{"bulk 04", "*1\r\n$04\r\nPING\r\n", false, nil, "invalid bulk length"},
	{"bulk empty", "*1\r\n$\r\n", false, nil, "invalid bulk length"},
	{"bulk space", "*1\r\n$ 4\r\n", false, nil, "invalid bulk length"},
	{"bulk MaxInt64", "*1\r\n$9223372036854775807\r\n", false, nil, "invalid bulk length"},
	{"bulk 512MB waits", "*1\r\n$536870912\r\n", false, nil, ""},
	{"bulk 512MB+1", "*1\r\n$536870913\r\n", false, nil, "invalid bulk length"},
	{"bulk trailer unchecked", "*1\r\n$4\r\nPINGxyPING\r\n", false, [][]string{ping(), ping()}, ""},
	{"bulk count CR then any byte", "*1\r\n$4\rXPING\r\n", false, [][]string{ping()}, ""},
	{"bulk with NUL", "*1\r\n$4\r\nPI\x00G\r\nPING\r\n", false, [][]string{{"PI\x00G"}, ping()}, ""},
	{"error after commands", "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$-2\r\n", false, [][]string{ping(), ping()}, "invalid bulk length"},
	{"inline NUL never ends", "PI\x00NG\r\nPING\r\n", false, nil, ""},
	{"inline NUL first", "\x00\r\nPING\r\n", false, nil, ""},
	{"inline 64KB waits", strings.Repeat("a", 65536), false, nil, ""},
	{"too big inline request", strings.Repeat("a", 65537), false, nil, "too big inline request"},
	{"too big inline NULs", "PING\r\n" + strings.Repeat("\x00", 65537), false, [][]string{ping()}, "too big inline request"},
	{"unbalanced quotes", "PING\r\nPING \"a\r\nPING\r\n", false, [][]string{ping()}, "unbalanced quotes in request"},
	{"unauth *10 waits", "*10\r\n", true, nil, ""},
	{"unauth *11", "*11\r\n", true, nil, "unauthenticated multibulk length"},
	{"unauth *INT_MAX+1", "*2147483648\r\n", true, nil, "invalid multibulk length"},
	{"unauth *-5 skipped", "*-5\r\nPING\r\n", true, [][]string{ping()}, ""},
	{"unauth bulk 16384 waits", "*1\r\n$16384\r\n", true, nil, ""},
	{"unauth bulk 16385", "*1\r\n$16385\r\n", true, nil, "unauthenticated bulk length"},
	{"unauth bulk 512MB+1", "*1\r\n$536870913\r\n", true, nil, "invalid bulk length"},
	{"unauth pipeline", "PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$16385\r\n", true, [][]string{ping(), ping()}, "unauthenticated bulk length"},
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range readerErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			// Chunkings: whole, one byte at a time, and odd sizes. All give
			// the same result for these inputs.
			for _, sizes := range [][]int{{1 << 30}, {1}, {3, 7, 1, 64}} {
				rd := newReader(&chunkReader{data: []byte(tc.in), sizes: sizes})
				rd.setAuthenticated(!tc.unauth)
				out := readEverything(rd, len(tc.in)+2)
				if got, want := fmtCmds(out.cmds), fmtCmds(tc.cmds); got != want {
					t.Errorf("chunks %v: commands %s, want %s", sizes, got, want)
				}
				if got := errText(out.err); got != tc.err {
					t.Errorf("chunks %v: error %q, want %q", sizes, got, tc.err)
				}
				// The error sticks.
				if _, err := rd.readBatch(nil); err != out.err {
					t.Errorf("chunks %v: next call: %v, want %v", sizes, err, out.err)
				}
			}
		})
	}
}

// TestReaderErrorText checks the reply the connection sends.
func TestReaderErrorText(t *testing.T) {
	_, err := newReader(strings.NewReader("*1\r\n$-1\r\n")).readBatch(nil)
	if err == nil || err.Error() != "Protocol error: invalid bulk length" {
		t.Fatalf("err = %v", err)
	}
}

// TestReaderInlineNearLimit: Redis reads at most 16 KB at a time while it
// waits for a line and fails once more than 64 KB are buffered without one,
// so a 70000-byte count line sent at once is read whole (invalid multibulk
// length, as redis-server says), while trickled in it is too big.
func TestReaderInlineNearLimit(t *testing.T) {
	in := "*1" + strings.Repeat("1", 70000) + "\r\n"
	out := readEverything(newReader(strings.NewReader(in)), 10)
	if got := errText(out.err); got != "invalid multibulk length" {
		t.Errorf("whole: %q", got)
	}
	out = readEverything(newReader(&chunkReader{data: []byte(in), sizes: []int{1}}), 10)
	if got := errText(out.err); got != "too big mbulk count string" {
		t.Errorf("one byte at a time: %q", got)
	}
	// A 70000-byte inline line is accepted when it arrives at once.
	in = strings.Repeat("a", 70000) + "\r\nPING\r\n"
	out = readEverything(newReader(strings.NewReader(in)), 10)
	if len(out.cmds) != 2 || len(out.cmds[0][0]) != 70000 || errText(out.err) != "" {
		t.Errorf("70000-byte inline: %d commands, %v", len(out.cmds), out.err)
	}
}

// readerInlineCases are inline request lines and the arguments (or the
// error) redis-server 7.0.15 parses from them.
var readerInlineCases = []struct {
	line string
	args []string // nil: "unbalanced quotes in request"
}{
	{`a b  c`, []string{"a", "b", "c"}},
	{"\ta\tb\t", []string{"a", "b"}},
	{"a\vb", []string{"a\vb"}},
	{"\va \fb", []string{"a", "b"}},
	{"a\rb", []string{"a", "b"}},
	{`"a b"`, []string{"a b"}},
	{`"a\"b"`, []string{`a"b`}},
	{`'a b'`, []string{"a b"}},
	{`'a\'b'`, []string{"a'b"}},
	{`'a\nb'`, []string{`a\nb`}},
	{`"\n\r\t\b\a\\\q"`, []string{"\n\r\t\b\a\\q"}},
	{`"\x41\x4a\x4G\xzz\x"`, []string{"AJx4Gxzzx"}},
	{`"\x4"`, []string{"x4"}},
	{`"\xff\x00"`, []string{"\xff\x00"}},
	{`foo"bar"`, []string{"foobar"}},
	{`foo'bar'`, []string{"foobar"}},
	{`"foo"bar`, nil},
	{`'foo'bar`, nil},
	{"\"foo\"\vbar", []string{"foo", "bar"}},
	{"\"foo\"\rbar", []string{"foo", "bar"}},
	{`""`, []string{""}},
	{`''`, []string{""}},
	{`"" ""`, []string{"", ""}},
	{`"abc`, nil},
	{`'abc`, nil},
	{`"abc\"`, nil},
	{`a"b c"d`, nil},
	{`"a"b"`, nil},
	{"\xff\x80 x", []string{"\xff\x80", "x"}},
	{`a\"b`, nil},
	{`"\'"`, []string{"'"}},
	{`'\\'`, nil},
	{`'"'`, []string{`"`}},
	{`"'"`, []string{"'"}},
	{"\"a\rb\"", []string{"a\rb"}},
	{"\"a\tb\"", []string{"a\tb"}},
	{`"foo""bar"`, nil},
	{`"foo" "bar"`, []string{"foo", "bar"}},
	{`'a''b'`, nil},
	{`   `, []string{}},
}

func TestReaderInline(t *testing.T) {
	for _, tc := range readerInlineCases {
		t.Run(fmt.Sprintf("%q", tc.line), func(t *testing.T) {
			for _, sizes := range [][]int{{1 << 30}, {1}} {
				in := "RPUSH k " + tc.line + "\r\nPING\r\n"
				out := readEverything(newReader(&chunkReader{data: []byte(in), sizes: sizes}), len(in)+2)
				var want [][]string
				wantErr := ""
				if tc.args == nil {
					wantErr = "unbalanced quotes in request"
				} else {
					want = [][]string{append([]string{"RPUSH", "k"}, tc.args...), ping()}
				}
				if got := fmtCmds(out.cmds); got != fmtCmds(want) {
					t.Errorf("commands %s, want %s", got, fmtCmds(want))
				}
				if got := errText(out.err); got != wantErr {
					t.Errorf("error %q, want %q", got, wantErr)
				}
			}
		})
	}
}

// TestReaderBatch: one call returns every buffered command; the arguments
// stay valid until the next call and appending to them is harmless.
func TestReaderBatch(t *testing.T) {
	in := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nGE"
	rd := newReader(strings.NewReader(in))
	cmds, err := rd.readBatch(nil)
	if err != nil || len(cmds) != 3 {
		t.Fatalf("readBatch: %d commands, %v", len(cmds), err)
	}
	want := `["SET" "k" "v"]["GET" "k"]["GET" "k"]`
	got := func() string {
		var s [][]string
		for _, c := range cmds {
			var a []string
			for _, b := range c {
				a = append(a, string(b))
			}
			s = append(s, a)
		}
		return fmtCmds(s)
	}
	if got() != want {
		t.Fatalf("got %s", got())
	}
	_ = append(cmds[0], []byte("x"))
	_ = append(cmds[0][1], "xyz"...)
	if got() != want {
		t.Fatalf("appending changed the batch: %s", got())
	}
	if cmds, err = rd.readBatch(cmds); err != io.EOF || len(cmds) != 0 {
		t.Fatalf("at the end: %d commands, %v", len(cmds), err)
	}
}

// errAfterReader returns its data and err in the same Read.
type errAfterReader struct {
	data []byte
	err  error
}

func (e *errAfterReader) Read(p []byte) (int, error) {
	n := copy(p, e.data)
	e.data = e.data[n:]
	if len(e.data) == 0 {
		return n, e.err
	}
	return n, nil
}

func TestReaderReadErrors(t *testing.T) {
	boom := errors.New("boom")
	rd := newReader(&errAfterReader{data: []byte("PING\r\nPING\r\nPI"), err: boom})
	cmds, err := rd.readBatch(nil)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("first call: %d commands, %v", len(cmds), err)
	}
	if cmds, err = rd.readBatch(cmds); err != boom || len(cmds) != 0 {
		t.Fatalf("second call: %d commands, %v", len(cmds), err)
	}
	if _, err = rd.readBatch(cmds); err != boom {
		t.Fatalf("third call: %v", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestReaderNoProgress(t *testing.T) {
	if _, err := newReader(zeroReader{}).readBatch(nil); err != io.ErrNoProgress {
		t.Fatalf("err = %v", err)
	}
}

// TestReaderUnauthenticated: while unauthenticated the reader returns one
// command at a time, so the commands pipelined after AUTH get the limits
// that follow from it, as in Redis ("AUTH x\r\n*11\r\n..." works there).
func TestReaderUnauthenticated(t *testing.T) {
	in := "AUTH x\r\n*11\r\n" + strings.Repeat("$1\r\na\r\n", 11) + "PING\r\n"
	rd := newReader(strings.NewReader(in))
	rd.setAuthenticated(false)
	cmds, err := rd.readBatch(nil)
	if err != nil || len(cmds) != 1 || string(cmds[0][0]) != "AUTH" {
		t.Fatalf("first batch: %q, %v", cmds, err)
	}
	rd.setAuthenticated(true)
	cmds, err = rd.readBatch(cmds)
	if err != nil || len(cmds) != 2 || len(cmds[0]) != 11 {
		t.Fatalf("second batch: %q, %v", cmds, err)
	}

	rd = newReader(strings.NewReader(in))
	rd.setAuthenticated(false)
	rd.readBatch(nil)
	if _, err = rd.readBatch(nil); errText(err) != "unauthenticated multibulk length" {
		t.Fatalf("still unauthenticated: %v", err)
	}
}

// TestReaderDeclaredLength: a declared length allocates nothing by itself,
// the buffer grows with what arrives and shrinks once it is consumed.
func TestReaderDeclaredLength(t *testing.T) {
	rd := newReader(strings.NewReader("*1\r\n$536870912\r\n"))
	if _, err := rd.readBatch(nil); err != io.EOF {
		t.Fatal(err)
	}
	if len(rd.buf) > readerInitSize {
		t.Fatalf("buffer %d bytes after a bare 512 MB bulk header", len(rd.buf))
	}

	const part = 3 << 20
	in := "*1\r\n$536870912\r\n" + strings.Repeat("x", part)
	rd = newReader(&chunkReader{data: []byte(in), sizes: []int{1000}})
	if _, err := rd.readBatch(nil); err != io.EOF {
		t.Fatal(err)
	}
	if len(rd.buf) > 2*part {
		t.Fatalf("buffer %d bytes for %d received", len(rd.buf), part)
	}

	const big = 5 << 20
	in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + strconv.Itoa(big) + "\r\n" + strings.Repeat("v", big) + "\r\n"
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(in))
		pw.Write([]byte("PING\r\n"))
		pw.Close()
	}()
	rd = newReader(pr)
	cmds, err := rd.readBatch(nil)
	if err != nil || len(cmds) != 1 || len(cmds[0][2]) != big {
		t.Fatalf("big SET: %d commands, %v", len(cmds), err)
	}
	if len(rd.buf) > big+64<<10 {
		t.Fatalf("buffer %d bytes for a %d-byte bulk", len(rd.buf), big)
	}
	cmds, err = rd.readBatch(cmds)
	if err != nil || len(cmds) != 1 || string(cmds[0][0]) != "PING" {
		t.Fatalf("PING: %q, %v", cmds, err)
	}
	if len(rd.buf) != readerInitSize {
		t.Fatalf("buffer %d bytes once idle, want %d", len(rd.buf), readerInitSize)
	}
}

// TestReaderLinear: a large bulk and a command of many arguments trickled
// in small reads parse in linear time (a rescan per read would take hours).
func TestReaderLinear(t *testing.T) {
	const big = 16 << 20
	var in []byte
	in = append(in, "*2\r\n$3\r\nSET\r\n$"+strconv.Itoa(big)+"\r\n"...)
	in = append(in, bytes.Repeat([]byte{'v'}, big)...)
	in = append(in, "\r\n*200001\r\n$3\r\nDEL\r\n"...)
	for range 200000 {
		in = append(in, "$1\r\nk\r\n"...)
	}
	in = append(in, strings.Repeat("x", 60000)...) // a long inline line...
	in = append(in, "\n"...)
	start := time.Now()
	out := readEverything(newReader(&chunkReader{data: in, sizes: []int{64, 1, 100}}), 10)
	if out.err != io.EOF || len(out.cmds) != 3 || len(out.cmds[0][1]) != big || len(out.cmds[1]) != 200001 {
		t.Fatalf("%d commands, %v", len(out.cmds), out.err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestReaderAllocs: the steady state of a pipeline allocates nothing.
func TestReaderAllocs(t *testing.T) {
	chunk := pipelineChunk(16)
	rd := newReader(&repeatReader{data: chunk})
	var dst [][][]byte
	for range 1000 { // reach the largest batch
		dst, _ = rd.readBatch(dst)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		var err error
		dst, err = rd.readBatch(dst)
		if err != nil || len(dst) == 0 {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch", allocs)
	}
}

// repeatReader returns data on every Read, forever.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := copy(p, r.data[r.off:])
	r.off = (r.off + n) % len(r.data)
	return n, nil
}

// pipelineChunk is n SET commands as a client pipelines them.
func pipelineChunk(n int) []byte {
	var b []byte
	for i := range n {
		b = encodeCommand(b, [][]byte{[]byte("SET"), []byte("key:" + strconv.Itoa(i)), bytes.Repeat([]byte{'v'}, 32)})
	}
	return b
}

func BenchmarkReaderPipeline(b *testing.B) {
	chunk := pipelineChunk(16)
	rd := newReader(&repeatReader{data: chunk})
	var dst [][][]byte
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, err = rd.readBatch(dst)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// redisServers returns the addresses of two live redis-servers, one
// without a password and one started with "--requirepass x":
// SHOAL_REDIS_ADDR and SHOAL_REDIS_AUTH_ADDR when set, else two that it
// starts with testutil.StartRedis (stopped at the end of the test; a
// missing redis-server fails the test: apt-get install redis-server).
func redisServers(t *testing.T) (addr, authAddr string) {
	t.Helper()
	addr, authAddr = os.Getenv("SHOAL_REDIS_ADDR"), os.Getenv("SHOAL_REDIS_AUTH_ADDR")
	if addr != "" && authAddr != "" {
		return addr, authAddr
	}
	return testutil.StartRedis(t).Addr, testutil.StartRedis(t, "--requirepass", "x").Addr
}

// TestReaderAgainstRedis sends readerErrorCases and readerInlineCases to a
// live redis-server (see redisServers) and checks that it agrees with the
// tables.
func TestReaderAgainstRedis(t *testing.T) {
	addr, authAddr := redisServers(t)
	t.Run("errors", func(t *testing.T) {
		for _, tc := range readerErrorCases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				a := addr
				if tc.unauth {
					a = authAddr
				}
				reply := redisExchange(t, a, []byte(tc.in))
				// Every command in the tables is PING, or answered on one line.
				lines := strings.Split(reply, "\r\n")
				lines = lines[:len(lines)-1]
				gotErr := ""
				if n := len(lines); n > 0 && strings.HasPrefix(lines[n-1], "-ERR Protocol error: ") {
					gotErr = strings.TrimPrefix(lines[n-1], "-ERR Protocol error: ")
					lines = lines[:n-1]
				}
				if gotErr != tc.err {
					t.Errorf("redis error %q, table %q", gotErr, tc.err)
				}
				if len(lines) != len(tc.cmds) {
					t.Errorf("redis replied %q, table has %d commands", lines, len(tc.cmds))
				}
			})
		}
	})
	t.Run("inline", func(t *testing.T) {
		for i, tc := range readerInlineCases {
			t.Run(fmt.Sprintf("%q", tc.line), func(t *testing.T) {
				t.Parallel()
				key := fmt.Sprintf("shoal-reader-test-%d", i)
				in := "DEL " + key + "\r\nRPUSH " + key + " " + tc.line + "\r\n" +
					string(encodeCommand(nil, [][]byte{[]byte("LRANGE"), []byte(key), []byte("0"), []byte("-1")}))
				reply := redisExchange(t, addr, []byte(in))
				br := bufio.NewReader(strings.NewReader(reply))
				br.ReadString('\n') // DEL
				first, _ := br.ReadString('\n')
				if tc.args == nil {
					if first != "-ERR Protocol error: unbalanced quotes in request\r\n" {
						t.Errorf("redis: %q, table: unbalanced quotes", reply)
					}
					return
				}
				if len(tc.args) == 0 {
					br.ReadString('\n') // empty RPUSH: wrong number of arguments
				}
				var got []string
				if hdr, _ := br.ReadString('\n'); strings.HasPrefix(hdr, "*") {
					n, _ := strconv.Atoi(strings.TrimSpace(hdr[1:]))
					for range n {
						l, _ := br.ReadString('\n')
						size, _ := strconv.Atoi(strings.TrimSpace(l[1:]))
						b := make([]byte, size+2)
						io.ReadFull(br, b)
						got = append(got, string(b[:size]))
					}
				}
				if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.args) && !(len(got) == 0 && len(tc.args) == 0) {
					t.Errorf("redis: %q, table %q (reply %q)", got, tc.args, reply)
				}
			})
		}
	})
}

// redisExchange sends in and returns what the server replies until it
// closes the connection or stays silent for a while.
func redisExchange(t *testing.T, addr string, in []byte) string {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return ""
	}
	defer conn.Close()
	if _, err := conn.Write(in); err != nil {
		t.Error(err)
		return ""
	}
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := conn.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

// randomRequestParts are pieces of random pipelines for
// TestReaderRandomAgainstRedis. The only command name is PING, so whatever
// the pieces make, the server is left alone and every command gets one
// reply.
var randomRequestParts = []string{
	"*", "$", "0", "1", "2", "3", "4", "-", "\r", "\n", "\r\n", "\r\n", "PING", " ", "\t",
	"\v", "\"", "'", "\\", "x", "\\x4", "\x00", "\xff", "*0\r\n", "*1\r\n", "*2\r\n",
	"*-1\r\n", "*11\r\n", "$0\r\n", "$3\r\n", "$4\r\n", "$-1\r\n", "$16384\r\n",
	"$16385\r\n", "abc\r\n", "PING\r\n", "$4\r\nPING\r\n", "*1\r\n$4\r\nPING\r\n",
	"PING \"a b\"\r\n", "*2\r\n$4\r\nPING\r\n$3\r\nabc\r\n",
}

// TestReaderRandomAgainstRedis sends random pipelines to live redis-servers
// (see redisServers), with and without a password, and checks that the
// reader finds as many commands and the same protocol error, and the same
// argument where PING echoes one.
func TestReaderRandomAgainstRedis(t *testing.T) {
	addr, authAddr := redisServers(t)
	seed, n := uint64(time.Now().UnixNano()), 1000
	if v := os.Getenv("SHOAL_READER_SEED"); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SHOAL_READER_SEED=%q: %v", v, err)
		}
	}
	if v := os.Getenv("SHOAL_READER_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("SHOAL_READER_N=%q: %v", v, err)
		}
	}
	t.Logf("seed %d, %d pipelines (replay with SHOAL_READER_SEED=%d SHOAL_READER_N=%d)", seed, n, seed, n)
	rng := rand.New(rand.NewPCG(seed, 1))
	type job struct {
		in     string
		unauth bool
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for j := range jobs {
				a := addr
				if j.unauth {
					a = authAddr
				}
				replies, perr, ok := parseRedisReplies(redisExchange(t, a, []byte(j.in)))
				rd := newReader(strings.NewReader(j.in))
				rd.setAuthenticated(!j.unauth)
				out := readEverything(rd, len(j.in)+2)
				same := ok && perr == errText(out.err) && len(replies) == len(out.cmds)
				for i := 0; same && i < len(out.cmds); i++ {
					if c := out.cmds[i]; !j.unauth && len(c) == 2 && strings.EqualFold(c[0], "PING") {
						same = replies[i] == "$"+c[1]
					}
				}
				if !same {
					t.Errorf("%q (unauthenticated: %v): redis replied %q then error %q; reader: %s then %q",
						j.in, j.unauth, replies, perr, fmtCmds(out.cmds), errText(out.err))
				}
			}
		})
	}
	for i := range n {
		var b strings.Builder
		for range 1 + rng.IntN(12) {
			b.WriteString(randomRequestParts[rng.IntN(len(randomRequestParts))])
		}
		jobs <- job{b.String(), i%2 == 1}
	}
	close(jobs)
	wg.Wait()
}

// parseRedisReplies splits a reply stream into replies (bulk strings as
// "$" + content, errors as "-") and the final protocol error's message.
func parseRedisReplies(s string) (replies []string, protoErr string, ok bool) {
	br := bufio.NewReader(strings.NewReader(s))
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return replies, protoErr, true
		}
		if err != nil || len(line) < 3 {
			return replies, protoErr, false
		}
		line = strings.TrimSuffix(line, "\r\n")
		switch line[0] {
		case '+', ':':
			replies = append(replies, line)
		case '-':
			if m, found := strings.CutPrefix(line, "-ERR Protocol error: "); found {
				protoErr = m
			} else {
				replies = append(replies, "-")
			}
		case '$':
			n, err := strconv.Atoi(line[1:])
			if err != nil || n < 0 {
				return replies, protoErr, false
			}
			b := make([]byte, n+2)
			if _, err := io.ReadFull(br, b); err != nil {
				return replies, protoErr, false
			}
			replies = append(replies, "$"+string(b[:n]))
		default:
			return replies, protoErr, false
		}
	}
}

package integration

// Test-only helpers for the differential compatibility harness: starting
// redis-server and Shoal on free ports, a raw RESP2/RESP3 client that returns
// replies as the exact bytes the server wrote, and a small polling helper.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a server may take to answer PING.
	startTimeout = 10 * time.Second
	// ioTimeout bounds a single command round trip on a respConn.
	ioTimeout = 10 * time.Second
	// maxStartAttempts is how many free ports are tried before giving up
	// (another process may grab the port between probing and binding).
	maxStartAttempts = 5
)

// freePort asks the OS for a free TCP port on 127.0.0.1. The port is released
// before returning, so callers must tolerate losing a race for it.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("probe free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts a throw-away redis-server (no persistence) on a free port
// and returns its address. The server is killed when the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found in PATH (apt-get install redis-server): %v", err)
	}
	var lastErr error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		port := freePort(t)
		dir := t.TempDir()
		out := &lockedBuffer{}
		cmd := exec.Command(bin,
			"--save", "", "--appendonly", "no",
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--dir", dir, "--daemonize", "no", "--logfile", "")
		cmd.Stdout, cmd.Stderr = out, out
		cmd.WaitDelay = 2 * time.Second
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := launch(cmd, addr)
		if err != nil {
			lastErr = fmt.Errorf("attempt %d on %s: %v; output:\n%s", attempt+1, addr, err, out.String())
			continue
		}
		t.Cleanup(func() { p.stop(t, 0) })
		return addr
	}
	t.Fatalf("could not start redis-server: %v", lastErr)
	return ""
}

// shoalBinary returns the path of the Shoal binary: $SHOAL_BIN if set,
// otherwise ../bin/shoal relative to this package directory.
func shoalBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SHOAL_BIN"); p != "" {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "bin", "shoal"))
	if err != nil {
		t.Fatalf("resolve shoal binary path: %v", err)
	}
	return p
}

// startShoal starts `shoal server --port P --bind 127.0.0.1` on a free port and
// returns its address. Its stdout/stderr go to t.Log. On cleanup it gets
// SIGTERM, then SIGKILL after 5 seconds. A missing binary fails the test.
func startShoal(t *testing.T) string {
	t.Helper()
	bin := shoalBinary(t)
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		t.Fatalf("shoal binary not found at %s: run `make build` in the repository root first "+
			"(or point SHOAL_BIN at a built binary): %v", bin, err)
	}
	var lastErr error
	for attempt := 0; attempt < maxStartAttempts; attempt++ {
		port := freePort(t)
		cmd := exec.Command(bin, "server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1")
		cmd.Dir = t.TempDir()
		lw := newLogWriter(t, "shoal: ")
		cmd.Stdout, cmd.Stderr = lw, lw
		cmd.WaitDelay = 2 * time.Second
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		p, err := launch(cmd, addr)
		if err != nil {
			lw.close()
			lastErr = fmt.Errorf("attempt %d on %s: %v (see shoal output above)", attempt+1, addr, err)
			continue
		}
		t.Cleanup(func() {
			p.stop(t, 5*time.Second)
			lw.close()
		})
		return addr
	}
	t.Fatalf("could not start shoal: %v", lastErr)
	return ""
}

// againstRedis reports whether SHOAL_DIFF_AGAINST_REDIS asks for a second
// redis-server in place of Shoal (used to validate the harness and corpus).
func againstRedis() bool {
	v := os.Getenv("SHOAL_DIFF_AGAINST_REDIS")
	return v != "" && v != "0" && v != "false"
}

// startTarget starts the server under test: Shoal, or a second redis-server
// when SHOAL_DIFF_AGAINST_REDIS=1. The returned name is used in reports.
func startTarget(t *testing.T) (addr, name string) {
	t.Helper()
	if againstRedis() {
		return startRedis(t), "redis2"
	}
	return startShoal(t), "shoal"
}

// proc is a started server process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// launch starts cmd and waits until addr answers PING with +PONG. If the
// process exits or never answers, it is killed and an error returned.
func launch(cmd *exec.Cmd, addr string) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("process exited before answering PING: %v", p.err)
		default:
		}
		if lastErr = pingOnce(addr); lastErr == nil {
			return p, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-p.done
	return nil, fmt.Errorf("no PONG within %v: %v", startTimeout, lastErr)
}

// stop terminates the process: SIGTERM then, after grace, SIGKILL. A zero
// grace kills immediately.
func (p *proc) stop(t *testing.T, grace time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	if grace > 0 {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			return
		case <-time.After(grace):
			t.Logf("%s did not exit %v after SIGTERM; sending SIGKILL", filepath.Base(p.cmd.Path), grace)
		}
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

func pingOnce(addr string) error {
	c, err := dialRESP(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	raw, err := c.Do("PING")
	if err != nil {
		return err
	}
	if string(raw) != "+PONG\r\n" {
		return fmt.Errorf("PING replied %q", raw)
	}
	return nil
}

// lockedBuffer is a goroutine-safe bytes.Buffer for process output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// logWriter forwards complete lines to t.Log until closed; writes after close
// are dropped (t.Log must not be called after the test finished).
type logWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
	closed bool
}

func newLogWriter(t *testing.T, prefix string) *logWriter {
	return &logWriter{t: t, prefix: prefix}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.t.Log(w.prefix + string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *logWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed && len(w.buf) > 0 {
		w.t.Log(w.prefix + string(w.buf))
	}
	w.closed = true
	w.buf = nil
}

// eventually calls fn every 10ms until it returns nil, failing the test with
// fn's last error once timeout has passed. Use it instead of sleeps.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// respConn is a minimal RESP client that returns each reply as raw bytes.
type respConn struct {
	addr string
	conn net.Conn
	r    *bufio.Reader
}

func dialRESP(addr string) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &respConn{addr: addr, conn: c, r: bufio.NewReader(c)}, nil
}

// mustDial connects to addr and closes the connection on cleanup.
func mustDial(t *testing.T, addr string) *respConn {
	t.Helper()
	c, err := dialRESP(addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (c *respConn) Close() error { return c.conn.Close() }

// encodeCommand renders args as a RESP array of bulk strings.
func encodeCommand(args []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// Do sends one command and returns the raw bytes of exactly one reply.
func (c *respConn) Do(args ...string) ([]byte, error) {
	if err := c.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(encodeCommand(args)); err != nil {
		return nil, fmt.Errorf("write to %s: %w", c.addr, err)
	}
	raw, _, err := readReply(c.r)
	if err != nil {
		return nil, fmt.Errorf("read from %s: %w", c.addr, err)
	}
	return raw, nil
}

// DoValue is Do plus a parsed view of the reply.
func (c *respConn) DoValue(args ...string) ([]byte, *respValue, error) {
	raw, err := c.Do(args...)
	if err != nil {
		return nil, nil, err
	}
	v, err := parseReply(raw)
	return raw, v, err
}

// Hello switches the connection protocol with HELLO <proto> and returns the
// raw reply.
func (c *respConn) Hello(proto int) ([]byte, error) {
	return c.Do("HELLO", strconv.Itoa(proto))
}

// respValue is a parsed RESP2/RESP3 reply. Kind is the type byte ('+', '-',
// ':', '$', '*', '_', ',', '#', '(', '!', '=', '%', '~', '>'). Str holds the
// payload of simple types and blobs; Elems the children of aggregates (maps
// hold keys and values alternately). Null marks $-1 / *-1. Attr holds a RESP3
// attribute ('|') that preceded the value, if any. Raw is the exact encoding.
type respValue struct {
	Kind  byte
	Str   string
	Null  bool
	Elems []*respValue
	Attr  *respValue
	Raw   []byte
}

func (v *respValue) isError() bool { return v.Kind == '-' || v.Kind == '!' }

// parseReply parses one complete reply from raw.
func parseReply(raw []byte) (*respValue, error) {
	_, v, err := readReply(bufio.NewReader(bytes.NewReader(raw)))
	return v, err
}

// maxNesting guards against runaway recursion on malformed input.
const maxNesting = 64

// readReply reads exactly one reply (including nested aggregates and any
// leading RESP3 attribute) and returns its raw bytes and parsed form.
func readReply(r *bufio.Reader) ([]byte, *respValue, error) {
	var raw bytes.Buffer
	v, err := readValue(r, &raw, 0)
	if err != nil {
		return raw.Bytes(), nil, err
	}
	return raw.Bytes(), v, nil
}

func readLine(r *bufio.Reader, raw *bytes.Buffer) (string, error) {
	line, err := r.ReadString('\n')
	raw.WriteString(line)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("protocol error: line not terminated by CRLF: %q", line)
	}
	return line[:len(line)-2], nil
}

func readValue(r *bufio.Reader, raw *bytes.Buffer, depth int) (*respValue, error) {
	if depth > maxNesting {
		return nil, errors.New("protocol error: nesting too deep")
	}
	start := raw.Len()
	line, err := readLine(r, raw)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, errors.New("protocol error: empty line")
	}
	kind, rest := line[0], line[1:]
	v := &respValue{Kind: kind}
	finish := func() *respValue {
		v.Raw = append([]byte(nil), raw.Bytes()[start:]...)
		return v
	}
	switch kind {
	case '+', '-', ':', ',', '#', '(':
		v.Str = rest
		return finish(), nil
	case '_':
		v.Null = true
		return finish(), nil
	case '$', '!', '=':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("protocol error: bad length %q", line)
		}
		if n < 0 {
			v.Null = true
			return finish(), nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			raw.Write(buf)
			return nil, err
		}
		raw.Write(buf)
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return nil, fmt.Errorf("protocol error: blob of %d bytes not followed by CRLF", n)
		}
		v.Str = string(buf[:n])
		return finish(), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(rest)
		if err != nil {
			return nil, fmt.Errorf("protocol error: bad count %q", line)
		}
		if n < 0 {
			v.Null = true
			return finish(), nil
		}
		count := n
		if kind == '%' || kind == '|' {
			count = 2 * n
		}
		for i := 0; i < count; i++ {
			e, err := readValue(r, raw, depth+1)
			if err != nil {
				return nil, err
			}
			v.Elems = append(v.Elems, e)
		}
		if kind == '|' {
			// An attribute annotates the reply that follows it.
			next, err := readValue(r, raw, depth+1)
			if err != nil {
				return nil, err
			}
			next.Attr = finish()
			next.Raw = append([]byte(nil), raw.Bytes()[start:]...)
			return next, nil
		}
		return finish(), nil
	default:
		return nil, fmt.Errorf("protocol error: unknown reply type %q in %q", kind, line)
	}
}

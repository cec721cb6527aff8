package integration

// Test-only helpers for the differential compatibility harness: the server
// under test, and a raw RESP2/RESP3 connection that returns replies as the
// exact bytes the server wrote (parsed by respclient.Parse). Processes,
// ports and polling come from internal/testutil.

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

// ioTimeout bounds a single command round trip on a respConn.
const ioTimeout = 10 * time.Second

// startShoal starts `shoal server` with extra flags on a free port and
// returns its address; see testutil.StartShoal.
func startShoal(t *testing.T, extra ...string) string {
	t.Helper()
	return testutil.StartShoal(t, extra...).Addr
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
		return testutil.StartRedis(t).Addr, "redis2"
	}
	return startShoal(t), "shoal"
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
	b, _ := respclient.AppendCommand(nil, anys(args)...) // strings always encode
	return b
}

func anys(args []string) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = a
	}
	return out
}

// Do sends one command and returns the raw bytes of exactly one reply.
func (c *respConn) Do(args ...string) ([]byte, error) {
	if err := c.conn.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(encodeCommand(args)); err != nil {
		return nil, fmt.Errorf("write to %s: %w", c.addr, err)
	}
	v, err := respclient.ReadRaw(c.r)
	if err != nil {
		return nil, fmt.Errorf("read from %s: %w", c.addr, err)
	}
	return v.Raw, nil
}

// DoValue is Do plus a parsed view of the reply.
func (c *respConn) DoValue(args ...string) ([]byte, respclient.Value, error) {
	raw, err := c.Do(args...)
	if err != nil {
		return nil, respclient.Value{}, err
	}
	v, err := respclient.Parse(raw)
	return raw, v, err
}

// Hello switches the connection protocol with HELLO <proto> and returns the
// raw reply.
func (c *respConn) Hello(proto int) ([]byte, error) {
	return c.Do("HELLO", strconv.Itoa(proto))
}

// readReply reads exactly one reply (with any RESP3 attribute before it)
// from r and returns its raw bytes and parsed form.
func readReply(r *bufio.Reader) ([]byte, respclient.Value, error) {
	v, err := respclient.ReadRaw(r)
	return v.Raw, v, err
}

// text returns a reply's string or integer as text ("" for other kinds).
func text(v respclient.Value) string {
	s, _ := v.Text()
	return s
}

// Package respclient is a small RESP2/RESP3 client for Shoal's tools: the
// admin CLI and tests. It sends commands one at a time on one connection and
// parses every reply type of both protocol versions into a Value. It has no
// pooling, pipelining or cluster redirection; use go-redis for that.
//
//	c, err := respclient.Dial(ctx, "127.0.0.1:7000", 5*time.Second)
//	if err != nil { ... }
//	defer c.Close()
//	v, err := c.Do(ctx, "CLUSTER", "INFO")
//
// Do returns a *ReplyError for an error reply, so callers cannot mistake one
// for data; the reply is also returned as a Value of KindError.
package respclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// Conn is one connection to a RESP server. Its methods are safe for
// concurrent use; commands are serialized.
type Conn struct {
	mu      sync.Mutex
	nc      net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	broken  error // set once the stream can no longer be trusted
}

// Dial connects to addr (host:port). timeout bounds the dial and, when the
// context of a later Do has no deadline, each command's round trip; zero
// means no bound beyond ctx.
func Dial(ctx context.Context, addr string, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewConn(nc, timeout), nil
}

// DialTLS is Dial over TLS with cfg (nil: Dial); the handshake is bounded
// by timeout and ctx too.
func DialTLS(ctx context.Context, addr string, timeout time.Duration, cfg *tls.Config) (*Conn, error) {
	if cfg == nil {
		return Dial(ctx, addr, timeout)
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: cfg}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewConn(nc, timeout), nil
}

// NewConn wraps an established connection; see Dial for timeout.
func NewConn(nc net.Conn, timeout time.Duration) *Conn {
	return &Conn{
		nc:      nc,
		r:       bufio.NewReader(nc),
		w:       bufio.NewWriter(nc),
		timeout: timeout,
	}
}

// Addr returns the remote address of the connection.
func (c *Conn) Addr() string { return c.nc.RemoteAddr().String() }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Do sends one command and returns its reply. Arguments may be string,
// []byte, int, int64, uint64 or float64. Out-of-band RESP3 pushes and
// attributes before the reply are skipped. An error reply is returned both
// as the Value and as a *ReplyError; a network or protocol error leaves the
// connection unusable and is returned for every later call.
func (c *Conn) Do(ctx context.Context, args ...any) (Value, error) {
	if len(args) == 0 {
		return Value{}, errors.New("respclient: no command")
	}
	buf, err := appendCommand(nil, args)
	if err != nil {
		return Value{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.broken != nil {
		return Value{}, c.broken
	}
	v, err := c.roundTrip(ctx, buf)
	if err != nil {
		var re *ReplyError
		if !errors.As(err, &re) {
			c.broken = err
			c.nc.Close()
		}
	}
	return v, err
}

func (c *Conn) roundTrip(ctx context.Context, cmd []byte) (Value, error) {
	deadline, ok := ctx.Deadline()
	if !ok && c.timeout > 0 {
		deadline = time.Now().Add(c.timeout)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return Value{}, err
	}
	// Cancelling ctx interrupts blocked reads and writes by moving the
	// deadline into the past.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.w.Write(cmd); err != nil {
		return Value{}, c.ioErr(ctx, err)
	}
	if err := c.w.Flush(); err != nil {
		return Value{}, c.ioErr(ctx, err)
	}
	for {
		v, err := readValue(c.r, 0)
		if err != nil {
			return Value{}, c.ioErr(ctx, err)
		}
		if v.Kind == KindPush {
			continue
		}
		if v.IsError() {
			return v, v.Err()
		}
		return v, nil
	}
}

// ioErr reports the context's error when it caused the failure: a
// cancellation, or a timeout at the context's deadline (the connection's
// deadline may fire just before the context's own timer).
func (c *Conn) ioErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("respclient: %w (%v)", ctxErr, err)
	}
	var ne net.Error
	if d, ok := ctx.Deadline(); ok && errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(d) {
		return fmt.Errorf("respclient: %w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// appendCommand encodes args as a RESP array of bulk strings.
func appendCommand(dst []byte, args []any) ([]byte, error) {
	dst = append(dst, '*')
	dst = strconv.AppendInt(dst, int64(len(args)), 10)
	dst = append(dst, '\r', '\n')
	for i, a := range args {
		var s []byte
		switch a := a.(type) {
		case string:
			s = []byte(a)
		case []byte:
			s = a
		case int:
			s = strconv.AppendInt(nil, int64(a), 10)
		case int64:
			s = strconv.AppendInt(nil, a, 10)
		case uint64:
			s = strconv.AppendUint(nil, a, 10)
		case float64:
			s = strconv.AppendFloat(nil, a, 'g', -1, 64)
		default:
			return nil, fmt.Errorf("respclient: argument %d has unsupported type %T", i, a)
		}
		dst = append(dst, '$')
		dst = strconv.AppendInt(dst, int64(len(s)), 10)
		dst = append(dst, '\r', '\n')
		dst = append(dst, s...)
		dst = append(dst, '\r', '\n')
	}
	return dst, nil
}

// AppendCommand appends args, encoded as Do sends them (a RESP array of bulk
// strings), to dst.
func AppendCommand(dst []byte, args ...any) ([]byte, error) { return appendCommand(dst, args) }

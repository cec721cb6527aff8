package respclient_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/proc"
	"github.com/shoalcache/shoal/internal/respclient"
	"github.com/shoalcache/shoal/internal/testutil"
)

func dial(t *testing.T, addr string) *respclient.Conn {
	t.Helper()
	c, err := respclient.Dial(context.Background(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func do(t *testing.T, c *respclient.Conn, args ...any) respclient.Value {
	t.Helper()
	v, err := c.Do(context.Background(), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

func expect(t *testing.T, c *respclient.Conn, want string, kind byte, args ...any) {
	t.Helper()
	v := do(t, c, args...)
	if v.Kind != kind || v.String() != want {
		t.Errorf("%v = kind %q %s, want kind %q %s", args, v.Kind, v, kind, want)
	}
}

func TestRedisRESP2(t *testing.T) {
	c := dial(t, testutil.StartRedis(t).Addr)
	expect(t, c, "PONG", respclient.KindSimple, "PING")
	expect(t, c, "OK", respclient.KindSimple, "SET", "k", []byte("v\r\nw"))
	expect(t, c, `"v\r\nw"`, respclient.KindBulk, "GET", "k")
	expect(t, c, "(nil)", respclient.KindNull, "GET", "missing")
	expect(t, c, "5", respclient.KindInt, "INCRBY", "n", 5)
	expect(t, c, `["v\r\nw" (nil) "5"]`, respclient.KindArray, "MGET", "k", "missing", "n")
	expect(t, c, `[1 [2 "x" [3]] "y"]`, respclient.KindArray, "EVAL", "return {1, {2, 'x', {3}}, 'y'}", 0)
	expect(t, c, "(nil)", respclient.KindNull, "BLPOP", "nolist", 0.01)
	do(t, c, "HSET", "h", "f", "1")
	expect(t, c, `["f" "1"]`, respclient.KindArray, "HGETALL", "h")
}

func TestRedisRESP3(t *testing.T) {
	c := dial(t, testutil.StartRedis(t).Addr)
	hello := do(t, c, "HELLO", 3)
	if hello.Kind != respclient.KindMap {
		t.Fatalf("HELLO 3 = %s, want a map", hello)
	}
	if p, ok := hello.Get("proto"); !ok || p.Int != 3 {
		t.Errorf("HELLO 3 proto = %s", p)
	}
	expect(t, c, "(nil)", respclient.KindNull, "GET", "missing")
	do(t, c, "HSET", "h", "f", "1", "g", "2")
	expect(t, c, `{"f": "1" "g": "2"}`, respclient.KindMap, "HGETALL", "h")
	do(t, c, "SADD", "s", "a")
	expect(t, c, `["a"]`, respclient.KindSet, "SMEMBERS", "s")
	do(t, c, "ZADD", "z", "1.5", "m")
	expect(t, c, "1.5", respclient.KindDouble, "ZSCORE", "z", "m")
	expect(t, c, "true", respclient.KindBool, "EVAL", "redis.setresp(3); return true", 0)
	expect(t, c, "123456789012345678901234567890", respclient.KindBigNumber,
		"EVAL", "redis.setresp(3); return {big_number='123456789012345678901234567890'}", 0)
	expect(t, c, `{"a": [1 {"b": true}]}`, respclient.KindMap,
		"EVAL", "redis.setresp(3); return {map={a={1, {map={b=true}}}}}", 0)
	info := do(t, c, "INFO", "server")
	if info.Kind != respclient.KindVerbatim || info.Format != "txt" || len(info.Str) < 10 || info.Str[0] != '#' {
		t.Errorf("INFO = kind %q format %q %.20q", info.Kind, info.Format, info.Str)
	}
}

func TestRedisErrors(t *testing.T) {
	c := dial(t, testutil.StartRedis(t).Addr)
	v, err := c.Do(context.Background(), "NOSUCHCOMMAND", "x")
	var re *respclient.ReplyError
	if !errors.As(err, &re) || re.Code() != "ERR" || v.Kind != respclient.KindError {
		t.Fatalf("unknown command: %s, %v", v, err)
	}
	do(t, c, "SET", "k", "v")
	if _, err := c.Do(context.Background(), "INCR", "k"); !errors.As(err, &re) {
		t.Fatalf("INCR of a string: %v", err)
	}
	if _, err := c.Do(context.Background(), "CLUSTER", "INFO"); err == nil ||
		err.Error() != "ERR This instance has cluster support disabled" {
		t.Fatalf("CLUSTER INFO on a standalone server: %v", err)
	}
	// An error reply leaves the connection usable.
	expect(t, c, "PONG", respclient.KindSimple, "PING")
	// The error comes back with the value too.
	v, err = c.Do(context.Background(), "EVAL", "return redis.error_reply('MYERR boom')", 0)
	if !errors.As(err, &re) || re.Code() != "MYERR" || v.Kind != respclient.KindError || v.Err() == nil {
		t.Errorf("error_reply: %s, %v", v, err)
	}
}

// TestContextCancel checks that a context deadline interrupts a blocked
// command and that the connection then refuses further use.
func TestContextCancel(t *testing.T) {
	c := dial(t, testutil.StartRedis(t).Addr)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(ctx, "BLPOP", "nolist", 5)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("BLPOP with a 100ms context: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
	if _, err := c.Do(context.Background(), "PING"); err == nil {
		t.Error("a connection broken by a cancel accepted another command")
	}
}

// TestPushSkipped checks that Do skips RESP3 pushes that arrive before a
// command's reply: a fake server answers each command with two pushes (the
// second after an attribute) and then the reply.
func TestPushSkipped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	served := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		defer nc.Close()
		r := bufio.NewReader(nc)
		for i := 0; ; i++ {
			cmd, err := respclient.Read(r)
			if err != nil {
				served <- nil // the client closed the connection
				return
			}
			if len(cmd.Array) != 2 || cmd.Array[0].Str != "GET" {
				served <- errors.New("unexpected command " + cmd.String())
				return
			}
			key := cmd.Array[1].Str
			reply := ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\n" + key + "\r\n" +
				"|1\r\n+ttl\r\n:3\r\n>3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n" +
				"$3\r\nv:" + key + "\r\n"
			if _, err := nc.Write([]byte(reply)); err != nil {
				served <- err
				return
			}
		}
	}()
	c := dial(t, ln.Addr().String())
	expect(t, c, `"v:a"`, respclient.KindBulk, "GET", "a")
	expect(t, c, `"v:b"`, respclient.KindBulk, "GET", "b")
	c.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

func TestDialRefused(t *testing.T) {
	addr := proc.LocalAddr(testutil.FreePort(t))
	if _, err := respclient.Dial(context.Background(), addr, time.Second); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}

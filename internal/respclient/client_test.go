package respclient

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// startRedis starts a throw-away redis-server on a port chosen by the OS and
// returns its address; it is stopped when the test ends.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	for attempt := 0; attempt < 5; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", t.TempDir(), "--logfile", "")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			select {
			case <-exited:
				deadline = time.Time{} // lost the port; try another
				continue
			default:
			}
			if c, err := Dial(context.Background(), addr, time.Second); err == nil {
				_, err = c.Do(context.Background(), "PING")
				c.Close()
				if err == nil {
					t.Cleanup(func() { cmd.Process.Kill(); <-exited })
					return addr
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Kill()
		<-exited
	}
	t.Fatal("could not start redis-server")
	return ""
}

func dial(t *testing.T, addr string) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func do(t *testing.T, c *Conn, args ...any) Value {
	t.Helper()
	v, err := c.Do(context.Background(), args...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return v
}

func expect(t *testing.T, c *Conn, want string, kind byte, args ...any) {
	t.Helper()
	v := do(t, c, args...)
	if v.Kind != kind || v.String() != want {
		t.Errorf("%v = kind %q %s, want kind %q %s", args, v.Kind, v, kind, want)
	}
}

func TestRedisRESP2(t *testing.T) {
	c := dial(t, startRedis(t))
	expect(t, c, "PONG", KindSimple, "PING")
	expect(t, c, "OK", KindSimple, "SET", "k", []byte("v\r\nw"))
	expect(t, c, `"v\r\nw"`, KindBulk, "GET", "k")
	expect(t, c, "(nil)", KindNull, "GET", "missing")
	expect(t, c, "5", KindInt, "INCRBY", "n", 5)
	expect(t, c, `["v\r\nw" (nil) "5"]`, KindArray, "MGET", "k", "missing", "n")
	expect(t, c, `[1 [2 "x" [3]] "y"]`, KindArray, "EVAL", "return {1, {2, 'x', {3}}, 'y'}", 0)
	expect(t, c, "(nil)", KindNull, "BLPOP", "nolist", 0.01)
	do(t, c, "HSET", "h", "f", "1")
	expect(t, c, `["f" "1"]`, KindArray, "HGETALL", "h")
}

func TestRedisRESP3(t *testing.T) {
	c := dial(t, startRedis(t))
	hello := do(t, c, "HELLO", 3)
	if hello.Kind != KindMap {
		t.Fatalf("HELLO 3 = %s, want a map", hello)
	}
	if p, ok := hello.Get("proto"); !ok || p.Int != 3 {
		t.Errorf("HELLO 3 proto = %s", p)
	}
	expect(t, c, "(nil)", KindNull, "GET", "missing")
	do(t, c, "HSET", "h", "f", "1", "g", "2")
	expect(t, c, `{"f": "1" "g": "2"}`, KindMap, "HGETALL", "h")
	do(t, c, "SADD", "s", "a")
	expect(t, c, `["a"]`, KindSet, "SMEMBERS", "s")
	do(t, c, "ZADD", "z", "1.5", "m")
	expect(t, c, "1.5", KindDouble, "ZSCORE", "z", "m")
	expect(t, c, "true", KindBool, "EVAL", "redis.setresp(3); return true", 0)
	expect(t, c, "123456789012345678901234567890", KindBigNumber,
		"EVAL", "redis.setresp(3); return {big_number='123456789012345678901234567890'}", 0)
	expect(t, c, `{"a": [1 {"b": true}]}`, KindMap,
		"EVAL", "redis.setresp(3); return {map={a={1, {map={b=true}}}}}", 0)
	info := do(t, c, "INFO", "server")
	if info.Kind != KindVerbatim || info.Format != "txt" || len(info.Str) < 10 || info.Str[0] != '#' {
		t.Errorf("INFO = kind %q format %q %.20q", info.Kind, info.Format, info.Str)
	}
}

func TestRedisErrors(t *testing.T) {
	c := dial(t, startRedis(t))
	v, err := c.Do(context.Background(), "NOSUCHCOMMAND", "x")
	var re *ReplyError
	if !errors.As(err, &re) || re.Code() != "ERR" || v.Kind != KindError {
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
	expect(t, c, "PONG", KindSimple, "PING")
	// The error comes back with the value too.
	v, err = c.Do(context.Background(), "EVAL", "return redis.error_reply('MYERR boom')", 0)
	if !errors.As(err, &re) || re.Code() != "MYERR" || v.Kind != KindError || v.Err() == nil {
		t.Errorf("error_reply: %s, %v", v, err)
	}
}

// TestContextCancel checks that a context deadline interrupts a blocked
// command and that the connection then refuses further use.
func TestContextCancel(t *testing.T) {
	c := dial(t, startRedis(t))
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

// TestPushSkipped checks that Do skips RESP3 pushes (client-side caching
// invalidations here) that arrive before a command's reply.
func TestPushSkipped(t *testing.T) {
	addr := startRedis(t)
	c, other := dial(t, addr), dial(t, addr)
	do(t, c, "HELLO", 3)
	do(t, c, "CLIENT", "TRACKING", "on")
	do(t, c, "SET", "k", "1")
	do(t, c, "GET", "k")
	do(t, other, "SET", "k", "2")
	time.Sleep(50 * time.Millisecond) // let the invalidation arrive first
	expect(t, c, `"2"`, KindBulk, "GET", "k")
}

func TestDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := Dial(context.Background(), addr, time.Second); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}

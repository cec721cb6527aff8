package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

func cmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

// TestParseCommandPrefixes checks that every proper prefix of a request is
// reported incomplete (n == 0, no error) and the whole one complete, with
// the right arguments.
func TestParseCommandPrefixes(t *testing.T) {
	req := cmd("SET", "key:1", strings.Repeat("v", 120), "PX", "100000")
	for i := 0; i < len(req); i++ {
		_, n, err := parseCommand([]byte(req[:i]), nil)
		if n != 0 || err != nil {
			t.Fatalf("prefix %q: n=%d err=%v, want incomplete", req[:i], n, err)
		}
	}
	args, n, err := parseCommand([]byte(req+"*1\r\n"), nil)
	if err != nil || n != len(req) {
		t.Fatalf("whole: n=%d err=%v, want %d", n, err, len(req))
	}
	want := []string{"SET", "key:1", strings.Repeat("v", 120), "PX", "100000"}
	if len(args) != len(want) {
		t.Fatalf("args %q, want %q", args, want)
	}
	for i := range want {
		if string(args[i]) != want[i] {
			t.Fatalf("arg %d = %q, want %q", i, args[i], want[i])
		}
	}
}

func TestParseCommandErrors(t *testing.T) {
	for _, in := range []string{
		"GET k\r\n", "*x\r\n", "*-1\r\n", "*1\r\n:3\r\n", "*1\r\n$-1\r\n",
		"*1\r\n$3\r\nabcd\r\n", "*1\r\n$3\r\nabc\rx", "*1\n",
	} {
		_, n, err := parseCommand([]byte(in), nil)
		if err == nil {
			t.Errorf("%q: n=%d, no error", in, n)
		}
	}
}

// script is a pipeline of requests and the replies Redis gives them.
func script() (reqs, replies string) {
	big := strings.Repeat("x", 200_000) // larger than any engine's read buffer
	steps := []struct{ req, reply string }{
		{cmd("PING"), "+PONG\r\n"},
		{cmd("GET", "a"), "$-1\r\n"},
		{cmd("SET", "a", "1"), "+OK\r\n"},
		{cmd("get", "a"), "$1\r\n1\r\n"},
		{cmd("SET", "b", big), "+OK\r\n"},
		{cmd("GET", "b"), "$200000\r\n" + big + "\r\n"},
		{cmd("SET", "a", "2", "NX"), "$-1\r\n"},
		{cmd("SET", "a", "3", "XX", "GET"), "$1\r\n1\r\n"},
		{cmd("GET", "a"), "$1\r\n3\r\n"},
		{cmd("SET", "a"), "-ERR wrong number of arguments\r\n"},
		{cmd("PING", "hi"), "$2\r\nhi\r\n"},
	}
	for _, s := range steps {
		reqs += s.req
		replies += s.reply
	}
	return reqs, replies
}

// TestProcessSplitInput feeds the script to process in random chunks, as
// an engine receives them, keeping the unconsumed tail as engines do.
func TestProcessSplitInput(t *testing.T) {
	seed := testutil.Seed(t)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	reqs, want := script()
	for round := 0; round < 20; round++ {
		st := shard.New()
		var buf, out []byte
		var args [][]byte
		for rest := reqs; len(rest) > 0; {
			k := 1 + rng.IntN(min(len(rest), 1+rng.IntN(3000)))
			buf = append(buf, rest[:k]...)
			rest = rest[k:]
			var n int
			var closeAfter bool
			n, out, args, closeAfter = process(st, buf, out, args)
			if closeAfter {
				t.Fatalf("round %d: closed", round)
			}
			buf = append(buf[:0], buf[n:]...)
		}
		if len(buf) != 0 || string(out) != want {
			t.Fatalf("round %d: %d bytes left, replies differ (%d vs %d bytes): %.200q", round, len(buf), len(out), len(want), out)
		}
	}
}

func startEngine(t *testing.T, cfg Config) string {
	t.Helper()
	if cfg.Engine == "gnet" {
		cfg.Addr = "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	} else {
		cfg.Addr = "127.0.0.1:0"
	}
	addr, stop, errc, err := start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		select {
		case err := <-errc:
			t.Logf("engine stopped: %v", err)
		case <-time.After(10 * time.Second):
			t.Errorf("engine did not stop")
		}
	})
	return addr
}

var engineConfigs = []Config{
	{Engine: "goroutine"},
	{Engine: "goroutine", Handoff: true},
	{Engine: "gnet", Loops: 1},
	{Engine: "gnet"},
	{Engine: "gnet", Handoff: true},
	{Engine: "gnet", Handoff: true, CommitDelay: time.Millisecond},
	{Engine: "evio", Loops: 1},
}

func (c Config) name() string {
	return fmt.Sprintf("%s-loops%d-handoff%v-%v", c.Engine, c.Loops, c.Handoff, c.CommitDelay)
}

// TestEngineSplitRequests sends requests cut at every kind of place
// (inside the count, a length, a CRLF, a value): each cut first travels
// with a complete PING whose reply proves that the server has read it,
// then the rest follows. Then the whole script pipelined in one write.
func TestEngineSplitRequests(t *testing.T) {
	for _, cfg := range engineConfigs {
		t.Run(cfg.name(), func(t *testing.T) {
			addr := startEngine(t, cfg)
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(nc)
			expect := func(want string) {
				t.Helper()
				got := make([]byte, len(want))
				if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
					t.Fatalf("got %q (%v), want %q", got, err, want)
				}
			}
			set := cmd("SET", "key", "value-12345")
			for cut := 1; cut < len(set); cut++ {
				if _, err := nc.Write([]byte(cmd("PING") + set[:cut])); err != nil {
					t.Fatal(err)
				}
				expect("+PONG\r\n")
				if _, err := nc.Write([]byte(set[cut:] + cmd("GET", "key"))); err != nil {
					t.Fatal(err)
				}
				expect("+OK\r\n$11\r\nvalue-12345\r\n")
			}
			reqs, replies := script()
			if _, err := nc.Write([]byte(reqs)); err != nil {
				t.Fatal(err)
			}
			expect(replies)
		})
	}
}

// TestEngineGoRedisPipeline runs pipelines from several go-redis clients at
// once and checks every reply.
func TestEngineGoRedisPipeline(t *testing.T) {
	for _, cfg := range engineConfigs {
		t.Run(cfg.name(), func(t *testing.T) {
			addr := startEngine(t, cfg)
			rdb := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, PoolSize: 4, DisableIdentity: true})
			t.Cleanup(func() { rdb.Close() })
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			errs := make(chan error, 4)
			for w := 0; w < 4; w++ {
				go func() {
					pipe := rdb.Pipeline()
					sets := make([]*redis.StatusCmd, 500)
					gets := make([]*redis.StringCmd, 500)
					for i := range sets {
						k := fmt.Sprintf("w%d:k%d", w, i)
						sets[i] = pipe.Set(ctx, k, bytes.Repeat([]byte{byte('a' + i%26)}, i*7), 0)
						gets[i] = pipe.Get(ctx, k)
					}
					if _, err := pipe.Exec(ctx); err != nil {
						errs <- err
						return
					}
					for i := range gets {
						want := strings.Repeat(string(rune('a'+i%26)), i*7)
						if sets[i].Val() != "OK" || gets[i].Val() != want {
							errs <- fmt.Errorf("worker %d key %d: set %q get %d bytes", w, i, sets[i].Val(), len(gets[i].Val()))
							return
						}
					}
					errs <- nil
				}()
			}
			for w := 0; w < 4; w++ {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestHandoffKeepsOrder sends a write, then (in a second segment, while the
// write waits out a 50 ms simulated commit) a read of the same key: the
// read must not overtake the write.
func TestHandoffKeepsOrder(t *testing.T) {
	for _, engine := range []string{"goroutine", "gnet"} {
		t.Run(engine, func(t *testing.T) {
			addr := startEngine(t, Config{Engine: engine, Handoff: true, CommitDelay: 50 * time.Millisecond})
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(nc)
			for i := 0; i < 5; i++ {
				v := strconv.Itoa(i)
				if _, err := nc.Write([]byte(cmd("SET", "k", v))); err != nil {
					t.Fatal(err)
				}
				if _, err := nc.Write([]byte(cmd("GET", "k"))); err != nil {
					t.Fatal(err)
				}
				want := "+OK\r\n$1\r\n" + v + "\r\n"
				got := make([]byte, len(want))
				if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
					t.Fatalf("round %d: got %q (%v), want %q", i, got, err, want)
				}
			}
		})
	}
}

package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/raftfsm"
)

// Network fuzzing: random and mutated traffic at every port of a 3-node
// cluster (RESP, cluster port with and without the secret, gossip TCP and
// UDP) while a writer does acknowledged INCRs and SETs. Afterwards every
// node still answers, the cluster serves, and no acknowledged write is
// lost. Seeded: SHOAL_SEED replays the traffic (timing aside);
// SHOAL_NETFUZZ_SECONDS sets how long the fuzzers run (default 20).

// fuzzRESPSeeds are commands the RESP fuzzer mutates: none of them, nor a
// byte-level mutation of them, touches the writer's keys (fz*).
var fuzzRESPSeeds = [][]string{
	{"PING"}, {"ECHO", "hello"}, {"GET", "junk:a"}, {"SET", "junk:b", "value"}, {"INCR", "junk:c"},
	{"HSET", "junk:h", "f", "v"}, {"LPUSH", "junk:l", "a", "b"}, {"MGET", "junk:a", "junk:b"},
	{"CLUSTER", "SLOTS"}, {"CLUSTER", "NODES"}, {"INFO", "raft"}, {"HELLO", "3"}, {"MULTI"}, {"EXEC"},
	{"EXPIRE", "junk:b", "100"}, {"SHOAL", "GROUPS"}, {"SUBSCRIBE", "junk"}, {"CLIENT", "INFO"},
}

// mutate returns b with a few random edits: byte flips, inserted or
// deleted runs, truncation, duplicated chunks, or a large length prefix.
func mutate(r *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	for n := 1 + r.IntN(4); n > 0; n-- {
		if len(out) == 0 {
			out = append(out, byte(r.IntN(256)))
			continue
		}
		i := r.IntN(len(out))
		switch r.IntN(7) {
		case 0:
			out[i] ^= byte(1 << r.IntN(8))
		case 1:
			out[i] = byte(r.IntN(256))
		case 2:
			out = append(out[:i], append(randBytes(r, 1+r.IntN(8)), out[i:]...)...)
		case 3:
			out = append(out[:i], out[min(len(out), i+1+r.IntN(8)):]...)
		case 4:
			out = out[:i]
		case 5:
			j := r.IntN(len(out))
			lo, hi := min(i, j), max(i, j)
			out = append(out[:hi], append(append([]byte(nil), out[lo:hi]...), out[hi:]...)...)
		case 6:
			big := []string{"*2147483647\r\n", "$4294967296\r\n", "*-3\r\n", "$-7\r\n", "*99999999\r\n", ">3\r\n", "%1000000\r\n"}
			out = append(out[:i], append([]byte(big[r.IntN(len(big))]), out[i:]...)...)
		}
	}
	return out
}

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sendAndDrop writes b on a new TCP connection to addr, reads what comes
// back for a moment and closes.
func sendAndDrop(addr string, b []byte) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
	_, _ = c.Write(b)
	var buf [4096]byte
	for {
		if _, err := c.Read(buf[:]); err != nil {
			return
		}
	}
}

// fuzzRESP is one round at a RESP port: random bytes, or mutated
// commands (possibly pipelined).
func fuzzRESP(r *rand.Rand, addr string) {
	if r.IntN(4) == 0 {
		sendAndDrop(addr, randBytes(r, 1+r.IntN(2048)))
		return
	}
	var b []byte
	for n := 1 + r.IntN(5); n > 0; n-- {
		b = append(b, encodeCommand(fuzzRESPSeeds[r.IntN(len(fuzzRESPSeeds))])...)
	}
	if r.IntN(5) > 0 {
		b = mutate(r, b)
	}
	sendAndDrop(addr, b)
}

// muxHeader is the SHL1 header of stream name.
func muxHeader(name string) []byte {
	return append(append([]byte("SHL1"), byte(len(name))), name...)
}

// fuzzCluster is one round at a cluster port: random bytes, a mutated
// header, or a header for a real stream followed by garbage; with the
// secret (secret != nil) the garbage follows a completed handshake, so
// it reaches the stream's protocol (raft, meta-rpc, group-rpc).
func fuzzCluster(r *rand.Rand, addr string, groups []string, secret *raftfsm.Mux) {
	streams := append([]string{"meta", raftfsm.StreamMetaRPC, "group-rpc", "nope", ""}, groups...)
	name := streams[r.IntN(len(streams))]
	switch r.IntN(4) {
	case 0:
		sendAndDrop(addr, randBytes(r, 1+r.IntN(512)))
	case 1:
		sendAndDrop(addr, mutate(r, append(muxHeader(name), randBytes(r, r.IntN(128))...)))
	default:
		if name == "" {
			name = "meta"
		}
		var payload []byte
		switch name {
		case raftfsm.StreamMetaRPC, "group-rpc":
			body := []byte(`{"op":"epoch"}`)
			if name == "group-rpc" { // a status request: op 2..4, group id
				body = append([]byte{byte(2 + r.IntN(3)), 2}, "g0"...)
			}
			body = mutate(r, body)
			var hdr [8]byte
			binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
			binary.BigEndian.PutUint32(hdr[4:], 500)
			if r.IntN(4) == 0 {
				binary.BigEndian.PutUint32(hdr[:], r.Uint32()) // a lying length
			}
			payload = append(hdr[:], body...)
		default: // raft: an rpc type byte and msgpack-ish garbage
			payload = append([]byte{byte(r.IntN(4))}, randBytes(r, r.IntN(256))...)
		}
		if secret == nil {
			sendAndDrop(addr, append(muxHeader(name), payload...))
			return
		}
		c, err := secret.DialStream(addr, name, time.Second)
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		_, _ = c.Write(payload)
		var buf [1024]byte
		_, _ = c.Read(buf[:])
	}
}

// fuzzGossip is one round at a gossip port: a random UDP packet, or a TCP
// connection with random bytes (memberlist's message types first, now and
// then).
func fuzzGossip(r *rand.Rand, addr string) {
	b := randBytes(r, 1+r.IntN(1400))
	if r.IntN(2) == 0 {
		b[0] = byte(r.IntN(16)) // a memberlist message type
	}
	if r.IntN(2) == 0 {
		if c, err := net.Dial("udp", addr); err == nil {
			_, _ = c.Write(b)
			c.Close()
		}
		return
	}
	sendAndDrop(addr, b)
}

// TestNetworkFuzz: see the comment at the top of the file.
func TestNetworkFuzz(t *testing.T) {
	seed := testutil.Seed(t)
	dur := 20 * time.Second
	if s := os.Getenv("SHOAL_NETFUZZ_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SHOAL_NETFUZZ_SECONDS=%q is not a positive number", s)
		}
		dur = time.Duration(n) * time.Second
	}
	tc := testutil.StartShoalCluster(t, 3, "--cluster-secret", authSecret, "--gossip-key", gossipKey1)
	var respAddrs, clusterAddrs, gossipAddrs []string
	for _, nd := range tc.Nodes {
		respAddrs = append(respAddrs, nd.Addr)
		clusterAddrs = append(clusterAddrs, clusterPortOf(t, nd))
		for i, a := range nd.Args {
			if a == "--gossip-port" {
				gossipAddrs = append(gossipAddrs, "127.0.0.1:"+nd.Args[i+1])
			}
		}
	}
	var groups []string
	for g := range groupStates(t, tc.Nodes[0].Addr) {
		groups = append(groups, g)
	}
	secrets, _ := raftfsm.ParseClusterSecrets(authSecret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	withSecret := raftfsm.NewMux(ln, nil, nil) // dials only
	withSecret.RequireSecret(secrets)
	defer withSecret.Close()

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: respAddrs, MaxRedirects: 16})
	defer client.Close()

	// The writer: INCR on 20 counters, SET of unique keys; it records what
	// was acknowledged.
	const counters = 20
	var acked, tried [counters]atomic.Int64
	var setMu sync.Mutex
	setAcked := map[string]string{}
	var writes, writeErrs atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		wr := rand.New(rand.NewPCG(seed, 1))
		for i := 0; ctx.Err() == nil; i++ {
			opCtx, opCancel := context.WithTimeout(context.Background(), 3*time.Second)
			if wr.IntN(2) == 0 {
				k := wr.IntN(counters)
				tried[k].Add(1)
				if err := client.Incr(opCtx, fmt.Sprintf("fz:c:%d", k)).Err(); err == nil {
					acked[k].Add(1)
				} else {
					writeErrs.Add(1)
				}
			} else {
				k, v := fmt.Sprintf("fz:s:%d", i), strconv.Itoa(wr.IntN(1e9))
				if err := client.Set(opCtx, k, v, 0).Err(); err == nil {
					setMu.Lock()
					setAcked[k] = v
					setMu.Unlock()
				} else {
					writeErrs.Add(1)
				}
			}
			opCancel()
			writes.Add(1)
		}
	}()

	// The fuzzers: two at the RESP ports, two at the cluster ports (one
	// with the secret), one at the gossip ports.
	var rounds atomic.Int64
	fuzzer := func(stream uint64, round func(r *rand.Rand)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, stream))
			for ctx.Err() == nil {
				round(r)
				rounds.Add(1)
			}
		}()
	}
	pick := func(r *rand.Rand, s []string) string { return s[r.IntN(len(s))] }
	fuzzer(10, func(r *rand.Rand) { fuzzRESP(r, pick(r, respAddrs)) })
	fuzzer(11, func(r *rand.Rand) { fuzzRESP(r, pick(r, respAddrs)) })
	fuzzer(20, func(r *rand.Rand) { fuzzCluster(r, pick(r, clusterAddrs), groups, nil) })
	fuzzer(21, func(r *rand.Rand) { fuzzCluster(r, pick(r, clusterAddrs), groups, withSecret) })
	fuzzer(30, func(r *rand.Rand) { fuzzGossip(r, pick(r, gossipAddrs)) })
	wg.Wait()
	t.Logf("%d fuzz rounds, %d writes (%d failed) in %v", rounds.Load(), writes.Load(), writeErrs.Load(), dur)
	if writes.Load()-writeErrs.Load() < 10 {
		t.Fatalf("only %d acknowledged writes: the cluster hardly served during the fuzzing", writes.Load()-writeErrs.Load())
	}

	// Every node is alive and the cluster serves.
	for _, a := range respAddrs {
		conn, err := dialRESP(a)
		if err != nil {
			t.Fatalf("node %s is gone after the fuzzing: %v", a, err)
		}
		_, v, err := conn.DoValue("PING")
		conn.Close()
		if err != nil || text(v) != "PONG" {
			t.Fatalf("PING %s: %v %v", a, text(v), err)
		}
	}
	tc.WaitOK(30 * time.Second)

	// No acknowledged write is lost: each counter is at least its
	// acknowledged INCRs (at most the attempted ones), each acknowledged
	// SET is readable.
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	for k := 0; k < counters; k++ {
		var got int64
		testutil.Eventually(t, 20*time.Second, "read counter", func() error {
			v, err := client.Get(rctx, fmt.Sprintf("fz:c:%d", k)).Int64()
			if err == redis.Nil {
				v, err = 0, nil
			}
			got = v
			return err
		})
		if got < acked[k].Load() || got > tried[k].Load() {
			t.Fatalf("counter %d = %d; acknowledged %d, attempted %d", k, got, acked[k].Load(), tried[k].Load())
		}
	}
	for k, v := range setAcked {
		var got string
		testutil.Eventually(t, 20*time.Second, "read "+k, func() error {
			var err error
			got, err = client.Get(rctx, k).Result()
			return err
		})
		if got != v {
			t.Fatalf("%s = %q, acknowledged %q", k, got, v)
		}
	}
	t.Logf("%d counters and %d acknowledged SETs intact", counters, len(setAcked))
}

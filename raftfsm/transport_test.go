package raftfsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
)

// countingLayer wraps a stream layer and counts the writes on its
// connections.
type countingLayer struct {
	raft.StreamLayer
	writes atomic.Int64
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(b)
}

func (l *countingLayer) Accept() (net.Conn, error) {
	c, err := l.StreamLayer.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, &l.writes}, nil
}

func (l *countingLayer) Dial(a raft.ServerAddress, d time.Duration) (net.Conn, error) {
	c, err := l.StreamLayer.Dial(a, d)
	if err != nil {
		return nil, err
	}
	return countingConn{c, &l.writes}, nil
}

// newShoalTransport starts a Transport on its own Mux (stream "g1") and
// returns it with the layer counting its writes.
func newShoalTransport(t *testing.T, m *Mux) (*Transport, *countingLayer) {
	t.Helper()
	if m == nil {
		m = newTestMux(t)
	}
	l, err := m.Layer("g1")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingLayer{StreamLayer: l}
	cfg := DefaultTransportConfig()
	cfg.Stream = cl
	cfg.Pipeline = true
	cfg.Timeout = 10 * time.Second
	cfg.Logger = testutil.Logger(t)
	tr, err := NewTransport(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, cl
}

var testHeader = raft.RPCHeader{ProtocolVersion: 3, ID: []byte("node-1"), Addr: []byte("127.0.0.1:7000")}

// sampleRequests returns one request of each kind with every field set.
func sampleRequests() []any {
	at := time.Unix(0, 1_700_000_000_123_456_789)
	return []any{
		&raft.AppendEntriesRequest{RPCHeader: testHeader, Term: 7, Leader: []byte("leader"), PrevLogEntry: 100, PrevLogTerm: 6,
			LeaderCommitIndex: 99, Entries: []*raft.Log{
				{Index: 101, Term: 7, Type: raft.LogCommand, Data: []byte("set k v"), Extensions: []byte("ext"), AppendedAt: at},
				{Index: 102, Term: 7, Type: raft.LogConfiguration, Data: bytes.Repeat([]byte{0xff}, 300)},
				{Index: 103, Term: 7, Type: raft.LogNoop, Data: []byte{}},
			}},
		&raft.RequestVoteRequest{RPCHeader: testHeader, Term: 8, Candidate: []byte("cand"), LastLogIndex: 1 << 40, LastLogTerm: 7, LeadershipTransfer: true},
		&raft.RequestPreVoteRequest{RPCHeader: testHeader, Term: 9, LastLogIndex: 55, LastLogTerm: 3},
		&raft.TimeoutNowRequest{RPCHeader: testHeader},
	}
}

// sampleResponse returns a response to req with every field set.
func sampleResponse(req any) any {
	switch req.(type) {
	case *raft.AppendEntriesRequest:
		return &raft.AppendEntriesResponse{RPCHeader: testHeader, Term: 7, LastLog: 103, Success: true, NoRetryBackoff: true}
	case *raft.RequestVoteRequest:
		return &raft.RequestVoteResponse{RPCHeader: testHeader, Term: 8, Peers: []byte("peers"), Granted: true}
	case *raft.RequestPreVoteRequest:
		return &raft.RequestPreVoteResponse{RPCHeader: testHeader, Term: 9, Granted: true}
	case *raft.InstallSnapshotRequest:
		return &raft.InstallSnapshotResponse{RPCHeader: testHeader, Term: 10, Success: true}
	case *raft.TimeoutNowRequest:
		return &raft.TimeoutNowResponse{RPCHeader: testHeader}
	}
	return nil
}

// call sends req with the Transport method of its type.
func call(tr *Transport, target raft.ServerAddress, req any) (any, error) {
	switch r := req.(type) {
	case *raft.AppendEntriesRequest:
		var resp raft.AppendEntriesResponse
		return &resp, tr.AppendEntries("peer", target, r, &resp)
	case *raft.RequestVoteRequest:
		var resp raft.RequestVoteResponse
		return &resp, tr.RequestVote("peer", target, r, &resp)
	case *raft.RequestPreVoteRequest:
		var resp raft.RequestPreVoteResponse
		return &resp, tr.RequestPreVote("peer", target, r, &resp)
	case *raft.TimeoutNowRequest:
		var resp raft.TimeoutNowResponse
		return &resp, tr.TimeoutNow("peer", target, r, &resp)
	}
	return nil, errors.New("unknown request")
}

// TestTransportRoundTrips sends every RPC and compares every field of the
// request raft receives and of the response the caller gets, then an
// error answer.
func TestTransportRoundTrips(t *testing.T) {
	a, _ := newShoalTransport(t, nil)
	b, _ := newShoalTransport(t, nil)
	for _, req := range sampleRequests() {
		done := make(chan any, 1)
		go func() {
			rpc := <-b.Consumer()
			done <- rpc.Command
			rpc.Respond(sampleResponse(rpc.Command), nil)
		}()
		resp, err := call(a, b.LocalAddr(), req)
		if err != nil {
			t.Fatalf("%T: %v", req, err)
		}
		if got := <-done; !reflect.DeepEqual(got, req) {
			t.Fatalf("received %#v\nsent %#v", got, req)
		}
		if want := sampleResponse(req); !reflect.DeepEqual(resp, want) {
			t.Fatalf("response %#v\nwant %#v", resp, want)
		}
	}
	go func() {
		rpc := <-b.Consumer()
		rpc.Respond(nil, errors.New("no leader here"))
	}()
	_, err := call(a, b.LocalAddr(), &raft.TimeoutNowRequest{RPCHeader: testHeader})
	if err == nil || err.Error() != "no leader here" {
		t.Fatalf("error answer: got %v", err)
	}
	// The connection survives an error answer.
	go func() {
		rpc := <-b.Consumer()
		rpc.Respond(sampleResponse(rpc.Command), nil)
	}()
	if _, err := call(a, b.LocalAddr(), &raft.TimeoutNowRequest{RPCHeader: testHeader}); err != nil {
		t.Fatal(err)
	}
}

// TestTransportNoPipelineByDefault: without TransportConfig.Pipeline the
// transport tells raft it has no pipelines, so raft replicates with
// AppendEntries.
func TestTransportNoPipelineByDefault(t *testing.T) {
	m := newTestMux(t)
	tr, err := m.Transport("g1", testutil.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	b, _ := newShoalTransport(t, nil)
	if p, err := tr.AppendEntriesPipeline("b", b.LocalAddr()); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline = %v, %v; want ErrPipelineReplicationNotSupported", p, err)
	}
}

// TestTransportPipeline sends many AppendEntries in flight on a pipeline
// and checks each answer matches its request, in order.
func TestTransportPipeline(t *testing.T) {
	a, _ := newShoalTransport(t, nil)
	b, bl := newShoalTransport(t, nil)
	const n = 2000
	go func() {
		for rpc := range b.Consumer() {
			r := rpc.Command.(*raft.AppendEntriesRequest)
			rpc.Respond(&raft.AppendEntriesResponse{Term: r.Term, LastLog: r.PrevLogEntry + 1, Success: true}, nil)
		}
	}()
	p, err := a.AppendEntriesPipeline("b", b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	errc := make(chan error, 1)
	go func() {
		var first error // keep draining after it, so that the sender never blocks
		for i := range n {
			f := <-p.Consumer()
			if err := f.Error(); err != nil && first == nil {
				first = err
			}
			if (f.Request().PrevLogEntry != uint64(i) || f.Response().LastLog != uint64(i)+1 || !f.Response().Success) && first == nil {
				first = fmt.Errorf("answer %d: request %d, answer %+v", i, f.Request().PrevLogEntry, *f.Response())
			}
		}
		errc <- first
	}()
	for i := range n {
		req := &raft.AppendEntriesRequest{RPCHeader: testHeader, Term: 3, PrevLogEntry: uint64(i), PrevLogTerm: 3,
			Entries: []*raft.Log{{Index: uint64(i) + 1, Term: 3, Data: []byte("x")}}}
		if _, err := p.AppendEntries(req, &raft.AppendEntriesResponse{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline answers did not all arrive")
	}
	t.Logf("receiver wrote %d times for %d answers", bl.writes.Load(), n)
}

// recConn records the writes made on it.
type recConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, bytes.Clone(b))
	c.mu.Unlock()
	return len(b), nil
}

func (c *recConn) SetWriteDeadline(time.Time) error { return nil }
func (c *recConn) Close() error                     { return nil }

func (c *recConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

// TestTransportAnswerCoalesces: the writer goroutine writes the answers
// ready together in one write, and writes what it has before it waits for
// an answer that is not ready, so that none waits for a later one.
func TestTransportAnswerCoalesces(t *testing.T) {
	tr := &Transport{cfg: TransportConfig{Timeout: time.Minute}, shutdown: make(chan struct{})}
	conn := &recConn{}
	queue := make(chan pendingResp, 100)
	var unwritten atomic.Int64
	done := make(chan struct{})
	answered := func() chan raft.RPCResponse {
		ch := make(chan raft.RPCResponse, 1)
		ch <- raft.RPCResponse{Response: &raft.AppendEntriesResponse{Term: 1, Success: true}}
		return ch
	}
	for range 50 {
		unwritten.Add(1)
		queue <- pendingResp{typ: rpcAppendEntries, ch: answered()}
	}
	late := make(chan raft.RPCResponse, 1)
	unwritten.Add(1)
	queue <- pendingResp{typ: rpcAppendEntries, ch: late}
	go tr.answer(conn, queue, &unwritten, done)
	testutil.Until(t, 10*time.Second, "the 50 ready answers written", func() bool { return conn.count() > 0 })
	if got := conn.count(); got != 1 || unwritten.Load() != 1 {
		t.Fatalf("%d writes, %d unwritten for 50 answers ready together and one not ready; want 1 and 1", got, unwritten.Load())
	}
	for i, b := 0, conn.writes[0]; i < 50; i++ {
		if len(b) < frameHeader || b[4] != rpcAppendEntries|respFlag {
			t.Fatalf("answer %d of the write is not an AppendEntries answer", i)
		}
		b = b[4+int(b[3]):]
		if i == 49 && len(b) != 0 {
			t.Fatalf("%d bytes after 50 answers", len(b))
		}
	}
	late <- raft.RPCResponse{Response: &raft.AppendEntriesResponse{}}
	close(queue)
	<-done
	if got := conn.count(); got != 2 || unwritten.Load() != 0 {
		t.Fatalf("%d writes, %d unwritten at the end; want 2 and 0", got, unwritten.Load())
	}
}

// TestTransportHeartbeat: heartbeats go to the heartbeat handler on the
// connection's goroutine, even while nobody reads the consumer channel.
func TestTransportHeartbeat(t *testing.T) {
	a, _ := newShoalTransport(t, nil)
	b, _ := newShoalTransport(t, nil)
	var beats atomic.Int32
	b.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 4, Success: true}, nil)
	})
	hb := &raft.AppendEntriesRequest{RPCHeader: testHeader, Term: 4}
	var resp raft.AppendEntriesResponse
	for range 3 {
		if err := a.AppendEntries("b", b.LocalAddr(), hb, &resp); err != nil {
			t.Fatal(err)
		}
	}
	if beats.Load() != 3 || !resp.Success || resp.Term != 4 {
		t.Fatalf("handler saw %d heartbeats, resp %+v", beats.Load(), resp)
	}
	// An AppendEntries with entries is not a heartbeat: it goes to raft.
	go func() {
		rpc := <-b.Consumer()
		rpc.Respond(&raft.AppendEntriesResponse{Term: 4, LastLog: 1}, nil)
	}()
	req := &raft.AppendEntriesRequest{RPCHeader: testHeader, Term: 4, Entries: []*raft.Log{{Index: 1, Term: 4}}}
	if err := a.AppendEntries("b", b.LocalAddr(), req, &resp); err != nil || resp.LastLog != 1 {
		t.Fatalf("AppendEntries: %+v %v", resp, err)
	}
	if beats.Load() != 3 {
		t.Fatal("entries went to the heartbeat handler")
	}
}

// TestTransportInstallSnapshot streams a multi-MiB snapshot, then checks the
// connection carries the next RPC, also after raft read only part of a
// snapshot.
func TestTransportInstallSnapshot(t *testing.T) {
	a, _ := newShoalTransport(t, nil)
	b, _ := newShoalTransport(t, nil)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	data := make([]byte, 5<<20+123)
	rand.New(rand.NewSource(seed)).Read(data)
	want := sha256.Sum256(data)
	req := &raft.InstallSnapshotRequest{RPCHeader: testHeader, SnapshotVersion: 1, Term: 10, Leader: []byte("l"),
		LastLogIndex: 500, LastLogTerm: 9, Peers: []byte("p"), Configuration: []byte("conf"), ConfigurationIndex: 400,
		Size: int64(len(data))}
	for _, readAll := range []bool{true, false} {
		got := make(chan error, 1)
		go func() {
			rpc := <-b.Consumer()
			r := rpc.Command.(*raft.InstallSnapshotRequest)
			var err error
			if !reflect.DeepEqual(r, req) {
				err = errors.New("request fields differ")
			}
			if readAll {
				h := sha256.New()
				if _, e := io.Copy(h, rpc.Reader); e != nil || !bytes.Equal(h.Sum(nil), want[:]) {
					err = errors.New("snapshot bytes differ")
				}
			} else {
				_, _ = io.ReadFull(rpc.Reader, make([]byte, 1000))
			}
			got <- err
			rpc.Respond(sampleResponse(r), nil)
		}()
		var resp raft.InstallSnapshotResponse
		if err := a.InstallSnapshot("b", b.LocalAddr(), req, &resp, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&resp, sampleResponse(req)) {
			t.Fatalf("response %+v", resp)
		}
		go func() {
			rpc := <-b.Consumer()
			rpc.Respond(sampleResponse(rpc.Command), nil)
		}()
		if _, err := call(a, b.LocalAddr(), &raft.RequestPreVoteRequest{RPCHeader: testHeader, Term: 1}); err != nil {
			t.Fatalf("RPC after a snapshot (read all %v): %v", readAll, err)
		}
	}
}

// TestTransportClose: Close fails the RPCs and pipelined requests in
// progress on both sides and stops the transport.
func TestTransportClose(t *testing.T) {
	a, _ := newShoalTransport(t, nil)
	b, _ := newShoalTransport(t, nil) // its consumer is never read
	p, err := a.AppendEntriesPipeline("b", b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.AppendEntries(&raft.AppendEntriesRequest{RPCHeader: testHeader, Term: 1, Entries: []*raft.Log{{Index: 1}}}, &raft.AppendEntriesResponse{})
	if err != nil {
		t.Fatal(err)
	}
	voted := make(chan error, 1)
	go func() {
		_, err := call(a, b.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: testHeader, Term: 2})
		voted <- err
	}()
	b.Close()
	select {
	case err := <-voted:
		if err == nil {
			t.Fatal("a vote to a closed transport succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not unblock an RPC in progress")
	}
	fut := make(chan error, 1)
	go func() { fut <- f.Error() }()
	select {
	case err := <-fut:
		if err == nil {
			t.Fatal("a pipelined request to a closed transport succeeded")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not fail a pipelined request")
	}
	a.Close()
	if _, err := a.AppendEntriesPipeline("b", b.LocalAddr()); err == nil {
		t.Fatal("a closed transport opened a pipeline")
	}
	if _, err := p.AppendEntries(&raft.AppendEntriesRequest{Term: 1}, &raft.AppendEntriesResponse{}); err == nil {
		t.Fatal("a pipeline of a closed transport took a request")
	}
}

// TestTransportGarbage: a peer that sends garbage has its connection
// dropped, and the transport keeps serving others.
func TestTransportGarbage(t *testing.T) {
	m := newTestMux(t)
	b, _ := newShoalTransport(t, m)
	a, _ := newShoalTransport(t, nil)
	frame, _ := appendRequest(nil, &raft.RequestVoteRequest{RPCHeader: testHeader, Term: 2})
	bad := [][]byte{
		[]byte("\x00\x01hello"), // wrong preamble
		append([]byte{transportMagic, transportVersion}, 0xff, 0xff, 0xff, 0xff, rpcAppendEntries),                                // 4 GiB frame
		append([]byte{transportMagic, transportVersion}, 0, 0, 0, 3, 99, 1, 2),                                                    // unknown type
		append([]byte{transportMagic, transportVersion}, frame[:len(frame)-1]...),                                                 // truncated frame
		append(append([]byte{transportMagic, transportVersion}, frame[:4]...), append([]byte{rpcAppendEntries}, frame[5:]...)...), // wrong type for the body
	}
	for i, g := range bad {
		c, err := m.DialStream(m.Addr().String(), "g1", 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(g); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			c.(interface{ CloseWrite() error }).CloseWrite()
		}
		if n, err := c.Read(make([]byte, 16)); err == nil {
			t.Fatalf("garbage %d: read %d bytes, want the connection dropped", i, n)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("garbage %d: connection not dropped", i)
		}
		c.Close()
	}
	go func() {
		rpc := <-b.Consumer()
		rpc.Respond(sampleResponse(rpc.Command), nil)
	}()
	if _, err := call(a, b.LocalAddr(), &raft.RequestVoteRequest{RPCHeader: testHeader, Term: 2}); err != nil {
		t.Fatalf("RPC after garbage: %v", err)
	}
}

// TestTransportDecodeTruncated: every strict prefix of a valid frame's body
// fails to decode, and the full body decodes.
func TestTransportDecodeTruncated(t *testing.T) {
	reqs := append(sampleRequests(), &raft.InstallSnapshotRequest{RPCHeader: testHeader, Size: 5, Configuration: []byte("c")})
	for _, req := range reqs {
		f, _ := appendRequest(nil, req)
		typ, body := f[4], f[5:]
		for i := range len(body) {
			if _, err := decodeRequest(typ, body[:i]); err == nil {
				t.Fatalf("%T: prefix %d of %d decoded", req, i, len(body))
			}
		}
		got, err := decodeRequest(typ, body)
		if err != nil || !reflect.DeepEqual(got, req) {
			t.Fatalf("%T: %v", req, err)
		}
		if _, err := decodeRequest(typ, append(bytes.Clone(body), 0)); err == nil {
			t.Fatalf("%T: trailing byte accepted", req)
		}
		resp := sampleResponse(req)
		rf := appendResponse(nil, typ, resp, "oops")
		out := reflect.New(reflect.TypeOf(resp).Elem()).Interface()
		if e, err := decodeResponse(rf[4]&^respFlag, rf[5:], out); err != nil || e != "oops" || !reflect.DeepEqual(out, resp) {
			t.Fatalf("%T response: %v %q", resp, err, e)
		}
	}
}

// TestTransportMuxSecretTLS: the transport works over a Mux with a cluster
// secret and mutual TLS, and a peer with another secret gets no answer.
func TestTransportMuxSecretTLS(t *testing.T) {
	ca := testutil.NewTLSCA(t, "ca")
	SetClusterTLS(testutil.TLSLoader(t, ca.Issue(t, "node")))
	t.Cleanup(func() { SetClusterTLS(nil) })
	var trs []*Transport
	for _, s := range []string{secretA, secretA, secretB} {
		secrets, err := ParseClusterSecrets(s)
		if err != nil {
			t.Fatal(err)
		}
		m := newTestMux(t)
		m.RequireSecret(secrets)
		tr, _ := newShoalTransport(t, m)
		trs = append(trs, tr)
	}
	var served sync.WaitGroup
	served.Add(1)
	go func() {
		defer served.Done()
		rpc := <-trs[1].Consumer()
		rpc.Respond(sampleResponse(rpc.Command), nil)
	}()
	for _, req := range sampleRequests()[:1] {
		resp, err := call(trs[0], trs[1].LocalAddr(), req)
		if err != nil || !reflect.DeepEqual(resp, sampleResponse(req)) {
			t.Fatalf("over TLS with the secret: %+v %v", resp, err)
		}
	}
	served.Wait()
	if _, err := call(trs[2], trs[1].LocalAddr(), &raft.RequestVoteRequest{Term: 1}); err == nil {
		t.Fatal("a peer with another secret was answered")
	}
}

// TestTransportPeerCache: EncodePeer and DecodePeer keep the last address
// they converted and must still convert every other one correctly.
func TestTransportPeerCache(t *testing.T) {
	tr, _ := newShoalTransport(t, nil)
	for _, addr := range []raft.ServerAddress{"10.0.0.1:7000", "10.0.0.1:7000", "10.0.0.2:7000", "", "10.0.0.1:7000"} {
		b := tr.EncodePeer("n1", addr)
		if string(b) != string(addr) {
			t.Fatalf("EncodePeer(%q) = %q", addr, b)
		}
		if got := tr.DecodePeer(b); got != addr {
			t.Fatalf("DecodePeer(%q) = %q", b, got)
		}
		// A decoded address must not alias the caller's bytes, which raft
		// may reuse.
		buf := []byte(addr)
		got := tr.DecodePeer(buf)
		for i := range buf {
			buf[i] = 'x'
		}
		if got != addr {
			t.Fatalf("DecodePeer's result changed with its input: %q, want %q", got, addr)
		}
	}
}

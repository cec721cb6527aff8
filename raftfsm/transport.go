package raftfsm

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// RaftTransport is what a group's replica needs from its transport and
// what the VoteGuard wraps: raft's Transport with Close and pre-votes.
// hashicorp's *raft.NetworkTransport and Shoal's *Transport satisfy it.
type RaftTransport interface {
	raft.Transport
	raft.WithClose
	raft.WithPreVote
}

var (
	_ RaftTransport = (*Transport)(nil)
	_ RaftTransport = (*raft.NetworkTransport)(nil)
)

// Transport names accepted by Mux.UseTransport and --raft-transport.
const (
	TransportShoal     = "shoal"
	TransportHashicorp = "hashicorp"
)

// TransportConfig configures a Transport.
type TransportConfig struct {
	// Stream carries the connections (Mux.Layer). Required.
	Stream raft.StreamLayer
	// MaxPool is how many idle connections per peer are kept for RPCs sent
	// one at a time (heartbeats, votes, entries outside a pipeline).
	MaxPool int
	// Timeout bounds each RPC's I/O (InstallSnapshot: scaled by its size,
	// one Timeout per 256 KiB) and writes of responses. It is enforced with
	// deadlines refreshed at most every Timeout/8, so a stuck peer is given
	// up after 7/8 of Timeout to Timeout.
	Timeout time.Duration
	// MaxFrame is the largest frame (bytes) sent or accepted; a larger one
	// drops the connection.
	MaxFrame int
	// Pipeline offers raft pipelined replication (AppendEntriesPipeline).
	// Off by default: raft then sends each AppendEntries on its
	// replication goroutine and reads the answer there, one RPC at a time
	// per follower, which spares a pipeline's reader goroutine and raft's
	// decoder goroutine a wake-up per answer (cluster SET 5-9% less CPU
	// per request, BENCHMARKS.md). A pipeline pays off when a group keeps
	// several entries in flight (raftfsm.Config.MaxInflight above 1) over
	// links whose round trip is long against the work per entry.
	Pipeline bool
	// MaxInflight is how many AppendEntries a pipeline keeps unanswered
	// before AppendEntries blocks.
	MaxInflight int
	// Logger receives connection errors; nil discards them.
	Logger *slog.Logger
}

// DefaultTransportConfig returns the settings Mux.Transport uses; the
// caller sets Stream.
func DefaultTransportConfig() TransportConfig {
	return TransportConfig{
		MaxPool:     3,
		Timeout:     10 * time.Second,
		MaxFrame:    1 << 30,
		MaxInflight: 64,
	}
}

// Validate reports the first problem with c.
func (c *TransportConfig) Validate() error {
	switch {
	case c.Stream == nil:
		return errors.New("raftfsm: TransportConfig.Stream is required")
	case c.MaxPool < 0 || c.Timeout <= 0:
		return errors.New("raftfsm: TransportConfig.MaxPool must not be negative and Timeout must be positive")
	case c.MaxFrame < 1<<16 || c.MaxFrame > 1<<31:
		return errors.New("raftfsm: TransportConfig.MaxFrame must be in [64 KiB, 2 GiB]")
	case c.MaxInflight < 1:
		return errors.New("raftfsm: TransportConfig.MaxInflight must be positive")
	}
	return nil
}

// Transport is Shoal's raft.Transport, tuned for many small entries: a
// hand-written binary codec (transport_codec.go) instead of msgpack
// reflection, answers that share writes under load, and deadlines set
// every Timeout/8 rather than per RPC. Each accepted connection has a
// reader goroutine, which decodes requests and hands them to raft
// (heartbeats straight to the heartbeat handler, as NetworkTransport
// does); it answers a lone request itself, and while requests arrive
// faster than raft answers them it queues the answers to the connection's
// writer goroutine, which writes those ready together at once (serveConn).
// A pipeline (AppendEntriesPipeline, when TransportConfig.Pipeline is set)
// writes each request on raft's replication goroutine and has a reader
// goroutine for the answers. Other RPCs, and AppendEntries without a
// pipeline, run on the caller's goroutine over a pool of connections, one
// RPC at a time each.
//
// All methods are safe for concurrent use. Close stops every goroutine and
// closes every connection; RPCs in progress fail.
type Transport struct {
	cfg       TransportConfig
	log       *slog.Logger
	consumeCh chan raft.RPC
	heartbeat atomic.Pointer[func(raft.RPC)]
	shutdown  chan struct{}
	closeOnce sync.Once

	// encoded and decoded cache the last peer address encoded and decoded
	// (EncodePeer, DecodePeer).
	encoded, decoded atomic.Pointer[peerBytes]
	// pipelines counts the pipelines opened (AppendEntriesPipeline).
	pipelines atomic.Int64

	// mu guards pool, conns and closed.
	mu     sync.Mutex
	pool   map[raft.ServerAddress][]*clientConn
	conns  map[net.Conn]struct{}
	closed bool
}

// NewTransport starts a Transport that accepts connections on cfg.Stream.
func NewTransport(cfg TransportConfig) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Transport{
		cfg:       cfg,
		log:       log,
		consumeCh: make(chan raft.RPC),
		shutdown:  make(chan struct{}),
		pool:      make(map[raft.ServerAddress][]*clientConn),
		conns:     make(map[net.Conn]struct{}),
	}
	go t.listen()
	return t, nil
}

// Consumer implements raft.Transport.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// LocalAddr implements raft.Transport.
func (t *Transport) LocalAddr() raft.ServerAddress {
	return raft.ServerAddress(t.cfg.Stream.Addr().String())
}

// EncodePeer implements raft.Transport.
// raft encodes its own address into every RPC's header (twice into an
// AppendEntries), so the last address encoded is kept and returned again:
// the slice is only read, by the codec.
func (t *Transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte {
	if p := t.encoded.Load(); p != nil && p.addr == addr {
		return p.b
	}
	p := &peerBytes{addr: addr, b: []byte(addr)}
	t.encoded.Store(p)
	return p.b
}

// DecodePeer implements raft.Transport. A follower decodes its leader's
// address from every AppendEntries: the last one decoded is returned again
// instead of a new string.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress {
	if p := t.decoded.Load(); p != nil && string(p.addr) == string(b) {
		return p.addr
	}
	p := &peerBytes{addr: raft.ServerAddress(b)}
	t.decoded.Store(p)
	return p.addr
}

// peerBytes is an address and its encoding (EncodePeer, DecodePeer).
type peerBytes struct {
	addr raft.ServerAddress
	b    []byte
}

// SetHeartbeatHandler implements raft.Transport: heartbeats are answered by
// cb on the connection's reader goroutine, not through Consumer.
func (t *Transport) SetHeartbeatHandler(cb func(rpc raft.RPC)) {
	if cb == nil {
		t.heartbeat.Store(nil)
		return
	}
	t.heartbeat.Store(&cb)
}

// Close implements raft.WithClose: it closes the stream layer and every
// connection, and fails RPCs in progress.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.shutdown)
		t.cfg.Stream.Close()
		t.mu.Lock()
		t.closed = true
		conns := t.conns
		t.conns = nil
		t.pool = nil
		t.mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	return nil
}

// IsShutdown reports whether Close was called.
func (t *Transport) IsShutdown() bool {
	select {
	case <-t.shutdown:
		return true
	default:
		return false
	}
}

// track registers c to be closed by Close; it reports false (and closes
// c) if the transport is closed.
func (t *Transport) track(c net.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (t *Transport) untrack(c net.Conn) {
	t.mu.Lock()
	if t.conns != nil {
		delete(t.conns, c)
	}
	t.mu.Unlock()
	c.Close()
}

// listen accepts connections until Close, backing off on errors as
// NetworkTransport does.
func (t *Transport) listen() {
	const baseDelay, maxDelay = 5 * time.Millisecond, time.Second
	var delay time.Duration
	for {
		conn, err := t.cfg.Stream.Accept()
		if err != nil {
			if t.IsShutdown() {
				return
			}
			delay = min(max(2*delay, baseDelay), maxDelay)
			t.log.Warn("raft transport accept failed", "err", err)
			select {
			case <-t.shutdown:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		if t.track(conn) {
			go t.serveConn(conn)
		}
	}
}

// pendingResp is a request handed to raft whose answer the connection's
// writer waits for, in order.
type pendingResp struct {
	typ byte
	ch  chan raft.RPCResponse
}

// serveConn reads the requests of an accepted connection on its own
// goroutine; a writer goroutine answers them. A malformed frame drops the
// connection.
func (t *Transport) serveConn(conn net.Conn) {
	defer t.untrack(conn)
	br := bufio.NewReaderSize(conn, 64<<10)
	var pre [2]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return
	}
	if pre[0] != transportMagic || pre[1] != transportVersion {
		t.log.Warn("raft transport connection dropped", "remote-addr", conn.RemoteAddr().String(), "err", ErrTransportPreamble)
		return
	}
	// Answers go out two ways. While requests come one at a time (nothing
	// more buffered, nothing queued), this goroutine waits for raft's
	// answer and writes it, as NetworkTransport does: no hand-off. When
	// requests arrive faster (a pipeline under load), it queues their
	// answers to the writer goroutine, which writes those ready together at
	// once. unwritten counts answers queued and not yet written: this
	// goroutine adds, the writer subtracts once they are out, so at 0 the
	// writer has nothing left to write and this goroutine may write.
	var unwritten atomic.Int64
	queue := make(chan pendingResp, t.cfg.MaxInflight+16)
	writerDone := make(chan struct{})
	go t.answer(conn, queue, &unwritten, writerDone)
	defer func() {
		close(queue)
		<-writerDone
	}()
	var own []byte // this goroutine's answer buffer
	var dl deadline
	// spare is the answer channel of the last request this goroutine
	// answered itself: raft sent on it once and it is empty again.
	var spare chan raft.RPCResponse
	for {
		typ, body, err := readFrame(br, t.cfg.MaxFrame)
		if err != nil {
			if err != io.EOF && !t.IsShutdown() && !errors.Is(err, net.ErrClosed) {
				t.log.Warn("raft transport connection dropped", "remote-addr", conn.RemoteAddr().String(), "err", err)
			}
			return
		}
		cmd, err := decodeRequest(typ, body)
		if err != nil {
			t.log.Warn("raft transport connection dropped", "remote-addr", conn.RemoteAddr().String(), "err", err)
			return
		}
		ch := spare
		if ch == nil {
			ch = make(chan raft.RPCResponse, 1)
		}
		spare = nil
		rpc := raft.RPC{Command: cmd, RespChan: ch}
		var snap *io.LimitedReader
		if typ == rpcInstallSnapshot {
			snap = &io.LimitedReader{R: br, N: cmd.(*raft.InstallSnapshotRequest).Size}
			rpc.Reader = snap
		}
		direct := snap != nil || (br.Buffered() == 0 && unwritten.Load() == 0)
		if !direct {
			// Queued first, so that the writer waits for the answer from
			// the moment raft may give it.
			unwritten.Add(1)
			select {
			case queue <- pendingResp{typ: typ, ch: ch}:
			case <-t.shutdown:
				return
			}
		}
		if fn := t.heartbeat.Load(); fn != nil && isHeartbeat(cmd) {
			(*fn)(rpc)
		} else {
			select {
			case t.consumeCh <- rpc:
			case <-t.shutdown:
				return
			}
		}
		if !direct {
			continue
		}
		var resp raft.RPCResponse
		select {
		case resp = <-ch:
		case <-t.shutdown:
			return
		}
		if snap != nil && snap.N > 0 {
			// The snapshot's bytes precede the next frame: skip what raft
			// left.
			if _, err := io.Copy(io.Discard, snap); err != nil {
				return
			}
		}
		if unwritten.Load() != 0 { // a snapshot behind queued answers
			unwritten.Add(1)
			ch <- resp // to the writer: ch is not reused
			select {
			case queue <- pendingResp{typ: typ, ch: ch}:
			case <-t.shutdown:
				return
			}
			continue
		}
		errText := ""
		if resp.Error != nil {
			errText = resp.Error.Error()
		}
		spare = ch
		own = appendResponse(own[:0], typ, resp.Response, errText)
		dl.refreshWrite(conn, t.cfg.Timeout)
		if _, err := conn.Write(own); err != nil {
			return
		}
	}
}

// isHeartbeat reports whether cmd is a heartbeat, by NetworkTransport's
// rule: an AppendEntries with a term and leader and nothing else.
func isHeartbeat(cmd any) bool {
	r, ok := cmd.(*raft.AppendEntriesRequest)
	if !ok {
		return false
	}
	leader := r.RPCHeader.Addr
	if len(leader) == 0 {
		leader = r.Leader
	}
	return r.Term != 0 && leader != nil && r.PrevLogEntry == 0 && r.PrevLogTerm == 0 &&
		len(r.Entries) == 0 && r.LeaderCommitIndex == 0
}

// answer writes the answers of a connection's requests in order, on its
// own goroutine. It writes whenever the next answer is not ready yet (or
// the buffer is full), so answers ready together share one write and none
// waits for a later one. It subtracts the answers it wrote (or dropped
// after a failed write) from unwritten.
func (t *Transport) answer(conn net.Conn, queue <-chan pendingResp, unwritten *atomic.Int64, done chan<- struct{}) {
	defer close(done)
	var dl deadline
	buf := make([]byte, 0, 4096)
	n := 0 // answers in buf
	failed := false
	flush := func() {
		if n == 0 {
			return
		}
		if !failed {
			dl.refreshWrite(conn, t.cfg.Timeout)
			if _, err := conn.Write(buf); err != nil {
				failed = true
				conn.Close() // the reader stops too
			}
		}
		buf = buf[:0]
		unwritten.Add(int64(-n))
		n = 0
	}
	for {
		var p pendingResp
		var ok bool
		select {
		case p, ok = <-queue:
		default:
			flush()
			select {
			case p, ok = <-queue:
			case <-t.shutdown:
				return
			}
		}
		if !ok {
			flush()
			return
		}
		var resp raft.RPCResponse
		select {
		case resp = <-p.ch:
		default:
			flush()
			select {
			case resp = <-p.ch:
			case <-t.shutdown:
				return
			}
		}
		errText := ""
		if resp.Error != nil {
			errText = resp.Error.Error()
		}
		if !failed {
			buf = appendResponse(buf, p.typ, resp.Response, errText)
		}
		n++
		if len(buf) >= 64<<10 || failed {
			flush()
		}
	}
}

// deadline refreshes a connection's deadlines at most every eighth of the
// timeout, instead of once per RPC (a deadline costs a runtime timer
// update): a deadline is set again only when less than 7/8 of the timeout
// or more than the timeout is left. Each field is used by one goroutine.
type deadline struct {
	read, write time.Time // when each deadline expires; zero: none set
}

func stale(at, now time.Time, timeout time.Duration) bool {
	left := at.Sub(now)
	return left < timeout-timeout/8 || left > timeout
}

func (d *deadline) refreshRead(c net.Conn, timeout time.Duration) {
	if now := time.Now(); stale(d.read, now, timeout) {
		d.read = now.Add(timeout)
		_ = c.SetReadDeadline(d.read)
	}
}

func (d *deadline) refreshWrite(c net.Conn, timeout time.Duration) {
	if now := time.Now(); stale(d.write, now, timeout) {
		d.write = now.Add(timeout)
		_ = c.SetWriteDeadline(d.write)
	}
}

// refresh refreshes both deadlines (a connection used by one goroutine).
func (d *deadline) refresh(c net.Conn, timeout time.Duration) {
	if now := time.Now(); stale(d.read, now, timeout) || stale(d.write, now, timeout) {
		d.read, d.write = now.Add(timeout), now.Add(timeout)
		_ = c.SetDeadline(d.read)
	}
}

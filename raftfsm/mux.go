package raftfsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/logging"
	"github.com/shoalcache/shoal/internal/rawio"
)

// muxMagic starts every connection to a node's cluster port, followed by a
// one-byte length and the name of the stream (a Raft group id, or another
// protocol's name).
const muxMagic = "SHL1"

// muxHandshakeTimeout bounds how long an accepted connection may take to
// send its header.
const muxHandshakeTimeout = 5 * time.Second

// StreamMetaRPC is the stream on which a node forwards requests for the
// meta group (map compare-and-set) to the meta leader; package placement
// speaks it with Call and ServeCalls.
const StreamMetaRPC = "meta-rpc"

// DefaultMaxFrame is the frame size limit (bytes) of Call and ServeCalls
// when the caller passes 0: 8 MiB, far above a map with 16384 slot ranges.
const DefaultMaxFrame = 8 << 20

// callTimeout bounds a call whose context has no deadline.
const callTimeout = 30 * time.Second

// Mux errors.

// Mux shares one TCP listener, the node's cluster port, among every Raft
// group of the node and the meta group: each connection starts with a header
// naming its stream, and the Mux hands it to that stream's layer. A
// connection for a stream that is not registered is closed; raft retries.
//
// Layer, Close and Serve are safe for concurrent use. Serve runs the accept
// loop on the caller's goroutine and one short-lived goroutine per incoming
// connection for its header.
type Mux struct {
	ln        net.Listener
	advertise net.Addr
	log       *slog.Logger
	// auth, when set (RequireSecret, before Serve), authenticates every
	// connection after its header (mux_auth.go).
	auth *muxAuth

	// transport is what Transport returns (UseTransport).
	transport string

	mu     sync.Mutex
	layers map[string]*streamLayer
	closed bool
	done   chan struct{}
}

// NewMux returns a Mux over ln. advertise is the address other nodes dial
// (ln's address when nil). Call Serve to start accepting.
func NewMux(ln net.Listener, advertise net.Addr, log *slog.Logger) *Mux {
	if advertise == nil {
		advertise = ln.Addr()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mux{ln: ln, advertise: advertise, log: log, layers: make(map[string]*streamLayer), done: make(chan struct{})}
}

// Addr returns the advertised address.
func (m *Mux) Addr() net.Addr { return m.advertise }

// Serve accepts connections until Close. It returns nil after Close.
func (m *Mux) Serve() error {
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go m.route(conn)
	}
}

func (m *Mux) route(conn net.Conn) {
	conn, ok := m.secureAccepted(rawio.Wrap(conn)) // mux_tls.go
	if !ok {
		return
	}
	_ = conn.SetReadDeadline(time.Now().Add(muxHandshakeTimeout))
	var hdr [len(muxMagic) + 1]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil || string(hdr[:len(muxMagic)]) != muxMagic {
		conn.Close()
		return
	}
	name := make([]byte, hdr[len(muxMagic)])
	if _, err := io.ReadFull(conn, name); err != nil {
		conn.Close()
		return
	}
	if m.auth != nil && !m.auth.accept(conn, string(name), m.log) {
		conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	m.mu.Lock()
	l := m.layers[string(name)]
	m.mu.Unlock()
	if l == nil {
		m.log.Debug("connection for unknown stream", "stream", string(name), "remote", conn.RemoteAddr().String())
		conn.Close()
		return
	}
	select {
	case l.conns <- conn:
	case <-l.done:
		conn.Close()
	case <-time.After(muxHandshakeTimeout):
		conn.Close()
	}
}

// Layer registers the stream name and returns its raft.StreamLayer. Each
// name may be registered once at a time; closing the layer frees the name.
func (m *Mux) Layer(name string) (raft.StreamLayer, error) {
	if len(name) == 0 || len(name) > 255 {
		return nil, errors.New("raftfsm: stream name must be 1 to 255 bytes")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrMuxClosed
	}
	if _, ok := m.layers[name]; ok {
		return nil, errors.New("raftfsm: stream " + name + " already registered")
	}
	l := &streamLayer{mux: m, name: name, conns: make(chan net.Conn, 16), done: make(chan struct{})}
	m.layers[name] = l
	return l, nil
}

// UseTransport selects what Transport returns: TransportShoal (also for
// "") or TransportHashicorp. Call it before Transport.
func (m *Mux) UseTransport(kind string) { m.transport = kind }

// Transport returns a Raft transport for the stream name: Shoal's
// (transport.go) unless UseTransport chose hashicorp's NetworkTransport.
func (m *Mux) Transport(name string, log *slog.Logger) (RaftTransport, error) {
	l, err := m.Layer(name)
	if err != nil {
		return nil, err
	}
	if m.transport != TransportHashicorp {
		tc := DefaultTransportConfig()
		tc.Stream = l
		if log != nil {
			tc.Logger = log.With("group", name)
		}
		t, err := NewTransport(tc)
		if err != nil {
			l.Close()
			return nil, err
		}
		return t, nil
	}
	cfg := &raft.NetworkTransportConfig{
		Stream:  l,
		MaxPool: 3,
		Timeout: 10 * time.Second,
	}
	if log != nil {
		cfg.Logger = logging.HCLog(log, "transport")
	}
	return raft.NewNetworkTransportWithConfig(cfg), nil
}

// Close stops accepting and closes every layer.
func (m *Mux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.done)
	layers := make([]*streamLayer, 0, len(m.layers))
	for _, l := range m.layers {
		layers = append(layers, l)
	}
	m.mu.Unlock()
	for _, l := range layers {
		l.Close()
	}
	return m.ln.Close()
}

// DialStream dials the stream name on the node at addr: the connection is
// ready for that stream's protocol once it returns. It does not
// authenticate: a cluster with a secret needs Mux.DialStream.
func DialStream(addr, name string, timeout time.Duration) (net.Conn, error) {
	return (*Mux)(nil).DialStream(addr, name, timeout)
}

// DialStream is the package's DialStream with the Mux's cluster secret
// (RequireSecret): the handshake is done when it returns. A nil Mux dials
// without a secret.
func (m *Mux) DialStream(addr, name string, timeout time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(timeout)
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if conn, err = secureDialed(rawio.Wrap(conn), timeout); err != nil { // mux_tls.go
		return nil, err
	}
	hdr := make([]byte, 0, len(muxMagic)+1+len(name))
	hdr = append(hdr, muxMagic...)
	hdr = append(hdr, byte(len(name)))
	hdr = append(hdr, name...)
	_ = conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(hdr); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetWriteDeadline(time.Time{})
	if m != nil && m.auth != nil {
		if err := m.auth.dial(conn, name, deadline, m.log); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

// streamLayer is one stream's view of the Mux; it implements
// raft.StreamLayer (net.Listener plus Dial). It closes every connection it
// accepted or dialed when it is closed: raft's NetworkTransport closes
// neither its pooled nor its accepted connections, so without this their
// reader goroutines, here and on the peers, would outlive the group.
type streamLayer struct {
	mux   *Mux
	name  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	tracked map[*trackedConn]struct{}
	closed  bool
}

// Accept implements net.Listener.
func (l *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return l.track(c, nil)
	case <-l.done:
		return nil, ErrMuxClosed
	}
}

// Close implements net.Listener: it unregisters the stream and closes its
// connections.
func (l *streamLayer) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.mux.mu.Lock()
		if l.mux.layers[l.name] == l {
			delete(l.mux.layers, l.name)
		}
		l.mux.mu.Unlock()
		l.mu.Lock()
		l.closed = true
		conns := l.tracked
		l.tracked = nil
		l.mu.Unlock()
		for c := range conns {
			c.Conn.Close()
		}
	})
	return nil
}

func (l *streamLayer) track(c net.Conn, err error) (net.Conn, error) {
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, ErrMuxClosed
	}
	if l.tracked == nil {
		l.tracked = make(map[*trackedConn]struct{})
	}
	tc := &trackedConn{Conn: c, l: l}
	l.tracked[tc] = struct{}{}
	return tc, nil
}

type trackedConn struct {
	net.Conn
	l    *streamLayer
	once sync.Once
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.tracked, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// Addr implements net.Listener.
func (l *streamLayer) Addr() net.Addr { return l.mux.advertise }

// Dial implements raft.StreamLayer.
func (l *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return l.track(l.mux.DialStream(string(address), l.name, timeout))
}

// Call-stream protocol. A request/response stream (such as StreamMetaRPC)
// carries one call per connection, after the Mux header:
//
//	request:  uint32 length | uint32 timeout-ms | payload (length bytes)
//	response: uint32 length | payload (length bytes)
//
// Integers are big-endian. timeout-ms is what is left of the caller's
// deadline (0: none); the server bounds its handler with it. Either side
// closes the connection after the response. A frame above the receiver's
// limit closes the connection without an answer.

// WriteFrame writes b as one frame: its length as a big-endian uint32, then
// b.
func WriteFrame(w io.Writer, b []byte) error {
	if uint64(len(b)) > 1<<32-1 {
		return ErrFrameTooLarge
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err := w.Write(append(buf, b...))
	return err
}

// ReadFrame reads one frame of at most limit bytes (DefaultMaxFrame when
// limit is 0).
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxFrame
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, limit)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// Call makes one call on the stream name of the node at addr: it sends req
// and returns the response payload (at most limit bytes; 0 means
// DefaultMaxFrame). ctx bounds the whole call: its deadline (30 s when it
// has none) is the connection's deadline and is sent to the server, and
// its cancellation closes the connection. After an error the server may or
// may not have handled the request, except after ErrUnreachable. It does
// not authenticate: a cluster with a secret needs Mux.Call.
func Call(ctx context.Context, addr, name string, req []byte, limit int) ([]byte, error) {
	return (*Mux)(nil).Call(ctx, addr, name, req, limit)
}

// Call is the package's Call over Mux.DialStream (with the Mux's cluster
// secret). A nil Mux calls without a secret.
func (m *Mux) Call(ctx context.Context, addr, name string, req []byte, limit int) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(callTimeout)
	}
	d := time.Until(dl)
	if d <= 0 {
		return nil, context.DeadlineExceeded
	}
	if uint64(len(req)) > 1<<32-1 {
		return nil, ErrFrameTooLarge
	}
	conn, err := m.DialStream(addr, name, d)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer conn.Close()
	// Cancellation unblocks reads and writes at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	_ = conn.SetDeadline(dl)
	var hdr [8]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(req)))
	binary.BigEndian.PutUint32(hdr[4:], uint32(max(time.Until(dl).Milliseconds(), 1)))
	// One writev for header and request: no copy of a large request.
	bufs := net.Buffers{hdr[:], req}
	if _, err := bufs.WriteTo(conn); err != nil {
		return nil, ctxErr(ctx, err)
	}
	resp, err := ReadFrame(conn, limit)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return resp, nil
}

// ctxErr prefers ctx's error to the I/O error its cancellation caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// ServeCalls serves the call protocol on l (a layer from Mux.Layer) until
// l is closed: each accepted connection gets its own goroutine, which reads
// one request (at most limit bytes; 0 means DefaultMaxFrame) within
// maxTimeout, runs h with a context that ends at the caller's deadline (at
// most maxTimeout away) or when ServeCalls returns, and writes h's
// response. ServeCalls returns nil once l is closed and every handler has
// returned.
func ServeCalls(l net.Listener, limit int, maxTimeout time.Duration, h func(ctx context.Context, req []byte) []byte) error {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		conn, err := l.Accept()
		if err != nil {
			if errors.Is(err, ErrMuxClosed) {
				return nil
			}
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			serveCall(base, conn, limit, maxTimeout, h)
		}()
	}
}

func serveCall(base context.Context, conn net.Conn, limit int, maxTimeout time.Duration, h func(context.Context, []byte) []byte) {
	start := time.Now()
	_ = conn.SetDeadline(start.Add(maxTimeout))
	var hdr [8]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if limit <= 0 {
		limit = DefaultMaxFrame
	}
	if uint64(n) > uint64(limit) {
		return
	}
	req := make([]byte, n)
	if _, err := io.ReadFull(conn, req); err != nil {
		return
	}
	timeout := maxTimeout
	if ms := binary.BigEndian.Uint32(hdr[4:]); ms > 0 {
		timeout = min(timeout, time.Duration(ms)*time.Millisecond)
	}
	// The handler ends a little before the caller gives up, so that its
	// answer can still arrive.
	ctx, cancel := context.WithDeadline(base, start.Add(timeout*9/10))
	defer cancel()
	resp := h(ctx, req)
	_ = conn.SetDeadline(start.Add(timeout))
	_ = WriteFrame(conn, resp)
}

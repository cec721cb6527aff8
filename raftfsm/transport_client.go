package raftfsm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// clientConn is a dialed connection: pooled for one RPC at a time, or
// owned by a pipeline.
type clientConn struct {
	target raft.ServerAddress
	conn   net.Conn
	br     *bufio.Reader
	buf    []byte // the next frames to write; starts with the preamble
	dl     deadline
}

// getConn returns an idle pooled connection to target, or dials one.
func (t *Transport) getConn(target raft.ServerAddress) (*clientConn, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, raft.ErrTransportShutdown
	}
	if cs := t.pool[target]; len(cs) > 0 {
		c := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		t.pool[target] = cs[:len(cs)-1]
		t.mu.Unlock()
		return c, nil
	}
	t.mu.Unlock()
	conn, err := t.cfg.Stream.Dial(target, t.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if !t.track(conn) {
		return nil, raft.ErrTransportShutdown
	}
	c := &clientConn{target: target, conn: conn, br: bufio.NewReaderSize(conn, 16<<10)}
	c.buf = append(make([]byte, 0, 4096), transportMagic, transportVersion)
	return c, nil
}

// putConn returns c to the pool, or closes it if the pool is full.
func (t *Transport) putConn(c *clientConn) {
	t.mu.Lock()
	if !t.closed && len(t.pool[c.target]) < t.cfg.MaxPool {
		t.pool[c.target] = append(t.pool[c.target], c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	t.untrack(c.conn)
}

// roundTrip sends the request cmd on a pooled connection and decodes the
// answer into resp. data, if not nil, is sent after the request's frame
// (InstallSnapshot); timeout bounds the whole exchange.
func (t *Transport) roundTrip(target raft.ServerAddress, cmd, resp any, data io.Reader, timeout time.Duration) error {
	c, err := t.getConn(target)
	if err != nil {
		return err
	}
	typ, err := c.send(cmd, data, timeout, t.cfg.MaxFrame)
	if err == nil {
		err = c.receive(typ, resp, t.cfg.MaxFrame)
	}
	var remote remoteError
	if err != nil && !errors.As(err, &remote) {
		t.untrack(c.conn)
		return err
	}
	t.putConn(c)
	return err
}

// send writes the request's frame, and data after it (which is then
// written separately).
func (c *clientConn) send(cmd any, data io.Reader, timeout time.Duration, limit int) (byte, error) {
	start := len(c.buf) // after the preamble on a new connection
	buf, ok := appendRequest(c.buf, cmd)
	if !ok {
		return 0, fmt.Errorf("raftfsm: transport cannot send %T", cmd)
	}
	if len(buf)-start-4 > limit {
		c.buf = buf[:start]
		return 0, ErrFrameTooLarge
	}
	typ := buf[start+4]
	c.dl.refresh(c.conn, timeout)
	_, err := c.conn.Write(buf)
	c.buf = buf[:0]
	if err != nil {
		return 0, err
	}
	if data != nil {
		if _, err := io.Copy(c.conn, data); err != nil {
			return 0, err
		}
	}
	return typ, nil
}

// receive reads the answer to a request of type typ into resp.
func (c *clientConn) receive(typ byte, resp any, limit int) error {
	rt, body, err := readFrame(c.br, limit)
	if err != nil {
		return err
	}
	if rt != typ|respFlag {
		return ErrTransportFrame
	}
	errText, err := decodeResponse(typ, body, resp)
	if err != nil {
		return err
	}
	if errText != "" {
		return remoteError{errText}
	}
	return nil
}

// remoteError is an error the peer's raft answered with; the connection
// stays usable.
type remoteError struct{ text string }

func (e remoteError) Error() string { return e.text }

// AppendEntries implements raft.Transport.
func (t *Transport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return t.roundTrip(target, args, resp, nil, t.cfg.Timeout)
}

// RequestVote implements raft.Transport.
func (t *Transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.roundTrip(target, args, resp, nil, t.cfg.Timeout)
}

// RequestPreVote implements raft.WithPreVote.
func (t *Transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.roundTrip(target, args, resp, nil, t.cfg.Timeout)
}

// TimeoutNow implements raft.Transport.
func (t *Transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.roundTrip(target, args, resp, nil, t.cfg.Timeout)
}

// InstallSnapshot implements raft.Transport: the request's frame, then
// args.Size bytes of data. The exchange may take one Timeout per 256 KiB.
func (t *Transport) InstallSnapshot(_ raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	timeout := t.cfg.Timeout * time.Duration(args.Size/(256<<10))
	timeout = max(timeout, t.cfg.Timeout)
	return t.roundTrip(target, args, resp, io.LimitReader(data, args.Size), timeout)
}

// AppendEntriesPipeline implements raft.Transport: a connection of its
// own, on which AppendEntries do not wait for their answers. Without
// TransportConfig.Pipeline it returns raft.ErrPipelineReplicationNotSupported,
// and raft replicates with AppendEntries.
func (t *Transport) AppendEntriesPipeline(_ raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if !t.cfg.Pipeline {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	c, err := t.getConn(target)
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		t:          t,
		c:          c,
		inprogress: make(chan *appendFuture, t.cfg.MaxInflight),
		done:       make(chan raft.AppendFuture, t.cfg.MaxInflight),
		shutdown:   make(chan struct{}),
	}
	t.pipelines.Add(1)
	go p.read()
	return p, nil
}

// pipeline sends AppendEntries on one connection without waiting for
// their answers. AppendEntries (raft's replication goroutine for the peer)
// writes each request itself: a writer goroutine would let requests queued
// during a write share the next one, but raft's replication already puts
// every entry appended meanwhile into its next request, and the hand-off
// to another goroutine cost more than the writes it saved. The reader
// goroutine matches answers to requests in order.
type pipeline struct {
	t *Transport
	c *clientConn // c.buf and c.dl.write are guarded by sendMu

	// sendMu orders AppendEntries calls (raft makes them from one
	// goroutine).
	sendMu sync.Mutex

	inprogress chan *appendFuture
	done       chan raft.AppendFuture
	shutdown   chan struct{}
	closeOnce  sync.Once
}

// AppendEntries implements raft.AppendPipeline.
func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	f := &appendFuture{start: time.Now(), args: args, resp: resp, errCh: make(chan error, 1)}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	select {
	case <-p.shutdown:
		return nil, raft.ErrPipelineShutdown
	case <-p.t.shutdown:
		return nil, raft.ErrPipelineShutdown
	default:
	}
	c := p.c
	start := len(c.buf) // after the preamble on a new connection
	buf, _ := appendRequest(c.buf, args)
	if len(buf)-start-4 > p.t.cfg.MaxFrame {
		c.buf = buf[:start]
		return nil, ErrFrameTooLarge
	}
	// Queued before it is written, so that the reader expects its answer.
	select {
	case p.inprogress <- f:
	case <-p.shutdown:
		return nil, raft.ErrPipelineShutdown
	case <-p.t.shutdown:
		return nil, raft.ErrPipelineShutdown
	}
	c.dl.refreshWrite(c.conn, p.t.cfg.Timeout)
	_, err := c.conn.Write(buf)
	if cap(buf) > 1<<20 {
		buf = nil // do not keep a large request's buffer
	}
	c.buf = buf[:0]
	if err != nil {
		c.conn.Close() // the reader fails the requests in flight
		return nil, err
	}
	return f, nil
}

// Consumer implements raft.AppendPipeline.
func (p *pipeline) Consumer() <-chan raft.AppendFuture { return p.done }

// Close implements raft.AppendPipeline: it closes the connection.
func (p *pipeline) Close() error {
	p.closeOnce.Do(func() {
		close(p.shutdown)
		p.t.untrack(p.c.conn)
	})
	return nil
}

// read is the pipeline's reader goroutine.
func (p *pipeline) read() {
	var dl deadline
	var failed error
	for {
		var f *appendFuture
		select {
		case f = <-p.inprogress:
		case <-p.shutdown:
			return
		case <-p.t.shutdown:
			return
		}
		err := failed
		if err == nil {
			dl.refreshRead(p.c.conn, p.t.cfg.Timeout)
			err = p.c.receive(rpcAppendEntries, f.resp, p.t.cfg.MaxFrame)
			if err != nil {
				if remote := (remoteError{}); !errors.As(err, &remote) {
					failed = err
					p.c.conn.Close()
				}
			}
		}
		f.errCh <- err
		select {
		case p.done <- f:
		case <-p.shutdown:
			return
		}
	}
}

// appendFuture implements raft.AppendFuture.
type appendFuture struct {
	start time.Time
	args  *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	errCh chan error
	err   error
	once  sync.Once
}

// Error implements raft.Future: it waits for the answer.
func (f *appendFuture) Error() error {
	f.once.Do(func() { f.err = <-f.errCh })
	return f.err
}

// Start implements raft.AppendFuture.
func (f *appendFuture) Start() time.Time { return f.start }

// Request implements raft.AppendFuture.
func (f *appendFuture) Request() *raft.AppendEntriesRequest { return f.args }

// Response implements raft.AppendFuture.
func (f *appendFuture) Response() *raft.AppendEntriesResponse { return f.resp }

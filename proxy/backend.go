package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/internal/rawio"
	"github.com/shoalcache/shoal/internal/respclient"
)

// call is one command sent to a node and its outcome: the reply's bytes
// (copied by the backend reader) or the error that lost it. A call belongs
// to one client connection and is reused for its next commands.
type call struct {
	reply []byte
	err   error
	w     *waiter
}

// waiter counts the calls of a client connection still owed a reply.
// The client holds one count while it dispatches (arm); whoever brings the
// count to zero after that signals done, so a waiting client wakes once.
type waiter struct {
	n    atomic.Int32
	done chan struct{}
}

func newWaiter() *waiter { return &waiter{done: make(chan struct{}, 1)} }

// arm starts a round of calls.
func (w *waiter) arm() { w.n.Store(1) }

// finish is called by a backend goroutine for each completed call.
func (w *waiter) finish() {
	if w.n.Add(-1) == 0 {
		w.done <- struct{}{}
	}
}

// wait drops the client's own count and waits for the calls of the round.
func (w *waiter) wait() {
	if w.n.Add(-1) != 0 {
		<-w.done
	}
}

// node is one cluster node the proxy talks to: its pool of backend
// connections, dialled on first use and replaced when lost.
type node struct {
	p    *Proxy
	addr string

	mu    sync.Mutex // serializes dials; conns are read without it
	conns []atomic.Pointer[backendConn]
	// dialFailed is when a dial to the node last failed (UnixNano), 0
	// after a success: slot map reloads ask such nodes last.
	dialFailed atomic.Int64
}

// conn returns backend connection i of the node, dialling it if needed.
// Called on client goroutines; the common case is one atomic load.
func (n *node) conn(i int) (*backendConn, error) {
	if c := n.conns[i].Load(); c != nil && !c.dead.Load() {
		return c, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if c := n.conns[i].Load(); c != nil && !c.dead.Load() {
		return c, nil
	}
	c, err := n.p.dialBackend(n)
	if err != nil {
		n.dialFailed.Store(time.Now().UnixNano())
		return nil, err
	}
	n.dialFailed.Store(0)
	n.conns[i].Store(c)
	return c, nil
}

// live returns the node's backend connections (nil entries included).
func (n *node) live() []*backendConn {
	out := make([]*backendConn, len(n.conns))
	for i := range n.conns {
		out[i] = n.conns[i].Load()
	}
	return out
}

// closeAll closes every backend connection of the node.
func (n *node) closeAll(err error) {
	for _, c := range n.live() {
		if c != nil {
			c.fail(err)
		}
	}
}

// backendConn is one pipelined connection to a node, shared by client
// connections. Clients append encoded commands to wbuf and their calls to
// queue under mu, in the same order; the writer goroutine writes wbuf in
// batches; the reader goroutine matches replies to queue FIFO.
type backendConn struct {
	node *node
	nc   net.Conn

	mu    sync.Mutex
	wbuf  []byte
	queue []*call // calls owed a reply, oldest first, from head
	head  int
	dead  atomic.Bool   // set under mu, read without it by node.conn
	wake  chan struct{} // cap 1: wbuf has bytes; closed when dead

	owed    atomic.Int64 // calls sent, not answered
	replies atomic.Int64 // replies received (the watchdog's progress mark)
	stalled int          // watchdog ticks without progress while owed (watchdog goroutine only)
	lastRep int64        // replies at the previous watchdog tick (watchdog goroutine only)
}

// send queues a command's bytes and its call. It reports false when the
// connection is dead (the call is not queued).
func (c *backendConn) send(cl *call, b []byte) bool {
	c.mu.Lock()
	if c.dead.Load() {
		c.mu.Unlock()
		return false
	}
	first := len(c.wbuf) == 0
	c.wbuf = append(c.wbuf, b...)
	c.queue = append(c.queue, cl)
	c.owed.Add(1)
	c.mu.Unlock()
	if first {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// writer writes the queued bytes in batches.
//
// The client goroutine that queues the first bytes wakes the writer, and
// Go's scheduler runs a goroutine woken that way next, ahead of the other
// client goroutines the netpoller made runnable at the same time, each
// with a command to queue. So the writer yields once before it takes the
// buffer: those commands go out in the same write, and the node reads them
// in one batch and proposes them in one entry. With nothing else runnable
// the yield returns at once. At -P 1 through the proxy this cut the
// proxy's CPU per SET by a fifth and the nodes' by a sixth (BENCHMARKS.md,
// "Proxy (issue 10)").
func (c *backendConn) writer() {
	var out []byte
	for range c.wake {
		runtime.Gosched()
		c.mu.Lock()
		if c.dead.Load() {
			c.mu.Unlock()
			return
		}
		out, c.wbuf = c.wbuf, out[:0]
		c.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if _, err := c.nc.Write(out); err != nil {
			c.fail(err)
			return
		}
		if cap(out) > 1<<20 {
			out = nil
		}
	}
}

// reader reads replies and completes the calls they answer, in order.
func (c *backendConn) reader(rd *bufio.Reader) {
	buf := make([]byte, 64<<10)
	// Bytes the handshake read past its reply come first.
	w, _ := rd.Read(buf[:min(rd.Buffered(), len(buf))])
	r := 0
	var ends []int
	var calls []*call
	for {
		// Complete replies in buf[r:w].
		ends = ends[:0]
		pos := r
		for pos < w {
			e, ok, err := replyEnd(buf[:w], pos)
			if err != nil {
				c.fail(err)
				return
			}
			if !ok {
				break
			}
			if buf[pos] != '>' { // out-of-band pushes answer no call
				ends = append(ends, e)
			} else {
				ends = append(ends, -e)
			}
			pos = e
		}
		if len(ends) > 0 {
			n := 0
			for _, e := range ends {
				if e > 0 {
					n++
				}
			}
			c.mu.Lock()
			if len(c.queue)-c.head < n {
				c.mu.Unlock()
				c.fail(errBadReply)
				return
			}
			calls = append(calls[:0], c.queue[c.head:c.head+n]...)
			clear(c.queue[c.head : c.head+n])
			c.head += n
			if c.head == len(c.queue) {
				c.queue, c.head = c.queue[:0], 0
			} else if c.head >= 1024 && 2*c.head >= len(c.queue) {
				// Never empty under steady load: slide the live calls down
				// so that the queue does not grow without bound.
				k := copy(c.queue, c.queue[c.head:])
				clear(c.queue[k:])
				c.queue, c.head = c.queue[:k], 0
			}
			c.mu.Unlock()
			c.owed.Add(-int64(n))
			c.replies.Add(int64(n))
			k := 0
			start := r
			for _, e := range ends {
				if e < 0 {
					start = -e
					continue
				}
				cl := calls[k]
				k++
				cl.reply = append(cl.reply[:0], buf[start:e]...)
				cl.err = nil
				start = e
				cl.w.finish()
			}
			clear(calls)
			r = pos
		}
		// Make room: slide the partial reply to the front, grow if full.
		if r == w {
			r, w = 0, 0
		} else if r > 0 && len(buf)-w < 16<<10 {
			w = copy(buf, buf[r:w])
			r = 0
		}
		if len(buf)-w < 16<<10 {
			nb := make([]byte, 2*len(buf))
			w = copy(nb, buf[r:w])
			r = 0
			buf = nb
		} else if r == 0 && w == 0 && len(buf) > 1<<20 {
			buf = make([]byte, 64<<10)
		}
		n, err := c.nc.Read(buf[w:])
		w += n
		if err != nil {
			c.fail(err)
			return
		}
	}
}

// fail closes the connection and fails every call it owes.
func (c *backendConn) fail(err error) {
	c.mu.Lock()
	if c.dead.Load() {
		c.mu.Unlock()
		return
	}
	c.dead.Store(true)
	close(c.wake)
	calls := c.queue[c.head:]
	c.queue, c.head = nil, 0
	c.mu.Unlock()
	c.nc.Close()
	if !errors.Is(err, net.ErrClosed) {
		c.node.p.log.Info("node connection lost", "node", c.node.addr, "err", err, "calls-failed", len(calls))
	}
	for _, cl := range calls {
		cl.reply = cl.reply[:0]
		cl.err = errNodeDown
		cl.w.finish()
	}
	c.owed.Store(0)
	c.node.p.kickRefresh()
}

// dialBackend connects to a node and switches the connection to RESP3
// (authenticating with the configured password).
func (p *Proxy) dialBackend(n *node) (*backendConn, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	nc, err := d.Dial("tcp", n.addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		nc = rawio.Wrap(tc)
	}
	if p.cfg.TLS != nil {
		nc = tls.Client(nc, p.cfg.TLS) // the handshake runs at HELLO's write, under its deadline
	}
	args := []any{"HELLO", "3"}
	if p.cfg.Password != "" {
		args = append(args, "AUTH", "default", p.cfg.Password)
	}
	hello, _ := respclient.AppendCommand(nil, args...)
	_ = nc.SetDeadline(time.Now().Add(p.cfg.DialTimeout + time.Second))
	rd := bufio.NewReader(nc)
	if _, err := nc.Write(hello); err != nil {
		nc.Close()
		return nil, err
	}
	v, err := respclient.Read(rd)
	if err == nil && v.IsError() {
		err = v.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	p.noteHello(v)
	c := &backendConn{node: n, nc: nc, wake: make(chan struct{}, 1)}
	go c.writer()
	go c.reader(rd)
	return c, nil
}

// noteHello keeps the server version a node's HELLO reported, for the
// proxy's own HELLO replies.
func (p *Proxy) noteHello(v respclient.Value) {
	for _, kv := range v.Map {
		if k, _ := kv.Key.Text(); k == "version" {
			if s, ok := kv.Value.Text(); ok {
				p.version.Store(&s)
			}
		}
	}
}

// watchdog closes backend connections that owe replies and received none
// for NodeTimeout, so that their calls are retried elsewhere.
func (p *Proxy) watchdog(ctx context.Context) {
	defer p.wg.Done()
	tick := p.cfg.NodeTimeout / 4
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, n := range p.allNodes() {
			for _, c := range n.live() {
				if c == nil {
					continue
				}
				r := c.replies.Load()
				if c.owed.Load() > 0 && r == c.lastRep {
					c.stalled++
					if c.stalled >= 4 {
						c.fail(errors.New("proxy: node did not answer within the node timeout"))
					}
				} else {
					c.stalled = 0
				}
				c.lastRep = r
			}
		}
	}
}

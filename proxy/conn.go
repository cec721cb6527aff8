package proxy

import (
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/rawio"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// maxKeptReply is the largest reply buffer a call keeps for reuse.
const maxKeptReply = 64 << 10

// askingCmd is ASKING, sent before a command retried after -ASK.
var askingCmd = []byte("*1\r\n$6\r\nASKING\r\n")

// pcall is a call with what the client connection needs to (re)send it.
type pcall struct {
	call
	slot   int   // the command's slot; -1 for any node
	to     *node // a fixed node (fan-out, ASK), else the slot's leader
	b      []byte
	enc    []byte // owned encoding buffer, for commands the proxy builds
	asking bool
}

// clientConn is one client connection, served by its own goroutine; all
// its fields but stopped are used by that goroutine only (and, for the
// calls in flight, by the backend readers that complete them).
type clientConn struct {
	p      *Proxy
	nc     net.Conn
	id     int64
	rd     *reqReader
	out    []byte
	proto  resp.Proto
	authed bool
	name   string

	w       *waiter
	calls   []*pcall // reused for each round
	ncalls  int
	askCall call
	keys    [][]byte
	split   splitter
	lower   [32]byte
	closing bool
	stopped atomic.Bool
}

func newClientConn(p *Proxy, nc net.Conn) *clientConn {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		nc = rawio.Wrap(tc)
	}
	c := &clientConn{
		p:      p,
		nc:     nc,
		id:     p.nextID.Add(1),
		rd:     newReqReader(nc),
		proto:  resp.RESP2,
		authed: p.cfg.Password == "",
		w:      newWaiter(),
	}
	c.askCall.w = c.w
	return c
}

// stop makes the connection close once its current batch is answered.
// Called by Shutdown on another goroutine.
func (c *clientConn) stop() {
	c.stopped.Store(true)
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
}

func (c *clientConn) serve() {
	defer c.p.removeClient(c)
	defer c.nc.Close()
	for {
		reqs, err := c.rd.readBatch()
		c.out = c.out[:0]
		if len(reqs) > 0 {
			c.runBatch(reqs)
		}
		var pe *protoError
		if errors.As(err, &pe) {
			c.out = resp.AppendError(c.out, pe.Error())
		}
		if len(c.out) > 0 {
			if _, werr := c.nc.Write(c.out); werr != nil {
				return
			}
		}
		if cap(c.out) > 1<<20 {
			c.out = nil
		}
		if err != nil || c.closing || c.stopped.Load() {
			return
		}
	}
}

// newCall returns the next pcall of the round, reset.
func (c *clientConn) newCall() *pcall {
	if c.ncalls == len(c.calls) {
		c.calls = append(c.calls, &pcall{call: call{w: c.w}})
	}
	pc := c.calls[c.ncalls]
	c.ncalls++
	pc.slot, pc.to, pc.b, pc.asking, pc.err = -1, nil, nil, false, nil
	pc.reply = pc.reply[:0]
	return pc
}

// runBatch runs the client's pipelined commands and appends their replies,
// in order, to c.out. Consecutive forwarded commands go out together and
// are waited for together; any other command runs after the ones before
// it were answered.
func (c *clientConn) runBatch(reqs []request) {
	for i := 0; i < len(reqs); {
		c.ncalls = 0
		c.w.arm()
		j := i
		for ; j < len(reqs); j++ {
			r := &reqs[j]
			slot, fwd := c.route(r)
			if !fwd {
				break
			}
			pc := c.newCall()
			pc.slot = slot
			pc.b = r.raw
			if pc.b == nil {
				pc.enc = encodeArgs(pc.enc[:0], r.args)
				pc.b = pc.enc
			}
			c.dispatch(pc)
		}
		c.w.wait()
		for k := 0; k < c.ncalls; k++ {
			pc := c.calls[k]
			c.settle(pc)
			c.appendReply(pc.reply)
			if cap(pc.reply) > maxKeptReply {
				pc.reply = nil // a large reply's buffer is not kept per call
			}
		}
		if j < len(reqs) {
			c.ncalls = 0
			c.special(&reqs[j])
			j++
		}
		i = j
		if c.closing {
			return
		}
	}
}

// route decides where a command goes: fwd with the slot of its keys (-1
// for a keyless command, sent to any node), or not fwd for a command the
// proxy answers or splits itself.
func (c *clientConn) route(r *request) (slot int, fwd bool) {
	if !c.authed {
		return 0, false
	}
	name := r.args[0]
	if isSpecial(c.lowerName(name)) {
		return 0, false
	}
	cmd := command.Lookup(name)
	if cmd != nil && len(cmd.Subs) > 0 && len(r.args) > 1 {
		if sub := cmd.Sub(r.args[1]); sub != nil {
			cmd = sub // OBJECT ENCODING key, MEMORY USAGE key: the key is the subcommand's
		}
	}
	if cmd == nil || !cmd.ArityOK(len(r.args)) || !cmd.Keyed(r.args, c.keys) {
		return -1, true
	}
	c.keys = cmd.Keys(r.args, c.keys[:0])
	slot = -1
	for _, k := range c.keys {
		s := shard.Slot(k)
		if slot >= 0 && s != slot {
			return 0, false // CROSSSLOT, answered by special
		}
		slot = s
	}
	clear(c.keys)
	return slot, true
}

// lowerName returns name in lower case in c.lower, or nil when it is too
// long to be a command the proxy handles itself.
func (c *clientConn) lowerName(name []byte) []byte {
	if len(name) > len(c.lower) {
		return nil
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		c.lower[i] = ch
	}
	return c.lower[:len(name)]
}

// dispatch sends pc to its node. A failure to reach the node is left in
// pc.err for settle.
func (c *clientConn) dispatch(pc *pcall) {
	pc.err = nil
	pc.reply = pc.reply[:0]
	n := pc.to
	if n == nil {
		m := c.p.smap.Load()
		if pc.slot >= 0 {
			n = m.nodeFor(pc.slot)
		} else if len(m.masters) > 0 {
			n = m.masters[int(c.id)%len(m.masters)]
		}
	}
	if n == nil {
		pc.err = errNoNode
		return
	}
	bc, err := n.conn(int(c.id) % c.p.cfg.ConnsPerNode)
	if err != nil {
		pc.err = err
		return
	}
	if pc.asking {
		c.w.n.Add(1)
		if !bc.send(&c.askCall, askingCmd) {
			c.w.n.Add(-1)
			pc.err = errNodeDown
			return
		}
	}
	c.w.n.Add(1)
	if !bc.send(&pc.call, pc.b) {
		c.w.n.Add(-1)
		pc.err = errNodeDown
	}
}

// settle retries pc while its outcome is a redirect, a transient error or
// a lost node, for up to the retry budget; it leaves the final reply in
// pc.reply.
func (c *clientConn) settle(pc *pcall) {
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		cls := replyTransient
		if pc.err == nil {
			cls = classify(pc.reply)
		}
		if cls == replyFinal {
			return
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(c.p.cfg.RetryBudget)
		}
		if !now.Before(deadline) || c.p.closed.Load() {
			c.giveUp(pc)
			return
		}
		pc.to, pc.asking = nil, false
		switch cls {
		case replyMoved:
			if slot, addr, ok := redirectAddr(pc.reply); ok {
				c.p.moved(slot, addr)
				// A command the proxy thought keyless (slot -1) goes
				// where the node says too, not to any node again.
				pc.to = c.p.node(addr)
			}
			if attempt >= 2 && !c.pause(attempt, deadline) {
				c.giveUp(pc)
				return
			}
		case replyAsk:
			if _, addr, ok := redirectAddr(pc.reply); ok {
				pc.to, pc.asking = c.p.node(addr), true
			}
		default:
			if pc.err != nil {
				_ = c.p.refresh(c.p.ctx)
			} else {
				c.p.kickRefresh()
			}
			if !c.pause(attempt, deadline) {
				c.giveUp(pc)
				return
			}
		}
		c.w.arm()
		c.dispatch(pc)
		c.w.wait()
	}
}

// giveUp leaves a client-visible error in pc when the retries are over.
func (c *clientConn) giveUp(pc *pcall) {
	if pc.err != nil || len(pc.reply) == 0 {
		pc.err = nil
		pc.reply = resp.AppendError(pc.reply[:0], errClusterDown)
	}
}

// pause waits before the next attempt: 2 ms doubling to 100 ms, never past
// deadline. It reports false when the proxy shuts down.
func (c *clientConn) pause(attempt int, deadline time.Time) bool {
	d := 2 * time.Millisecond << min(attempt, 6)
	d = min(d, 100*time.Millisecond, time.Until(deadline))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.p.ctx.Done():
		return false
	}
}

// appendReply appends a node's reply in the client's protocol.
func (c *clientConn) appendReply(r []byte) {
	if c.proto == resp.RESP3 || !resp.NeedsDowngrade(r) {
		c.out = append(c.out, r...)
		return
	}
	out, err := resp.Downgrade(c.out, r)
	if err != nil {
		c.out = resp.AppendError(out[:len(c.out)], errNoRESP2)
		return
	}
	c.out = out
}

// roundTrip sends pcs (built by newCall) together, waits for them and
// settles each.
func (c *clientConn) roundTrip(pcs []*pcall) {
	c.w.arm()
	for _, pc := range pcs {
		c.dispatch(pc)
	}
	c.w.wait()
	for _, pc := range pcs {
		if pc.to == nil {
			c.settle(pc)
		}
	}
}

// encodeArgs appends args as a RESP array of bulk strings.
func encodeArgs(b []byte, args [][]byte) []byte {
	b = resp.AppendArray(b, len(args))
	for _, a := range args {
		b = resp.AppendBulk(b, a)
	}
	return b
}

// appendCmd appends a command built from a name and args to b.
func appendCmd(b []byte, name string, args ...[]byte) []byte {
	b = resp.AppendArray(b, 1+len(args))
	b = resp.AppendBulkString(b, name)
	for _, a := range args {
		b = resp.AppendBulk(b, a)
	}
	return b
}

// errWrongArgs is Redis's arity error for a command.
func errWrongArgs(name []byte) string {
	return "ERR wrong number of arguments for '" + string(name) + "' command"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

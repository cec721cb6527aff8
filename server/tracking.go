package server

import (
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
)

// Client-side caching (CLIENT TRACKING): the server remembers which
// clients read which keys, and sends each of them one invalidation
// message ("invalidate" push, RESP3) the first time such a key changes,
// then forgets the key. In BCAST mode it remembers nothing and tells the
// client of every change to a key that starts with one of its prefixes.
//
// Changes come from the Raft groups' FSMs (raftfsm.ChangeHook), so that a
// client is told of every change its node applies, whichever client (on
// whichever node) wrote: the tracker is installed on a group the first
// time a tracking client reads from it or turns tracking on.

// pushMaxBuffer bounds the invalidation messages waiting for one client;
// a client that falls this far behind is disconnected (as Redis does with
// client-output-buffer-limit).
const pushMaxBuffer = 64 << 20

// trackingMaxKeys bounds the keys the tracking table remembers (Redis's
// tracking-table-max-keys default): beyond it, remembered keys are
// invalidated (their readers told, as if they changed) and forgotten.
const trackingMaxKeys = 1_000_000

// trackState is one tracking client's mode. The connection's goroutine
// writes it under tracker.mu (except caching, which only it reads); the
// FSM goroutines read it and change brokenRedir and loop under
// tracker.mu; the connection's goroutine reads the other fields without
// the lock.
type trackState struct {
	bcast, optin, optout, noloop bool
	// caching is CLIENT CACHING YES (OPTIN) or NO (OPTOUT) for the next
	// command.
	caching bool
	// redirect is the id of the client that receives the messages (0:
	// this one); brokenRedir is set once it was found gone.
	redirect    int64
	brokenRedir bool
	prefixes    [][]byte
	// loop counts, for NOLOOP, the keys of this client's writes in flight:
	// each suppresses one invalidation of that key.
	loop map[string]int
}

// tracker is the server's tracking table. It implements raftfsm.ChangeHook.
type tracker struct {
	srv *Server
	// active counts tracking clients: with none, a change costs one
	// atomic load.
	active atomic.Int64

	mu sync.Mutex
	// keys maps each remembered key to the ids of the clients that read it.
	keys map[string]map[int64]struct{}
	// clients are the tracking clients by id; bcast those in BCAST mode.
	clients map[int64]*client
	bcast   map[int64]*client
	// limit overrides trackingMaxKeys when set (tests).
	limit int

	// blockers counts the connections blocked on keys (cmd_blocking.go):
	// with none, a change costs one more atomic load.
	blockers atomic.Int64
	blocked  blocked
}

func (t *tracker) init(s *Server) {
	t.srv = s
	t.keys = make(map[string]map[int64]struct{})
	t.clients = make(map[int64]*client)
	t.bcast = make(map[int64]*client)
}

// changeHooker is implemented by groups that report applied changes
// (raftfsm.Group); test fakes may not.
type changeHooker interface {
	SetChangeHook(h raftfsm.ChangeHook)
}

// watch installs the tracker on g (idempotent).
func (t *tracker) watch(g Group) {
	if h, ok := g.(changeHooker); ok {
		h.SetChangeHook(t)
	}
}

// enable turns tracking on for c (or changes its options), as Redis's
// enableTracking: options replace the previous ones, prefixes add up.
func (t *tracker) enable(c *client, st trackState) {
	for _, g := range t.srv.router.HostedGroups() {
		t.watch(g)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := c.trk
	if old == nil {
		t.active.Add(1)
		t.clients[c.id] = c
	} else {
		st.prefixes = append(old.prefixes, st.prefixes...)
	}
	c.trk = &st
	if st.bcast {
		t.bcast[c.id] = c
	}
	c.resp3 = c.proto == resp.RESP3
	c.push.resp3.Store(c.resp3)
	if !c.push.enabled.Load() {
		// From now on, messages wait for the replies of the batch
		// running (serveConn checks enabled again after the batch).
		c.push.mu.Lock()
		c.push.busy = true
		c.push.mu.Unlock()
		c.push.enabled.Store(true)
	}
	if st.redirect != 0 {
		t.srv.clientsMu.Lock()
		if to := t.srv.clients[st.redirect]; to != nil && to != c {
			to.push.enabled.Store(true)
		}
		t.srv.clientsMu.Unlock()
	}
}

// isClientSub reports whether cmd is a CLIENT subcommand.
func isClientSub(cmd *command.Command) bool {
	return cmd != nil && len(cmd.Name) > 7 && cmd.Name[:7] == "client|"
}

// disable turns tracking off for c. The keys it read stay in the table
// until they change (then nobody is told), as in Redis.
func (t *tracker) disable(c *client) {
	if c.trk == nil {
		return
	}
	t.mu.Lock()
	delete(t.clients, c.id)
	delete(t.bcast, c.id)
	c.trk = nil
	t.active.Add(-1)
	t.mu.Unlock()
}

// remember records that c read keys (the connection holds the read lock
// of their store, so no change can come between the read and this).
func (t *tracker) remember(c *client, keys [][]byte) {
	t.mu.Lock()
	for len(t.keys) > 0 && len(t.keys)+len(keys) > t.maxKeys() {
		t.evictOne()
	}
	for _, k := range keys {
		ids := t.keys[string(k)]
		if ids == nil {
			ids = make(map[int64]struct{}, 1)
			t.keys[string(k)] = ids
		}
		ids[c.id] = struct{}{}
	}
	t.mu.Unlock()
}

// maxKeys is the table's bound (tests lower it).
func (t *tracker) maxKeys() int {
	if t.limit > 0 {
		return t.limit
	}
	return trackingMaxKeys
}

// evictOne forgets one remembered key (the first the map's random order
// gives), telling its readers as if it changed. Caller holds t.mu.
func (t *tracker) evictOne() {
	for k, ids := range t.keys {
		delete(t.keys, k)
		for id := range ids {
			if c := t.clients[id]; c != nil && !c.trk.bcast {
				t.invalidate(c, []byte(k))
			}
		}
		return
	}
}

// beginLoop records, for a NOLOOP client, the keys of the writes it is
// about to propose; endLoop forgets them once their replies are back.
func (t *tracker) beginLoop(c *client, cmds []*command.Command, pend [][][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := c.trk
	if st.loop == nil {
		st.loop = make(map[string]int)
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		c.keybuf = cmd.Keys(pend[i], c.keybuf[:0])
		for _, k := range c.keybuf {
			st.loop[string(k)]++
		}
	}
}

func (t *tracker) endLoop(c *client) {
	t.mu.Lock()
	clear(c.trk.loop)
	t.mu.Unlock()
}

// KeysChanged implements raftfsm.ChangeHook (FSM goroutine, store write
// lock held).
func (t *tracker) KeysChanged(keys [][]byte) {
	if t.blockers.Load() > 0 {
		t.wakeBlocked(keys)
	}
	if t.active.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		if ids := t.keys[string(k)]; ids != nil {
			// Every client tracking k is told and forgotten, as Redis drops
			// the key's whole entry: a NOLOOP client's own write is not
			// told, but the client is forgotten too until it reads k again.
			for id := range ids {
				c := t.clients[id]
				if c == nil || c.trk.bcast {
					continue
				}
				if c.trk.noloop && c.trk.loop[string(k)] > 0 {
					c.trk.loop[string(k)]--
					continue
				}
				t.invalidate(c, k)
			}
			delete(t.keys, string(k))
		}
		for _, c := range t.bcast {
			if !hasPrefix(c.trk.prefixes, k) {
				continue
			}
			if c.trk.noloop && c.trk.loop[string(k)] > 0 {
				c.trk.loop[string(k)]--
				continue
			}
			t.invalidate(c, k)
		}
	}
}

// AllChanged implements raftfsm.ChangeHook: every tracking client is told
// to drop everything (a null invalidation, as Redis on FLUSHALL).
func (t *tracker) AllChanged() {
	if t.blockers.Load() > 0 {
		t.wakeBlocked(nil)
	}
	if t.active.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.keys)
	for _, c := range t.clients {
		t.invalidate(c, nil)
	}
}

// hasPrefix reports whether key starts with one of prefixes (an empty
// list matches every key).
func hasPrefix(prefixes [][]byte, key []byte) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// invalidate queues the invalidation of key (nil: everything) for c's
// messages' receiver: c itself, or the client it redirects to. Only a
// RESP3 receiver gets them (a RESP2 one would need to be subscribed to
// __redis__:invalidate, and Shoal has no pub/sub). Caller holds t.mu.
func (t *tracker) invalidate(c *client, key []byte) {
	to := c
	if id := c.trk.redirect; id != 0 {
		t.srv.clientsMu.Lock()
		to = t.srv.clients[id]
		t.srv.clientsMu.Unlock()
		if to == nil {
			if !c.trk.brokenRedir {
				c.trk.brokenRedir = true
				if c.push.resp3.Load() {
					b := append([]byte(nil), ">2\r\n$21\r\ntracking-redir-broken\r\n"...)
					c.push.queue(c, resp.AppendInt(b, id))
				}
			}
			return
		}
	}
	if !to.push.resp3.Load() {
		return
	}
	to.push.queue(to, appendInvalidate(nil, key))
}

// appendInvalidate appends the RESP3 push ">2 invalidate [key]" (a null
// in place of the array when key is nil).
func appendInvalidate(b, key []byte) []byte {
	b = append(b, ">2\r\n$10\r\ninvalidate\r\n"...)
	if key == nil {
		return append(b, "_\r\n"...)
	}
	b = resp.AppendArray(b, 1)
	return resp.AppendBulk(b, key)
}

// pushes is a connection's queue of messages it did not ask for
// (invalidations). While the connection runs a batch (busy), they wait in
// buf and the connection appends them after its replies; between batches
// the push writer goroutine writes them, under the connection's write
// lock, so that a message never overtakes the reply of a read before it.
type pushes struct {
	// enabled is set once the connection tracks or receives messages:
	// until then the connection ignores the rest (one atomic load per
	// batch).
	enabled atomic.Bool
	// resp3 mirrors the connection's protocol, for the FSM goroutines.
	resp3 atomic.Bool

	mu      sync.Mutex
	buf     []byte        // guarded by mu
	busy    bool          // guarded by mu: the connection runs a batch
	started bool          // guarded by mu: the writer runs
	dead    bool          // guarded by mu: over pushMaxBuffer, or closed
	wake    chan struct{} // capacity 1
	quit    chan struct{} // closed when the connection ends
}

// queue appends a message for c and wakes its writer.
func (p *pushes) queue(c *client, msg []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return
	}
	if len(p.buf)+len(msg) > pushMaxBuffer {
		p.dead = true
		_ = c.nc.Close()
		return
	}
	p.buf = append(p.buf, msg...)
	if p.busy {
		return // the connection appends them after its replies
	}
	if !p.started {
		p.started = true
		p.wake = make(chan struct{}, 1)
		p.quit = make(chan struct{})
		go c.pushWriter(p.wake, p.quit)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// pushWriter writes c's queued messages between its batches.
func (c *client) pushWriter(wake, quit chan struct{}) {
	var b []byte
	for {
		select {
		case <-wake:
		case <-quit:
			return
		}
		c.wmu.Lock()
		c.push.mu.Lock()
		if c.push.busy || len(c.push.buf) == 0 || c.nc == nil {
			c.push.mu.Unlock()
			c.wmu.Unlock()
			continue
		}
		b, c.push.buf = c.push.buf, b[:0]
		c.push.mu.Unlock()
		_, err := c.nc.Write(b)
		c.wmu.Unlock()
		if err != nil {
			return
		}
		c.srv.stats.netOutput.Add(int64(len(b)))
	}
}

// beginPushBatch marks the connection busy: messages wait for its
// replies.
func (c *client) beginPushBatch() {
	c.push.mu.Lock()
	c.push.busy = true
	c.push.mu.Unlock()
}

// drainPushes appends the queued messages to c.out (the connection's
// goroutine, during a batch).
func (c *client) drainPushes() {
	c.push.mu.Lock()
	c.out = append(c.out, c.push.buf...)
	c.push.buf = c.push.buf[:0]
	c.push.mu.Unlock()
}

// endPushBatch appends the queued messages after the batch's replies and
// lets the writer send later ones; the caller holds c.wmu until it has
// written c.out.
func (c *client) endPushBatch() {
	c.push.mu.Lock()
	c.out = append(c.out, c.push.buf...)
	c.push.buf = c.push.buf[:0]
	c.push.busy = false
	c.push.mu.Unlock()
}

// closePushes stops c's writer; later messages are dropped.
func (c *client) closePushes() {
	c.push.mu.Lock()
	c.push.dead = true
	if c.push.started {
		close(c.push.quit)
	}
	c.push.mu.Unlock()
}

// trackRead remembers the keys of a read c just ran, if its tracking mode
// says so (the connection holds the store's read lock).
func (c *client) trackRead(cmd *command.Command, args [][]byte) {
	st := c.trk
	if st.bcast || (st.optin && !st.caching) || (st.optout && st.caching) {
		return
	}
	c.keybuf = cmd.Keys(args, c.keybuf[:0])
	c.srv.track.remember(c, c.keybuf)
}

// appendTrackingInfo appends CLIENT TRACKINGINFO's reply.
func appendTrackingInfo(x *command.Ctx, st *trackState) {
	x.MapHeader(3)
	x.BulkString("flags")
	if st == nil {
		x.SetHeader(1)
		x.BulkString("off")
		x.BulkString("redirect")
		x.Int(-1)
		x.BulkString("prefixes")
		x.Array(0)
		return
	}
	var flags []string
	flags = append(flags, "on")
	if st.bcast {
		flags = append(flags, "bcast")
	}
	if st.optin {
		flags = append(flags, "optin")
		if st.caching {
			flags = append(flags, "caching-yes")
		}
	}
	if st.optout {
		flags = append(flags, "optout")
		if st.caching {
			flags = append(flags, "caching-no")
		}
	}
	if st.noloop {
		flags = append(flags, "noloop")
	}
	if st.brokenRedir {
		flags = append(flags, "broken_redirect")
	}
	x.SetHeader(len(flags))
	for _, f := range flags {
		x.BulkString(f)
	}
	x.BulkString("redirect")
	x.Int(st.redirect)
	x.BulkString("prefixes")
	x.Array(len(st.prefixes))
	// In byte order, as Redis keeps them (in a radix tree).
	for _, p := range slices.SortedFunc(slices.Values(st.prefixes), bytes.Compare) {
		x.Bulk(p)
	}
}

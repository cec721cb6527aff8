package server

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// maxPendingWrites bounds how many pipelined writes of one connection go
// into one proposal.
const maxPendingWrites = 1024

// client is one connection's state. Fields without a comment are only used
// by the connection's goroutine; mu guards the ones CLIENT LIST reads.
type client struct {
	srv *Server
	// xs are the command contexts (ctx, done): xs[0] for a command, xs[1]
	// for one EXEC runs; xdepth counts those in use.
	xs     [2]command.Ctx
	xdepth int
	// cmds finds the connection's commands (connection goroutine).
	cmds    command.LookupCache
	nc      net.Conn
	id      int64
	addr    string
	laddr   string
	created time.Time

	proto    resp.Proto
	authed   bool
	readonly bool
	closing  bool
	// db is the connection's database (SELECT; 0 in cluster mode): written
	// only by the connection goroutine, read by it and, atomically, by
	// CLIENT LIST/INFO on other connections (client.DB).
	db atomic.Int32

	mu       sync.Mutex
	name     string // guarded by mu
	libName  string // guarded by mu
	libVer   string // guarded by mu
	lastCmd  string // guarded by mu
	lastTime int64  // unix ms of the last command, guarded by mu

	// rlocked is set while the connection holds its store's RLock across a
	// run of consecutive reads in one pipeline.
	rlocked *shard.Store
	// batch and bi are runBatch's commands and the one running; pfEnd is
	// where the reads prefetched under rlocked end (prefetch.go).
	batch  [][][]byte
	bi     int
	pfEnd  int
	pfKeys [][]byte
	// leaseG is the group whose read lease let the current run of reads
	// skip a confirmation round; runlock checks the lease again once the
	// reads are done. leaseLost: it had expired and a round then failed,
	// so the batch's replies must not be sent (the connection closes).
	leaseG    Group
	leaseLost bool
	// now caches the clock for one run of commands (milliseconds).
	now int64
	// hits and misses count keyspace lookups until the end of the batch.
	hits, misses int64

	out   []byte
	pend  [][][]byte
	pendG []Group
	pendC []*command.Command // the table entry of each pending write
	pendT []int64            // when each pending write was dispatched (nanotime)
	// scripts are the write scripts proposed and not yet answered
	// (cmd_script.go); they always precede the writes of pend.
	scripts []pendingScript

	// cur is the command being executed (nil before lookup succeeds);
	// tick is when it started (nanotime): the end of the previous command,
	// of the last commit wait, or the start of the batch. flushEnd is when
	// the last proposal's replies came back. See stats_cmd.go.
	cur      *command.Command
	tick     int64
	flushEnd int64
	// executed counts the commands of the batch that ran (refused ones do
	// not count in total_commands_processed, as in Redis).
	executed int64

	// rd is the connection's request reader (nil in tests that run
	// commands without a connection).
	rd *reader
	// Buffer figures at the end of the last batch, for CLIENT LIST;
	// guarded by mu.
	qbuf, qbufFree, rbs, rbp, outCap int
	monitoring                       bool // MONITOR ran; guarded by mu
	// multiN is 1 + the number of commands queued in the open
	// transaction, 0 outside one (CLIENT LIST's multi= and x flag);
	// guarded by mu.
	multiN int

	// monitor is set by MONITOR; monitorStart asks serveConn to start its
	// writer once the +OK is written.
	monitor      *monitor
	monitorStart bool

	keybuf  [][]byte
	scratch []byte
	rng     *rand.Rand

	// trk is the connection's CLIENT TRACKING mode (nil: off); see
	// tracking.go. push queues the invalidation messages it receives;
	// wmu serializes writes to nc once it receives any.
	trk   *trackState
	push  pushes
	wmu   sync.Mutex
	resp3 bool // the protocol push.resp3 was last set to
	// ctl is CLIENT NO-EVICT's flag (guarded by mu); killed is set by
	// CLIENT KILL from another connection.
	ctl    clientCtl
	killed atomic.Bool
	// multi is the open MULTI transaction (cmd_multi.go), nil outside one.
	multi *multiState
	// watch holds the keys WATCH watches (cmd_multi.go), nil when none.
	watch *watchState
	// acl is the connection's user (acl_check.go).
	acl aclConn

	// outCheck is the output size past which the batch checks the output
	// limits (limitState.outCheckAt, loaded per batch). outPending is the
	// size of the replies being written (CLIENT LIST's omem, the clients
	// cron); busy is set while the connection runs a batch (the idle
	// timeout spares it). Both atomics are written by the connection's
	// goroutine only.
	outCheck   int
	outPending atomic.Int64
	busy       atomic.Bool
}

func newClient(s *Server, nc net.Conn) *client {
	c := &client{
		srv:     s,
		nc:      nc,
		id:      s.nextID.Add(1),
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		created: time.Now(),
		proto:   resp.RESP2,
		rng:     command.NewRand(),
	}
	c.acl.user = s.defaultUser()
	c.authed = s.defaultAuthenticated()
	c.outCheck = s.lim.outCheckAt()
	return c
}

func (s *Server) currentPassword() string { return *s.password.Load() }

// serveConn is a connection's goroutine: it reads every complete command the
// client has sent, runs them as one batch and writes all their replies with
// one write, until the client leaves, QUIT, a protocol error, or Shutdown.
func (s *Server) serveConn(nc net.Conn) {
	c := newClient(s, nc)
	if !s.admit(c) {
		nc.Close()
		s.wg.Done()
		return
	}
	select {
	case <-s.stop:
		// Accepted as Shutdown began: it may not have seen this one.
		_ = nc.SetReadDeadline(time.Now())
	default:
	}
	s.stats.connections.Add(1)
	defer func() {
		nc.Close()
		s.track.disable(c)
		c.closePushes()
		s.clientsMu.Lock()
		delete(s.clients, c.id)
		s.clientsMu.Unlock()
		s.wg.Done()
	}()
	defer s.stopMonitor(c)
	if s.protectedDenies(nc) {
		return
	}
	rd := newReader(nc)
	c.rd = rd
	var cmds [][][]byte
	for {
		rd.setAuthenticated(c.authed)
		rd.setLimits(s.lim.maxBulk.Load(), s.lim.queryLimit.Load())
		var err error
		cmds, err = rd.readBatch(cmds)
		c.busy.Store(true)
		c.outCheck = s.lim.outCheckAt()
		if c.push.enabled.Load() {
			c.beginPushBatch()
		}
		if len(cmds) > 0 {
			c.runBatch(cmds)
		}
		pushing := c.push.enabled.Load() // CLIENT TRACKING may have set it
		if c.leaseLost {
			// Reads served under a lease that ended meanwhile, and the
			// leadership is not confirmed: send nothing.
			return
		}
		if err != nil {
			// Declared here: &pe escapes, and this is not per batch.
			var pe *protoError
			if errors.As(err, &pe) {
				at := len(c.out)
				c.out = resp.AppendError(c.out, "ERR "+pe.Error())
				s.countError(c.out[at:])
				c.closing = true
			} else if errors.Is(err, errQueryBufLimit) {
				s.lim.queryClosed.Add(1)
				s.log.Warn("closing client that reached max query buffer length",
					"client-id", c.id, "client-addr", c.addr, "qbuf", rd.w-rd.cmd)
			}
		}
		if pushing {
			// Invalidations queued during the batch follow its replies;
			// later ones wait for this write (pushWriter).
			c.wmu.Lock()
			c.endPushBatch()
		}
		switch {
		case c.monitor != nil && !c.monitorStart:
			// A monitor's replies queue behind the lines fed to it.
			c.monitor.push(c.out)
		case len(c.out) > 0:
			// Written, or dropped over the output limits: a read error
			// next must not send it again.
			if !c.write() {
				if pushing {
					c.wmu.Unlock()
				}
				return
			}
		}
		if pushing {
			c.wmu.Unlock()
		}
		if c.monitorStart {
			s.startMonitor(c)
		}
		if cap(c.out) > 1<<20 {
			c.out = nil
		}
		if err != nil || c.closing {
			return
		}
		c.busy.Store(false)
	}
}

// runBatch runs a batch of pipelined commands, leaving their replies in c.out.
// The arguments alias the reader's buffer: nothing may keep them afterwards.
func (c *client) runBatch(cmds [][][]byte) {
	s := c.srv
	c.out = c.out[:0]
	c.tick = nanotime()
	c.now = s.clock.unixMilli(c.tick)
	var last *command.Command
	c.batch = cmds
	for i, args := range cmds {
		c.bi = i
		if c.closing {
			break
		}
		s.stats.netInput.Add(int64(argsSize(args)))
		cmd := c.exec(args)
		if cmd != nil {
			last = cmd
		}
		if len(c.out) > c.outCheck && !c.checkOutput() {
			break
		}
		if c.trk != nil && c.trk.caching && !isClientSub(cmd) && c.multi == nil {
			// CLIENT CACHING applies to the next command only (CLIENT
			// subcommands aside; to a whole transaction), as in Redis.
			c.trk.caching = false
		}
	}
	if r3 := c.proto == resp.RESP3; r3 != c.resp3 {
		c.resp3 = r3
		c.push.resp3.Store(r3)
	}
	c.batch = nil
	c.runlock()
	c.flushWrites()
	if c.hits != 0 || c.misses != 0 {
		s.stats.keyspaceHits.Add(c.hits)
		s.stats.keyspaceMiss.Add(c.misses)
		c.hits, c.misses = 0, 0
	}
	if c.executed != 0 {
		s.stats.commands.Add(c.executed)
		c.executed = 0
	}
	// The batch's end, not c.now: a batch can block (BLPOP) or wait long,
	// and idle time, which timeout compares, counts from the last reply.
	now := s.clock.unixMilli(nanotime())
	c.mu.Lock()
	if last != nil {
		c.lastCmd = last.Name
	}
	c.lastTime = now
	if c.rd != nil {
		c.qbuf, c.qbufFree, c.rbs = c.rd.w-c.rd.cmd, len(c.rd.buf)-c.rd.w, len(c.rd.buf)
		c.rbp = max(c.rbp, c.rd.w)
	}
	c.outCap = cap(c.out)
	c.mu.Unlock()
}

// argsSize approximates a command's size on the wire, for INFO's
// total_net_input_bytes.
func argsSize(args [][]byte) int {
	n := 16
	for _, a := range args {
		n += len(a) + 16
	}
	return n
}

// exec runs or queues one command and returns its table entry (nil when it
// was rejected before lookup succeeded).
func (c *client) exec(args [][]byte) *command.Command {
	s := c.srv
	if len(args) == 0 {
		return nil
	}
	c.cur = nil
	cmd := c.cmds.Lookup(args[0])
	if cmd == nil {
		c.replyErr(command.UnknownCommand(args))
		return nil
	}
	if len(cmd.Subs) > 0 && len(args) >= 2 {
		if sub := cmd.Sub(args[1]); sub != nil {
			cmd = sub
		} else if cmd.Run == nil {
			c.replyErr(command.UnknownSubcommand(cmd.Name, args[1]))
			return nil
		}
	}
	c.cur = cmd
	if !cmd.ArityOK(len(args)) {
		if cmd.Name == "exec" {
			// As Redis, in a transaction or not.
			if c.multi != nil {
				c.multi = nil
				c.setMultiN(-1)
			}
			c.replyErr(execAbortReason(command.ErrWrongArgs(cmd.Name)))
			return cmd
		}
		c.replyErr(command.ErrWrongArgs(cmd.Name))
		return cmd
	}
	if !c.authed && cmd.Flags&command.FlagNoAuth == 0 {
		c.replyErr(command.ErrNoAuth)
		return cmd
	}
	if msg := c.aclDenied(cmd, args); msg != "" {
		c.replyErr(msg)
		return cmd
	}
	if scriptBusy(cmd) { // cmd_script.go: BUSY while a script runs too long
		c.replyErr(command.ErrScriptBusy)
		return cmd
	}
	if c.multi != nil && !multiControl(cmd) {
		c.queueMulti(cmd, args)
		return cmd
	}
	if mode := s.pause.mode.Load(); mode != pauseOff && pausedFor(mode, cmd) {
		// CLIENT PAUSE: the command waits, it is not refused.
		if !c.waitPause(cmd) {
			return cmd // killed, or the server stops: not run
		}
	}
	switch {
	case cmd.Kind == command.KindLocal:
		c.runlock()
		if len(c.pend) > 0 || !pipelinesScripts(cmd) { // cmd_script.go
			c.flushWrites()
		}
		at := len(c.out)
		x := c.ctx(s.primaryStore(), time.Now().UnixMilli())
		cmd.Run(x, args)
		c.done(x)
		c.ran(cmd, args, at, c.tick)
	case cmd.FirstKey == 0 && !cmd.Keyed(args, c.keybuf):
		if c.refuseOtherDB(cmd, args) {
			return cmd
		}
		c.keyless(cmd, args)
	default:
		g, leader := c.route(cmd, args)
		if g == nil || c.refuseOtherDB(cmd, args) {
			return cmd
		}
		if cmd.Kind == command.KindWrite {
			c.runlock()
			if cmd.Flags&command.FlagDenyOOM != 0 && !s.makeRoom(g) {
				c.replyErr(command.ErrOOM)
				s.stats.rejected.Add(1)
				return cmd
			}
			c.pend = append(c.pend, args)
			c.pendG = append(c.pendG, g)
			c.pendC = append(c.pendC, cmd)
			c.pendT = append(c.pendT, c.tick)
			if len(c.pend) >= maxPendingWrites {
				c.flushWrites()
			}
			return cmd
		}
		if len(c.pend) > 0 || len(c.scripts) > 0 {
			c.flushWrites()
		}
		st := g.Store()
		if c.trk != nil {
			s.track.watch(g) // before reading: no change may go untold
		}
		if c.rlocked != st {
			c.runlock()
			if leader && s.cfg.ReadConsistency == ReadLinearizable {
				// Confirm leadership once for this run of reads, before
				// reading: a deposed leader must not answer. Under the read
				// lease no round is needed, but the lease must still hold
				// once the reads are done (runlock).
				if g.LeaseHolds() {
					c.leaseG = g
				} else if err := c.verify(g); err != nil {
					// Not confirmed (leadership is moving): nothing was
					// read, so the client may read again, from the new
					// leader when the map names it.
					at := len(c.out)
					c.out = c.notOwnerReply(c.out, c.cmdSlot(args)) // tls.go
					c.reject(at)
					return cmd
				}
			}
			st.RLock()
			c.rlocked = st
			c.pfEnd = 0
		}
		if c.bi >= c.pfEnd && c.bi+1 < len(c.batch) {
			c.prefetchReads(st)
		}
		at := len(c.out)
		x := c.ctx(st, c.now)
		if db := c.db.Load(); db != 0 {
			x.St = st.DB(int(db)) // under the same lock as database 0
		}
		cmd.Run(x, args)
		c.done(x)
		if c.trk != nil {
			c.trackRead(cmd, args)
		}
		c.ran(cmd, args, at, c.tick)
	}
	return cmd
}

// route finds the local group that serves a keyed command, or appends the
// redirect or error reply and returns nil. The checks run in Redis
// Cluster's order: cross-slot, unowned slot, cluster down, redirect.
func (c *client) route(cmd *command.Command, args [][]byte) (Group, bool) {
	s := c.srv
	c.keybuf = cmd.Keys(args, c.keybuf[:0])
	slot := shard.Slot(c.keybuf[0])
	cluster := s.router.ClusterEnabled()
	if cluster {
		for _, k := range c.keybuf[1:] {
			if shard.Slot(k) != slot {
				c.replyErr(command.ErrCrossSlot)
				return nil, false
			}
		}
	}
	g, leader, redirect, owned := s.router.Route(slot)
	switch {
	case g != nil && leader && g.Fenced(slot):
		// A migration fenced the slot: wait for the map to move it, then
		// route again (MOVED, or this node's replica of the new owner).
		if !c.waitRouteChange(slot, g, redirect) {
			c.replyErr(command.ErrTryAgainOwnership)
			return nil, false
		}
		g, leader, redirect, owned = s.router.Route(slot)
	case redirect != "" && !leader && s.router.Incoming(slot) != nil:
		// A group with a replica here is the target of a migration of
		// the slot: the client was most likely sent here by the source,
		// whose map already has the flip this node's map has not yet (this
		// node may have led the target when the source's node looked, or
		// lead it now). Sending it back would make it bounce between the
		// two until it gives up: wait for this node's map instead, then
		// redirect to the target's leader.
		if c.waitRouteChange(slot, g, redirect) {
			g, leader, redirect, owned = s.router.Route(slot)
		}
	}
	if g != nil && leader && !g.Owns(slot) && !g.Fenced(slot) {
		// The map gives the slot to this group but its FSM does not own it
		// yet: the leader is committing the map's slots (one Raft round).
		c.waitOwned(g, slot)
	}
	if owned && redirect == "" && (g == nil || !leader) &&
		!(g != nil && c.readonly && cmd.Kind == command.KindRead && g.Owns(slot)) {
		// No leader known (an election, a transfer, a group forming):
		// wait for one rather than answer CLUSTERDOWN at once, which
		// clients retry only a few times within about 100 ms.
		if c.waitLeader(slot) {
			g, leader, redirect, owned = s.router.Route(slot)
		}
	}
	switch {
	case !owned:
		c.replyErr(command.ErrSlotNotServed)
		return nil, false
	case g != nil && leader:
		if !g.Owns(slot) || g.Fenced(slot) {
			// The map gives the slot to this group, but its FSM does not
			// own it yet (the leader is committing the map's slots).
			c.replyErr(command.ErrTryAgainOwnership)
			return nil, false
		}
		if cmd.Kind == command.KindRead && !g.Ready() && !c.hold(c.srv.cfg.LeaderHold, g.Ready) {
			// A new leader that has not yet applied its predecessors'
			// entries would read a state without some acknowledged writes.
			c.replyErr(command.ErrClusterDown)
			return nil, false
		}
		return g, true
	case g != nil && c.readonly && cmd.Kind == command.KindRead && g.Owns(slot):
		// READONLY connections may read from a follower (possibly stale).
		return g, false
	case redirect != "":
		c.runlock()
		c.flushWrites()
		at := len(c.out)
		c.out = appendMoved(c.out, slot, c.movedAddr(redirect)) // tls.go
		c.reject(at)
		return nil, false
	default:
		c.replyErr(command.ErrClusterDown)
		return nil, false
	}
}

// waitRouteChange waits, up to FenceHold, for the map to route slot
// elsewhere than to group g or redirect (a migration's flip reaching this
// node), and reports whether it did.
func (c *client) waitRouteChange(slot int, g Group, redirect string) bool {
	return c.hold(c.srv.cfg.FenceHold, func() bool {
		g2, _, r2, _ := c.srv.router.Route(slot)
		return g2 != g || r2 != redirect
	})
}

// waitOwned waits, up to FenceHold, for group g's FSM to own slot.
func (c *client) waitOwned(g Group, slot int) {
	c.hold(c.srv.cfg.FenceHold, func() bool { return g.Owns(slot) })
}

// waitLeader waits, up to LeaderHold, for the map or a local replica to
// name a leader of slot's group (this node, or one to redirect to), or
// for the slot to be unowned, and reports whether that happened.
func (c *client) waitLeader(slot int) bool {
	return c.hold(c.srv.cfg.LeaderHold, func() bool {
		_, leader, redirect, owned := c.srv.router.Route(slot)
		return leader || redirect != "" || !owned
	})
}

// hold waits up to d for done, polling every 2 ms, and reports whether it
// came true. It releases the store's read lock and proposes the pending
// writes first: nothing is held meanwhile. Holds are rare (around a
// migration's handover or an election) and short, so a poll costs less
// than a notification on every route change would on the hot path.
func (c *client) hold(d time.Duration, done func() bool) bool {
	if done() {
		return true
	}
	c.srv.stats.holds.Add(1)
	c.runlock()
	c.flushWrites()
	deadline := time.Now().Add(d)
	for {
		if done() {
			return true
		}
		if !time.Now().Before(deadline) {
			c.srv.stats.holdTimeouts.Add(1)
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// verify confirms with a quorum round that this node still leads g (see
// Group.VerifyRound).
func (c *client) verify(g Group) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.WriteTimeout)
	defer cancel()
	return g.VerifyRound(ctx)
}

// replyErr appends an error reply after the pending writes' replies, for
// a command refused before it ran (accounted as rejected).
func (c *client) replyErr(msg string) {
	if c.multi != nil {
		c.multi.dirty = true // EXEC will abort
	}
	c.runlock()
	c.flushWrites()
	at := len(c.out)
	c.out = resp.AppendError(c.out, msg)
	c.reject(at)
}

// appendMoved appends "-MOVED slot addr".
func appendMoved(b []byte, slot int, addr string) []byte {
	b = append(b, "-MOVED "...)
	b = strconv.AppendInt(b, int64(slot), 10)
	b = append(b, ' ')
	b = append(b, addr...)
	return append(b, '\r', '\n')
}

// refuseOtherDB refuses, in cluster mode, a command that would act on a
// database other than 0 (MOVE, SWAPDB, COPY ... DB: FlagOtherDB), with
// Redis Cluster's reply, and reports whether it did. Like Redis Cluster it
// runs after routing: a key of another node's slot gets MOVED first.
func (c *client) refuseOtherDB(cmd *command.Command, args [][]byte) bool {
	if cmd.Flags&command.FlagOtherDB == 0 || !c.srv.router.ClusterEnabled() {
		return false
	}
	msg := command.CrossDBRefusal(cmd, args)
	if msg != "" {
		c.replyErr(msg)
	}
	return msg != ""
}

// keyless runs a command without keys that acts on the key space (DBSIZE,
// KEYS, SCAN, RANDOMKEY, FLUSHALL, FLUSHDB): on every group this node leads.
func (c *client) keyless(cmd *command.Command, args [][]byte) {
	s := c.srv
	c.runlock()
	c.flushWrites()
	groups := s.router.LocalGroups()
	if cmd.Kind == command.KindWrite {
		if len(groups) == 0 {
			c.replyErr(command.ErrClusterDown)
			return
		}
		// Propose to each group; reply with the first group's reply, or the
		// first error.
		t0, at := c.tick, len(c.out)
		var first []byte
		for _, g := range groups {
			c.pend = append(c.pend[:0], args)
			c.pendG = append(c.pendG[:0], g)
			c.pendC = append(c.pendC[:0], nil) // accounted below
			c.pendT = append(c.pendT[:0], t0)
			start := len(c.out)
			c.flushWrites()
			r := c.out[start:]
			if first == nil || (len(r) > 0 && r[0] == '-' && first[0] != '-') {
				first = append([]byte(nil), r...)
			}
			c.out = c.out[:start]
		}
		c.out = append(c.out, first...)
		c.ran(cmd, args, at, t0)
		return
	}
	stores := make([]*shard.Store, 0, len(groups))
	db := int(c.db.Load())
	for _, g := range groups {
		if g.Ready() {
			stores = append(stores, g.Store().DB(db))
		}
	}
	if len(stores) != len(groups) && !s.router.ClusterEnabled() {
		c.replyErr(command.ErrClusterDown)
		return
	}
	if stores == nil {
		stores = []*shard.Store{} // leads no group: an empty key space
	}
	at := len(c.out)
	x := c.ctx(nil, c.now)
	x.Stores = stores
	if len(stores) == 1 {
		x.St = stores[0]
	}
	cmd.Run(x, args)
	c.done(x)
	c.ran(cmd, args, at, c.tick)
}

// ctx returns the context for one command run on this connection, set for
// store st at time now (ms) and the connection's reply buffer; done takes
// its reply and counts back. The contexts are the connection's own, a
// small stack (EXEC runs its queued commands inside its own run), so that
// a command costs no allocation: a Ctx passed to a handler through a
// function value escapes to the heap. Connection goroutine only.
func (c *client) ctx(st *shard.Store, now int64) *command.Ctx {
	var x *command.Ctx
	if c.xdepth < len(c.xs) {
		x = &c.xs[c.xdepth]
	} else {
		x = new(command.Ctx) // deeper than EXEC's nesting: never in practice
	}
	c.xdepth++
	*x = command.Ctx{St: st, Now: now, Proto: c.proto, Out: c.out, LFURand: c.rng.Float64(), Rng: c.rng, Conn: c}
	return x
}

// done ends the run of x (from ctx): its reply becomes the connection's
// buffer and its keyspace hits and misses are counted; x is cleared so
// that it holds no store or buffer.
func (c *client) done(x *command.Ctx) {
	c.out = x.Out
	c.hits, c.misses = c.hits+x.Hits, c.misses+x.Misses
	*x = command.Ctx{}
	c.xdepth--
}

// runlock releases the store's RLock held across a run of reads.
func (c *client) runlock() {
	if c.rlocked != nil {
		c.rlocked.RUnlock()
		c.rlocked = nil
		if c.leaseG != nil {
			c.recheckLease()
		}
	}
}

// recheckLease runs after a run of reads served under a read lease: if the
// lease no longer holds (the process was paused, or leadership moved while
// it read), a confirmation round that starts now must succeed, or the
// reads may be stale and the batch's replies are dropped with the
// connection (the client retries elsewhere). A round that succeeds after
// the reads proves that no other leader had been elected when they ran.
func (c *client) recheckLease() {
	g := c.leaseG
	c.leaseG = nil
	if g.LeaseHolds() {
		return
	}
	if err := c.verify(g); err != nil {
		c.leaseLost = true
		c.closing = true
	}
}

// connOf returns the connection a front-end command runs on (nil inside the
// FSM, where front-end commands never run).
func connOf(x *command.Ctx) *client {
	c, _ := x.Conn.(*client)
	return c
}

// srvOf returns the server of the connection a front-end command runs on.
func srvOf(x *command.Ctx) *Server { return connOf(x).srv }

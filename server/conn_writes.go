package server

// The connection's writes: a batch's pending write commands go to their
// groups as proposals (one per group), and their replies, or the errors and
// redirections that replace them, are appended in the pipeline's order.

import (
	"bytes"
	"context"
	"errors"
	"sync"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// flushWrites proposes the queued writes, one proposal per group (in
// parallel when there are several), and appends their replies in order.
func (c *client) flushWrites() {
	if len(c.scripts) > 0 {
		c.flushScripts() // cmd_script.go; they precede every pending write
	}
	if len(c.pend) == 0 {
		return
	}
	if c.rlocked != nil {
		// A proposal waits for the FSM, whose apply takes the store's write
		// lock: proposing while this goroutine holds a read lock of that
		// store would never complete. Every caller releases it first.
		panic("server: a connection proposed while holding a store read lock")
	}
	s := c.srv
	loop := c.trk != nil && c.trk.noloop
	if loop {
		s.track.beginLoop(c, c.pendC, c.pend)
	}
	single := true
	for _, g := range c.pendG[1:] {
		if g != c.pendG[0] {
			single = false
			break
		}
	}
	if single {
		replies, err := s.propose(c.pendG[0], int(c.db.Load()), c.pend)
		c.flushEnd = nanotime()
		c.appendReplies(c.pend, replies, err, 0, len(c.pend), 0)
	} else {
		c.flushMulti()
	}
	for i := range c.pend {
		c.pend[i], c.pendG[i], c.pendC[i] = nil, nil, nil
	}
	c.pend, c.pendG, c.pendC, c.pendT = c.pend[:0], c.pendG[:0], c.pendC[:0], c.pendT[:0]
	if loop {
		s.track.endLoop(c)
	}
	if c.trk != nil {
		// The writes' invalidations follow their replies, as in Redis.
		c.drainPushes()
	}
	c.now = c.srv.clock.unixMilli(c.flushEnd)
	c.tick = c.flushEnd
}

// flushMulti proposes writes that belong to several groups: each group's
// commands go in one proposal, all proposals run at once, and the replies are
// put back in the pipeline's order.
func (c *client) flushMulti() {
	type part struct {
		g       Group
		idx     []int
		cmds    [][][]byte
		replies raftfsm.Replies
		err     error
	}
	var parts []*part
	byGroup := make(map[Group]*part)
	for i, g := range c.pendG {
		p := byGroup[g]
		if p == nil {
			p = &part{g: g}
			byGroup[g] = p
			parts = append(parts, p)
		}
		p.idx = append(p.idx, i)
		p.cmds = append(p.cmds, c.pend[i])
	}
	var wg sync.WaitGroup
	db := int(c.db.Load())
	for _, p := range parts {
		wg.Add(1)
		go func(p *part) {
			defer wg.Done()
			p.replies, p.err = c.srv.propose(p.g, db, p.cmds)
		}(p)
	}
	wg.Wait()
	c.flushEnd = nanotime()
	type ref struct {
		p *part
		j int
	}
	order := make([]ref, len(c.pend))
	for _, p := range parts {
		for j, i := range p.idx {
			order[i] = ref{p, j}
		}
	}
	for i, r := range order {
		c.appendReplies(r.p.cmds, r.p.replies, r.p.err, r.j, r.j+1, i)
	}
}

// appendReplies appends replies[from:to] of the proposal of cmds, or the
// error for each, and accounts each write (pending index p+i-from). A
// proposal the group never took (its leader is changing: ErrNotLeader) was
// not applied: each command is redirected to its slot's leader, as a write
// the FSM refused for its slot is.
func (c *client) appendReplies(cmds [][][]byte, replies raftfsm.Replies, err error, from, to, p int) {
	if errors.Is(err, raftfsm.ErrNotLeader) {
		for i := from; i < to; i++ {
			at := len(c.out)
			c.out = c.notOwnerReply(c.out, c.cmdSlot(cmds[i])) // tls.go
			c.wrote(p+i-from, at, true)
		}
		return
	}
	if err != nil {
		msg := proposeError(err)
		for i := from; i < to; i++ {
			at := len(c.out)
			c.out = resp.AppendError(c.out, msg)
			c.wrote(p+i-from, at, false)
		}
		return
	}
	for i := from; i < to; i++ {
		at := len(c.out)
		r := replies.Get(i)
		if len(r) > 1 && r[0] == '-' && r[1] == raftfsm.NotOwnerPrefix[0] {
			if slot, ok := raftfsm.ParseNotOwner(r); ok {
				c.out = c.notOwnerReply(c.out, slot) // tls.go
				c.wrote(p+i-from, at, true)
				continue
			}
		}
		if c.proto == resp.RESP2 && resp.NeedsDowngrade(r) {
			if bytes.Equal(r, resp.Null3) && command.NullArrayInRESP2(cmds[i]) {
				c.out = append(c.out, resp.NullArr2...)
			} else if command.PairsFlatInRESP2(cmds[i]) {
				c.out, _ = resp.DowngradeFlatPairs(c.out, r)
			} else {
				c.out, _ = resp.Downgrade(c.out, r)
			}
		} else {
			c.out = append(c.out, r...)
		}
		c.wrote(p+i-from, at, false)
	}
}

// cmdSlot returns the slot of a queued write's first key (a write is
// queued only once its keys were found and routed).
func (c *client) cmdSlot(args [][]byte) int {
	cmd := c.cmds.Lookup(args[0])
	if len(cmd.Subs) > 0 && len(args) >= 2 {
		if sub := cmd.Sub(args[1]); sub != nil {
			cmd = sub
		}
	}
	c.keybuf = cmd.Keys(args, c.keybuf[:0])
	return shard.Slot(c.keybuf[0])
}

// notOwnerReply appends the reply to a write the group's FSM refused
// because the group does not own slot (any more, or yet): MOVED to the
// slot's leader when the map names another node, else TRYAGAIN. Either way
// the write was not applied and the client retries it.
func (s *Server) notOwnerReply(b []byte, slot int) []byte {
	if _, leader, redirect, owned := s.router.Route(slot); owned && !leader && redirect != "" {
		return appendMoved(b, slot, redirect)
	}
	return resp.AppendError(b, command.ErrTryAgainOwnership)
}

// propose sends cmds, which run in database db, to g. Only when the group's
// queue is full does it wait, for at most the write timeout: the common
// case takes no context and no timer.
func (s *Server) propose(g Group, db int, cmds [][][]byte) (raftfsm.Replies, error) {
	s.stats.proposals.Add(1)
	s.stats.proposedCmds.Add(int64(len(cmds)))
	if out, queued, err := g.TryProposeDB(db, cmds); queued || err != nil {
		return out, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	defer cancel()
	return g.ProposeDB(ctx, db, cmds)
}

// proposeError maps a proposal failure other than ErrNotLeader (which
// appendReplies redirects) to a reply.
func proposeError(err error) string {
	switch {
	case errors.Is(err, raftfsm.ErrShutdown):
		return command.ErrShutdown
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return command.ErrClusterDown
	default:
		return command.ErrIndeterminate
	}
}

package server

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tidwall/redcon"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
)

// maxPendingWrites bounds how many pipelined writes of one connection go
// into one proposal.
const maxPendingWrites = 1024

// client is one connection's state. Fields without a comment are only used
// by the connection's goroutine; mu guards the ones CLIENT LIST reads.
type client struct {
	srv     *Server
	rc      redcon.Conn
	id      int64
	addr    string
	laddr   string
	created time.Time

	proto    resp.Proto
	authed   bool
	readonly bool
	closing  bool

	mu       sync.Mutex
	name     string // guarded by mu
	libName  string // guarded by mu
	libVer   string // guarded by mu
	lastCmd  string // guarded by mu
	lastTime int64  // unix ms of the last command, guarded by mu

	// rlocked is set while the connection holds its store's RLock across a
	// run of consecutive reads in one pipeline.
	rlocked bool
	// now caches the clock for one run of commands (milliseconds).
	now int64
	// hits and misses count keyspace lookups until the end of the batch.
	hits, misses int64

	batch   []redcon.Command
	out     []byte
	pend    [][][]byte
	scratch []byte
	rng     *rand.Rand
}

func newClient(s *Server, rc redcon.Conn) *client {
	c := &client{
		srv:     s,
		rc:      rc,
		id:      s.nextID.Add(1),
		addr:    rc.RemoteAddr(),
		created: time.Now(),
		proto:   resp.RESP2,
		rng:     newRand(),
	}
	if nc := rc.NetConn(); nc != nil {
		c.laddr = nc.LocalAddr().String()
	}
	c.authed = s.currentPassword() == ""
	return c
}

func (s *Server) currentPassword() string { return *s.password.Load() }

// handle runs a batch of pipelined commands: the one redcon passes and every
// other complete command already read from the socket.
func (s *Server) handle(rc redcon.Conn, first redcon.Command) {
	c, _ := rc.Context().(*client)
	if c == nil {
		return
	}
	cmds := append(c.batch[:0], first)
	cmds = append(cmds, rc.ReadPipeline()...)
	c.out = c.out[:0]
	c.now = time.Now().UnixMilli()
	var last *command
	for i := range cmds {
		if c.closing {
			break
		}
		if cmd := c.exec(cmds[i].Args); cmd != nil {
			last = cmd
		}
	}
	c.runlock()
	c.flushWrites()
	if c.hits != 0 || c.misses != 0 {
		s.stats.keyspaceHits.Add(c.hits)
		s.stats.keyspaceMiss.Add(c.misses)
		c.hits, c.misses = 0, 0
	}
	if len(c.out) > 0 {
		rc.WriteRaw(c.out)
		s.stats.netOutput.Add(int64(len(c.out)))
	}
	s.stats.commands.Add(int64(len(cmds)))
	if last != nil {
		now := time.Now().UnixMilli()
		c.mu.Lock()
		c.lastCmd, c.lastTime = last.name, now
		c.mu.Unlock()
	}
	for i := range cmds {
		cmds[i] = redcon.Command{}
	}
	c.batch = cmds[:0]
	if cap(c.out) > 1<<20 {
		c.out = nil
	}
	if c.closing {
		rc.Close()
	}
}

// exec runs or queues one command and returns its table entry (nil when it
// was rejected before lookup succeeded).
func (c *client) exec(args [][]byte) *command {
	s := c.srv
	if len(args) == 0 {
		return nil
	}
	cmd := commands.lookup(args[0])
	if cmd == nil {
		c.runlock()
		c.flushWrites()
		c.out = resp.AppendError(c.out, unknownCommand(args))
		s.stats.errorReplies.Add(1)
		return nil
	}
	if len(cmd.subs) > 0 && len(args) >= 2 {
		if sub := cmd.sub(args[1]); sub != nil {
			cmd = sub
		} else if cmd.run == nil {
			c.runlock()
			c.flushWrites()
			c.out = resp.AppendError(c.out, unknownSubcommand(cmd.name, args[1]))
			return nil
		}
	}
	if !cmd.arityOK(len(args)) {
		c.runlock()
		c.flushWrites()
		c.out = resp.AppendError(c.out, errWrongArgs(cmd.name))
		s.stats.errorReplies.Add(1)
		return cmd
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		c.runlock()
		c.flushWrites()
		c.out = resp.AppendError(c.out, errNoAuth)
		s.stats.errorReplies.Add(1)
		return cmd
	}
	switch cmd.kind {
	case kindWrite:
		c.runlock()
		if cmd.flags&flagDenyOOM != 0 && !s.makeRoom() {
			c.flushWrites()
			c.out = resp.AppendError(c.out, errOOM)
			s.stats.rejected.Add(1)
			return cmd
		}
		c.pend = append(c.pend, args)
		if len(c.pend) >= maxPendingWrites {
			c.flushWrites()
		}
	case kindRead:
		if len(c.pend) > 0 {
			c.flushWrites()
		}
		if !s.group.Ready() {
			c.runlock()
			c.out = resp.AppendError(c.out, errClusterDown)
			return cmd
		}
		st := s.group.Store()
		if !c.rlocked {
			st.RLock()
			c.rlocked = true
		}
		x := Ctx{St: st, Now: c.now, Proto: c.proto, Out: c.out, r: c.rng.Float64(), c: c, srv: s}
		cmd.run(&x, args)
		c.out = x.Out
	default:
		c.runlock()
		c.flushWrites()
		x := Ctx{St: s.group.Store(), Now: time.Now().UnixMilli(), Proto: c.proto, Out: c.out, r: c.rng.Float64(), c: c, srv: s}
		cmd.run(&x, args)
		c.out = x.Out
	}
	return cmd
}

// runlock releases the store's RLock held across a run of reads.
func (c *client) runlock() {
	if c.rlocked {
		c.srv.group.Store().RUnlock()
		c.rlocked = false
	}
}

// flushWrites proposes the queued writes as one proposal and appends their
// replies in order.
func (c *client) flushWrites() {
	if len(c.pend) == 0 {
		return
	}
	s := c.srv
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	replies, err := s.group.Propose(ctx, c.pend)
	cancel()
	s.stats.proposals.Add(1)
	s.stats.proposedCmds.Add(int64(len(c.pend)))
	if err != nil {
		msg := proposeError(err)
		for range c.pend {
			c.out = resp.AppendError(c.out, msg)
		}
		s.stats.errorReplies.Add(int64(len(c.pend)))
	} else {
		for i := range c.pend {
			r := replies.Get(i)
			if c.proto == resp.RESP2 && resp.NeedsDowngrade(r) {
				c.out, _ = resp.Downgrade(c.out, r)
			} else {
				c.out = append(c.out, r...)
			}
		}
	}
	for i := range c.pend {
		c.pend[i] = nil
	}
	c.pend = c.pend[:0]
	c.now = time.Now().UnixMilli()
}

// proposeError maps a proposal failure to a reply.
func proposeError(err error) string {
	switch {
	case errors.Is(err, raftfsm.ErrNotLeader):
		return errClusterDown
	case errors.Is(err, raftfsm.ErrShutdown):
		return errShutdown
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return errClusterDown
	default:
		return errIndeterminate
	}
}

// unknownCommand formats Redis's unknown-command error.
func unknownCommand(args [][]byte) string {
	b := make([]byte, 0, 128)
	b = append(b, "ERR unknown command '"...)
	b = appendTrunc(b, args[0], 128)
	b = append(b, "', with args beginning with: "...)
	n := 0
	for _, a := range args[1:] {
		if n >= 128 {
			break
		}
		start := len(b)
		b = append(b, '\'')
		b = appendTrunc(b, a, 128-n)
		b = append(b, "' "...)
		n += len(b) - start
	}
	return sanitize(b)
}

// unknownSubcommand formats Redis's unknown-subcommand error.
func unknownSubcommand(cmd string, sub []byte) string {
	b := make([]byte, 0, 64)
	b = append(b, "ERR unknown subcommand '"...)
	b = appendTrunc(b, sub, 128)
	b = append(b, "'. Try "...)
	for i := 0; i < len(cmd); i++ {
		ch := cmd[i]
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		b = append(b, ch)
	}
	b = append(b, " HELP."...)
	return sanitize(b)
}

// appendTrunc appends at most n bytes of s, stopping at a NUL byte as
// Redis's C formatting does.
func appendTrunc(b, s []byte, n int) []byte {
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		s = s[:n]
	}
	return append(b, s...)
}

// sanitize replaces CR and LF, which would break the protocol, with spaces.
func sanitize(b []byte) string {
	for i, ch := range b {
		if ch == '\r' || ch == '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

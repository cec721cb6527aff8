package server

import (
	"bytes"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
)

// The blocking list and sorted set commands: BLPOP, BRPOP, BLMOVE,
// BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP.
//
// Each is served by the connection on the leader of its keys' slot as its
// non-blocking form (LMPOP, LMOVE, ZMPOP...), proposed through Raft like
// any write, so the pop is applied by every replica. When that finds
// nothing, the connection waits for a change of one of the keys, which the
// FSM reports through the tracker (raftfsm.ChangeHook, on every replica as
// entries apply), and tries again, until the timeout. A waiter registers
// before its first try, so a push that applies in between wakes it. If the
// node stops leading the slot meanwhile, the next try is redirected (MOVED)
// and the client asks the new leader.

func init() {
	reg := func(name string, arity, first, last int, acl string) *command.Command {
		speed := "slow"
		if name == "bzpopmin" || name == "bzpopmax" {
			speed = "fast" // as Redis's categories
		}
		fl := command.FlagWrite
		if first != 0 {
			// As Redis 7.0: scripts may call BLMPOP and BZMPOP only
			// (scriptNonBlocking), transactions all of them (txForm).
			fl |= command.FlagNoScript
		}
		c := &command.Command{Name: name, Arity: arity, Kind: command.KindLocal, Flags: fl,
			FirstKey: first, LastKey: last, Step: 1, ACL: []string{"write", acl, speed, "blocking"}, Run: blockingCommand}
		if first == 0 {
			c.Step = 0
			c.Flags |= command.FlagMovableKeys
			c.KeysFunc = func(args, dst [][]byte) [][]byte {
				// timeout numkeys key...: the keys as the non-blocking form's.
				if len(args) < 3 {
					return dst
				}
				try := append([][]byte{args[0]}, args[2:]...)
				return command.Lookup([]byte("lmpop")).Keys(try, dst)
			}
		}
		command.Register(c)
		return c
	}
	reg("blpop", -3, 1, -2, "list")
	reg("brpop", -3, 1, -2, "list")
	reg("blmove", 6, 1, 2, "list")
	reg("brpoplpush", 4, 1, 2, "list")
	reg("blmpop", -5, 0, 0, "list")
	reg("bzpopmin", -3, 1, -2, "sortedset")
	reg("bzpopmax", -3, 1, -2, "sortedset")
	reg("bzmpop", -5, 0, 0, "sortedset")
	command.ScriptNonBlocking = scriptNonBlocking
}

// isBlocking reports whether cmd is one of the blocking commands.
func isBlocking(cmd *command.Command) bool {
	switch cmd.Name {
	case "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop":
		return true
	}
	return false
}

// RESP error texts of the blocking commands (Redis 7.0's).
const (
	errTimeoutFloat = "ERR timeout is not a float or out of range"
	errUnblocked    = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
)

// blockingPlan is a blocking command's non-blocking form and how to turn
// its reply into the blocking command's.
type blockingPlan struct {
	try  [][]byte
	keys [][]byte
	// dropLines is how many header lines to drop after the reply's first
	// element (the key): LMPOP's [key, [v]] becomes BLPOP's [key, v].
	dropLines int
}

func lower(b []byte) string { return string(bytes.ToLower(b)) }

// planBlocking maps a blocking command to its non-blocking form.
func planBlocking(args [][]byte) blockingPlan {
	name := lower(args[0])
	keysOf := func(ks [][]byte) [][]byte { return ks }
	switch name {
	case "blpop", "brpop", "bzpopmin", "bzpopmax":
		keys := keysOf(args[1 : len(args)-1])
		where := map[string]string{"blpop": "LEFT", "brpop": "RIGHT", "bzpopmin": "MIN", "bzpopmax": "MAX"}[name]
		pop := "LMPOP"
		drop := 1
		if name[1] == 'z' {
			pop, drop = "ZMPOP", 2
		}
		try := [][]byte{[]byte(pop), []byte(strconv.Itoa(len(keys)))}
		try = append(try, keys...)
		try = append(try, []byte(where))
		return blockingPlan{try: try, keys: keys, dropLines: drop}
	case "blmove":
		return blockingPlan{try: [][]byte{[]byte("LMOVE"), args[1], args[2], args[3], args[4]},
			keys: args[1:3]}
	case "brpoplpush":
		return blockingPlan{try: [][]byte{[]byte("RPOPLPUSH"), args[1], args[2]}, keys: args[1:3]}
	default: // blmpop, bzmpop: timeout numkeys key... where [COUNT n]
		pop := "LMPOP"
		if name == "bzmpop" {
			pop = "ZMPOP"
		}
		try := append([][]byte{[]byte(pop)}, args[2:]...)
		cmd := command.Lookup(try[0])
		return blockingPlan{try: try, keys: cmd.Keys(try, nil)}
	}
}

// parseTimeout parses a blocking timeout in seconds (a float, as Redis's
// getTimeoutFromObjectOrReply): the duration (0: forever), or the error.
func parseTimeout(b []byte) (time.Duration, string) {
	f, err := strconv.ParseFloat(string(b), 64)
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		err = nil // beyond a double: Redis's long double converts, then overflows below
	}
	if err != nil || math.IsNaN(f) {
		return 0, errTimeoutFloat
	}
	ms := f * 1000
	// Redis casts the milliseconds to a long long: beyond it (infinity
	// too) the cast wraps negative.
	if ms < 0 || ms >= float64(math.MaxInt64/int64(time.Millisecond)) || math.IsInf(ms, 0) {
		return 0, errTimeoutNegative
	}
	return time.Duration(ms * float64(time.Millisecond)), ""
}

// blockingArgs checks a blocking command's arguments in Redis 7.0's
// order: BLMPOP's, BZMPOP's and BLMOVE's syntax before the timeout, the
// timeout first for the others. It returns the timeout, or the error text;
// bad reports a syntax error, which the non-blocking form replies itself
// (msg is then empty).
func blockingArgs(args [][]byte) (timeout time.Duration, msg string, bad bool) {
	switch lower(args[0]) {
	case "blmove":
		if !isWhere(args[3], "left", "right") || !isWhere(args[4], "left", "right") {
			return 0, "", true
		}
	case "blmpop":
		if !mpopSyntaxOK(args, "left", "right") {
			return 0, "", true
		}
	case "bzmpop":
		if !mpopSyntaxOK(args, "min", "max") {
			return 0, "", true
		}
	}
	t := args[len(args)-1]
	if n := lower(args[0]); n == "blmpop" || n == "bzmpop" {
		t = args[1]
	}
	timeout, msg = parseTimeout(t)
	return timeout, msg, false
}

func isWhere(b []byte, a, z string) bool { return command.EqFold(b, a) || command.EqFold(b, z) }

// mpopSyntaxOK reports whether BLMPOP's or BZMPOP's arguments after the
// timeout (numkeys key... where [COUNT count]) parse as Redis's
// lmpopGenericCommand and zmpopGenericCommand parse them.
func mpopSyntaxOK(args [][]byte, a, z string) bool {
	n, ok := command.ParseInt(args[2])
	if !ok || n < 1 || n > int64(len(args)) {
		return false
	}
	where := 3 + int(n)
	if where >= len(args) || !isWhere(args[where], a, z) {
		return false
	}
	count := false
	for j := where + 1; j < len(args); j++ {
		if count || !command.EqFold(args[j], "count") || j+1 >= len(args) {
			return false
		}
		j++
		if c, ok := command.ParseInt(args[j]); !ok || c < 1 {
			return false
		}
		count = true
	}
	return true
}

// txForm is what a blocking command queued in a transaction runs as:
// Redis 7.0 never blocks there, it replies at once as on a timeout when
// there is nothing to pop. That is its non-blocking form (LMPOP, LMOVE,
// ZMPOP...), carried by the Transaction entry, whose reply drop lines are
// then removed from (dropAfterFirst) for the blocking command's shape; its
// null replies are already the blocking command's in a transaction (a
// null array, a null bulk for BLMOVE and BRPOPLPUSH). For an argument
// error it is a front-end command replying the error in place.
func txForm(args [][]byte) (*command.Command, [][]byte, txShape) {
	if _, msg, bad := blockingArgs(args); msg != "" && !bad {
		return &command.Command{Name: lower(args[0]), Kind: command.KindLocal,
			Run: func(x *command.Ctx, _ [][]byte) { x.Err(msg) }}, args, txShape{}
	}
	plan := planBlocking(args)
	cmd := command.Lookup(plan.try[0])
	if !cmd.ArityOK(len(plan.try)) {
		msg := command.ErrWrongArgs(lower(args[0]))
		return &command.Command{Name: lower(args[0]), Kind: command.KindLocal,
			Run: func(x *command.Ctx, _ [][]byte) { x.Err(msg) }}, args, txShape{}
	}
	return cmd, plan.try, txShape{drop: plan.dropLines, nullArray: cmd.Name != "lmove" && cmd.Name != "rpoplpush"}
}

// txShape is how a blocking command's reply in a transaction differs from
// its non-blocking form's RESP3 reply (txForm).
type txShape struct {
	drop      int  // lines dropped after the key (dropAfterFirst)
	nullArray bool // its null is a null array in RESP2, not a null bulk
}

// reshape turns rep, the RESP3 reply of the non-blocking form, into the
// blocking command's reply in protocol proto, appended to out.
func (sh txShape) reshape(out, rep []byte, proto resp.Proto) []byte {
	switch {
	case sh.nullArray && proto == resp.RESP2 && bytes.Equal(rep, resp.Null3):
		return resp.AppendNullArray(out, proto)
	case sh.drop > 0 && len(rep) > 0 && rep[0] == '*':
		rep = dropAfterFirst(rep, sh.drop)
	}
	if proto == resp.RESP2 && resp.NeedsDowngrade(rep) {
		out, _ = resp.Downgrade(out, rep)
		return out
	}
	return append(out, rep...)
}

// scriptNonBlocking implements command.ScriptNonBlocking: BLMPOP and
// BZMPOP called by a script run as LMPOP and ZMPOP (same replies) once
// their timeout is checked, as Redis 7.0 runs them there without
// blocking. A wrong arity is left to the script host's check.
func scriptNonBlocking(args [][]byte) ([][]byte, string, bool) {
	a := args[0]
	if len(a) != 6 || !(command.EqFold(a, "blmpop") || command.EqFold(a, "bzmpop")) {
		return nil, "", false
	}
	if len(args) < 5 {
		return args, "", true
	}
	if _, msg, bad := blockingArgs(args); msg != "" && !bad {
		return nil, msg, true
	}
	return planBlocking(args).try, "", true
}

// isNullReply reports whether r is a null reply in either protocol.
func isNullReply(r []byte) bool {
	return bytes.Equal(r, resp.NullArr2) || bytes.Equal(r, resp.Null3) || bytes.Equal(r, []byte("$-1\r\n"))
}

// blockingCommand serves every blocking command (see the file comment).
func blockingCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	c.out = x.Out
	defer func() { x.Out = c.out }()
	plan := planBlocking(args)
	timeout, msg, bad := blockingArgs(args)
	if msg != "" {
		c.replyErr(msg)
		return
	}
	tryCmd := command.Lookup(plan.try[0])
	if !tryCmd.ArityOK(len(plan.try)) {
		c.replyErr(command.ErrWrongArgs(lower(args[0])))
		return
	}
	if len(plan.keys) == 0 {
		// A bad numkeys (BLMPOP/BZMPOP): the non-blocking form replies
		// its error.
		c.tryBlocking(nil, tryCmd, plan)
		return
	}
	g, _ := c.route(tryCmd, plan.try)
	if g == nil {
		return // redirected or refused
	}
	if bad {
		// A syntax error: the non-blocking form replies it.
		c.tryBlocking(g, tryCmd, plan)
		return
	}
	s := c.srv
	s.track.watch(g)
	w := s.track.block(c.id, plan.keys)
	defer s.track.unblock(c.id, w, plan.keys)
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	// A kill is polled, and so is leadership: a node that stops leading
	// the slot without applying another write to the keys (a transfer or
	// a partition with no write after it) would otherwise keep the client
	// until its timeout; the next try answers the redirect.
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		if c.tryBlocking(g, tryCmd, plan) {
			return
		}
		for waiting := true; waiting; {
			select {
			case <-w.ch:
				waiting = false
			case <-deadline:
				c.out = resp.AppendNullArray(c.out, c.proto)
				return
			case asError := <-w.ub: // CLIENT UNBLOCK
				if asError {
					c.out = resp.AppendError(c.out, errUnblocked)
				} else {
					c.out = resp.AppendNullArray(c.out, c.proto)
				}
				return
			case <-s.stop:
				c.closing = true
				return
			case <-poll.C:
				if c.killed.Load() {
					c.closing = true
					return
				}
				if !g.IsLeader() {
					waiting = false
				}
			}
		}
	}
}

// tryBlocking proposes the non-blocking form once (to g, or keyless when g
// is nil) and reports whether its reply is final: anything but a null,
// which it removes.
func (c *client) tryBlocking(g Group, cmd *command.Command, plan blockingPlan) bool {
	start := len(c.out)
	if g == nil {
		c.keyless(cmd, plan.try)
		return true
	}
	c.pend = append(c.pend[:0], plan.try)
	c.pendG = append(c.pendG[:0], g)
	c.pendC = append(c.pendC[:0], nil) // accounted as the blocking command
	c.pendT = append(c.pendT[:0], c.tick)
	c.flushWrites()
	r := c.out[start:]
	if isNullReply(r) {
		c.out = c.out[:start]
		return false
	}
	if plan.dropLines > 0 && len(r) > 0 && r[0] == '*' {
		c.out = append(c.out[:start], dropAfterFirst(r, plan.dropLines)...)
	}
	return true
}

// dropAfterFirst returns the array reply r with n header lines removed
// right after its first element: [key, [v]] (LMPOP) becomes [key, v]
// (BLPOP); [key, [[m, s]]] (ZMPOP) with n = 2 becomes [key, m, s]. The
// array's length becomes 3 for ZMPOP's form. r is copied.
func dropAfterFirst(r []byte, n int) []byte {
	first := bytes.Index(r, []byte("\r\n")) + 2 // after "*2\r\n"
	rest := r[first:]
	// The first element is the key, a bulk string: $len CRLF bytes CRLF.
	j := bytes.Index(rest, []byte("\r\n"))
	if len(rest) == 0 || rest[0] != '$' || j < 0 {
		return r
	}
	kl, err := strconv.Atoi(string(rest[1:j]))
	if err != nil || kl < 0 || j+2+kl+2 > len(rest) {
		return r
	}
	keyLen := j + 2 + kl + 2
	after := rest[keyLen:]
	tail := after
	for i := 0; i < n; i++ {
		j := bytes.Index(tail, []byte("\r\n"))
		if j < 0 {
			return r
		}
		tail = tail[j+2:]
	}
	out := make([]byte, 0, len(r))
	if n == 2 {
		out = append(out, "*3\r\n"...)
	} else {
		out = append(out, r[:first]...)
	}
	out = append(out, rest[:keyLen]...)
	return append(out, tail...)
}

// blockWait is one blocked connection's wake-up signals: ch for a change
// of one of its keys, ub for CLIENT UNBLOCK (true: ERROR, false: TIMEOUT).
type blockWait struct {
	ch chan struct{}
	ub chan bool
}

// blocked are the connections waiting for changes of keys (part of the
// tracker, which the FSMs tell of every change), by key and by connection
// id (CLIENT UNBLOCK, CLIENT LIST's b flag). Any goroutine, under mu.
type blocked struct {
	mu    sync.Mutex
	by    map[string]map[*blockWait]struct{}
	conns map[int64]*blockWait
}

// block registers connection id's waiter for changes of keys.
func (t *tracker) block(id int64, keys [][]byte) *blockWait {
	w := &blockWait{ch: make(chan struct{}, 1), ub: make(chan bool, 1)}
	b := &t.blocked
	b.mu.Lock()
	if b.by == nil {
		b.by = make(map[string]map[*blockWait]struct{})
		b.conns = make(map[int64]*blockWait)
	}
	b.conns[id] = w
	for _, k := range keys {
		m := b.by[string(k)]
		if m == nil {
			m = make(map[*blockWait]struct{})
			b.by[string(k)] = m
		}
		m[w] = struct{}{}
	}
	b.mu.Unlock()
	t.blockers.Add(1)
	return w
}

// unblock removes connection id's waiter.
func (t *tracker) unblock(id int64, w *blockWait, keys [][]byte) {
	b := &t.blocked
	b.mu.Lock()
	if b.conns[id] == w {
		delete(b.conns, id)
	}
	for _, k := range keys {
		if m := b.by[string(k)]; m != nil {
			delete(m, w)
			if len(m) == 0 {
				delete(b.by, string(k))
			}
		}
	}
	b.mu.Unlock()
	t.blockers.Add(-1)
}

// wakeBlocked signals the waiters of keys (FSM goroutine, from
// KeysChanged), or all of them when keys is nil (AllChanged).
func (t *tracker) wakeBlocked(keys [][]byte) {
	b := &t.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	wake := func(m map[*blockWait]struct{}) {
		for w := range m {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	if keys == nil {
		for _, m := range b.by {
			wake(m)
		}
		return
	}
	for _, k := range keys {
		wake(b.by[string(k)])
	}
}

// unblockConn is CLIENT UNBLOCK: it tells connection id, if blocked, to
// reply as on its timeout (asError false) or with the UNBLOCKED error, and
// reports whether it was blocked. The connection stops counting as blocked
// at once (a second UNBLOCK replies 0).
func (t *tracker) unblockConn(id int64, asError bool) bool {
	b := &t.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.conns[id]
	if w == nil {
		return false
	}
	delete(b.conns, id)
	w.ub <- asError // buffered, sent once: the entry is gone
	return true
}

// isBlocked reports whether connection id waits in a blocking command.
func (t *tracker) isBlocked(id int64) bool {
	b := &t.blocked
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conns[id] != nil
}

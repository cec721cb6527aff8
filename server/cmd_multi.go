package server

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// MULTI, EXEC, DISCARD, WATCH and UNWATCH, as Redis 7.0 does them
// (docs/transactions.md).
//
// Commands queue on the connection (+QUEUED); an unknown one, a wrong
// arity, an ACL or OOM refusal (and, in cluster mode, a key of another
// node's slot or keys of several slots) is refused at once and makes EXEC
// answer EXECABORT. EXEC then runs the transaction in one of two ways:
//
//   - only keyed reads and no WATCH: one run of reads on the connection,
//     under the store's read lock (no write comes between them), without a
//     log entry (rueidis' client-side caching: MULTI, PTTL k, GET k, EXEC);
//   - anything else: one Transaction log entry (raftfsm/codec_tx.go) that
//     the FSM applies whole under the store's write lock, reads included,
//     after checking the watched keys against its change index
//     (raftfsm/txapply.go). Front-end commands queued in it (PING, ECHO,
//     CLIENT, CONFIG...) do not go into the entry: they run on the
//     connection once the entry applied, their replies in their place.
//
// WATCH records, per key, the log index its group had applied and whether
// the key was there (and already expired); the FSM aborts the transaction
// (EXEC replies a null array) when the key changed after that index. In
// cluster mode every key of a transaction and its watched keys must be in
// one slot (CROSSSLOT); a transaction without any key or watch runs its
// commands one after the other (keyless commands act on every group this
// node leads: not atomic across them).

// RESP error texts of transactions (Redis 7.0's).
const (
	errMultiNested  = "ERR MULTI calls can not be nested"
	errExecNoMulti  = "ERR EXEC without MULTI"
	errDiscardNo    = "ERR DISCARD without MULTI"
	errExecAbort    = "EXECABORT Transaction discarded because of previous errors."
	errNotInMulti   = "ERR Command not allowed inside a transaction"
	errWatchInMulti = "ERR WATCH inside MULTI is not allowed"
	errTxNoGroup    = "ERR transactions are not available on this group"
)

// multiState is a connection's open transaction (connection goroutine
// only).
type multiState struct {
	cmds  []*command.Command
	args  [][][]byte // copies: the reader's buffer is reused
	dirty bool       // a command was refused while queuing: EXEC aborts
	// blocking: a blocking command (BLPOP...) is queued, which EXEC runs
	// as its non-blocking form (txForm).
	blocking bool
}

// watchState is a connection's watched keys (connection goroutine only).
type watchState struct {
	keys []raftfsm.TxWatch // keys are copies
	// g is the group whose log the keys' since indexes are of.
	g Group
	// slot of the first watched key, and whether some other key is in
	// another slot (CROSSSLOT at EXEC in cluster mode).
	slot  int
	cross bool
}

// txGroup is what transactions need of a group beyond Group
// (raftfsm.Group implements it).
type txGroup interface {
	// WatchReady reports whether the FSM keeps its change index (caller
	// holds the store's RLock).
	WatchReady() bool
	// ProposeTx proposes a Transaction entry and returns its result.
	ProposeTx(ctx context.Context, tx *raftfsm.Tx) (*raftfsm.TxResult, error)
}

var _ txGroup = (*raftfsm.Group)(nil)

func init() {
	tx := []string{"fast", "transaction"}
	fl := command.FlagNoScript | command.FlagLoading | command.FlagStale
	command.Register(
		&command.Command{Name: "multi", Arity: 1, Kind: command.KindLocal, Flags: fl | command.FlagFast | command.FlagAllowBusy,
			ACL: tx, Run: multiCommand},
		&command.Command{Name: "exec", Arity: 1, Kind: command.KindLocal, Flags: fl | command.FlagSkipSlowlog,
			ACL: []string{"slow", "transaction"}, Run: execCommand},
		&command.Command{Name: "discard", Arity: 1, Kind: command.KindLocal, Flags: fl | command.FlagFast | command.FlagAllowBusy,
			ACL: tx, Run: discardCommand},
		&command.Command{Name: "watch", Arity: -2, Kind: command.KindLocal, Flags: fl | command.FlagFast | command.FlagAllowBusy,
			FirstKey: 1, LastKey: -1, Step: 1, ACL: tx, Run: watchCommand},
		&command.Command{Name: "unwatch", Arity: 1, Kind: command.KindLocal, Flags: fl | command.FlagFast | command.FlagAllowBusy,
			ACL: tx, Run: unwatchCommand},
	)
}

// multiControl reports whether cmd runs at once inside MULTI instead of
// being queued.
func multiControl(cmd *command.Command) bool {
	switch cmd.Name {
	case "exec", "discard", "multi", "watch", "quit", "reset":
		return true
	}
	return false
}

// queueMulti queues cmd in the open transaction and replies +QUEUED (or
// refuses it, which aborts the transaction).
func (c *client) queueMulti(cmd *command.Command, args [][]byte) {
	if cmd.Flags&command.FlagNoMulti != 0 {
		c.replyErr(errNotInMulti)
		return
	}
	blocking := isBlocking(cmd)
	if (cmd.Kind != command.KindLocal || blocking) && cmd.Keyed(args, c.keybuf) && c.srv.router.ClusterEnabled() {
		// As Redis Cluster: a command of another node's slot, or with keys
		// of several slots, is redirected or refused at once.
		if g, _ := c.route(cmd, args); g == nil {
			c.multi.dirty = true
			return
		}
		if c.refuseOtherDB(cmd, args) {
			return
		}
	}
	if cmd.Kind == command.KindWrite && cmd.Flags&command.FlagDenyOOM != 0 {
		if g, _, _, _ := c.srv.router.Route(c.cmdSlotOf(cmd, args)); g != nil && !c.srv.makeRoom(g) {
			c.replyErr(command.ErrOOM)
			return
		}
	}
	cp := make([][]byte, len(args))
	for i, a := range args {
		cp[i] = bytes.Clone(a)
	}
	c.multi.blocking = c.multi.blocking || blocking
	c.multi.cmds = append(c.multi.cmds, cmd)
	c.multi.args = append(c.multi.args, cp)
	c.setMultiN(len(c.multi.cmds))
	c.out = resp.AppendSimple(c.out, "QUEUED")
}

// cmdSlotOf returns the slot of cmd's first key (0 for a keyless one).
func (c *client) cmdSlotOf(cmd *command.Command, args [][]byte) int {
	c.keybuf = cmd.Keys(args, c.keybuf[:0])
	if len(c.keybuf) == 0 {
		return 0
	}
	return shard.Slot(c.keybuf[0])
}

// multiCommand: MULTI.
func multiCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if c.multi != nil {
		x.Err(errMultiNested)
		return
	}
	c.multi = &multiState{}
	c.setMultiN(0)
	x.OK()
}

// discardCommand: DISCARD. It also forgets the watched keys, as Redis.
func discardCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if c.multi == nil {
		x.Err(errDiscardNo)
		return
	}
	c.resetTx()
	x.OK()
}

// resetTx discards the open transaction and the watched keys (DISCARD,
// RESET).
func (c *client) resetTx() {
	if c.multi != nil {
		c.multi = nil
		c.setMultiN(-1)
	}
	c.watch = nil
}

// unwatchCommand: UNWATCH.
func unwatchCommand(x *command.Ctx, args [][]byte) {
	connOf(x).watch = nil
	x.OK()
}

// watchRouteCmd routes a transaction by one of its keys: as a write, so
// that only the slot's leader takes it.
var watchRouteCmd = &command.Command{Name: "exec", Kind: command.KindWrite, FirstKey: 1, LastKey: 1, Step: 1}

// watchCommand: WATCH key [key ...].
func watchCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if c.multi != nil {
		x.Err(errWatchInMulti)
		return
	}
	s := c.srv
	c.out = x.Out
	defer func() { x.Out = c.out }()
	// Routed as the keys' write would be: CROSSSLOT, MOVED, TRYAGAIN.
	g, _ := c.route(&command.Command{Name: "watch", Kind: command.KindWrite, FirstKey: 1, LastKey: -1, Step: 1}, args)
	if g == nil {
		return
	}
	tg, ok := g.(txGroup)
	if !ok {
		c.out = resp.AppendError(c.out, errTxNoGroup)
		return
	}
	st := g.Store()
	st.RLock()
	ready := tg.WatchReady()
	st.RUnlock()
	if !ready {
		// The first transaction of the group turns its change index on.
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		_, err := tg.ProposeTx(ctx, &raftfsm.Tx{})
		cancel()
		if err != nil {
			c.appendTxError(err, shard.Slot(args[1]))
			return
		}
	}
	w := c.watch
	if w == nil {
		w = &watchState{slot: shard.Slot(args[1]), g: g}
	} else if w.g != g {
		// Another group (cluster mode: another slot, CROSSSLOT at EXEC;
		// or the slot moved between groups of this node): its log
		// indexes do not compare. Watch from scratch in g, keeping the
		// earlier keys as changed (their since is 0, below any index).
		for i := range w.keys {
			w.keys[i].Since = 0
		}
		w.g = g
	}
	db := int(c.db.Load())
	now := time.Now().UnixMilli()
	st.RLock()
	since := g.AppliedIndex()
	sdb := st.DB(db)
keys:
	for _, k := range args[1:] {
		for _, o := range w.keys {
			if o.DB == db && bytes.Equal(o.Key, k) {
				continue keys // watched already: the first WATCH counts
			}
		}
		e := sdb.Peek(k)
		w.keys = append(w.keys, raftfsm.TxWatch{DB: db, Key: bytes.Clone(k), Since: since,
			Existed: e != nil, Expired: e != nil && e.ExpireAt != 0 && e.ExpireAt <= now})
		if shard.Slot(k) != w.slot {
			w.cross = true
		}
	}
	st.RUnlock()
	c.watch = w
	c.out = resp.AppendOK(c.out)
}

// execCommand: EXEC.
func execCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	m := c.multi
	if m == nil {
		x.Err(errExecNoMulti)
		return
	}
	w := c.watch
	c.resetTx() // EXEC discards and unwatches, whatever the outcome
	if m.dirty {
		x.Err(errExecAbort)
		return
	}
	c.out = x.Out
	c.execTx(m, w)
	x.Out = c.out
}

// execTx runs transaction m with the watched keys w (nil: none) and
// appends EXEC's reply.
func (c *client) execTx(m *multiState, w *watchState) {
	s := c.srv
	// cmds and margs are what runs: the queued commands, blocking ones as
	// their non-blocking forms whose replies shapes[i] reshapes.
	cmds, margs := m.cmds, m.args
	var shapes []txShape
	if m.blocking {
		cmds = append([]*command.Command(nil), m.cmds...)
		margs = append([][][]byte(nil), m.args...)
		shapes = make([]txShape, len(cmds))
		for i, cmd := range cmds {
			if isBlocking(cmd) {
				cmds[i], margs[i], shapes[i] = txForm(m.args[i])
			}
		}
	}
	cluster := s.router.ClusterEnabled()
	slot, cross, keyedReads := -1, false, w == nil
	write, oom := false, false
	var key []byte // a key of the transaction, to route it
	var keys [][]byte
	for i, cmd := range cmds {
		if cmd.Kind == command.KindLocal {
			keyedReads = false
			continue
		}
		if cmd.Kind == command.KindWrite {
			write, keyedReads = true, false
			oom = oom || cmd.Flags&command.FlagDenyOOM != 0
		}
		keys = cmd.Keys(margs[i], keys[:0])
		if len(keys) == 0 {
			keyedReads = false
		}
		for _, k := range keys {
			if s := shard.Slot(k); slot == -1 {
				slot, key = s, k
			} else if s != slot {
				cross = true
			}
		}
	}
	if w != nil {
		if slot == -1 {
			slot, key = w.slot, w.keys[0].Key
		} else if w.slot != slot {
			cross = true
		}
		cross = cross || w.cross
	}
	if cluster && cross {
		c.out = resp.AppendError(c.out, command.ErrCrossSlot)
		return
	}
	if len(cmds) == 0 && w == nil {
		c.out = resp.AppendArray(c.out, 0)
		return
	}
	if keyedReads || (cluster && key == nil) {
		// Keyed reads only: one run under the store's read lock. Or, in
		// cluster mode, nothing to route by: each command on its own.
		c.out = resp.AppendArray(c.out, len(m.cmds))
		for _, a := range m.args {
			c.exec(a)
		}
		c.runlock()
		c.flushWrites()
		return
	}
	if key == nil {
		key = []byte{} // standalone: slot 0, the one group
	}
	g, _ := c.route(watchRouteCmd, [][]byte{nil, key})
	if g == nil {
		return // MOVED, TRYAGAIN, CLUSTERDOWN: discarded, as Redis Cluster
	}
	tg, ok := g.(txGroup)
	if !ok {
		c.out = resp.AppendError(c.out, errTxNoGroup)
		return
	}
	if oom && !s.makeRoom(g) {
		c.out = resp.AppendError(c.out, command.ErrOOM)
		return
	}
	if write {
		if mode := s.pause.mode.Load(); mode != pauseOff && pausedFor(mode, watchRouteCmd) {
			if !c.waitPause(watchRouteCmd) {
				return
			}
		}
	}
	if w != nil && w.g != g {
		// The slot moved to another group of this node since WATCH (a
		// migration): its keys changed hands, count them as changed.
		c.out = resp.AppendNullArray(c.out, c.proto)
		return
	}
	tx := &raftfsm.Tx{}
	if w != nil {
		tx.Watches = w.keys
	}
	var wcmds []*command.Command // the writes, for NOLOOP tracking
	db := int(c.db.Load())
	for i, cmd := range cmds {
		if cmd.Kind == command.KindLocal {
			if cmd.Name == "select" {
				if n, ok := command.ParseInt(margs[i][1]); ok && n >= 0 && n < shard.NumDBs && (n == 0 || !cluster) {
					db = int(n)
				}
			}
			continue
		}
		tx.Cmds = append(tx.Cmds, margs[i])
		tx.DBs = append(tx.DBs, db)
		if cmd.Kind == command.KindWrite {
			wcmds = append(wcmds, cmd)
		} else {
			wcmds = append(wcmds, nil)
		}
	}
	if c.trk != nil {
		s.track.watch(g)
		for i, cmd := range cmds {
			if cmd.Kind == command.KindRead && cmd.Keyed(margs[i], c.keybuf) {
				c.trackRead(cmd, margs[i])
			}
		}
		if c.trk.noloop {
			s.track.beginLoop(c, wcmds, tx.Cmds)
			defer s.track.endLoop(c)
		}
	}
	s.stats.proposals.Add(1)
	s.stats.proposedCmds.Add(int64(len(tx.Cmds)))
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	r, err := tg.ProposeTx(ctx, tx)
	cancel()
	c.flushEnd = nanotime()
	switch {
	case err != nil:
		c.appendTxError(err, slot)
	case r.Refused != nil:
		if sl, ok := raftfsm.ParseNotOwner(r.Refused); ok {
			c.out = s.notOwnerReply(c.out, sl)
		} else {
			c.out = append(c.out, r.Refused...)
		}
	case r.Aborted:
		c.out = resp.AppendNullArray(c.out, c.proto)
	default:
		c.out = resp.AppendArray(c.out, len(m.cmds))
		j := 0
		for i, cmd := range cmds {
			if cmd.Kind == command.KindLocal {
				// Front-end commands run now, in their place.
				x := c.ctx(s.primaryStore(), time.Now().UnixMilli())
				cmd.Run(x, margs[i])
				c.done(x)
				continue
			}
			rep := r.Res.Reply(j)
			j++
			if shapes != nil && isBlocking(m.cmds[i]) {
				c.out = shapes[i].reshape(c.out, rep, c.proto)
				continue
			}
			c.out = appendTxReply(c.out, rep, margs[i], c.proto)
		}
	}
	if c.trk != nil {
		c.drainPushes() // the writes' invalidations follow the reply
	}
	c.now = time.Now().UnixMilli()
}

// appendTxReply appends rep, the FSM's RESP3 reply to the queued command
// args, in protocol proto. RESP2 differs from RESP3 downgraded where the
// pipelined path knows it (conn_writes.go, appendReplies: LMPOP's null
// array, ZPOPMIN's flat pairs) and for the reads that reply [member,
// score] pairs in RESP3 and one flat array in RESP2, which in a
// transaction run in the FSM too.
func appendTxReply(out, rep []byte, args [][]byte, proto resp.Proto) []byte {
	switch {
	case proto != resp.RESP2:
		return append(out, rep...)
	case bytes.Equal(rep, resp.Null3) && command.NullArrayInRESP2(args):
		return append(out, resp.NullArr2...)
	case command.PairsFlatInRESP2(args) || pairsInRESP3(args):
		out, _ = resp.DowngradeFlatPairs(out, rep)
		return out
	case resp.NeedsDowngrade(rep):
		out, _ = resp.Downgrade(out, rep)
		return out
	}
	return append(out, rep...)
}

// pairsInRESP3 reports whether a read replies [member, score] (or [field,
// value]) pairs in RESP3 and a flat array in RESP2: the sorted set ranges
// and ZUNION, ZINTER, ZDIFF, ZRANDMEMBER with WITHSCORES, HRANDFIELD with
// WITHVALUES. A reply of another shape is left to Downgrade
// (DowngradeFlatPairs checks).
func pairsInRESP3(args [][]byte) bool {
	opt := ""
	if len(args[0]) > 0 && (args[0][0]|0x20) == 'z' {
		for _, n := range pairReads {
			if command.EqFold(args[0], n) {
				opt = "withscores"
				break
			}
		}
	} else if command.EqFold(args[0], "hrandfield") {
		opt = "withvalues"
	}
	if opt == "" || len(args) < 3 {
		return false
	}
	for _, a := range args[2:] {
		if command.EqFold(a, opt) {
			return true
		}
	}
	return false
}

var pairReads = []string{"zrange", "zrangebyscore", "zrevrange", "zrevrangebyscore", "zrandmember", "zunion", "zinter", "zdiff"}

// appendTxError appends the reply to a transaction (or WATCH's first
// entry) whose proposal failed: MOVED or TRYAGAIN when this node no longer
// leads the slot's group (nothing applied), else the proposal's error.
func (c *client) appendTxError(err error, slot int) {
	if errors.Is(err, raftfsm.ErrNotLeader) {
		if slot < 0 {
			slot = 0
		}
		c.out = c.srv.notOwnerReply(c.out, slot)
		return
	}
	c.out = resp.AppendError(c.out, proposeError(err))
}

// execAbortReason is the reply to an EXEC refused before it ran (its own
// arguments were wrong), which discards the transaction as Redis's
// execCommandAbort does.
func execAbortReason(msg string) string {
	return "EXECABORT Transaction discarded because of: " + strings.TrimPrefix(msg, "ERR ")
}

// setMultiN records the transaction's size for CLIENT LIST (-1: none).
func (c *client) setMultiN(n int) {
	c.mu.Lock()
	c.multiN = n + 1
	c.mu.Unlock()
}

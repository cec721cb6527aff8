package server

import (
	"bytes"
	"strings"

	"github.com/shoalcache/shoal/command"
	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
)

// MULTI, EXEC and DISCARD: enough of Redis transactions for clients that
// wrap reads in them (rueidis' client-side caching sends CLIENT CACHING
// YES, MULTI, PTTL k, GET k, EXEC) and for batches of writes.
//
// EXEC runs the queued commands atomically when they all read keys (one
// run of reads under their store's read lock, so no write comes between
// them) or all write keys of one group (one proposal: one log entry,
// applied at once). A transaction that mixes reads and writes, or holds
// commands without keys, is refused at EXEC (and discarded) rather than
// run without isolation. WATCH is not implemented.

// RESP error texts of transactions (Redis 7.0's, and Shoal's limit).
const (
	errMultiNested  = "ERR MULTI calls can not be nested"
	errExecNoMulti  = "ERR EXEC without MULTI"
	errDiscardNo    = "ERR DISCARD without MULTI"
	errExecAbort    = "EXECABORT Transaction discarded because of previous errors."
	errNotInMulti   = "ERR Command not allowed inside a transaction"
	errMultiIsolate = "ERR Shoal runs a transaction only when all its commands read keys, or all write keys of one slot group; transaction discarded"
)

// multiState is a connection's open transaction (connection goroutine
// only).
type multiState struct {
	cmds  []*command.Command
	args  [][][]byte // copies: the reader's buffer is reused
	dirty bool       // a command was refused while queuing: EXEC aborts
}

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
	)
}

// multiControl reports whether cmd runs at once inside MULTI instead of
// being queued.
func multiControl(cmd *command.Command) bool {
	switch cmd.Name {
	case "exec", "discard", "multi", "quit", "reset":
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
	cp := make([][]byte, len(args))
	for i, a := range args {
		cp[i] = bytes.Clone(a)
	}
	c.multi.cmds = append(c.multi.cmds, cmd)
	c.multi.args = append(c.multi.args, cp)
	c.setMultiN(len(c.multi.cmds))
	c.out = resp.AppendSimple(c.out, "QUEUED")
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

// discardCommand: DISCARD.
func discardCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	if c.multi == nil {
		x.Err(errDiscardNo)
		return
	}
	c.multi = nil
	c.setMultiN(-1)
	x.OK()
}

// execCommand: EXEC.
func execCommand(x *command.Ctx, args [][]byte) {
	c := connOf(x)
	m := c.multi
	if m == nil {
		x.Err(errExecNoMulti)
		return
	}
	c.multi = nil
	c.setMultiN(-1)
	if m.dirty {
		x.Err(errExecAbort)
		return
	}
	reads, writes := 0, 0
	for _, cmd := range m.cmds {
		switch {
		case cmd.FirstKey == 0:
		case cmd.Kind == command.KindRead:
			reads++
		case cmd.Kind == command.KindWrite:
			writes++
		}
	}
	if n := len(m.cmds); (reads != n && writes != n) || n > maxPendingWrites {
		x.Err(errMultiIsolate)
		return
	}
	if c.srv.router.ClusterEnabled() && !oneSlot(m) {
		x.Err(command.ErrCrossSlot)
		return
	}
	if writes > 0 {
		if mode := c.srv.pause.mode.Load(); mode != pauseOff && pausedFor(mode, m.cmds[0]) {
			if !c.waitPause(m.cmds[0]) {
				return
			}
		}
	}
	// The queued commands run as if sent now; their replies follow the
	// array header. Reads share one run under the store's read lock;
	// writes share one proposal.
	c.out = resp.AppendArray(x.Out, len(m.cmds))
	for _, a := range m.args {
		c.exec(a)
	}
	c.runlock()
	c.flushWrites()
	x.Out = c.out
}

// oneSlot reports whether every key of the transaction is in one slot.
func oneSlot(m *multiState) bool {
	slot := -1
	var keys [][]byte
	for i, cmd := range m.cmds {
		keys = cmd.Keys(m.args[i], keys[:0])
		for _, k := range keys {
			if s := shard.Slot(k); slot == -1 {
				slot = s
			} else if s != slot {
				return false
			}
		}
	}
	return true
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

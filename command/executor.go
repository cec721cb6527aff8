package command

import (
	"math/rand/v2"
	"sync"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// Executor returns the raftfsm.Executor that applies Shoal's write
// commands inside a group's FSM.
// Each group's FSM needs its own: the executor keeps a LookupCache, and
// raftfsm calls its methods only from that FSM's goroutine.
func Executor() raftfsm.Executor { return &executor{} }

type executor struct {
	// cmds finds the commands of the entries the FSM applies (FSM
	// goroutine only).
	cmds LookupCache
}

// Exec implements raftfsm.Executor: it runs a write command inside the FSM,
// with the FSM's clock and RESP3 replies (the front end downgrades them for
// RESP2 connections). It is called on the FSM goroutine with the store's
// Lock held.
func (e *executor) Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	cmd := e.cmds.Lookup(args[0])
	if cmd == nil || cmd.Kind != KindWrite || !cmd.ArityOK(len(args)) {
		// The front end never proposes these; a replica reaching here
		// replies the same error as every other replica.
		return append(out, "-ERR unknown command\r\n"...)
	}
	// A pooled Ctx: a fresh one escapes to the heap (Run is a function
	// value), one allocation per applied command on every replica.
	x := execCtxs.Get().(*Ctx)
	*x = Ctx{St: st, Now: now, Proto: 3, Out: out, LFURand: 0.5}
	cmd.Run(x, args)
	out = x.Out
	*x = Ctx{}
	execCtxs.Put(x)
	return out
}

// execCtxs holds the FSM's command contexts between commands.
var execCtxs = sync.Pool{New: func() any { return new(Ctx) }}

// Keys implements raftfsm.Executor: the key arguments of a write command,
// which the FSM checks against the slots its group owns.
func (e *executor) Keys(args [][]byte, dst [][]byte) [][]byte {
	if cmd := e.cmds.Lookup(args[0]); cmd != nil {
		return cmd.Keys(args, dst)
	}
	return dst
}

// ExecTx implements raftfsm.TxExecutor: it runs a command of a transaction
// (MULTI ... EXEC) inside the FSM, a read or keyless data command as well as
// a write, with Exec's contract. Reads see the FSM's clock and fixed LFU
// randomness, and a random source seeded from the clock (RANDOMKEY): the
// same state on every replica. Front-end commands (KindLocal) never reach
// here; a replica that meets one replies as Exec does to an unknown one.
func (e *executor) ExecTx(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	cmd := e.cmds.Lookup(args[0])
	if cmd != nil && len(cmd.Subs) > 0 && len(args) >= 2 {
		if sub := cmd.Sub(args[1]); sub != nil {
			cmd = sub
		}
	}
	if cmd == nil || cmd.Kind == KindLocal || cmd.Run == nil || !cmd.ArityOK(len(args)) {
		return append(out, "-ERR unknown command\r\n"...)
	}
	x := execCtxs.Get().(*Ctx)
	*x = Ctx{St: st, Now: now, Proto: 3, Out: out, LFURand: 0.5}
	if cmd.Kind == KindRead {
		x.Rng = rand.New(rand.NewPCG(uint64(now), 0x5f3759df))
	}
	cmd.Run(x, args)
	out = x.Out
	*x = Ctx{}
	execCtxs.Put(x)
	return out
}

// IsWrite reports whether args is a write command, for the FSM's change
// hook (a keyless read in a transaction changes nothing).
func (e *executor) IsWrite(args [][]byte) bool {
	cmd := e.cmds.Lookup(args[0])
	return cmd != nil && cmd.Kind == KindWrite
}

// CrossDB reports whether the write args may change keys of a database other
// than its own (MOVE, COPY ... DB: FlagOtherDB), for the FSM's change index.
func (e *executor) CrossDB(args [][]byte) bool {
	cmd := e.cmds.Lookup(args[0])
	return cmd != nil && cmd.Flags&FlagOtherDB != 0
}

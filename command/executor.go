package command

import (
	"sync"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// Executor returns the raftfsm.Executor that applies Shoal's write
// commands inside a group's FSM.
func Executor() raftfsm.Executor { return executor{} }

type executor struct{}

// Exec implements raftfsm.Executor: it runs a write command inside the FSM,
// with the FSM's clock and RESP3 replies (the front end downgrades them for
// RESP2 connections). It is called on the FSM goroutine with the store's
// Lock held.
func (executor) Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	cmd := Lookup(args[0])
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
func (executor) Keys(args [][]byte, dst [][]byte) [][]byte {
	if cmd := Lookup(args[0]); cmd != nil {
		return cmd.Keys(args, dst)
	}
	return dst
}

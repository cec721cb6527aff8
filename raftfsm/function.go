package raftfsm

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/script"
	"github.com/shoalcache/shoal/shard"
)

// Functions (FUNCTION LOAD/DELETE/FLUSH/RESTORE, FCALL; docs/scripting.md):
// the group's library registry is replicated state. Every change is a
// script entry (kinds FunctionLoad, FunctionDelete, FunctionFlush,
// FunctionRestore: codec_script.go) that every replica applies to its own
// registry, which snapshots carry (snapshot.ExtraFunctions). A write FCALL
// is an FCall entry: every replica looks the function up in its registry
// (the same on every replica at that index) and runs it as a write script.

// FunctionExecutor is implemented by an Executor that can run functions.
//
// FunctionEngine returns the engine libraries load with (a pure function
// of their code). ExecFunction runs the function call.Name of lib as
// ExecScript runs a script (FSM goroutine, store Lock held, deterministic).
type FunctionExecutor interface {
	FunctionEngine() *script.Engine
	ExecFunction(st *shard.Store, now int64, call *ScriptCall, lib *script.Library, out []byte) []byte
}

// ErrFunctionNotFound is FCALL's reply for a function no library registers.
const ErrFunctionNotFound = "ERR Function not found"

// functionState is the FSM's library registry: replaced whole by the FSM
// goroutine, read lock-free by connections (FCALL, FUNCTION LIST).
type functionState struct {
	reg atomic.Pointer[script.Registry]
}

// Functions returns the group's library registry (nil: empty), as this
// replica applied it. Safe for concurrent use; the registry is immutable.
func (f *FSM) Functions() *script.Registry { return f.fn.reg.Load() }

// FunctionCodes returns the libraries' codes sorted by name: what a
// snapshot keeps (RestoreFunctions rebuilds the registry).
func (f *FSM) FunctionCodes() [][]byte { return f.fn.reg.Load().Codes() }

// RestoreFunctions replaces the registry with the libraries of codes
// (FunctionCodes of a snapshot). Where Restore runs (the FSM goroutine, or
// before raft starts).
func (f *FSM) RestoreFunctions(codes [][]byte) {
	if len(codes) == 0 {
		f.fn.reg.Store(nil)
		return
	}
	fe, ok := f.exec.(FunctionExecutor)
	if !ok {
		f.log.Error("snapshot has function libraries but the executor runs no functions", "libraries", len(codes))
		f.fn.reg.Store(nil)
		return
	}
	reg, bad := script.FromCodes(fe.FunctionEngine(), codes)
	for _, b := range bad {
		f.log.Error("function library of the snapshot does not load", "library", b)
	}
	f.fn.reg.Store(reg)
}

// applyFunction applies a function entry e (FSM goroutine, store Lock
// held): the reply, a fresh slice.
func (f *FSM) applyFunction(e *scriptEntry) interface{} {
	fe, ok := f.exec.(FunctionExecutor)
	if !ok {
		return []byte("-" + ErrScriptsUnsupported + "\r\n")
	}
	eng := fe.FunctionEngine()
	reg := f.fn.reg.Load()
	switch e.kind {
	case scriptFuncLoad:
		n, name, msg := reg.Load(eng, e.body, e.flags == 1)
		if msg != "" {
			return appendErrorLine(nil, msg)
		}
		f.fn.reg.Store(n)
		return resp.AppendBulkString(nil, name)
	case scriptFuncDelete:
		n, msg := reg.Delete(string(e.body))
		if msg != "" {
			return appendErrorLine(nil, msg)
		}
		f.fn.reg.Store(n)
	case scriptFuncFlush:
		f.fn.reg.Store(nil)
	case scriptFuncRestore:
		n, msg := reg.Restore(eng, e.args, script.RestorePolicy(e.flags))
		if msg != "" {
			return appendErrorLine(nil, msg)
		}
		f.fn.reg.Store(n)
	case scriptFCall:
		return f.applyFCall(fe, e)
	}
	return []byte("+OK\r\n")
}

// applyFCall runs a write function as applyScript runs a script.
func (f *FSM) applyFCall(fe FunctionExecutor, e *scriptEntry) interface{} {
	now := f.advance(e.now)
	own, mig := f.owner.Load(), f.mig.Load()
	var fenced *shard.SlotSet
	if mig != nil {
		fenced = mig.fenced
	}
	for _, k := range e.keys {
		if s := shard.Slot(k); !own.all && !own.slots.Has(s) || (fenced != nil && fenced.Has(s)) {
			return appendNotOwner(nil, s)
		}
	}
	lib, _, ok := f.fn.reg.Load().Function(string(e.body))
	if !ok {
		return appendErrorLine(nil, ErrFunctionNotFound)
	}
	call := f.scriptCall(e, own, fenced)
	call.SHA = string(e.body)
	st := f.store
	if e.db != 0 {
		st = st.DB(e.db)
	}
	return fe.ExecFunction(st, now, call, lib, nil)
}

// StartFCall hands a write FCALL to raft as StartScript does (the reply
// comes from the future's Wait), so that a connection can pipeline them
// with its write scripts.
func (g *Group) StartFCall(db int, flags ScriptFlag, budget int64, name []byte, keys, args [][]byte) *ScriptFuture {
	return g.startEntry(func() []byte {
		return EncodeFCall(make([]byte, 0, evalSize(name, keys, args)), time.Now().UnixMilli(), db, flags, budget, name, keys, args)
	})
}

// ProposeFunctionLoad replicates FUNCTION LOAD [REPLACE]: the library's
// name (a bulk string) or the error.
func (g *Group) ProposeFunctionLoad(ctx context.Context, replace bool, code []byte) ([]byte, error) {
	return g.proposeReply(ctx, EncodeFunctionLoad(make([]byte, 0, len(code)+8), replace, code))
}

// ProposeFunctionDelete replicates FUNCTION DELETE.
func (g *Group) ProposeFunctionDelete(ctx context.Context, name []byte) ([]byte, error) {
	return g.proposeReply(ctx, EncodeFunctionDelete(nil, name))
}

// ProposeFunctionFlush replicates FUNCTION FLUSH.
func (g *Group) ProposeFunctionFlush(ctx context.Context) ([]byte, error) {
	return g.proposeReply(ctx, EncodeFunctionFlush(nil))
}

// ProposeFunctionRestore replicates FUNCTION RESTORE of the payload's
// libraries with policy (script.RestorePolicy).
func (g *Group) ProposeFunctionRestore(ctx context.Context, policy script.RestorePolicy, codes [][]byte) ([]byte, error) {
	return g.proposeReply(ctx, EncodeFunctionRestore(nil, byte(policy), codes))
}

// Functions returns this replica's library registry (nil: empty).
func (g *Group) Functions() *script.Registry { return g.fsm.Functions() }

package command

import (
	"context"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/script"
	"github.com/shoalcache/shoal/shard"
)

// Functions (FCALL, FCALL_RO; docs/scripting.md): the glue between the
// FSM's library registry and the script engine, as script_exec.go is for
// scripts. A function runs through the same hosts as a script.

// FunctionEngine implements raftfsm.FunctionExecutor: the process's
// engine (libraries compile with it; compiling is a pure function of the
// code).
func (executor) FunctionEngine() *script.Engine { return engine }

// ExecFunction implements raftfsm.FunctionExecutor: it runs the write
// function call.SHA (the function's name) of lib inside the FSM (FSM
// goroutine, store Lock held), as ExecScript runs a script.
func (executor) ExecFunction(st *shard.Store, now int64, call *raftfsm.ScriptCall, lib *script.Library, out []byte) []byte {
	h := fsmHosts.Get().(*fsmHost)
	h.st, h.now, h.call = st, now, call
	done := running.begin(false)
	out = engine.CallFunction(&script.Call{Lib: lib, Name: call.SHA, Keys: call.Keys, Args: call.Args, Host: h, Budget: call.Budget, Legacy: call.Legacy}, out)
	done()
	h.st, h.call = nil, nil
	fsmHosts.Put(h)
	return out
}

// ReadFunction is a read-only function run (FCALL_RO, a no-writes
// function) on a leader under its store's read lock, as ReadScript: its
// Body and SHA are unused, Lib and Name name the function.
type ReadFunction struct {
	ReadScript
	Lib  *script.Library
	Name string
}

// Run runs the function and appends its RESP3 reply to out. The caller
// holds r.St's RLock.
func (r *ReadFunction) Run(out []byte) []byte {
	h := &readHost{r: &r.ReadScript}
	done := running.begin(true)
	out = engine.CallFunction(&script.Call{Lib: r.Lib, Name: r.Name, Keys: r.Keys, Args: r.Args, Host: h, Ctx: r.Ctx, Budget: r.Budget}, out)
	done()
	return out
}

// killableFuncs holds the read-only functions (FUNCTION KILL).
var killableFuncs killRegistry

// KillableFunctionContext returns a context for a read-only function that
// FUNCTION KILL cancels, and the function to call when it ends.
func KillableFunctionContext() (context.Context, func()) { return killableFuncs.context() }

// KillFunctions is FUNCTION KILL: it stops every running function that
// has not written (a read-only one, or a write function's probe before its
// first write) and returns the reply text ("" for +OK): BUSY (use SCRIPT
// KILL) when only scripts that may be killed run, UNKILLABLE when only
// scripts or functions that wrote run (in the FSM), NOTBUSY when nothing
// runs.
func KillFunctions() string {
	if killableFuncs.kill() > 0 {
		return ""
	}
	scripts := killable.running()
	switch {
	case scripts > 0:
		return ErrScriptBusy
	case running.n.Load() > 0:
		return ErrScriptUnkillable
	}
	return ErrScriptNotBusy
}

// FCallKeys is the KeysFunc of FCALL and FCALL_RO ("name function numkeys
// key... arg..."): the declared keys, none for a bad numkeys. ACL key
// patterns and COMMAND GETKEYS see them.
func FCallKeys(args [][]byte, dst [][]byte) [][]byte {
	return numkeysKeys(2, false)(args, dst)
}

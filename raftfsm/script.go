package raftfsm

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/shard"
)

// Scripts: EVAL and friends (docs/scripting.md). A write script is one log
// entry (type 12, codec_script.go) that every replica runs inside its FSM,
// under the store's write lock, with the entry's clock: its redis.call
// commands go through ScriptExecutor, and every key they touch is checked
// against the group's slot ownership. SCRIPT LOAD and SCRIPT FLUSH are
// entries too, so that every replica keeps the same script cache and
// EVALSHA works after a failover.

// ScriptExecutor is implemented by an Executor that can run scripts.
//
// ExecScript runs the script call (decoded from an entry) against st with
// clock now and appends its RESP3 reply to out; CheckScript returns the
// error reply text for a body that does not compile ("" when it does).
// Both are called only from the FSM goroutine with the store's Lock held,
// and must be deterministic: the reply and the new state may depend only
// on the store, the call and now.
type ScriptExecutor interface {
	ExecScript(st *shard.Store, now int64, call *ScriptCall, out []byte) []byte
	CheckScript(body []byte, sha string) string
}

// ScriptCall is one script run inside the FSM.
type ScriptCall struct {
	Body  []byte
	SHA   string
	Keys  [][]byte
	Args  [][]byte
	Flags ScriptFlag
	// Budget is the run's step budget (0: none), from the entry.
	Budget int64
	// Legacy: the entry is of script version 1 (codec_script.go), run as
	// Shoal ran scripts then (script.Run.Legacy).
	Legacy bool
	// Check returns the error reply text (without '-') refusing a command
	// the script calls, whose keys are keys, or "" to let it run.
	Check func(keys [][]byte) string
	// Changed is told the keys of each command that changed the store
	// (nil keys: a keyless one such as FLUSHALL).
	Changed func(keys [][]byte)
	// Log is the group's logger (redis.log).
	Log *slog.Logger
}

// Texts of the FSM's refusals of keys a script touches (Redis Cluster's).
const (
	ErrScriptNonLocalKey = "ERR Script attempted to access a non local key in a cluster node"
	ErrScriptCrossSlot   = "ERR Script attempted to access keys that do not hash to the same slot"
	// ErrScriptsUnsupported: the FSM's Executor does not run scripts.
	ErrScriptsUnsupported = "ERR scripts are not supported by this group"
)

// scriptState is the FSM's script cache (SHA1 → body) and the FSM
// goroutine's decoding buffer. The cache is written by the FSM goroutine
// under mu and read by connection goroutines (EVALSHA) under its RLock.
type scriptState struct {
	mu   sync.RWMutex
	byID map[string][]byte
	dec  scriptEntry
}

func scriptSHA(body []byte) string {
	sum := sha1.Sum(body)
	return hex.EncodeToString(sum[:])
}

// Script returns the body of the cached script sha (lower-case hex).
// Safe for concurrent use.
func (f *FSM) Script(sha string) ([]byte, bool) {
	f.scr.mu.RLock()
	b, ok := f.scr.byID[sha]
	f.scr.mu.RUnlock()
	return b, ok
}

// Scripts returns the cached scripts' bodies, sorted by SHA1: what a
// snapshot must keep (RestoreScripts puts them back). Safe for concurrent
// use; the bodies must not be modified.
func (f *FSM) Scripts() [][]byte {
	f.scr.mu.RLock()
	ids := make([]string, 0, len(f.scr.byID))
	for id := range f.scr.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([][]byte, len(ids))
	for i, id := range ids {
		out[i] = f.scr.byID[id]
	}
	f.scr.mu.RUnlock()
	return out
}

// RestoreScripts replaces the script cache with bodies (from Scripts), as
// a snapshot restore must. Call it where Restore runs (the FSM goroutine,
// or before raft starts).
func (f *FSM) RestoreScripts(bodies [][]byte) {
	m := make(map[string][]byte, len(bodies))
	for _, b := range bodies {
		b = append([]byte(nil), b...)
		m[scriptSHA(b)] = b
	}
	f.scr.mu.Lock()
	f.scr.byID = m
	f.scr.mu.Unlock()
}

func (f *FSM) cacheScript(sha string, body []byte) {
	f.scr.mu.Lock()
	if _, ok := f.scr.byID[sha]; !ok {
		if f.scr.byID == nil {
			f.scr.byID = make(map[string][]byte)
		}
		f.scr.byID[sha] = append([]byte(nil), body...) // body aliases the entry
	}
	f.scr.mu.Unlock()
}

// applyScript applies a script entry. The result is the reply ([]byte, a
// fresh slice) or an error (the FSM halts). Caller holds the store's Lock.
func (f *FSM) applyScript(data []byte) interface{} {
	e := &f.scr.dec
	if err := decodeScript(data, e); err != nil {
		return err
	}
	switch e.kind {
	case scriptFuncLoad, scriptFuncDelete, scriptFuncFlush, scriptFuncRestore, scriptFCall:
		return f.applyFunction(e) // function.go
	}
	se, ok := f.exec.(ScriptExecutor)
	switch e.kind {
	case scriptFlush:
		f.scr.mu.Lock()
		f.scr.byID = nil
		f.scr.mu.Unlock()
		return []byte("+OK\r\n")
	case scriptLoad:
		sha := scriptSHA(e.body)
		if !ok {
			return []byte("-" + ErrScriptsUnsupported + "\r\n")
		}
		if msg := se.CheckScript(e.body, sha); msg != "" {
			return appendErrorLine(nil, msg)
		}
		f.cacheScript(sha, e.body)
		out := make([]byte, 0, 48)
		out = append(out, "$40\r\n"...)
		out = append(out, sha...)
		return append(out, "\r\n"...)
	}
	now := f.advance(e.now)
	if !ok {
		return []byte("-" + ErrScriptsUnsupported + "\r\n")
	}
	own, mig := f.owner.Load(), f.mig.Load()
	var fenced *shard.SlotSet
	if mig != nil {
		fenced = mig.fenced
	}
	for _, k := range e.keys {
		if s := shard.Slot(k); !own.all && !own.slots.Has(s) || (fenced != nil && fenced.Has(s)) {
			// As a command's: the client is redirected and retries.
			return appendNotOwner(nil, s)
		}
	}
	sha := scriptSHA(e.body)
	if msg := se.CheckScript(e.body, sha); msg != "" {
		return appendErrorLine(nil, msg)
	}
	f.cacheScript(sha, e.body)
	call := f.scriptCall(e, own, fenced)
	call.SHA = sha
	st := f.store
	if e.db != 0 {
		st = st.DB(e.db)
	}
	return se.ExecScript(st, now, call, nil)
}

// scriptCall returns the call of a script or function entry e: its keys
// and arguments, and the checks of the keys its commands touch (against
// own and fenced, and the script's slot in cluster mode).
func (f *FSM) scriptCall(e *scriptEntry, own *ownership, fenced *shard.SlotSet) *ScriptCall {
	slot := -1
	if len(e.keys) > 0 {
		slot = shard.Slot(e.keys[0])
	}
	hook := f.changeHook()
	call := &ScriptCall{Body: e.body, Keys: e.keys, Args: e.args, Flags: e.flags, Budget: e.budget, Legacy: e.legacy, Log: f.log}
	call.Check = func(keys [][]byte) string {
		for _, k := range keys {
			s := shard.Slot(k)
			if !own.all && !own.slots.Has(s) || (fenced != nil && fenced.Has(s)) {
				return ErrScriptNonLocalKey
			}
			if e.flags&ScriptCluster != 0 && e.flags&ScriptCrossSlot == 0 {
				if slot == -1 {
					slot = s
				} else if s != slot {
					return ErrScriptCrossSlot
				}
			}
		}
		return ""
	}
	if hook != nil {
		call.Changed = func(keys [][]byte) {
			if len(keys) == 0 {
				hook.AllChanged()
			} else {
				hook.KeysChanged(keys)
			}
		}
	}
	return call
}

func appendErrorLine(out []byte, msg string) []byte {
	out = append(out, '-')
	out = append(out, msg...)
	return append(out, '\r', '\n')
}

// ProposeScript replicates a write script (EVAL, EVALSHA with the body the
// leader found in its cache) run in database db, and returns its reply
// (RESP3) once every replica will apply it. A reply "-NOTOWNER <slot>"
// means a declared key's slot is not the group's (see ParseNotOwner).
// Errors as for the typed proposals (typed.go).
func (g *Group) ProposeScript(ctx context.Context, db int, flags ScriptFlag, budget int64, body []byte, keys, args [][]byte) ([]byte, error) {
	data := EncodeScriptEval(make([]byte, 0, evalSize(body, keys, args)), time.Now().UnixMilli(), db, flags, budget, body, keys, args)
	return g.proposeReply(ctx, data)
}

// evalSize is the room an Eval or FCall entry of body (or a function's
// name), keys and args needs.
func evalSize(body []byte, keys, args [][]byte) int {
	size := 32 + len(body)
	for _, k := range keys {
		size += len(k) + 5
	}
	for _, a := range args {
		size += len(a) + 5
	}
	return size
}

// ScriptFuture is a write script handed to raft by StartScript.
type ScriptFuture struct {
	g   *Group
	f   raft.ApplyFuture
	err error
}

// StartScript hands a write script to raft like ProposeScript but returns
// at once (once raft queued the entry), so that a connection can pipeline
// several; Wait gives the reply. Entries started one after the other are
// applied in that order.
func (g *Group) StartScript(db int, flags ScriptFlag, budget int64, body []byte, keys, args [][]byte) *ScriptFuture {
	return g.startEntry(func() []byte {
		return EncodeScriptEval(make([]byte, 0, evalSize(body, keys, args)), time.Now().UnixMilli(), db, flags, budget, body, keys, args)
	})
}

// startEntry hands the entry mk makes to raft at once, on the leader, for
// StartScript and StartFCall.
func (g *Group) startEntry(mk func() []byte) *ScriptFuture {
	if !g.IsLeader() {
		return &ScriptFuture{err: ErrNotLeader}
	}
	select {
	case <-g.stop:
		return &ScriptFuture{err: ErrShutdown}
	default:
	}
	return &ScriptFuture{g: g, f: g.raft.Apply(mk(), 0)}
}

// Wait returns the reply of the script once applied (as ProposeScript), or
// the error: ErrNotLeader (not proposed), ErrShutdown, ErrIndeterminate
// (wrapping ctx.Err() when ctx ended first).
func (sf *ScriptFuture) Wait(ctx context.Context) ([]byte, error) {
	if sf.err != nil {
		return nil, sf.err
	}
	if err := sf.g.waitFuture(ctx, sf.f); err != nil {
		if ctx.Err() != nil && err == ctx.Err() {
			return nil, fmt.Errorf("%w: %w", ErrIndeterminate, err)
		}
		return nil, mapRaftError(err)
	}
	v := sf.f.Response()
	if err, ok := v.(error); ok {
		return nil, mapRaftError(err)
	}
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("raftfsm: unexpected apply result %T", v)
	}
	return b, nil
}

// ProposeScriptLoad replicates SCRIPT LOAD: every replica caches body. The
// reply is the SHA1 (a bulk string) or the compile error.
func (g *Group) ProposeScriptLoad(ctx context.Context, body []byte) ([]byte, error) {
	return g.proposeReply(ctx, EncodeScriptLoad(make([]byte, 0, len(body)+8), body))
}

// ProposeScriptFlush replicates SCRIPT FLUSH: every replica empties its
// script cache.
func (g *Group) ProposeScriptFlush(ctx context.Context) ([]byte, error) {
	return g.proposeReply(ctx, EncodeScriptFlush(nil))
}

// Script returns the body of the script sha in this replica's cache.
func (g *Group) Script(sha string) ([]byte, bool) { return g.fsm.Script(sha) }

func (g *Group) proposeReply(ctx context.Context, data []byte) ([]byte, error) {
	v, err := g.proposeEntry(ctx, data)
	if err != nil {
		return nil, err
	}
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("raftfsm: unexpected apply result %T", v)
	}
	return b, nil
}

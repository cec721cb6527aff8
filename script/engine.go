// Package script runs Redis 7.0 Lua scripts (EVAL and friends) on Lua 5.1
// as implemented by github.com/yuin/gopher-lua: the sandbox Redis applies
// (read-only globals, the libraries Redis exposes), the redis.* API, the
// conversions between RESP replies and Lua values, and Redis's error texts.
//
// The package knows nothing of commands, stores or Raft: a script reaches
// the data through a Host, which the caller provides for each run (the FSM
// for write scripts, a connection for read-only ones).
//
// Concurrency: an Engine is safe for concurrent use; each Run takes a Lua
// state from the engine's pool for its duration (a state runs one script at
// a time, on the calling goroutine). Compiled scripts are cached by SHA1 in
// the engine and shared by its states.
package script

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Host runs the Redis commands a script calls (redis.call, redis.pcall).
//
// Call appends the RESP3 reply of the command args to out and returns it.
// Errors the scripting layer defines (unknown command, wrong arity, a command
// not allowed from scripts, a write from a read-only script, a key of
// another slot) are error replies like any other. Call runs on the
// goroutine that called Engine.Run; args are only valid during the call.
type Host interface {
	Call(args [][]byte, out []byte) []byte
}

// Run is one script execution.
type Run struct {
	// Body is the script's source (with its shebang line, if any).
	Body []byte
	// SHA is the hex SHA1 of Body (SHA1 computes it when empty).
	SHA string
	// Keys and Args become KEYS and ARGV.
	Keys, Args [][]byte
	// Host runs the script's redis.call commands.
	Host Host
	// Ctx, when not nil, stops the script when it is cancelled (SCRIPT
	// KILL); the reply is then Redis's "ERR Script killed by user with
	// SCRIPT KILL... script: <sha>, on @user_script:<line>.". Nil for
	// scripts that run to their end or their Budget (write scripts).
	Ctx context.Context
	// Budget, when > 0, is the number of steps (loop iterations and
	// function calls) after which the run fails with BudgetExceeded
	// (budget.go): write scripts carry it in their log entry.
	Budget int64
	// Legacy runs the script as Shoal compiled it before the table-set
	// guard (holes.go): no budget of empty slots, and gopher-lua's own
	// multiple assignment. For log entries written before it (a script
	// entry of version 1), which replicas must apply as they did then.
	Legacy bool
}

// Engine runs scripts on pooled Lua states, with a shared cache of compiled
// scripts. The zero value is not usable: use NewEngine.
type Engine struct {
	mu     sync.Mutex
	free   []*state
	protos map[string]*lua.FunctionProto // by SHA1, guarded by mu
}

// maxPooled bounds the idle Lua states an engine keeps.
const maxPooled = 8

// maxProtos bounds the compiled scripts an engine caches; the cache is
// emptied when it is reached (scripts recompile from their body).
const maxProtos = 4096

// NewEngine returns an engine with an empty cache.
func NewEngine() *Engine {
	return &Engine{protos: make(map[string]*lua.FunctionProto)}
}

// SHA1 returns the lower-case hex SHA1 of body, the script's name in the
// cache (SCRIPT LOAD's reply).
func SHA1(body []byte) string {
	sum := sha1.Sum(body)
	return hex.EncodeToString(sum[:])
}

// Compile checks that body compiles, caching it, and returns the error
// reply Redis gives for a script that does not ("" when it compiles).
func (e *Engine) Compile(body []byte, sha string) string {
	if sha == "" {
		sha = SHA1(body)
	}
	_, msg := e.proto(body, sha, false)
	return msg
}

// Flush empties the compiled-script cache (SCRIPT FLUSH).
func (e *Engine) Flush() {
	e.mu.Lock()
	e.protos = make(map[string]*lua.FunctionProto)
	e.mu.Unlock()
}

// proto returns the compiled body, compiling it on a miss; on a compile
// error it returns Redis's error reply text.
// MayLoop reports whether the script body (sha: its SHA1, or "") has a
// loop or a function of its own (the instrumented steps of budget.go):
// only such a script can run for long in Lua; one without is bounded by
// its length, its commands aside. False for a script that does not
// compile.
func (e *Engine) MayLoop(body []byte, sha string) bool {
	if sha == "" {
		sha = SHA1(body)
	}
	p, _ := e.proto(body, sha, false)
	if p == nil {
		return false
	}
	if len(p.FunctionPrototypes) > 0 {
		return true
	}
	for _, c := range p.Constants {
		if s, ok := c.(lua.LString); ok && s == tickName {
			return true
		}
	}
	return false
}

func (e *Engine) proto(body []byte, sha string, legacy bool) (*lua.FunctionProto, string) {
	key := sha
	if legacy {
		key = "legacy:" + sha
	}
	e.mu.Lock()
	p := e.protos[key]
	e.mu.Unlock()
	if p != nil {
		return p, ""
	}
	src := body
	if bytes.HasPrefix(src, []byte("#!")) {
		// The shebang line is not Lua; keep the newline so that line
		// numbers stay those of the body, as Redis does.
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			src = src[i:]
		} else {
			src = nil
		}
	}
	chunk, err := parse.Parse(bytes.NewReader(src), chunkName)
	if err != nil {
		return nil, compileError(err, 1+bytes.Count(body, []byte("\n")))
	}
	p, err = lua.Compile(instrument(chunk, legacy), chunkName)
	if err != nil {
		return nil, "ERR Error compiling script (new function): " + chunkName + ": " + err.Error()
	}
	// The main chunk is a vararg function, for which gopher-lua's
	// LUA_COMPAT_VARARG builds an "arg" table (a map) on every call; only
	// a nested function can name it (compile.go registers the local for
	// those alone), so the chunk's is garbage from birth: skip it.
	p.IsVarArg &^= lua.VarArgNeedsArg
	e.mu.Lock()
	if len(e.protos) >= maxProtos {
		e.protos = make(map[string]*lua.FunctionProto)
	}
	e.protos[key] = p
	e.mu.Unlock()
	return p, ""
}

// chunkName is the name Redis 7 gives every script ("@user_script", which
// Lua prints as "user_script").
const chunkName = "user_script"

// compileError turns gopher-lua's parse error into Redis's compile error.
// gopher-lua words its messages differently from Lua 5.1 ("syntax error"
// rather than "unexpected symbol"): only the prefix and the line match.
func compileError(err error, lines int) string {
	if pe, ok := err.(*parse.Error); ok {
		line := pe.Pos.Line
		msg := strings.TrimSpace(pe.Message)
		if line <= 0 {
			return "ERR Error compiling script (new function): " + chunkName + ":" + strconv.Itoa(lines) + ": " + msg + " near '<eof>'"
		}
		return "ERR Error compiling script (new function): " + chunkName + ":" + strconv.Itoa(line) + ": " + msg + " near '" + pe.Token + "'"
	}
	return "ERR Error compiling script (new function): " + strings.TrimSpace(err.Error())
}

// Run executes r and appends its reply, in RESP3 form, to out (the front
// end downgrades it for RESP2 connections). Script errors are error
// replies: nothing is returned besides out.
func (e *Engine) Run(r *Run, out []byte) []byte {
	if r.SHA == "" {
		r.SHA = SHA1(r.Body)
	}
	p, msg := e.proto(r.Body, r.SHA, r.Legacy)
	if p == nil {
		return appendError(out, msg)
	}
	s := e.get()
	out = s.exec(p, r, out)
	e.put(s)
	return out
}

func (e *Engine) get() *state {
	e.mu.Lock()
	if n := len(e.free); n > 0 {
		s := e.free[n-1]
		e.free = e.free[:n-1]
		e.mu.Unlock()
		return s
	}
	e.mu.Unlock()
	return newState()
}

func (e *Engine) put(s *state) {
	if s.broken {
		s.L.Close()
		return
	}
	e.mu.Lock()
	if len(e.free) < maxPooled {
		e.free = append(e.free, s)
		s = nil
	}
	e.mu.Unlock()
	if s != nil {
		s.L.Close()
	}
}

// appendError appends msg as an error reply, with CR and LF replaced by
// spaces as Redis does.
func appendError(out []byte, msg string) []byte {
	out = append(out, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		out = append(out, c)
	}
	return append(out, '\r', '\n')
}

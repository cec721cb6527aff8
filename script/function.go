package script

import (
	"bytes"
	"context"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Functions (Redis 7.0's FUNCTION LOAD and FCALL): a library is Lua code
// whose first line is "#!lua name=<lib>" and whose top level registers
// functions with redis.register_function. Loading runs that top level in a
// restricted environment (only redis.register_function, redis.log, the
// LOG_* levels and REDIS_VERSION[_NUM]; no other global, no redis.call);
// calling a function runs the library's top level again, in a fresh
// environment, then the function with (keys, args). Running the top level
// at every call keeps replicas deterministic: a library's local state
// (upvalues) never carries from one call to the next, whichever pooled Lua
// state runs it (Redis keeps one interpreter, where it would).

// Function is one function a library registers.
type Function struct {
	Name string
	// Desc is the description given (HasDesc: one was given).
	Desc    string
	HasDesc bool
	Flags   Flags
}

// Library is a loaded library: immutable once built.
type Library struct {
	Name string
	Code []byte
	// Funcs are the functions, sorted by name.
	Funcs []Function
}

// Func returns the library's function name (case-insensitive, as Redis's
// function names).
func (l *Library) Func(name string) (Function, bool) {
	for _, f := range l.Funcs {
		if strings.EqualFold(f.Name, name) {
			return f, true
		}
	}
	return Function{}, false
}

// functionChunk is the chunk name of libraries ("@user_function").
const functionChunk = "user_function"

// loadBudget is the step budget of a library's top level (Redis stops a
// load after 500 ms: "FUNCTION LOAD timeout"; a budget stops it at the same
// step on every replica).
const loadBudget = 1_000_000

// Error texts of library loading (Redis 7.0's).
const (
	errMissingMeta  = "ERR Missing library metadata"
	errInvalidMeta  = "ERR Invalid library metadata"
	errNoLibName    = "ERR Library name was not given"
	errBadName      = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"
	errNoFunctions  = "ERR No functions registered"
	errLoadTimeout  = "ERR FUNCTION LOAD timeout"
	errRegistering  = "ERR Error registering functions: "
	errCompilingFn  = "ERR Error compiling function: "
	errRegArgs      = "ERR wrong number of arguments to redis.register_function"
	errRegSingle    = "ERR calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."
	errRegCallback  = "ERR second argument to redis.register_function must be a function"
	errRegName      = "ERR first argument to redis.register_function must be a string"
	errRegUnknown   = "ERR unknown argument given to redis.register_function"
	errRegNoName    = "ERR redis.register_function must get a function name argument"
	errRegNoCB      = "ERR redis.register_function must get a callback argument"
	errRegFlags     = "ERR flags argument to redis.register_function must be a table representing function flags"
	errRegFlag      = "ERR unknown flag given"
	errRegDuplicate = "ERR Function already exists in the library"
	errRegNameType  = "ERR function_name argument given to redis.register_function must be a string"
	errRegCBType    = "ERR callback argument given to redis.register_function must be a function"
	errRegDescType  = "ERR description argument given to redis.register_function must be a string"
)

// ParseLibraryMeta returns the library name of code's shebang line
// ("#!lua name=<lib>"), or Redis's error reply text.
func ParseLibraryMeta(code []byte) (string, string) {
	if !bytes.HasPrefix(code, []byte("#!")) {
		return "", errMissingMeta
	}
	end := bytes.IndexByte(code, '\n')
	if end < 0 {
		return "", errInvalidMeta
	}
	parts := strings.Fields(string(code[2:end]))
	if len(parts) == 0 {
		return "", errInvalidMeta
	}
	name, found := "", false
	for _, p := range parts[1:] {
		v, ok := strings.CutPrefix(p, "name=")
		if !ok {
			return "", "ERR Invalid metadata value given: " + p
		}
		name, found = v, true
	}
	if !found {
		return "", errNoLibName
	}
	if parts[0] != "lua" {
		return "", "ERR Engine '" + parts[0] + "' not found"
	}
	if !ValidName(name) {
		return "", errBadName
	}
	return name, ""
}

// ValidName reports whether name is a valid library or function name:
// letters, digits and underscores, at least one.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// libProto compiles a library's code (cached by the code's SHA1, apart
// from scripts' protos), or returns Redis's compile error text.
func (e *Engine) libProto(code []byte, legacy bool) (*lua.FunctionProto, string) {
	key := "fn:" + SHA1(code)
	if legacy {
		key = "legacy:" + key
	}
	e.mu.Lock()
	p := e.protos[key]
	e.mu.Unlock()
	if p != nil {
		return p, ""
	}
	src := code
	if i := bytes.IndexByte(src, '\n'); i >= 0 {
		src = src[i:] // the shebang line is not Lua; line numbers stay
	}
	chunk, err := parse.Parse(bytes.NewReader(src), functionChunk)
	if err != nil {
		msg := compileError(err, 1+bytes.Count(code, []byte("\n")))
		msg = strings.Replace(msg, "ERR Error compiling script (new function): "+chunkName, errCompilingFn+functionChunk, 1)
		return nil, msg
	}
	p, err = lua.Compile(instrument(chunk, legacy), functionChunk)
	if err != nil {
		return nil, errCompilingFn + functionChunk + ": " + err.Error()
	}
	e.mu.Lock()
	if len(e.protos) >= maxProtos {
		clear(e.protos)
	}
	e.protos[key] = p
	e.mu.Unlock()
	return p, ""
}

// LoadLibrary compiles code and runs its top level, returning the library
// it registers, or Redis's error reply text. The shebang must have been
// checked (ParseLibraryMeta). Deterministic: a pure function of code.
func (e *Engine) LoadLibrary(code []byte) (*Library, string) {
	name, msg := ParseLibraryMeta(code)
	if msg != "" {
		return nil, msg
	}
	p, msg := e.libProto(code, false)
	if p == nil {
		return nil, msg
	}
	s := e.get()
	lib := &Library{Name: name, Code: append([]byte(nil), code...)}
	regs, msg := s.loadLibrary(p, &Run{})
	for _, r := range regs {
		lib.Funcs = append(lib.Funcs, r.Function)
	}
	s.cur = nil
	e.put(s)
	if msg != "" {
		return nil, msg
	}
	if len(lib.Funcs) == 0 {
		return nil, errNoFunctions
	}
	sortFuncs(lib.Funcs)
	return lib, ""
}

func sortFuncs(fs []Function) {
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].Name < fs[j-1].Name; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// registered is a function registered while a library loads.
type registered struct {
	Function
	fn *lua.LFunction
}

// libCache is a state's environment for libraries, built once per state:
// the globals table of a library's code (empty, read-only, its reads going
// to the load API while the library loads, then to the real globals while
// a function runs) and the load API whose register_function appends to
// regs. Nothing a library does can write to them, so reusing them across
// runs leaks nothing from one run into the next.
type libCache struct {
	env     *lua.LTable
	loading bool
	regs    []registered
}

// libEnv returns the state's libCache, building it on first use.
func (s *state) libEnv() *libCache {
	if s.lib != nil {
		return s.lib
	}
	L := s.L
	c := &libCache{}
	api := s.loadAPI(c)
	step := L.NewFunction(s.loadStep)
	c.env = L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k := L.Get(2)
		if c.loading {
			if ks, ok := k.(lua.LString); ok && string(ks) == tickName {
				L.Push(step)
				return 1
			}
			if ks, ok := k.(lua.LString); ok && (string(ks) == holeName || string(ks) == ctorKeyName || string(ks) == ctorValName) {
				L.Push(s.real.RawGet(k))
				return 1
			}
			if v := api.RawGet(k); v != lua.LNil {
				L.Push(v)
				return 1
			}
		} else if v := s.real.RawGet(k); v != lua.LNil {
			if ks, ok := k.(lua.LString); !ok || (ks != "KEYS" && ks != "ARGV") {
				L.Push(v)
				return 1
			}
		}
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", lua.LVAsString(k))
		return 0
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(c.env, mt)
	s.readonly[c.env] = true
	s.lib = c
	return c
}

// loadLibrary runs the compiled library p's top level in the load
// environment (r is the run the load belongs to) and returns the
// functions it registered, valid until the state's next load, or the
// error text. The environment is left in load mode.
func (s *state) loadLibrary(p *lua.FunctionProto, r *Run) (regs []registered, msg string) {
	L := s.L
	s.cur, s.resp = r, 2
	s.startRun(loadBudget, r.Legacy)
	defer func() {
		if v := recover(); v != nil {
			s.broken = true
			regs, msg = nil, "ERR Error registering functions: internal error"
		}
		L.SetTop(0)
	}()
	c := s.libEnv()
	c.loading = true
	clear(c.regs)
	c.regs = c.regs[:0]
	fn := L.NewFunctionFromProto(p)
	fn.Env = c.env
	L.Push(fn)
	if err := L.PCall(0, 0, s.handler); err != nil {
		return nil, errRegistering + raisedText(err)
	}
	return c.regs, ""
}

// raisedText is the err text of a raised error (a table from the error
// handler), without position suffix.
func raisedText(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		if t, ok := ae.Object.(*lua.LTable); ok {
			if e, ok := t.RawGetString("err").(lua.LString); ok {
				return string(e)
			}
		}
		if str, ok := ae.Object.(lua.LString); ok {
			return string(str)
		}
	}
	return "ERR " + err.Error()
}

// loadStep counts a step of a library's top level; past loadBudget the
// load fails as Redis's load timeout does.
func (s *state) loadStep(L *lua.LState) int {
	s.steps++
	if s.steps > loadBudget {
		raise(L, errLoadTimeout)
	}
	return 0
}

// loadAPI returns the globals a library's top level sees: redis with
// register_function (appending to c.regs), log, the LOG_* levels and the
// version, read-only and strict.
func (s *state) loadAPI(c *libCache) *lua.LTable {
	L := s.L
	redis := L.NewTable()
	redis.RawSetString("register_function", L.NewFunction(func(L *lua.LState) int {
		reg, msg := parseRegistration(L)
		if msg != "" {
			raise(L, msg)
		}
		if !ValidName(reg.Name) {
			raise(L, errBadName)
		}
		for _, r := range c.regs {
			if r.Name == reg.Name {
				raise(L, errRegDuplicate)
			}
		}
		c.regs = append(c.regs, reg)
		return 0
	}))
	if ft, ok := s.real.RawGetString("redis").(*lua.LTable); ok {
		for _, name := range []string{"log", "LOG_DEBUG", "LOG_VERBOSE", "LOG_NOTICE", "LOG_WARNING", "REDIS_VERSION", "REDIS_VERSION_NUM"} {
			redis.RawSetString(name, L.GetField(ft, name))
		}
	}
	api := L.NewTable()
	api.RawSetString("redis", s.protect(redis, true))
	return api
}

// parseRegistration reads redis.register_function's arguments: (name,
// callback) or a table {function_name=, callback=, flags=, description=}.
func parseRegistration(L *lua.LState) (registered, string) {
	var r registered
	switch L.GetTop() {
	case 1:
		t, ok := L.Get(1).(*lua.LTable)
		if !ok {
			return r, errRegSingle
		}
		var msg string
		t.ForEach(func(k, v lua.LValue) {
			if msg != "" {
				return
			}
			ks, ok := k.(lua.LString)
			if !ok {
				msg = errRegUnknown
				return
			}
			switch string(ks) {
			case "function_name":
				if !isStringy(v) {
					msg = errRegNameType
					return
				}
				r.Name = lua.LVAsString(v)
			case "callback":
				fn, ok := v.(*lua.LFunction)
				if !ok {
					msg = errRegCBType
					return
				}
				r.fn = fn
			case "description":
				if !isStringy(v) {
					msg = errRegDescType
					return
				}
				r.Desc, r.HasDesc = lua.LVAsString(v), true
			case "flags":
				ft, ok := v.(*lua.LTable)
				if !ok {
					msg = errRegFlags
					return
				}
				for i := 1; i <= ft.Len(); i++ {
					f, ok := flagByName(ft.RawGetInt(i))
					if !ok {
						msg = errRegFlag
						return
					}
					r.Flags |= f
				}
			default:
				msg = errRegUnknown
			}
		})
		if msg != "" {
			return r, msg
		}
		if r.Name == "" && r.fn == nil {
			return r, errRegNoName
		}
		if r.fn == nil {
			return r, errRegNoCB
		}
		if r.Name == "" {
			return r, errRegNoName
		}
		return r, ""
	case 2:
		if !isStringy(L.Get(1)) {
			return r, errRegName
		}
		fn, ok := L.Get(2).(*lua.LFunction)
		if !ok {
			return r, errRegCallback
		}
		r.Name, r.fn = lua.LVAsString(L.Get(1)), fn
		return r, ""
	}
	return r, errRegArgs
}

func isStringy(v lua.LValue) bool {
	switch v.(type) {
	case lua.LString, lua.LNumber:
		return true
	}
	return false
}

func flagByName(v lua.LValue) (Flags, bool) {
	s, ok := v.(lua.LString)
	if !ok {
		return 0, false
	}
	for _, fn := range flagNames {
		if fn.name == string(s) {
			return fn.f, true
		}
	}
	return 0, false
}

// FlagNames returns the names of f's flags in Redis's order (FUNCTION
// LIST).
func FlagNames(f Flags) []string {
	var out []string
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

// Call is one function call (FCALL, FCALL_RO).
type Call struct {
	// Lib is the function's library; Name the function.
	Lib  *Library
	Name string
	// Keys and Args are the function's two arguments.
	Keys, Args [][]byte
	// Host runs the function's redis.call commands.
	Host Host
	// Ctx, when not nil, stops the function when cancelled (FUNCTION
	// KILL), as Run.Ctx.
	Ctx context.Context
	// Budget is the run's step budget (0: none), as Run.Budget; the
	// library's top level, run again first, counts too.
	Budget int64
	// Legacy: as Run.Legacy, for the function and its library's top level.
	Legacy bool
}

// CallFunction runs c and appends its RESP3 reply to out (errors are
// error replies, "... script: <function>, on @user_function:<line>.").
func (e *Engine) CallFunction(c *Call, out []byte) []byte {
	p, msg := e.libProto(c.Lib.Code, c.Legacy)
	if p == nil {
		return appendError(out, msg)
	}
	s := e.get()
	out = s.callFunction(p, c, out)
	e.put(s)
	return out
}

func (s *state) callFunction(p *lua.FunctionProto, c *Call, out []byte) (res []byte) {
	L := s.L
	r := &Run{SHA: c.Name, Keys: c.Keys, Args: c.Args, Host: c.Host, Ctx: c.Ctx, Budget: c.Budget, Legacy: c.Legacy}
	s.rng.reset()
	clear(s.ids)
	regs, msg := s.loadLibrary(p, r)
	defer func() {
		if v := recover(); v != nil {
			s.broken = true
			res = appendError(out, "ERR Error running script: internal error")
		}
		s.cur, s.halter, s.stop = nil, nil, ""
		L.SetTop(0)
	}()
	if msg != "" {
		return appendError(out, msg)
	}
	var fn *lua.LFunction
	for _, reg := range regs {
		if strings.EqualFold(reg.Name, c.Name) {
			fn, r.SHA = reg.fn, reg.Name // errors name it as registered
			break
		}
	}
	if fn == nil {
		return appendError(out, "ERR Function not found")
	}
	s.lib.loading = false
	s.cur, s.resp = r, 2
	s.startRun(c.Budget, c.Legacy)
	s.setHalter(c.Host)
	if r.Ctx != nil {
		L.SetContext(r.Ctx)
		defer L.RemoveContext()
	}
	L.Push(fn)
	L.Push(stringsTable(L, c.Keys))
	L.Push(stringsTable(L, c.Args))
	if err := L.PCall(2, 1, s.handler); err != nil {
		if r.Ctx != nil && r.Ctx.Err() != nil {
			s.broken = true
		}
		return s.appendRaised(out, err)
	}
	return s.toResp(L.Get(-1), out, 0)
}

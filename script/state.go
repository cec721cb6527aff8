package script

import (
	gomath "math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// state is one Lua interpreter with Redis's sandbox. It runs one script at
// a time, on the goroutine of Engine.Run.
type state struct {
	L *lua.LState
	// real is the globals table; scripts see it through env, a read-only
	// proxy (Redis 7 makes the globals and the libraries read-only).
	real *lua.LTable
	env  *lua.LTable
	// readonly holds the proxies scripts may not modify, rawset included.
	readonly map[*lua.LTable]bool
	handler  *lua.LFunction

	// Per run: the run, the script's RESP version (redis.setresp), its
	// random generator (reseeded at each run: see rand48), the ids
	// tostring gives tables and functions, a buffer for the arguments of
	// redis.call, and the reply buffer of the last call.
	cur    *Run
	resp   int
	rng    rand48
	ids    map[any]int
	argbuf []byte
	args   [][]byte
	reply  []byte
	// steps counts the run's steps against budget (budget.go); holes
	// the empty table slots it left (holes.go).
	steps, budget int64
	holes         int64
	// legacy: the run is Run.Legacy, which counts no empty slots.
	legacy bool
	// halter is the run's Host when it is a Halter; stop the error it
	// stopped the run with (budget.go).
	halter Halter
	stop   string
	// broken is set when a run left the state unusable (a panic or a
	// kill): it is closed instead of pooled.
	broken bool
	// lib is the environment of function libraries (function.go), built
	// on first use.
	lib *libCache
}

// The globals Redis 7.0 leaves in the base library; gopher-lua's others
// (dofile, loadfile, print, require, module, getfenv, setfenv, newproxy,
// _printregs, _GOPHER_LUA_VERSION) are removed.
var removedGlobals = []string{
	"dofile", "loadfile", "print", "require", "module", "getfenv", "setfenv",
	"newproxy", "_printregs", "_GOPHER_LUA_VERSION", "package", "channel",
}

func newState() *state {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, CallStackSize: 256, RegistrySize: 1024 * 4, RegistryMaxSize: 1024 * 1024})
	for _, lib := range []struct {
		name string
		fn   lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.fn))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	s := &state{L: L, real: L.G.Global, readonly: make(map[*lua.LTable]bool), ids: make(map[any]int)}
	g := s.real
	for _, name := range removedGlobals {
		g.RawSetString(name, lua.LNil)
	}
	g.RawSetString("gcinfo", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNumber(0)); return 1 }))
	// Deterministic replacements: a write script's result may reach the
	// store, which every replica must compute alike.
	g.RawSetString("collectgarbage", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNumber(0)); return 1 }))
	g.RawSetString("tostring", L.NewFunction(s.tostring))
	g.RawSetString("rawset", L.NewFunction(s.rawset))
	g.RawSetString("pcall", L.NewFunction(s.pcall))
	g.RawSetString("error", L.NewFunction(luaErrorFn))
	g.RawSetString("tonumber", L.NewFunction(luaToNumber(g.RawGetString("tonumber").(*lua.LFunction))))
	setmt := g.RawGetString("setmetatable").(*lua.LFunction)
	g.RawSetString("setmetatable", L.NewFunction(func(L *lua.LState) int {
		if t, ok := L.Get(1).(*lua.LTable); ok && s.readonly[t] {
			L.Error(lua.LString("Attempt to modify a readonly table"), 0)
		}
		return setmt.GFunction(L) // same frame: errors name the function as Lua does
	}))
	math := g.RawGetString("math").(*lua.LTable)
	math.RawSetString("random", L.NewFunction(s.mathRandom))
	math.RawSetString("randomseed", L.NewFunction(s.mathRandomseed))
	math.RawSetString("huge", lua.LNumber(gomath.Inf(1))) // gopher-lua's is MaxFloat64
	string_ := g.RawGetString("string").(*lua.LTable)
	string_.RawSetString("gfind", string_.RawGetString("gmatch"))
	format := string_.RawGetString("format").(*lua.LFunction)
	string_.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
		// %q quotes as Lua 5.1 does (gopher-lua uses Go's quoting).
		if f, ok := L.Get(1).(lua.LString); ok && strings.Contains(string(f), "%q") {
			L.Replace(1, lua.LString(luaQuoteFormat(L, string(f))))
		}
		// %s of a table or function prints its deterministic name.
		for i := 2; i <= L.GetTop(); i++ {
			switch v := L.Get(i).(type) {
			case *lua.LTable, *lua.LFunction, *lua.LUserData, *lua.LState:
				L.Replace(i, lua.LString(s.name(v)))
			}
		}
		return format.GFunction(L) // same frame: errors name the function as Lua does
	}))
	table := g.RawGetString("table").(*lua.LTable)
	table.RawSetString("foreach", L.NewFunction(tableForeach))
	table.RawSetString("foreachi", L.NewFunction(tableForeachi))
	table.RawSetString("insert", L.NewFunction(s.tableInsert(table.RawGetString("insert").(*lua.LFunction))))
	table.RawSetString("getn", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LNumber(L.CheckTable(1).Len())); return 1 }))
	table.RawSetString("setn", L.NewFunction(func(L *lua.LState) int { L.CheckTable(1); L.RaiseError("'setn' is obsolete"); return 0 }))
	g.RawSetString("redis", s.redisLib())
	g.RawSetString("cjson", cjsonLib(L))
	g.RawSetString("bit", bitLib(L))
	g.RawSetString("cmsgpack", cmsgpackLib(L))
	g.RawSetString("struct", structLib(L))
	s.handler = L.NewFunction(s.errorHandler)
	g.RawSetString(tickName, L.NewFunction(s.step))
	g.RawSetString(holeName, L.NewFunction(s.holeCheck))
	g.RawSetString(ctorKeyName, L.NewFunction(s.ctorKey))
	g.RawSetString(ctorValName, L.NewFunction(s.ctorVal))

	// Read-only proxies over the libraries and the globals.
	for _, name := range []string{"string", "table", "math", "coroutine", "redis", "cjson", "bit", "cmsgpack", "struct"} {
		g.RawSetString(name, s.protect(g.RawGetString(name).(*lua.LTable), false))
	}
	if mt, ok := L.GetMetatable(lua.LString("")).(*lua.LTable); ok {
		mt.RawSetString("__index", g.RawGetString("string"))
		// getmetatable('') gives a read-only view of it.
		mt.RawSetString("__metatable", s.protect(mt, false))
	}
	s.env = s.protect(g, true)
	// getmetatable(_G) gives an empty read-only table (Redis's is a table
	// of functions, which converts to an empty array as well).
	s.env.Metatable.(*lua.LTable).RawSetString("__metatable", s.protect(L.NewTable(), false))
	g.RawSetString("_G", s.env)
	L.Env = s.env
	return s
}

// protect returns a read-only proxy of t: reads go to t, writes fail with
// Redis's "Attempt to modify a readonly table". For the globals (strict), a
// read of a missing name fails as Redis's does.
func (s *state) protect(t *lua.LTable, strict bool) *lua.LTable {
	L := s.L
	proxy := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	if strict {
		// A name t lacks falls through to t's own metatable, which
		// raises. A name t has is two table lookups: no Go call, no
		// allocation (an __index function costs both, at every global
		// a script reads, the step calls of budget.go included).
		tmt := L.NewTable()
		tmt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("Script attempted to access nonexistent global variable '%s'", lua.LVAsString(L.Get(2)))
			return 0
		}))
		L.SetMetatable(t, tmt)
	}
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("Attempt to modify a readonly table")
		return 0
	}))
	mt.RawSetString("__metatable", lua.LFalse)
	L.SetMetatable(proxy, mt)
	s.readonly[proxy] = true
	return proxy
}

// rawset is the base library's, refusing the read-only proxies.
func (s *state) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	L.CheckAny(2)
	L.CheckAny(3)
	if s.readonly[t] {
		L.Error(lua.LString("Attempt to modify a readonly table"), 0)
	}
	if i := arrayKey(L.Get(2)); i > 0 {
		s.chargeHoles(L, i, arrayLen(t))
	}
	t.RawSet(L.Get(2), L.Get(3))
	L.SetTop(1)
	return 1
}

// pcall is Redis 7's: an error table (from redis.call) is caught as its
// err string.
func (s *state) pcall(L *lua.LState) int {
	L.CheckAny(1)
	if err := L.PCall(L.GetTop()-1, lua.MultRet, nil); err != nil {
		var obj lua.LValue = lua.LString(err.Error())
		if ae, ok := err.(*lua.ApiError); ok && ae.Object != nil {
			obj = ae.Object
		}
		if t, ok := obj.(*lua.LTable); ok {
			if e, ok := t.RawGetString("err").(lua.LString); ok {
				obj = e
			}
		}
		L.SetTop(0)
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// tostring is the base library's, with deterministic names for tables,
// functions and the like ("table: 0x1" in order of first appearance in the
// run) instead of their addresses, which differ between replicas.
func (s *state) tostring(L *lua.LState) int {
	v := L.CheckAny(1)
	switch n := v.(type) {
	case lua.LNumber:
		L.Push(lua.LString(cNumber(float64(n), 14))) // Lua 5.1's "%.14g"
		return 1
	case *lua.LTable, *lua.LFunction, *lua.LUserData, *lua.LState:
		if mt, ok := L.GetMetatable(v).(*lua.LTable); ok && mt.RawGetString("__tostring") != lua.LNil {
			L.Push(L.ToStringMeta(v))
			return 1
		}
		L.Push(lua.LString(s.name(v)))
		return 1
	}
	L.Push(L.ToStringMeta(v))
	return 1
}

// name is the deterministic name of a table, function or the like.
func (s *state) name(v lua.LValue) string {
	id, ok := s.ids[v]
	if !ok {
		id = len(s.ids) + 1
		s.ids[v] = id
	}
	return v.Type().String() + ": 0x" + strconv.FormatInt(int64(id), 16)
}

func tableForeach(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	k, v := t.Next(lua.LNil)
	for k != lua.LNil {
		L.Push(f)
		L.Push(k)
		L.Push(v)
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
		k, v = t.Next(k)
	}
	return 0
}

func tableForeachi(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	for i := 1; i <= t.Len(); i++ {
		L.Push(f)
		L.Push(lua.LNumber(i))
		L.Push(t.RawGetInt(i))
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

// run executes the compiled script p for r and appends its reply.
func (s *state) exec(p *lua.FunctionProto, r *Run, out []byte) (res []byte) {
	L := s.L
	s.cur, s.resp = r, 2
	s.startRun(r.Budget, r.Legacy)
	s.setHalter(r.Host)
	s.rng.reset()
	clear(s.ids)
	defer func() {
		if v := recover(); v != nil {
			// A bug in gopher-lua or in this package: the reply is an
			// error, and the state is not reused.
			s.broken = true
			res = appendError(out, "ERR Error running script: internal error")
		}
		s.cur, s.halter, s.stop = nil, nil, ""
		L.SetTop(0)
	}()
	s.real.RawSetString("KEYS", stringsTable(L, r.Keys))
	s.real.RawSetString("ARGV", stringsTable(L, r.Args))
	if r.Ctx != nil {
		L.SetContext(r.Ctx)
		defer L.RemoveContext()
	}
	L.Push(L.NewFunctionFromProto(p))
	err := L.PCall(0, 1, s.handler)
	if err != nil {
		if r.Ctx != nil && r.Ctx.Err() != nil {
			s.broken = true
		}
		return s.appendRaised(out, err)
	}
	out = s.toResp(L.Get(-1), out, 0)
	return out
}

func stringsTable(L *lua.LState, items [][]byte) *lua.LTable {
	t := L.CreateTable(len(items), 0)
	for i, b := range items {
		t.RawSetInt(i+1, lua.LString(b))
	}
	return t
}

// errorHandler is Redis 7's __redis__err__handler: it turns the error into
// a table {err=..., source=..., line=...}, adding "ERR " to an error that
// is not already such a table, and the place of the first Lua frame.
func (s *state) errorHandler(L *lua.LState) int {
	v := L.Get(1)
	if s.stop == Halted {
		L.Push(v) // a probe's halt: its reply is dropped, skip the stack walk
		return 1
	}
	var t *lua.LTable
	if tb, ok := v.(*lua.LTable); ok {
		t = tb
	} else {
		t = L.CreateTable(0, 3)
		msg := luaErrorText(L.ToStringMeta(v).String())
		if r := s.cur; r != nil && r.Ctx != nil && r.Ctx.Err() != nil {
			msg = "Script killed by user with SCRIPT KILL..."
		}
		t.RawSetString("err", lua.LString("ERR "+msg))
	}
	for level := 0; level < 64; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			break
		}
		if dbg.What == "G" || dbg.CurrentLine < 0 {
			continue
		}
		src := dbg.Source
		if src == chunkName || src == functionChunk {
			src = "@" + src
		}
		t.RawSetString("source", lua.LString(src))
		t.RawSetString("line", lua.LNumber(dbg.CurrentLine))
		break
	}
	L.Push(t)
	return 1
}

// appendRaised appends the reply to a script that raised an error: the
// table's err, then " script: <sha>, on <source>:<line>." as Redis 7 does.
func (s *state) appendRaised(out []byte, err error) []byte {
	msg := "ERR Error running script: execution failure"
	var t *lua.LTable
	if ae, ok := err.(*lua.ApiError); ok {
		t, _ = ae.Object.(*lua.LTable)
		if t == nil {
			if str, ok := ae.Object.(lua.LString); ok {
				msg = "ERR Error running script: " + string(str)
			}
		}
	}
	if t == nil {
		return appendError(out, msg)
	}
	e, ok := t.RawGetString("err").(lua.LString)
	if !ok {
		return appendError(out, "ERR Error running script: execution failure")
	}
	b := make([]byte, 0, len(e)+80)
	b = append(b, e...)
	src, _ := t.RawGetString("source").(lua.LString)
	line, lok := t.RawGetString("line").(lua.LNumber)
	if src != "" && lok {
		b = append(b, " script: "...)
		b = append(b, s.cur.SHA...)
		b = append(b, ", on "...)
		b = append(b, src...)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(line), 10)
		b = append(b, '.')
	}
	return appendError(out, string(b))
}

// luaQuoteFormat rewrites each %q of a string.format format into %s and
// replaces its argument with the string quoted as Lua 5.1's %q does.
func luaQuoteFormat(L *lua.LState, f string) string {
	var out strings.Builder
	arg := 1
	for i := 0; i < len(f); i++ {
		c := f[i]
		out.WriteByte(c)
		if c != '%' {
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			out.WriteByte('%')
			i++
			continue
		}
		arg++
		j := i + 1
		for j < len(f) && strings.IndexByte("-+ #0123456789.", f[j]) >= 0 {
			j++
		}
		if j < len(f) && f[j] == 'q' {
			out.WriteString(f[i+1 : j])
			out.WriteByte('s')
			if arg <= L.GetTop() {
				L.Replace(arg, lua.LString(luaQuote(lua.LVAsString(L.Get(arg)))))
			}
			i = j
		}
	}
	return out.String()
}

func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '\n':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\r':
			b.WriteString(`\r`)
		case 0:
			b.WriteString(`\000`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// luaErrorFn is Lua 5.1's error(v [, level]): a string or number message
// gets the position of the function at level (1: error's caller), if that
// is a Lua function with a current line; gopher-lua's differs for
// numbers, a missing value and levels above 1.
func luaErrorFn(L *lua.LState) int {
	v := L.Get(1)
	level := L.OptInt(2, 1)
	switch v.(type) {
	case lua.LString, lua.LNumber:
		if level > 0 {
			v = lua.LString(where(L, level) + lua.LVAsString(v))
		}
	}
	L.Error(v, 0)
	return 0
}

// where is Lua 5.1's luaL_where: "chunk:line: " for the Lua function at
// level (1: the caller of the running Go function), "" otherwise.
func where(L *lua.LState, level int) string {
	dbg, ok := L.GetStack(level)
	if !ok {
		return ""
	}
	if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil || dbg.What == "G" || dbg.CurrentLine <= 0 {
		return ""
	}
	return dbg.Source + ":" + strconv.Itoa(dbg.CurrentLine) + ": "
}

// luaToNumber is tonumber with Lua 5.1's parsing of strings in base 10
// (C's strtod: exponents, surrounding spaces, hex "0x"), which gopher-lua
// misses for exponents; other bases go to gopher-lua's.
func luaToNumber(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		str, isStr := L.Get(1).(lua.LString)
		if !isStr || (L.GetTop() >= 2 && L.Get(2) != lua.LNil && L.CheckInt(2) != 10) {
			return orig.GFunction(L) // same frame: errors name the function as Lua does
		}
		t := strings.Trim(string(str), " \t\n\r\f\v")
		if f, err := strconv.ParseFloat(t, 64); err == nil && !strings.ContainsAny(t, "_pP") {
			L.Push(lua.LNumber(f))
			return 1
		}
		if h, ok := strings.CutPrefix(strings.ToLower(t), "0x"); ok && h != "" {
			if n, err := strconv.ParseUint(h, 16, 64); err == nil {
				L.Push(lua.LNumber(n))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}
}

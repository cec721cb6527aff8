package script

import (
	"runtime"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// The error a set past the hole budget raises, up to its details.
const holeErr = "-" + HoleBudgetExceeded + " (4194304): index "

func TestHoleBudget(t *testing.T) {
	e := NewEngine()
	for _, tc := range []struct{ name, body, want string }{
		// Each would allocate 0.5-3 GB without the guard.
		{"assignment", "local t = {} t[2^25] = 1 return 1", holeErr + "33554432 of a table whose array part has 0 slots would leave 33554431 empty"},
		{"constant key", "local t = {} t[33554432] = 1", holeErr + "33554432"},
		{"hexadecimal constant key", "local t = {} t[0x2000000] = 1", holeErr + "33554432"},
		{"assignment by a variable key", "local t, k = {}, 2^25 t[k] = 1", holeErr + "33554432"},
		{"assignment after dense entries", "local t = {1, 2, 3} t[2^25] = 1", holeErr + "33554432 of a table whose array part has 3 slots"},
		{"field of a nested target", "local t = {a = {}} t.a[2^25] = 1", holeErr + "33554432"},
		{"one target of several", "local a, b = {}, {} a[1], b[2^25] = 1, 2", holeErr + "33554432"},
		{"through a __newindex table", "local b = {} local p = setmetatable({}, {__newindex = b}) p[2^25] = 1", holeErr + "33554432"},
		{"through two __newindex tables", "local b = {} local p = setmetatable({}, {__newindex = setmetatable({}, {__newindex = b})}) p[2^25] = 1", holeErr + "33554432"},
		{"a concatenation that gives a number", "local m = setmetatable({}, {__concat = function() return 2^25 end}) local t = {} t[m .. 'x'] = 1", holeErr + "33554432"},
		{"constructor", "return {[2^25] = 1}", holeErr + "33554432 of a table whose array part has 0 slots"},
		{"constructor with positional fields", "return {1, 2, [2^25] = 1}", holeErr + "33554432 of a table whose array part has 2 slots"},
		{"rawset", "local t = {} rawset(t, 2^25, 1)", holeErr + "33554432"},
		{"table.insert", "local t = {} table.insert(t, 2^25, 1)", holeErr + "33554432"},
		{"in a function", "local function f(t, k) t[k] = true end f({}, 2^25)", holeErr + "33554432"},
		{"in a coroutine", "local co = coroutine.wrap(function() local t = {} t[2^25] = 1 end) co()", holeErr + "33554432"},
		{"in all", "for i = 1, 10 do local t = {} t[2^20] = 1 end", holeErr + "1048576 of a table whose array part has 0 slots would leave 1048575 empty"},
		{"caught, counted on", "local ok = pcall(function() local t = {} t[2^23] = 1 end) local t = {} t[2^20] = 1 return 1", holeErr + "1048576"},

		// Within the budget, or no holes: as Lua.
		{"sparse within the budget", "local t = {} t[2^20] = 'x' return t[2^20]", "$1\r\nx\r\n"},
		{"dense", "local t = {} for i = 1, 100000 do t[i] = i end return #t", ":100000\r\n"},
		{"overwrite inside the array", "local t = {} for i = 1, 100 do t[i] = i end t[50] = 'x' return t[50]", "$1\r\nx\r\n"},
		{"keys past the array limit go to the hash", "local t = {} t[2^26] = 1 t[2^40] = 2 return t[2^26] + t[2^40]", ":3\r\n"},
		{"non-integer and negative keys", "local t = {} t[2^25 + 0.5] = 1 t[-2^25] = 2 t[0] = 3 return t[2^25 + 0.5] + t[-2^25] + t[0]", ":6\r\n"},
		{"small constant keys need no check", "local t = {} t[32] = 1 t[1] = 2 return t[1] + t[32]", ":3\r\n"},
		{"string keys", "local t = {} t['33554432'] = 1 t[KEYS[1]] = 2 return t['33554432'] + t.k", ":3\r\n"},
		{"a set that goes to __newindex", "local t = setmetatable({}, {__newindex = function(t, k, v) rawset(t, tostring(k), v) end}) t[2^25] = 1 return t['33554432']", ":1\r\n"},
		{"a __newindex table gets the set", "local b = {} local p = setmetatable({}, {__newindex = b}) p[5000] = 1 return {rawget(p, 5000) == nil, b[5000]}", "*2\r\n:1\r\n:1\r\n"},
		{"constructor within the budget", "local t = {[1] = 'a', [2] = 'b', [1000] = 'c'} return t[1] .. t[2] .. t[1000]", "$3\r\nabc\r\n"},
		{"table.insert appends and shifts", "local t = {1, 3} table.insert(t, 2, 2) table.insert(t, 4) return t", "*4\r\n:1\r\n:2\r\n:3\r\n:4\r\n"},
		{"each run has its own budget", "local t = {} t[2^21] = 1 return 1", ":1\r\n"},

		// The rewrite keeps Lua's semantics.
		{"table and key evaluated once, before the value", "local t, n = {}, 0 local function k() n = n + 1 return n end t[k()] = k() return {t[1], n}", "*2\r\n:2\r\n:2\r\n"},
		{"multiple assignment swaps", "local t = {1, 2} t[1], t[2] = t[2], t[1] return t", "*2\r\n:2\r\n:1\r\n"},
		{"indexing nil fails as before", "local t local k = 5000 t[k] = 1", "-ERR user_script:1: attempt to index a non-table object(nil) with key '5000'"},
		{"the error names the line", "local t = {}\nlocal k = 2^25\n\nt[k] = 1", "-" + HoleBudgetExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := run(t, e, tc.body, "k")
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("got %q, want a reply starting %q", got, tc.want)
			}
		})
	}
	// The line of a hole error is the assignment's.
	got := run(t, e, "local t = {}\nlocal k = 2^25\n\nt[k] = 1")
	if !strings.HasSuffix(got, "script: "+SHA1([]byte("local t = {}\nlocal k = 2^25\n\nt[k] = 1"))+", on @user_script:4.\r\n") {
		t.Fatalf("line of the error: %q", got)
	}
}

// TestHoleBudgetMemory checks that a refused set allocates nothing like
// the array it would have filled.
func TestHoleBudgetMemory(t *testing.T) {
	e := NewEngine()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, body := range []string{"local t = {} t[2^25] = 1", "return {[2^25] = 1}", "rawset({}, 2^25, 1)", "table.insert({}, 2^25, 1)"} {
		if got := run(t, e, body); !strings.HasPrefix(got, holeErr) {
			t.Fatalf("%s: %q", body, got)
		}
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<20 {
		t.Fatalf("refused sets allocated %d MiB", d>>20)
	}
}

// TestHoleBudgetFunction: function libraries are guarded too, at load
// and in calls.
func TestHoleBudgetFunction(t *testing.T) {
	e := NewEngine()
	var r *Registry
	if _, _, msg := r.Load(e, []byte("#!lua name=bad\nlocal t = {} t[2^25] = 1\nredis.register_function('f', function() end)"), false); !strings.Contains(msg, HoleBudgetExceeded) {
		t.Fatalf("load: %q", msg)
	}
	r, _, msg := r.Load(e, []byte("#!lua name=lib\nlocal t = {} t[2^10] = 1\nredis.register_function('f', function(keys) local u = {} u[tonumber(keys[1])] = 1 return #u end)"), false)
	if msg != "" {
		t.Fatalf("load: %q", msg)
	}
	lib, _, _ := r.Function("f")
	call := func(key string) string {
		return string(e.CallFunction(&Call{Lib: lib, Name: "f", Keys: [][]byte{[]byte(key)}, Host: &fakeHost{}}, nil))
	}
	if got := call("1000"); got != ":1000\r\n" {
		t.Fatalf("f(1000) = %q", got)
	}
	if got := call("33554432"); !strings.HasPrefix(got, holeErr+"33554432") {
		t.Fatalf("f(2^25) = %q", got)
	}
}

// TestArrayLen pins arrayLen to gopher-lua's table: the array part's
// slots, nils included.
func TestArrayLen(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	tb := L.NewTable()
	if n := arrayLen(tb); n != 0 {
		t.Fatalf("empty: %d", n)
	}
	tb.RawSetInt(3, lua.LTrue)
	tb.RawSetInt(5, lua.LNil)
	if n := arrayLen(tb); n != 5 {
		t.Fatalf("after sets at 3 and 5: %d slots, want 5", n)
	}
	tb.RawSetString("x", lua.LTrue)
	tb.RawSetInt(lua.MaxArrayIndex, lua.LTrue)
	if n := arrayLen(tb); n != 5 {
		t.Fatalf("after hash sets: %d", n)
	}
}

// TestLastKeyedField: a constructor whose last field is keyed with a call
// as its value holds what Lua's does (truncateLastKeyed).
func TestLastKeyedField(t *testing.T) {
	e := NewEngine()
	for _, tc := range []struct{ body, want string }{
		{"local n = 4 local function f() n = n + 1 return n end local a = {1, 2, 3} local b = {f(), [30] = f(), #a, [#a + 1] = f()} return {b[1], b[2], tostring(b[3]), b[4], b[30]}", "*5\r\n:5\r\n:3\r\n$3\r\nnil\r\n:7\r\n:6\r\n"},
		{"local function f() return 'x', 'y' end local t = {1, ['k'] = f()} return {#t, t.k}", "*2\r\n:1\r\n$1\r\nx\r\n"},
		{"local function g(...) local t = {1, [5] = ...} return {t[1], tostring(t[2]), t[5]} end return g('a', 'b')", "*3\r\n:1\r\n$3\r\nnil\r\n$1\r\na\r\n"},
		{"local function f() return 'x', 'y' end local t = {1, f()} return t", "*3\r\n:1\r\n$1\r\nx\r\n$1\r\ny\r\n"},
	} {
		if got := run(t, e, tc.body); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.body, got, tc.want)
		}
	}
}

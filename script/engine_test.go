package script

import (
	"strings"
	"testing"
)

// fakeHost answers GET with a bulk, INCR with 1, and anything else with an
// error, recording the calls.
type fakeHost struct{ calls []string }

func (h *fakeHost) Call(args [][]byte, out []byte) []byte {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = string(a)
	}
	h.calls = append(h.calls, strings.Join(parts, " "))
	switch strings.ToLower(parts[0]) {
	case "get":
		return append(out, "$3\r\nval\r\n"...)
	case "nil":
		return append(out, "_\r\n"...)
	case "incr":
		return append(out, ":1\r\n"...)
	case "map":
		return append(out, "%1\r\n$1\r\na\r\n:1\r\n"...)
	}
	return append(out, "-ERR Unknown Redis command called from script\r\n"...)
}

func run(t *testing.T, e *Engine, body string, keys ...string) string {
	t.Helper()
	r := &Run{Body: []byte(body), Host: &fakeHost{}}
	for _, k := range keys {
		r.Keys = append(r.Keys, []byte(k))
	}
	return string(e.Run(r, nil))
}

func TestEngineReplies(t *testing.T) {
	e := NewEngine()
	sha := func(b string) string { return SHA1([]byte(b)) }
	cases := []struct{ body, want string }{
		{"return 1", ":1\r\n"},
		{"return 3.99", ":3\r\n"},
		{"return -3.99", ":-3\r\n"},
		{"return 'x'", "$1\r\nx\r\n"},
		{"return true", ":1\r\n"},
		{"return false", "_\r\n"},
		{"return nil", "_\r\n"},
		{"return {1,2,nil,3}", "*2\r\n:1\r\n:2\r\n"},
		{"return {ok='fine'}", "+fine\r\n"},
		{"return {err='nope'}", "-nope\r\n"},
		{"return redis.error_reply('My err')", "-My err\r\n"},
		{"return redis.error_reply('oops')", "-ERR oops\r\n"},
		{"return redis.call('get', KEYS[1])", "$3\r\nval\r\n"},
		{"return redis.call('nil')", "_\r\n"},
		{"return type(redis.call('nil'))", "$7\r\nboolean\r\n"},
		{"redis.setresp(3) return type(redis.call('nil'))", "$3\r\nnil\r\n"},
		{"redis.setresp(3) return redis.call('map').map.a", ":1\r\n"},
		{"return redis.call('map')", "*2\r\n$1\r\na\r\n:1\r\n"},
		{"redis.setresp(3) return true", "#t\r\n"},
		{"return {double=1.5}", ",1.5\r\n"},
		{"return redis.pcall('nosuch').err", "$44\r\nERR Unknown Redis command called from script\r\n"},
		{"return redis.call('nosuch')", "-ERR Unknown Redis command called from script script: " + sha("return redis.call('nosuch')") + ", on @user_script:1.\r\n"},
		{"return x", "-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: " + sha("return x") + ", on @user_script:1.\r\n"},
		{"x = 1", "-ERR user_script:1: Attempt to modify a readonly table script: " + sha("x = 1") + ", on @user_script:1.\r\n"},
		{"\nerror('boom')", "-ERR user_script:2: boom script: " + sha("\nerror('boom')") + ", on @user_script:2.\r\n"},
		{"error({err='X boom'})", "-X boom script: " + sha("error({err='X boom'})") + ", on @user_script:1.\r\n"},
		{"redis.setresp(4)", "-ERR RESP version must be 2 or 3. script: " + sha("redis.setresp(4)") + ", on @user_script:1.\r\n"},
		{"return redis.call()", "-ERR Please specify at least one argument for this redis lib call script: " + sha("return redis.call()") + ", on @user_script:1.\r\n"},
		{"return {math.random(1000), math.random(1000)}", "*2\r\n:397\r\n:841\r\n"},
		{"math.randomseed(5) return math.random(1000)", ":525\r\n"},
		{"return cjson.encode({1,2,'a/b',{x=1.5}, true, cjson.null})", "$32\r\n[1,2,\"a\\/b\",{\"x\":1.5},true,null]\r\n"},
		{"return cjson.encode({[1]=1,[3]=3})", "$10\r\n[1,null,3]\r\n"},
		{"return cjson.encode(1e20)", "$5\r\n1e+20\r\n"},
		{"return cjson.decode('[1,2,{\"b\":null}]')[3].b == cjson.null", ":1\r\n"},
		{"return bit.band(0xff, 0x0f)", ":15\r\n"},
		{"return bit.tohex(255)", "$8\r\n000000ff\r\n"},
		{"return redis.sha1hex('')", "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"},
		{"return tostring({}) == tostring({})", "_\r\n"},
		{"local t = {} return tostring(t) == tostring(t)", ":1\r\n"},
		{"local t = {} return string.format('%s %s', t, tostring(t))", "$21\r\ntable: 0x1 table: 0x1\r\n"},
		{"return redis.REDIS_VERSION", "$6\r\n7.0.15\r\n"},
		{"return loadstring('return 5')()", ":5\r\n"},
		{"rawset(_G, 'y', 1)", "-ERR Attempt to modify a readonly table script: " + sha("rawset(_G, 'y', 1)") + ", on @user_script:1.\r\n"},
		{"string.upper = nil", "-ERR user_script:1: Attempt to modify a readonly table script: " + sha("string.upper = nil") + ", on @user_script:1.\r\n"},
		{"return ('abc'):upper()", "$3\r\nABC\r\n"},
		{"#!lua flags=no-writes\nreturn 2", ":2\r\n"},
	}
	for _, c := range cases {
		if got := run(t, e, c.body, "k"); got != c.want {
			t.Errorf("%q: got %q, want %q", c.body, got, c.want)
		}
	}
}

func TestLuaErrorText(t *testing.T) {
	cases := map[string]string{
		"user_script:1: cannot perform add operation between nil and number":      "user_script:1: attempt to perform arithmetic on a nil value",
		"user_script:1: cannot perform mul operation between number and table":    "user_script:1: attempt to perform arithmetic on a table value",
		"user_script:1: cannot perform concat operation between string and table": "user_script:1: attempt to concatenate a table value",
		"user_script:1: bad argument #1 to tonumber (value expected)":             "user_script:1: bad argument #1 to 'tonumber' (value expected)",
		"user_script:1: invalid value (table) at index 1 in table for concat":     "user_script:1: invalid value (table) at index 1 in table for 'concat'",
		"user_script:1: boom": "user_script:1: boom",
	}
	for in, want := range cases {
		if got := luaErrorText(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestEngineCompileError(t *testing.T) {
	got := run(t, NewEngine(), "return (")
	if !strings.HasPrefix(got, "-ERR Error compiling script (new function): user_script:1: ") {
		t.Fatalf("got %q", got)
	}
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		body string
		f    Flags
		err  string
	}{
		{"return 1", FlagCompat, ""},
		{"#!lua\nreturn 1", 0, ""},
		{"#!lua flags=no-writes,allow-oom\nreturn 1", FlagNoWrites | FlagAllowOOM, ""},
		{"#!lua flags=no-writes,bad\nreturn 1", 0, "ERR Unexpected flag in script shebang: bad"},
		{"#!lua name=x\nreturn 1", 0, "ERR Unknown lua shebang option: name=x"},
		{"#!js\nreturn 1", 0, "ERR Unexpected engine in script shebang: #!js"},
		{"#!lua", 0, "ERR Invalid script shebang"},
	}
	for _, c := range cases {
		f, err := ParseFlags([]byte(c.body))
		if f != c.f || err != c.err {
			t.Errorf("%q: got %v %q, want %v %q", c.body, f, err, c.f, c.err)
		}
	}
}

func TestStepBudget(t *testing.T) {
	e := NewEngine()
	for _, body := range []string{
		"while true do end",
		"repeat until false",
		"for i = 1, 1e9 do end",
		"for k, v in function() return 1, 1 end do end",
		"local function f() return f() end return f()",
		"while true do pcall(function() while true do end end) end",
		"local ok = pcall(function() while true do end end) while true do end",
	} {
		r := &Run{Body: []byte(body), Host: &fakeHost{}, Budget: 1000}
		got := string(e.Run(r, nil))
		if !strings.HasPrefix(got, "-"+BudgetExceeded+" script: ") {
			t.Errorf("%q: %q", body, got)
		}
	}
	r := &Run{Body: []byte("local n = 0 for i = 1, 100 do n = n + i end return n"), Host: &fakeHost{}, Budget: 1000}
	if got := string(e.Run(r, nil)); got != ":5050\r\n" {
		t.Errorf("a short loop under the budget: %q", got)
	}
	r.Budget = 50
	if got := string(e.Run(r, nil)); !strings.HasPrefix(got, "-"+BudgetExceeded) {
		t.Errorf("the same loop over a budget of 50: %q", got)
	}
	r.Budget = 0
	if got := string(e.Run(r, nil)); got != ":5050\r\n" {
		t.Errorf("no budget: %q", got)
	}
}

// haltHost halts the run at the first INCR (a probe's first write).
type haltHost struct {
	fakeHost
	halted bool
}

func (h *haltHost) Call(args [][]byte, out []byte) []byte {
	if strings.EqualFold(string(args[0]), "incr") {
		h.halted = true
		return out
	}
	return h.fakeHost.Call(args, out)
}

func (h *haltHost) Halt(int64) string {
	if h.halted {
		return Halted
	}
	return ""
}

// killHost stops the run once it has taken 1000 steps (a kill).
type killHost struct{ fakeHost }

func (h *killHost) Halt(steps int64) string {
	if steps >= 1000 {
		return "ERR Script killed by user with SCRIPT KILL..."
	}
	return ""
}

// TestHaltKill: a Halter's stop raised from the step hook reaches the
// reply with Redis's script and line suffix, through pcall.
func TestHaltKill(t *testing.T) {
	e := NewEngine()
	body := "local i = 0\nwhile true do\n  pcall(function() i = i + 1 end)\nend"
	got := string(e.Run(&Run{Body: []byte(body), SHA: "abc", Host: &killHost{}}, nil))
	if want := "-ERR Script killed by user with SCRIPT KILL... script: abc, on @user_script:2.\r\n"; got != want {
		t.Fatalf("killed run = %q, want %q", got, want)
	}
}

// TestHalt: a Halter's halt raises from redis.call and redis.pcall, and
// again at every later step, so pcall cannot swallow it and loop on; calls
// before it ran, and the state serves a plain run afterwards.
func TestHalt(t *testing.T) {
	e := NewEngine()
	for _, body := range []string{
		"redis.call('get', 'a') redis.call('incr', 'a') return 'after'",
		"redis.pcall('incr', 'a') return 'after'",
		"local ok = pcall(redis.call, 'incr', 'a') while true do end",
		"pcall(redis.call, 'incr', 'a') while true do pcall(function() end) end",
		"local function f() pcall(redis.call, 'incr', 'a') end for i = 1, 3 do pcall(f) end return 'looped'",
	} {
		h := &haltHost{}
		got := string(e.Run(&Run{Body: []byte(body), Host: h}, nil))
		if !h.halted || !strings.HasPrefix(got, "-"+Halted) {
			t.Errorf("%q: halted %v, reply %q", body, h.halted, got)
		}
		for _, c := range h.calls {
			if strings.HasPrefix(c, "incr") {
				t.Errorf("%q: the host ran %q after halting", body, c)
			}
		}
	}
	if got := run(t, e, "return redis.call('incr', 'a')"); got != ":1\r\n" {
		t.Fatalf("a plain run after halted ones = %q", got)
	}
}

// TestMayLoop: only scripts with a loop or a function of their own may
// loop; a compile error may not.
func TestMayLoop(t *testing.T) {
	e := NewEngine()
	for body, want := range map[string]bool{
		"return redis.call('INCR', KEYS[1])":                          false,
		"local v = redis.call('GET', KEYS[1]) if v then return v end": false,
		"while true do end":                                           true,
		"for i = 1, 10 do redis.call('INCR', KEYS[1]) end":            true,
		"repeat until true":                                           true,
		"local function f() return 1 end return f()":                  true,
		"return pcall(function() end)":                                true,
		"return (":                                                    false,
	} {
		if got := e.MayLoop([]byte(body), ""); got != want {
			t.Errorf("MayLoop(%q) = %v, want %v", body, got, want)
		}
	}
}

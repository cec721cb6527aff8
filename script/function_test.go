package script

import (
	"encoding/hex"
	"strings"
	"testing"
)

type echoHost struct{ calls [][]string }

func (h *echoHost) Call(args [][]byte, out []byte) []byte {
	var a []string
	for _, x := range args {
		a = append(a, string(x))
	}
	h.calls = append(h.calls, a)
	return append(out, "+OK\r\n"...)
}

// TestLibraryLoadErrors checks Redis 7.0's error texts for bad libraries
// (each taken from redis-server 7.0.15).
func TestLibraryLoadErrors(t *testing.T) {
	e := NewEngine()
	for _, tc := range []struct{ code, want string }{
		{"return 1", "ERR Missing library metadata"},
		{"#!lua", "ERR Invalid library metadata"},
		{"#!lua name=x", "ERR Invalid library metadata"},
		{"#!lua name=x\nreturn 1", "ERR No functions registered"},
		{"#!foo name=x\nreturn 1", "ERR Engine 'foo' not found"},
		{"#!lua name=x foo=bar\nreturn 1", "ERR Invalid metadata value given: foo=bar"},
		{"#!lua\nreturn 1", "ERR Library name was not given"},
		{"#!lua name=a-b\nreturn 1", errBadName},
		{"#!lua name=x\nredis.call('ping')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'"},
		{"#!lua name=x\nlocal a = string.len('x')", "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'string'"},
		{"#!lua name=x\nfoo = 1", "ERR Error registering functions: ERR user_function:2: Attempt to modify a readonly table"},
		{"#!lua name=x\nwhile true do end", "ERR Error registering functions: ERR FUNCTION LOAD timeout"},
		{"#!lua name=x\nredis.register_function('h', function() end, 3)", "ERR Error registering functions: " + errRegArgs},
		{"#!lua name=x\nredis.register_function('h')", "ERR Error registering functions: " + errRegSingle},
		{"#!lua name=x\nredis.register_function('h', 1)", "ERR Error registering functions: " + errRegCallback},
		{"#!lua name=x\nredis.register_function('a b', function() end)", "ERR Error registering functions: " + errBadName},
		{"#!lua name=x\nredis.register_function('h', function() end) redis.register_function('h', function() end)", "ERR Error registering functions: " + errRegDuplicate},
		{"#!lua name=x\nredis.register_function{function_name='h'}", "ERR Error registering functions: " + errRegNoCB},
		{"#!lua name=x\nredis.register_function{callback=function() end}", "ERR Error registering functions: " + errRegNoName},
		{"#!lua name=x\nredis.register_function{function_name='h', callback=function() end, flags={'bad'}}", "ERR Error registering functions: " + errRegFlag},
		{"#!lua name=x\nredis.register_function{function_name='h', callback=function() end, flags='no-writes'}", "ERR Error registering functions: " + errRegFlags},
		{"#!lua name=x\nredis.register_function{function_name='h', callback=function() end, extra=1}", "ERR Error registering functions: " + errRegUnknown},
		{"#!lua name=x\nredis.register_function('h', function() end", "ERR Error compiling function: user_function:2:"},
	} {
		_, msg := e.LoadLibrary([]byte(tc.code))
		if !strings.HasPrefix(msg, tc.want) {
			t.Errorf("LoadLibrary(%q) = %q, want %q", tc.code, msg, tc.want)
		}
	}
}

func TestRegistryLoadCallDelete(t *testing.T) {
	e := NewEngine()
	var r *Registry
	code := "#!lua name=lib\nlocal n = 0\nredis.register_function('f', function(keys, args) n = n + 1 redis.call('set', keys[1], args[1]) return {n, keys[1], args[1]} end)\n" +
		"redis.register_function{function_name='g', callback=function() return KEYS end, flags={'no-writes', 'allow-oom'}, description='d'}"
	r, name, msg := r.Load(e, []byte(code), false)
	if msg != "" || name != "lib" {
		t.Fatalf("Load = %q, %q", name, msg)
	}
	if _, _, msg := r.Load(e, []byte(code), false); msg != "ERR Library 'lib' already exists" {
		t.Fatalf("second Load: %q", msg)
	}
	if _, _, msg := r.Load(e, []byte("#!lua name=other\nredis.register_function('f', function() end)"), false); msg != "ERR Function f already exists" {
		t.Fatalf("colliding Load: %q", msg)
	}
	lib, f, ok := r.Function("g")
	if !ok || lib.Name != "lib" || f.Flags != FlagNoWrites|FlagAllowOOM || !f.HasDesc || f.Desc != "d" {
		t.Fatalf("Function(g) = %v %+v %v", lib, f, ok)
	}
	if got := FlagNames(f.Flags); strings.Join(got, ",") != "no-writes,allow-oom" {
		t.Fatalf("FlagNames = %v", got)
	}
	h := &echoHost{}
	lib, _, _ = r.Function("f")
	// Twice: the library's local n starts afresh at every call.
	for i := 0; i < 2; i++ {
		out := e.CallFunction(&Call{Lib: lib, Name: "f", Keys: [][]byte{[]byte("k")}, Args: [][]byte{[]byte("v")}, Host: h}, nil)
		if want := "*3\r\n:1\r\n$1\r\nk\r\n$1\r\nv\r\n"; string(out) != want {
			t.Fatalf("call %d = %q, want %q", i, out, want)
		}
	}
	if len(h.calls) != 2 || strings.Join(h.calls[0], " ") != "set k v" {
		t.Fatalf("host calls %v", h.calls)
	}
	out := e.CallFunction(&Call{Lib: lib, Name: "g", Host: h}, nil)
	if want := "-ERR user_function:4: Script attempted to access nonexistent global variable 'KEYS' script: g, on @user_function:4.\r\n"; string(out) != want {
		t.Fatalf("g = %q, want %q", out, want)
	}
	r2, msg := r.Delete("lib")
	if msg != "" {
		t.Fatal(msg)
	}
	if _, _, ok := r2.Function("f"); ok {
		t.Fatal("f survives its library's deletion")
	}
	if _, _, ok := r.Function("f"); !ok {
		t.Fatal("Delete changed the old registry")
	}
	if _, msg := r2.Delete("lib"); msg != "ERR Library not found" {
		t.Fatalf("Delete twice: %q", msg)
	}
}

// redisDump is FUNCTION DUMP from redis-server 7.0.15 with two libraries
// (lib1: echo1, echo2 no-writes; lib2: hello), LZF-compressed codes.
const redisDump = "f5c3408a40cf1f23216c7561206e616d653d6c6962310a72656469732e72656769737465725f6610756e6374696f6e28276563686f31272c20e00011116b6579732c2061726773292072657475726e600c075b315d20656e6429e00f49007bc040005f60746057003220570863616c6c6261636b3dc01fe016602089126c6167733d7b276e6f2d777269746573277d7df5c3405a40711f23216c7561206e616d653d6c6962320a72656469732e72656769737465725f6610756e6374696f6e282768656c6c6f272c20e00011126b6579732c2061726773292072657475726e2080240020602ae00905052720656e64290a00878d9491e6305419"

func TestDumpRestore(t *testing.T) {
	e := NewEngine()
	p, _ := hex.DecodeString(redisDump)
	codes, msg := ParseDump(p)
	if msg != "" || len(codes) != 2 {
		t.Fatalf("ParseDump(redis) = %d codes, %q", len(codes), msg)
	}
	if !strings.HasPrefix(string(codes[1]), "#!lua name=lib2\nredis.register_function('hello'") {
		t.Fatalf("code 2 = %q", codes[1])
	}
	var r *Registry
	r, msg = r.Restore(e, codes, RestoreAppend)
	if l, f := r.Len(); msg != "" || l != 2 || f != 3 {
		t.Fatalf("Restore: %q, %d libs %d funcs", msg, l, f)
	}
	if _, msg := r.Restore(e, codes, RestoreAppend); msg != "ERR Library lib1 already exists" {
		t.Fatalf("Restore APPEND twice: %q", msg)
	}
	if _, msg := r.Restore(e, codes, RestoreReplace); msg != "" {
		t.Fatalf("Restore REPLACE: %q", msg)
	}
	// Round trip through Shoal's own payload.
	codes2, msg := ParseDump(DumpPayload(r.Codes()))
	if msg != "" || len(codes2) != 2 || string(codes2[0]) != string(codes[0]) {
		t.Fatalf("round trip: %q %d", msg, len(codes2))
	}
	empty := DumpPayload(nil)
	if hex.EncodeToString(empty) != "0a005d9b5c400f7fa2da" {
		t.Fatalf("empty payload %x, want Redis's", empty)
	}
	for _, bad := range [][]byte{p[:len(p)-1], append(append([]byte(nil), p...), 'x'), []byte("xx")} {
		if _, msg := ParseDump(bad); msg != errDumpFooter {
			t.Errorf("ParseDump(bad) = %q", msg)
		}
	}
}

// FuzzParseDump: FUNCTION RESTORE's payload parser never panics, and what
// it accepts re-dumps to a payload it parses to the same codes.
func FuzzParseDump(f *testing.F) {
	p, _ := hex.DecodeString(redisDump)
	f.Add(p)
	f.Add(DumpPayload(nil))
	f.Add(DumpPayload([][]byte{[]byte("#!lua name=x\nredis.register_function('f', function() end)")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		codes, msg := ParseDump(data)
		if msg != "" {
			return
		}
		again, msg := ParseDump(DumpPayload(codes))
		if msg != "" || len(again) != len(codes) {
			t.Fatalf("re-dump of %x: %q", data, msg)
		}
		for i := range codes {
			if string(again[i]) != string(codes[i]) {
				t.Fatalf("code %d differs after a re-dump", i)
			}
		}
	})
}

// FuzzLoadLibrary: loading any code never panics and answers a library or
// an error text.
func FuzzLoadLibrary(f *testing.F) {
	f.Add([]byte("#!lua name=x\nredis.register_function('f', function() end)"))
	f.Add([]byte("#!lua name=x\nredis.register_function{function_name='f', callback=function() end, flags={'no-writes'}}"))
	f.Add([]byte("#!lua name=x\nredis.register_function{function_name='f'}"))
	e := NewEngine()
	f.Fuzz(func(t *testing.T, code []byte) {
		lib, msg := e.LoadLibrary(code)
		if (lib == nil) == (msg == "") {
			t.Fatalf("LoadLibrary(%q) = %v, %q", code, lib, msg)
		}
	})
}

// BenchmarkCallFunction: one FCALL of a one-function library (its top
// level runs again at each call), host answering at once; compare with
// BenchmarkRunIncr.
func BenchmarkCallFunction(b *testing.B) {
	e := NewEngine()
	var r *Registry
	r, _, msg := r.Load(e, []byte("#!lua name=b\nredis.register_function('incr', function(keys) return redis.call('INCR', keys[1]) end)"), false)
	if msg != "" {
		b.Fatal(msg)
	}
	lib, _, _ := r.Function("incr")
	c := &Call{Lib: lib, Name: "incr", Keys: [][]byte{[]byte("k")}}
	out := make([]byte, 0, 64)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Host = &echoHost{}
		out = e.CallFunction(c, out[:0])
	}
}

package raftfsm

import (
	"bytes"
	"errors"
	"testing"
)

func TestScriptEntryRoundTrip(t *testing.T) {
	keys := [][]byte{[]byte("k1"), []byte("")}
	args := [][]byte{[]byte("a"), bytes.Repeat([]byte("x"), 300)}
	cases := []struct {
		data []byte
		want scriptEntry
	}{
		{EncodeScriptEval(nil, 1234, 3, ScriptCluster|ScriptNoWrites, 777, []byte("return 1"), keys, args),
			scriptEntry{kind: scriptEval, now: 1234, db: 3, flags: ScriptCluster | ScriptNoWrites, budget: 777, body: []byte("return 1"), keys: keys, args: args}},
		{EncodeScriptEval(nil, 0, 0, 0, 0, nil, nil, nil), scriptEntry{kind: scriptEval}},
		{EncodeScriptLoad(nil, []byte("return 2")), scriptEntry{kind: scriptLoad, body: []byte("return 2")}},
		{EncodeScriptFlush(nil), scriptEntry{kind: scriptFlush}},
		{EncodeFCall(nil, 99, 1, ScriptNoWrites, 5, []byte("fn"), keys, args),
			scriptEntry{kind: scriptFCall, now: 99, db: 1, flags: ScriptNoWrites, budget: 5, body: []byte("fn"), keys: keys, args: args}},
		{EncodeFunctionLoad(nil, true, []byte("#!lua name=l")), scriptEntry{kind: scriptFuncLoad, flags: 1, body: []byte("#!lua name=l")}},
		{EncodeFunctionLoad(nil, false, nil), scriptEntry{kind: scriptFuncLoad}},
		{EncodeFunctionDelete(nil, []byte("l")), scriptEntry{kind: scriptFuncDelete, body: []byte("l")}},
		{EncodeFunctionFlush(nil), scriptEntry{kind: scriptFuncFlush}},
		{EncodeFunctionRestore(nil, 2, args), scriptEntry{kind: scriptFuncRestore, flags: 2, args: args}},
		// Version 1, written before the table-set guard: run as then.
		{asVersion1(EncodeScriptEval(nil, 7, 0, 0, 9, []byte("return 3"), keys, nil)),
			scriptEntry{kind: scriptEval, now: 7, budget: 9, body: []byte("return 3"), keys: keys, legacy: true}},
		{asVersion1(EncodeFCall(nil, 7, 0, 0, 9, []byte("fn"), nil, args)),
			scriptEntry{kind: scriptFCall, now: 7, budget: 9, body: []byte("fn"), args: args, legacy: true}},
		{asVersion1(EncodeFunctionFlush(nil)), scriptEntry{kind: scriptFuncFlush, legacy: true}},
	}
	for i, c := range cases {
		var e scriptEntry
		if err := decodeScript(c.data, &e); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !sameScriptEntry(&e, &c.want) {
			t.Fatalf("case %d: got %+v, want %+v", i, e, c.want)
		}
		if got := reencodeScript(&e); !bytes.Equal(got, c.data) {
			t.Fatalf("case %d: re-encoded %x, want %x", i, got, c.data)
		}
	}
}

func TestScriptEntryMalformed(t *testing.T) {
	valid := EncodeScriptEval(nil, 5, 1, ScriptCluster, 0, []byte("return 1"), [][]byte{[]byte("k")}, [][]byte{[]byte("a")})
	// Every truncation is malformed, never a panic.
	for n := 0; n < len(valid); n++ {
		var e scriptEntry
		if err := decodeScript(valid[:n], &e); err == nil {
			t.Fatalf("truncated to %d bytes: decoded", n)
		}
	}
	bad := map[string][]byte{
		"trailing byte": append(bytes.Clone(valid), 0),
		"db too large":  {byte(entryScript), versionScript, scriptEval, 5, 99, 0, 0, 0, 0, 0},
		"unknown flag":  {byte(entryScript), versionScript, scriptEval, 5, 0, 64, 0, 0, 0, 0},
		"key count":     {byte(entryScript), versionScript, scriptEval, 5, 0, 0, 0, 0, 200, 0},
		"body length":   {byte(entryScript), versionScript, scriptLoad, 10, 'a'},
		"load replace":  {byte(entryScript), versionScript, scriptFuncLoad, 2, 0},
		"policy":        {byte(entryScript), versionScript, scriptFuncRestore, 3, 0},
		"restore count": {byte(entryScript), versionScript, scriptFuncRestore, 0, 5, 1, 'a'},
	}
	for name, data := range bad {
		var e scriptEntry
		if err := decodeScript(data, &e); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: got %v, want ErrBadEntry", name, err)
		}
	}
	for name, data := range map[string][]byte{
		"version 3": {byte(entryScript), 3, scriptFlush},
		"version 0": {byte(entryScript), 0, scriptFlush},
		"kind 9":    {byte(entryScript), versionScript, 9},
	} {
		var e scriptEntry
		if err := decodeScript(data, &e); !errors.Is(err, ErrUnknownEntry) {
			t.Errorf("%s: got %v, want ErrUnknownEntry", name, err)
		}
	}
}

// FuzzScriptDecode: decoding never panics, and what decodes re-encodes to
// the same bytes.
func FuzzScriptDecode(f *testing.F) {
	f.Add(EncodeScriptEval(nil, 1, 0, ScriptCluster, 0, []byte("return 1"), [][]byte{[]byte("k")}, [][]byte{[]byte("v")}))
	f.Add(EncodeScriptLoad(nil, []byte("return 2")))
	f.Add(asVersion1(EncodeScriptEval(nil, 1, 0, 0, 5, []byte("return 1"), nil, nil)))
	f.Add(EncodeScriptFlush(nil))
	f.Add(EncodeFCall(nil, 1, 0, ScriptNoWrites, 3, []byte("f"), [][]byte{[]byte("k")}, nil))
	f.Add(EncodeFunctionLoad(nil, true, []byte("#!lua name=l\nredis.register_function('f', function() end)")))
	f.Add(EncodeFunctionDelete(nil, []byte("l")))
	f.Add(EncodeFunctionFlush(nil))
	f.Add(EncodeFunctionRestore(nil, 1, [][]byte{[]byte("a"), []byte("b")}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e scriptEntry
		if err := decodeScript(data, &e); err != nil {
			return
		}
		if got := reencodeScript(&e); !bytes.Equal(got, data) {
			// Varints have one canonical form per value only when minimal:
			// decode the re-encoding and compare the entries instead.
			var e2 scriptEntry
			if err := decodeScript(got, &e2); err != nil || !sameScriptEntry(&e, &e2) {
				t.Fatalf("re-encoding %x of %x does not decode alike: %v", got, data, err)
			}
		}
	})
}

// asVersion1 turns an entry into its version 1 form (the same payload).
func asVersion1(data []byte) []byte {
	data[1] = 1
	return data
}

func reencodeScript(e *scriptEntry) []byte {
	if e.legacy {
		e2 := *e
		e2.legacy = false
		return asVersion1(reencodeScript(&e2))
	}
	switch e.kind {
	case scriptEval:
		return EncodeScriptEval(nil, e.now, e.db, e.flags, e.budget, e.body, e.keys, e.args)
	case scriptLoad:
		return EncodeScriptLoad(nil, e.body)
	case scriptFCall:
		return EncodeFCall(nil, e.now, e.db, e.flags, e.budget, e.body, e.keys, e.args)
	case scriptFuncLoad:
		return EncodeFunctionLoad(nil, e.flags == 1, e.body)
	case scriptFuncDelete:
		return EncodeFunctionDelete(nil, e.body)
	case scriptFuncFlush:
		return EncodeFunctionFlush(nil)
	case scriptFuncRestore:
		return EncodeFunctionRestore(nil, byte(e.flags), e.args)
	}
	return EncodeScriptFlush(nil)
}

func sameScriptEntry(a, b *scriptEntry) bool {
	if a.kind != b.kind || a.legacy != b.legacy || a.budget != b.budget || a.now != b.now || a.db != b.db || a.flags != b.flags || !bytes.Equal(a.body, b.body) ||
		len(a.keys) != len(b.keys) || len(a.args) != len(b.args) {
		return false
	}
	for i := range a.keys {
		if !bytes.Equal(a.keys[i], b.keys[i]) {
			return false
		}
	}
	for i := range a.args {
		if !bytes.Equal(a.args[i], b.args[i]) {
			return false
		}
	}
	return true
}

package raftfsm

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/shard"
)

// scriptExec is fakeExec with scripts: a script's Args are the keys its
// commands touch; the reply is the first refusal, else +RAN.
type scriptExec struct{ fakeExec }

func (x *scriptExec) ExecScript(st *shard.Store, now int64, call *ScriptCall, out []byte) []byte {
	for _, k := range call.Args {
		if msg := call.Check([][]byte{k}); msg != "" {
			return appendErrorLine(out, msg)
		}
	}
	return append(out, "+RAN\r\n"...)
}

func (x *scriptExec) CheckScript(body []byte, sha string) string {
	if string(body) == "bad" {
		return "ERR Error compiling script"
	}
	return ""
}

// TestScriptEntryOwnership: a script whose declared key is in a slot the
// group does not own is refused with NOTOWNER (the client is redirected);
// one that touches such a key, or (cluster mode) keys of two slots, gets
// Redis Cluster's error, from the FSM's state alone.
func TestScriptEntryOwnership(t *testing.T) {
	f := NewFSM(shard.New(), &scriptExec{}, nil)
	a, b := []byte("a"), []byte("b")
	sa := shard.Slot(a)
	idx := uint64(0)
	apply := func(data []byte) string {
		idx++
		v := f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: data}})[0]
		if r, ok := v.([]byte); ok {
			return string(r)
		}
		t.Fatalf("entry %d: result %v", idx, v)
		return ""
	}
	idx++
	f.ApplyBatch([]*raft.Log{{Index: idx, Type: raft.LogCommand, Data: encodeOwnership(nil, 1, []shard.SlotRange{{Start: sa, End: sa}})}})
	eval := func(flags ScriptFlag, body string, keys []byte, touched ...[]byte) string {
		var ks [][]byte
		if keys != nil {
			ks = [][]byte{keys}
		}
		return apply(EncodeScriptEval(nil, 1, 0, flags, 0, []byte(body), ks, touched))
	}
	if got := eval(ScriptCluster, "s", b); !strings.HasPrefix(got, "-NOTOWNER ") {
		t.Fatalf("unowned declared key: %q", got)
	}
	if got := eval(ScriptCluster, "s", a, b); got != "-"+ErrScriptNonLocalKey+"\r\n" {
		t.Fatalf("unowned touched key: %q", got)
	}
	if got := eval(ScriptCluster, "s", a, a); got != "+RAN\r\n" {
		t.Fatalf("owned key: %q", got)
	}
	// Another owned slot: cross-slot in cluster mode unless allowed.
	f2 := NewFSM(shard.New(), &scriptExec{}, nil)
	f = f2
	idx = 0
	if got := eval(ScriptCluster, "s", a, a, b); got != "-"+ErrScriptCrossSlot+"\r\n" {
		t.Fatalf("cross-slot: %q", got)
	}
	if got := eval(ScriptCluster|ScriptCrossSlot, "s", a, a, b); got != "+RAN\r\n" {
		t.Fatalf("cross-slot allowed: %q", got)
	}
	if got := eval(0, "s", a, a, b); got != "+RAN\r\n" {
		t.Fatalf("standalone: %q", got)
	}
	if got := eval(0, "s", nil, b, a); got != "+RAN\r\n" {
		t.Fatalf("keyless standalone: %q", got)
	}
	if got := eval(ScriptCluster, "s", nil, b, a); got != "-"+ErrScriptCrossSlot+"\r\n" {
		t.Fatalf("keyless cluster: first key fixes the slot: %q", got)
	}
	// Cache: EVAL and LOAD cache; a script that does not compile is not
	// cached; FLUSH empties.
	if got := apply(EncodeScriptLoad(nil, []byte("bad"))); !strings.HasPrefix(got, "-ERR Error compiling") {
		t.Fatalf("load bad: %q", got)
	}
	if got := apply(EncodeScriptLoad(nil, []byte("good"))); got != "$40\r\n"+scriptSHA([]byte("good"))+"\r\n" {
		t.Fatalf("load: %q", got)
	}
	if _, ok := f.Script(scriptSHA([]byte("s"))); !ok {
		t.Fatal("EVAL did not cache its script")
	}
	if n := len(f.Scripts()); n != 2 {
		t.Fatalf("%d scripts cached, want 2", n)
	}
	apply(EncodeScriptFlush(nil))
	if n := len(f.Scripts()); n != 0 {
		t.Fatalf("%d scripts after flush", n)
	}
}

// TestScriptEntryHaltsOnGarbage: a malformed script entry halts the FSM.
func TestScriptEntryHaltsOnGarbage(t *testing.T) {
	f := NewFSM(shard.New(), &scriptExec{}, nil)
	v := f.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: []byte{byte(entryScript), versionScript, scriptEval, 1}}})[0]
	if v != ErrBadEntry || !f.Halted() {
		t.Fatalf("got %v, halted %v", v, f.Halted())
	}
}

// TestScriptCacheInSnapshot: a replica restored from a snapshot has the
// scripts cached before it (EVALSHA after a failover to it works), and a
// snapshot without scripts empties the cache.
func TestScriptCacheInSnapshot(t *testing.T) {
	src := NewFSM(shard.New(), &scriptExec{}, nil)
	for i, body := range []string{"return 1", "return 2"} {
		src.ApplyBatch([]*raft.Log{{Index: uint64(i + 1), Type: raft.LogCommand, Data: EncodeScriptLoad(nil, []byte(body))}})
	}
	dst := NewFSM(shard.New(), &scriptExec{}, nil)
	dst.ApplyBatch([]*raft.Log{{Index: 1, Type: raft.LogCommand, Data: EncodeScriptLoad(nil, []byte("stale"))}})
	if err := dst.Restore(io.NopCloser(bytes.NewReader(persisted(t, src).Bytes()))); err != nil {
		t.Fatal(err)
	}
	got := dst.Scripts()
	if len(got) != 2 {
		t.Fatalf("restored %d scripts, want 2", len(got))
	}
	for _, body := range []string{"return 1", "return 2"} {
		if _, ok := dst.Script(scriptSHA([]byte(body))); !ok {
			t.Fatalf("script %q not restored", body)
		}
	}
	empty := NewFSM(shard.New(), &scriptExec{}, nil)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(persisted(t, empty).Bytes()))); err != nil {
		t.Fatal(err)
	}
	if n := len(dst.Scripts()); n != 0 {
		t.Fatalf("a snapshot without scripts left %d cached", n)
	}
}

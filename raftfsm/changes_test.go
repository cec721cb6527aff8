package raftfsm

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/shard"
)

// recordHook records what a ChangeHook is told: each call as its keys
// joined by commas, or "*" for AllChanged.
type recordHook struct{ calls []string }

func (h *recordHook) KeysChanged(keys [][]byte) {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = string(k)
	}
	h.calls = append(h.calls, strings.Join(s, ","))
}

func (h *recordHook) AllChanged() { h.calls = append(h.calls, "*") }

// TestChangeHook checks what the FSM tells its change hook: the keys of
// every applied write that changed the store (not of one that changed
// nothing, nor of one refused for an unowned slot), "all" for
// a keyless write, the keys an expire or evict entry deleted (not those it
// skipped), and nothing once the hook is removed.
func TestChangeHook(t *testing.T) {
	f, _ := newTestFSM()
	h := &recordHook{}
	f.SetChangeHook(h)
	f.SetChangeHook(h) // idempotent
	st := f.Store()
	st.Lock()
	st.Set([]byte("gone"), []byte("v"), 1500, 1000)
	st.Set([]byte("victim"), []byte("v"), 0, 1000)
	st.Unlock()
	owned := shard.Slot([]byte("a"))
	unowned := "x"
	for shard.Slot([]byte(unowned)) == owned {
		unowned += "x"
	}
	f.ApplyBatch([]*raft.Log{
		cmdLog(1, 1000, cmd("SET", "a", "1"), cmd("DEL", "a", "b", "a"), cmd("DEL", "a"), cmd("DEL", "zz")),
		expireLog(2, 2000, shard.ExpiredKey{Key: "gone", ExpireAt: 1500}, shard.ExpiredKey{Key: "missing", ExpireAt: 1}),
		{Index: 3, Term: 1, Type: raft.LogCommand, Data: encodeEvict(nil, 0, [][]byte{[]byte("victim"), []byte("nope")})},
		ownLog(4, 1, shard.SlotRange{Start: owned, End: owned}),
		cmdLog(5, 3000, cmd("SET", unowned, "1"), cmd("SET", "a", "2"), cmd("FLUSHALL"), cmd("FLUSHALL")),
	})
	want := []string{"a", "a,b,a", "gone", "victim", "a", "*", "*"}
	if !reflect.DeepEqual(h.calls, want) {
		t.Errorf("hook told %q, want %q", h.calls, want)
	}
	f.SetChangeHook(nil)
	f.ApplyBatch([]*raft.Log{cmdLog(6, 3000, cmd("SET", "a", "3"))})
	if len(h.calls) > len(want) {
		t.Errorf("hook told %q after it was removed", h.calls[len(want):])
	}
}

// TestChangeHookOnRestore: restoring a snapshot changes every key.
func TestChangeHookOnRestore(t *testing.T) {
	src, _ := newTestFSM()
	src.ApplyBatch([]*raft.Log{cmdLog(1, 1000, cmd("SET", "a", "1"))})
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	dst, _ := newTestFSM()
	h := &recordHook{}
	dst.SetChangeHook(h)
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(h.calls, []string{"*"}) {
		t.Errorf("hook told %q on restore, want [*]", h.calls)
	}
}

// benchExec is an Executor whose SET overwrites one key in place (no
// allocation once the key exists): the benchmark measures the FSM's own
// work around a command. The value aliases the entry, which the benchmark
// never changes.
type benchExec struct{}

func (benchExec) Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	st.Set(args[1], args[2], 0, now)
	return append(out, "+OK\r\n"...)
}

func (benchExec) Keys(args [][]byte, dst [][]byte) [][]byte { return append(dst, args[1:2]...) }

// nopHook counts nothing: the benchmark measures the FSM's side.
type nopHook struct{}

func (nopHook) KeysChanged([][]byte) {}
func (nopHook) AllChanged()          {}

// BenchmarkApplyChangeHook measures applying one SET entry with no hook
// (the cost when no client tracks: one atomic load per entry) and with
// one. Compare allocs/op of the two.
func BenchmarkApplyChangeHook(b *testing.B) {
	for _, tc := range []struct {
		name string
		hook ChangeHook
	}{{"none", nil}, {"set", nopHook{}}} {
		b.Run(tc.name, func(b *testing.B) {
			f := NewFSM(shard.New(), benchExec{}, nil)
			f.SetChangeHook(tc.hook)
			l := cmdLog(1, 1000, cmd("SET", "k", "v"))
			logs := []*raft.Log{l}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				l.Index = uint64(i + 1)
				f.ApplyBatch(logs)
			}
		})
	}
}

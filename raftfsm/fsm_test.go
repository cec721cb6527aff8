package raftfsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
	"github.com/shoalcache/shoal/snapshot"
)

// execCall is one recorded Executor call.
type execCall struct {
	now  int64
	args []string
}

// fakeExec is a deterministic Executor with a few commands:
//
//	SET k v   -> +OK          ECHO x  -> $x
//	DEL k     -> :n           INCR k  -> :n (value as decimal)
//	TIME      -> :now         other   -> -ERR unknown
//	SETAT k v at -> +OK (expires at at)
//	FLUSHALL  -> +OK
//
// It records every call.
type fakeExec struct {
	mu    sync.Mutex
	calls []execCall
}

func (x *fakeExec) Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte {
	c := execCall{now: now}
	for _, a := range args {
		c.args = append(c.args, string(a))
	}
	x.mu.Lock()
	x.calls = append(x.calls, c)
	x.mu.Unlock()
	switch string(bytes.ToUpper(args[0])) {
	case "SET":
		st.Set(bytes.Clone(args[1]), bytes.Clone(args[2]), 0, now)
		return resp.AppendOK(out)
	case "DEL":
		n := int64(0)
		for _, k := range args[1:] {
			if st.Delete(k) {
				n++
			}
		}
		return resp.AppendInt(out, n)
	case "INCR":
		n := int64(0)
		if e := st.GetWrite(args[1], now); e != nil {
			n, _ = strconv.ParseInt(string(e.Value), 10, 64)
		}
		n++
		st.Set(bytes.Clone(args[1]), strconv.AppendInt(nil, n, 10), 0, now)
		return resp.AppendInt(out, n)
	case "SETAT":
		at, _ := strconv.ParseInt(string(args[3]), 10, 64)
		st.Set(bytes.Clone(args[1]), bytes.Clone(args[2]), at, now)
		return resp.AppendOK(out)
	case "FLUSHALL":
		st.Flush()
		return resp.AppendOK(out)
	case "ECHO":
		return resp.AppendBulk(out, args[1])
	case "TIME":
		return resp.AppendInt(out, now)
	}
	return resp.AppendError(out, "ERR unknown")
}

// Keys implements Executor: SET and INCR have one key, DEL has keys.
func (x *fakeExec) Keys(args [][]byte, dst [][]byte) [][]byte {
	switch string(bytes.ToUpper(args[0])) {
	case "SET", "INCR", "SETAT":
		if len(args) > 1 {
			dst = append(dst, args[1])
		}
	case "DEL":
		dst = append(dst, args[1:]...)
	}
	return dst
}

func (x *fakeExec) recorded() []execCall {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]execCall(nil), x.calls...)
}

func cmdLog(index uint64, now int64, cmds ...[][]byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: EncodeCommands(nil, now, cmds)}
}

func newTestFSM() (*FSM, *fakeExec) {
	x := &fakeExec{}
	return NewFSM(shard.New(), x, nil), x
}

func replies(t *testing.T, v interface{}) []string {
	t.Helper()
	r, ok := v.(*Result)
	if !ok {
		t.Fatalf("result is %T (%v), want *Result", v, v)
	}
	out := make([]string, len(r.Ends))
	for i := range r.Ends {
		out[i] = string(r.Reply(i))
	}
	return out
}

func TestApplyBatch(t *testing.T) {
	f, x := newTestFSM()
	logs := []*raft.Log{
		cmdLog(1, 1000, cmd("SET", "a", "1"), cmd("ECHO", "hello"), cmd("INCR", "n")),
		{Index: 2, Term: 1, Type: raft.LogNoop},
		{Index: 3, Term: 1, Type: raft.LogConfiguration, Data: []byte("not a command")},
		cmdLog(4, 3000, cmd("INCR", "n"), cmd("BOGUS")),
		cmdLog(5, 4000),
		{Index: 6, Term: 1, Type: raft.LogBarrier},
	}
	out := f.ApplyBatch(logs)
	if len(out) != len(logs) {
		t.Fatalf("%d results for %d logs", len(out), len(logs))
	}
	if got, want := replies(t, out[0]), []string{"+OK\r\n", "$5\r\nhello\r\n", ":1\r\n"}; !slices.Equal(got, want) {
		t.Errorf("log 1 replies %q, want %q", got, want)
	}
	for _, i := range []int{1, 2, 5} {
		if out[i] != nil {
			t.Errorf("non-command log %d gave %v, want nil", i+1, out[i])
		}
	}
	if got, want := replies(t, out[3]), []string{":2\r\n", "-ERR unknown\r\n"}; !slices.Equal(got, want) {
		t.Errorf("log 4 replies %q, want %q", got, want)
	}
	if got := replies(t, out[4]); len(got) != 0 {
		t.Errorf("empty entry replies %q", got)
	}
	var names []string
	for _, c := range x.recorded() {
		names = append(names, c.args[0])
	}
	if want := []string{"SET", "ECHO", "INCR", "INCR", "BOGUS"}; !slices.Equal(names, want) {
		t.Errorf("executor calls %q, want %q", names, want)
	}
	if f.AppliedIndex() != 6 {
		t.Errorf("AppliedIndex = %d, want 6", f.AppliedIndex())
	}
	// Apply is ApplyBatch of one.
	if got := replies(t, f.Apply(cmdLog(7, 5000, cmd("ECHO", "one")))); !slices.Equal(got, []string{"$3\r\none\r\n"}) {
		t.Errorf("Apply replies %q", got)
	}
	if f.AppliedIndex() != 7 {
		t.Errorf("AppliedIndex = %d, want 7", f.AppliedIndex())
	}
	if f.Halted() {
		t.Error("FSM halted on valid entries")
	}
}

// TestHaltOnUnappliableEntry: an entry of an unknown type or version, or a
// malformed one, halts the FSM: neither it nor anything after it applies,
// the halt callback runs once, and snapshots are refused.
func TestHaltOnUnappliableEntry(t *testing.T) {
	truncated := cmdLog(0, 2000, cmd("SET", "never", "applied"), cmd("ECHO", "x")).Data
	bad := map[string][]byte{
		"unknown type":          hdr(13, 1, 1, 2, 3),
		"unknown version":       append(hdr(entryCommands, versionCommandsDB+1), EncodeCommands(nil, 2000, [][][]byte{cmd("SET", "never", "x")})[2:]...),
		"malformed commands":    truncated[:len(truncated)-1],
		"malformed evict":       hdr(entryEvict, versionEvict, 2, 1, 'a'),
		"not even a header":     {byte(entryExpire)},
		"empty command payload": {},
	}
	for name, data := range bad {
		t.Run(name, func(t *testing.T) {
			var lb bytes.Buffer
			x := &fakeExec{}
			f := NewFSM(shard.New(), x, slog.New(slog.NewTextHandler(&lb, nil)))
			halts := make(chan struct{}, 10)
			f.onHalt = func() { halts <- struct{}{} }
			out := f.ApplyBatch([]*raft.Log{
				cmdLog(1, 1000, cmd("SET", "before", "1")),
				{Index: 2, Term: 1, Type: raft.LogCommand, Data: data},
				cmdLog(3, 3000, cmd("SET", "after", "1")),
				{Index: 4, Term: 1, Type: raft.LogNoop},
			})
			replies(t, out[0])
			if err, ok := out[1].(error); !ok || !(errors.Is(err, ErrUnknownEntry) || errors.Is(err, ErrBadEntry)) {
				t.Errorf("unappliable entry gave %v", out[1])
			}
			if err, ok := out[2].(error); !ok || !errors.Is(err, ErrHalted) {
				t.Errorf("entry after the halt gave %v, want ErrHalted", out[2])
			}
			if out[3] != nil {
				t.Errorf("no-op after the halt gave %v", out[3])
			}
			// A later batch applies nothing either.
			if err, ok := f.Apply(cmdLog(5, 4000, cmd("SET", "later", "1"))).(error); !ok || !errors.Is(err, ErrHalted) {
				t.Errorf("later entry was not refused")
			}
			if !f.Halted() {
				t.Error("Halted() = false")
			}
			if f.AppliedIndex() != 1 {
				t.Errorf("AppliedIndex = %d, want 1 (the last entry applied)", f.AppliedIndex())
			}
			if got := len(x.recorded()); got != 1 {
				t.Errorf("executor ran %d commands, want 1 (the one before the halt)", got)
			}
			if got := storeMap(f.Store()); len(got) != 1 {
				t.Errorf("store holds %v, want only the key written before the halt", got)
			}
			select {
			case <-halts:
			case <-time.After(10 * time.Second):
				t.Fatal("halt callback not called")
			}
			time.Sleep(10 * time.Millisecond)
			if len(halts) != 0 {
				t.Error("halt callback called more than once")
			}
			if _, err := f.Snapshot(); !errors.Is(err, ErrHalted) {
				t.Errorf("Snapshot of a halted FSM: %v, want ErrHalted", err)
			}
			if n := strings.Count(lb.String(), "level=ERROR"); n != 1 {
				t.Errorf("%d error lines, want 1:\n%s", n, lb.String())
			}
			want := "cannot apply"
			if name == "unknown type" || name == "unknown version" {
				want = "this replica cannot apply entries written by a newer Shoal; stopping the group"
			}
			if !strings.Contains(lb.String(), want) || !strings.Contains(lb.String(), "index=2") {
				t.Errorf("log does not say %q at index 2:\n%s", want, lb.String())
			}
		})
	}
}

func TestResultReplyIndexing(t *testing.T) {
	r := &Result{Replies: []byte("+OK\r\n:1\r\n$0\r\n\r\n"), Ends: []int{5, 9, 15}}
	want := []string{"+OK\r\n", ":1\r\n", "$0\r\n\r\n"}
	for i, w := range want {
		if got := string(r.Reply(i)); got != w {
			t.Errorf("Reply(%d) = %q, want %q", i, got, w)
		}
	}
}

// TestNewResultInline: a small entry's Result is one allocation (its ends
// and short replies live inside it); a large one still holds every reply.
func TestNewResultInline(t *testing.T) {
	fill := func(n int) *Result {
		r := newResult(n)
		for range n {
			r.Replies = resp.AppendOK(r.Replies)
			r.Ends = append(r.Ends, len(r.Replies))
		}
		return r
	}
	if a := testing.AllocsPerRun(100, func() { fill(4) }); a != 1 {
		t.Errorf("a Result of 4 OKs took %v allocations, want 1", a)
	}
	// A pipelined batch's entry: the Result, its ends and its replies,
	// each allocated once at its size.
	if a := testing.AllocsPerRun(100, func() { fill(100) }); a != 3 {
		t.Errorf("a Result of 100 OKs took %v allocations, want 3", a)
	}
	for _, n := range []int{1, 4, 5, 40, 100} {
		r := fill(n)
		for i := range n {
			if got := string(r.Reply(i)); got != "+OK\r\n" {
				t.Fatalf("n=%d: Reply(%d) = %q", n, i, got)
			}
		}
	}
}

func TestFSMClockNeverGoesBackwards(t *testing.T) {
	f, x := newTestFSM()
	clocks := []int64{1000, 500, 2000, 1999, 2000, 0, 3000}
	for i, now := range clocks {
		got := replies(t, f.Apply(cmdLog(uint64(i+1), now, cmd("TIME"), cmd("TIME"))))
		if got[0] != got[1] {
			t.Errorf("commands of one entry saw different clocks: %q", got)
		}
	}
	var seen []int64
	for _, c := range x.recorded() {
		seen = append(seen, c.now)
	}
	want := []int64{1000, 1000, 1000, 1000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 3000, 3000}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("executor clocks %v, want %v", seen, want)
	}
	if f.Now() != 3000 {
		t.Errorf("Now() = %d, want 3000", f.Now())
	}
}

func expireArg(at int64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(at))
	return string(b[:])
}

func legacyLog(index uint64, now int64, cmds ...[][]byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: legacyCommands(now, cmds...)}
}

// TestLegacyInternalOps: commands entries written before typed entries
// carried expiry and eviction as internal commands; they still apply.
func TestLegacyInternalOps(t *testing.T) {
	f, x := newTestFSM()
	st := f.Store()
	st.Lock()
	st.Set([]byte("due"), []byte("v"), 1500, 1000)
	st.Set([]byte("later"), []byte("v"), 9000, 1000)
	st.Set([]byte("plain"), []byte("v"), 0, 1000)
	st.Set([]byte("e1"), []byte("v"), 0, 1000)
	st.Set([]byte("e2"), []byte("v"), 7000, 1000)
	st.Unlock()
	got := replies(t, f.Apply(legacyLog(1, 2000,
		cmd("\x00expire", "due", expireArg(1400)),   // stale expireAt
		cmd("\x00expire", "later", expireArg(9000)), // not due
		cmd("\x00expire", "due", "short"),           // malformed time
		cmd("\x00expire", "due"),                    // missing time
		cmd("\x00expire", "missing", expireArg(1)),
		cmd("\x00expire", "due", expireArg(1500)), // deletes
		cmd("\x00expire", "due", expireArg(1500)), // already gone
		cmd("\x00evict", "e1", "e2", "missing", "e1"),
		cmd("\x00evict"),
		cmd("\x00nonsense", "x"),
	)))
	want := []string{":0\r\n", ":0\r\n", ":0\r\n", ":0\r\n", ":0\r\n", ":1\r\n", ":0\r\n", ":2\r\n", ":0\r\n", "-ERR unknown internal command\r\n"}
	if !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	if n := len(x.recorded()); n != 0 {
		t.Errorf("internal ops reached the executor %d times", n)
	}
	st.RLock()
	if st.Peek([]byte("due")) != nil || st.Peek([]byte("e1")) != nil || st.Peek([]byte("e2")) != nil {
		t.Error("expired or evicted keys still present")
	}
	if st.Peek([]byte("later")) == nil || st.Peek([]byte("plain")) == nil {
		t.Error("a key was removed that should not have been")
	}
	if s := st.Stats(); s.ExpiredKeys != 1 || s.EvictedKeys != 2 {
		t.Errorf("Stats = %+v, want 1 expired, 2 evicted", s)
	}
	st.RUnlock()
	// Only the command name is checked for the NUL prefix.
	f.Apply(legacyLog(2, 2000, cmd("ECHO", "\x00expire")))
	if n := len(x.recorded()); n != 1 {
		t.Errorf("executor calls = %d, want 1", n)
	}
	// In current Commands entries internal names mean nothing: the
	// executor gets them (and rejects them).
	st.RLock()
	before := st.Peek([]byte("later")) != nil
	st.RUnlock()
	got = replies(t, f.Apply(cmdLog(3, 20000, cmd("\x00evict", "later"))))
	st.RLock()
	after := st.Peek([]byte("later")) != nil
	st.RUnlock()
	if !before || !after || got[0] != "-ERR unknown\r\n" || len(x.recorded()) != 2 {
		t.Errorf("NUL command in a current entry: reply %q, key present %v -> %v, executor calls %d", got, before, after, len(x.recorded()))
	}
}

func TestExpireAndEvictEntries(t *testing.T) {
	f, x := newTestFSM()
	st := f.Store()
	st.Lock()
	st.Set([]byte("due"), []byte("v"), 1500, 1000)
	st.Set([]byte("later"), []byte("v"), 9000, 1000)
	st.Set([]byte("plain"), []byte("v"), 0, 1000)
	st.Set([]byte("e1"), []byte("v"), 0, 1000)
	st.Set([]byte("e2"), []byte("v"), 7000, 1000)
	st.Unlock()
	expire := &raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: encodeExpire(nil, 2000, 0, []shard.ExpiredKey{
		{Key: "due", ExpireAt: 1400},   // stale expireAt
		{Key: "later", ExpireAt: 9000}, // not due
		{Key: "plain", ExpireAt: 0},    // no TTL
		{Key: "missing", ExpireAt: 1},
		{Key: "due", ExpireAt: 1500}, // deletes
		{Key: "due", ExpireAt: 1500}, // already gone
	})}
	evict := &raft.Log{Index: 2, Term: 1, Type: raft.LogCommand, Data: encodeEvict(nil, 0, [][]byte{
		[]byte("e1"), []byte("e2"), []byte("missing"), []byte("e1"),
	})}
	empty := &raft.Log{Index: 3, Term: 1, Type: raft.LogCommand, Data: encodeEvict(nil, 0, nil)}
	out := f.ApplyBatch([]*raft.Log{expire, evict, empty})
	if out[0] != 1 || out[1] != 2 || out[2] != 0 {
		t.Errorf("results %v, want [1 2 0]", out)
	}
	if f.Now() != 2000 {
		t.Errorf("FSM clock %d after an expire entry stamped 2000", f.Now())
	}
	if n := len(x.recorded()); n != 0 {
		t.Errorf("expire/evict entries reached the executor %d times", n)
	}
	st.RLock()
	defer st.RUnlock()
	if st.Peek([]byte("due")) != nil || st.Peek([]byte("e1")) != nil || st.Peek([]byte("e2")) != nil {
		t.Error("expired or evicted keys still present")
	}
	if st.Peek([]byte("later")) == nil || st.Peek([]byte("plain")) == nil {
		t.Error("a key was removed that should not have been")
	}
	if s := st.Stats(); s.ExpiredKeys != 1 || s.EvictedKeys != 2 {
		t.Errorf("Stats = %+v, want 1 expired, 2 evicted", s)
	}
}

// memSink is a raft.SnapshotSink writing to memory.
type memSink struct {
	bytes.Buffer
	closed, canceled bool
	failAfter        int // fail writes once this many bytes were written (0: never)
}

func (s *memSink) ID() string { return "mem" }
func (s *memSink) Cancel() error {
	s.canceled = true
	return nil
}
func (s *memSink) Close() error {
	s.closed = true
	return nil
}
func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.Len()+len(p) > s.failAfter {
		return 0, errors.New("sink full")
	}
	return s.Buffer.Write(p)
}

type kv struct {
	val string
	exp int64
}

func storeMap(st *shard.Store) map[string]kv {
	st.RLock()
	defer st.RUnlock()
	m := map[string]kv{}
	for i := 0; i < shard.NumSlots; i++ {
		st.RangeSlot(i, func(k string, e *shard.Entry) bool {
			m[k] = kv{string(e.Value), e.ExpireAt}
			return true
		})
	}
	return m
}

func sameMap(t *testing.T, what string, got, want map[string]kv) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d keys, want %d", what, len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: key %q = %+v, want %+v", what, k, got[k], w)
			return
		}
	}
}

func TestSnapshotPersistWhileApplying(t *testing.T) {
	f, _ := newTestFSM()
	idx := uint64(0)
	apply := func(now int64, cmds ...[][]byte) {
		idx++
		if _, ok := f.Apply(cmdLog(idx, now, cmds...)).(*Result); !ok {
			t.Fatalf("apply %d failed", idx)
		}
	}
	for i := 0; i < 2000; i++ {
		apply(1000+int64(i), cmd("SET", fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i)))
	}
	want := storeMap(f.Store())
	wantNow := f.Now()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()

	// Keep applying while the snapshot is persisted.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			idx := uint64(10_000 + i)
			f.Apply(cmdLog(idx, 50_000+int64(i),
				cmd("SET", fmt.Sprintf("k%d", i), "changed"),
				cmd("DEL", fmt.Sprintf("k%d", (i+1000)%2000)),
				cmd("SET", fmt.Sprintf("new%d", i), "x")))
		}
	}()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	<-done
	if !sink.closed || sink.canceled {
		t.Fatalf("sink closed=%v canceled=%v", sink.closed, sink.canceled)
	}
	restored := shard.New()
	meta, err := snapshot.Read(bytes.NewReader(sink.Bytes()), restored)
	if err != nil {
		t.Fatalf("reading the persisted snapshot: %v", err)
	}
	sameMap(t, "persisted snapshot", storeMap(restored), want)
	if meta.Now != wantNow {
		t.Errorf("snapshot Now = %d, want %d", meta.Now, wantNow)
	}
	if got := storeMap(f.Store()); got["k1500"].val != "changed" || got["k0"].val != "" || len(got) != 3000 {
		t.Errorf("live store did not take the later writes: %d keys", len(got))
	}
}

func TestPersistFailureCancelsSink(t *testing.T) {
	f, _ := newTestFSM()
	for i := 0; i < 3000; i++ {
		f.Apply(cmdLog(uint64(i+1), 1, cmd("SET", fmt.Sprintf("k%d", i), "some value")))
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{failAfter: 100}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist succeeded on a failing sink")
	}
	if !sink.canceled || sink.closed {
		t.Fatalf("sink closed=%v canceled=%v, want canceled", sink.closed, sink.canceled)
	}
}

// persisted takes a snapshot of f and persists it to memory.
func persisted(t *testing.T, f *FSM) *memSink {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	return sink
}

// TestRestoreSetsAppliedIndex: after a restore the FSM's state is the
// snapshot's, so AppliedIndex is the snapshot's index at once, not the
// index of the last entry applied before it until the next one.
func TestRestoreSetsAppliedIndex(t *testing.T) {
	src, _ := newTestFSM()
	src.Apply(cmdLog(1, 7777, cmd("SET", "a", "1")))
	sink := persisted(t, src)

	dst, _ := newTestFSM()
	dst.Apply(cmdLog(3, 100, cmd("SET", "old", "x")))
	snaps := raft.NewInmemSnapshotStore()
	rs, err := snaps.Create(raft.SnapshotVersionMax, 42, 2, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Write(sink.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	dst.snaps = snaps
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if got := dst.AppliedIndex(); got != 42 {
		t.Fatalf("AppliedIndex after restoring the snapshot at 42 = %d", got)
	}
}

func TestRestoreReplacesStore(t *testing.T) {
	src, _ := newTestFSM()
	src.Apply(cmdLog(1, 7777, cmd("SET", "a", "1"), cmd("SET", "b", "2")))
	sink := persisted(t, src)

	dst, _ := newTestFSM()
	dst.Apply(cmdLog(1, 100, cmd("SET", "old", "x"), cmd("SET", "a", "stale")))
	store := dst.Store()
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if dst.Store() != store {
		t.Error("Restore changed the store pointer readers hold")
	}
	sameMap(t, "restored store", storeMap(dst.Store()), map[string]kv{"a": {"1", 0}, "b": {"2", 0}})
	if dst.Now() != 7777 {
		t.Errorf("Now after Restore = %d, want 7777", dst.Now())
	}
	// The restored store keeps working, including creation numbers.
	dst.Apply(cmdLog(2, 8000, cmd("SET", "c", "3")))
	store.RLock()
	if e := store.Peek([]byte("c")); e == nil || e.Seq() != 3 {
		t.Errorf("new key after Restore: %+v", e)
	}
	store.RUnlock()

	// A corrupt snapshot is refused and leaves the store alone.
	bad := bytes.Clone(sink.Bytes())
	bad[len(bad)/2] ^= 0xff
	if err := dst.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("Restore accepted a corrupt snapshot")
	}
	sameMap(t, "store after failed Restore", storeMap(dst.Store()), map[string]kv{"a": {"1", 0}, "b": {"2", 0}, "c": {"3", 0}})
}

// TestPrefetchKeys: the keys prefetched ahead of an entry's commands are
// argument 1 of each command of database 0 that has one, in order; the
// commands of other databases and those without arguments add none.
func TestPrefetchKeys(t *testing.T) {
	cmd := func(args ...string) [][]byte {
		out := make([][]byte, len(args))
		for i, a := range args {
			out[i] = []byte(a)
		}
		return out
	}
	cmds := [][][]byte{
		cmd("SET", "a", "1"),
		cmd("PING"),
		cmd("INCR", "b"),
		cmd("SET", "other-db", "1"),
		cmd("MSET", "c", "1", "d", "2"),
	}
	var d Decoded
	if err := decodeEntry(EncodeCommandsDB(nil, 1, []int{0, 0, 0, 3, 0}, cmds), &d); err != nil {
		t.Fatal(err)
	}
	got := prefetchKeys(&d, nil)
	want := []string{"a", "b", "c"}
	if len(got) != len(want) {
		t.Fatalf("prefetchKeys = %q, want %q", got, want)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Fatalf("prefetchKeys = %q, want %q", got, want)
		}
	}
	if err := decodeEntry(EncodeCommands(nil, 1, cmds), &d); err != nil {
		t.Fatal(err)
	}
	if got := prefetchKeys(&d, nil); len(got) != 4 {
		t.Fatalf("database 0 only: prefetchKeys = %q, want 4 keys", got)
	}
}

package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

func ownLog(index, epoch uint64, ranges ...shard.SlotRange) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: encodeOwnership(nil, epoch, ranges)}
}

// one returns the range holding only the slot of key.
func one(key string) shard.SlotRange {
	s := shard.Slot(key)
	return shard.SlotRange{Start: s, End: s}
}

func notOwner(key string) string { return fmt.Sprintf("-NOTOWNER %d\r\n", shard.Slot(key)) }

func TestOwnershipAtApply(t *testing.T) {
	f, x := newTestFSM()
	if !f.Owns(0) || !f.Owns(shard.NumSlots-1) {
		t.Fatal("a new FSM does not own every slot")
	}
	replies(t, f.Apply(cmdLog(1, 1000, cmd("SET", "mine", "0"), cmd("SET", "theirs", "0"))))
	if shard.Slot("mine") == shard.Slot("theirs") || shard.Slot("mine") == shard.Slot("other") {
		t.Fatal("test keys share a slot")
	}

	res := f.Apply(ownLog(2, 5, one("mine")))
	if r, ok := res.(OwnershipResult); !ok || !r.Applied || r.Epoch != 5 {
		t.Fatalf("SetOwnership result %v", res)
	}
	if !f.Owns(shard.Slot("mine")) || f.Owns(shard.Slot("theirs")) {
		t.Fatal("Owns does not reflect the new ownership")
	}
	if e, set := f.Ownership(); e != 5 || set.Count() != 1 {
		t.Fatalf("Ownership() = %d with %d slots", e, set.Count())
	}
	calls := len(x.recorded())
	got := replies(t, f.Apply(cmdLog(3, 2000,
		cmd("SET", "theirs", "1"),           // unowned: refused
		cmd("SET", "mine", "1"),             // owned
		cmd("DEL", "mine", "theirs"),        // one key unowned: refused whole
		cmd("ECHO", "keyless"),              // no keys: runs
		cmd("INCR", "other"),                // unowned
		cmd("SET", "{mine}other", "tagged"), // hash tag: owned slot
	)))
	want := []string{notOwner("theirs"), "+OK\r\n", notOwner("theirs"), "$7\r\nkeyless\r\n", notOwner("other"), "+OK\r\n"}
	if !slices.Equal(got, want) {
		t.Errorf("replies %q, want %q", got, want)
	}
	if n := len(x.recorded()) - calls; n != 3 {
		t.Errorf("executor ran %d commands, want 3 (refused ones must not run)", n)
	}
	sameMap(t, "store", storeMap(f.Store()), map[string]kv{"mine": {"1", 0}, "theirs": {"0", 0}, "{mine}other": {"tagged", 0}})
	for i, r := range got {
		if slot, ok := ParseNotOwner([]byte(r)); ok != (r[0] == '-' && r[1] == 'N') || (ok && slot != shard.Slot([]string{"theirs", "", "theirs", "", "other", ""}[i])) {
			t.Errorf("ParseNotOwner(%q) = %d, %v", r, slot, ok)
		}
	}

	// An older or equal epoch changes nothing and says so.
	for _, epoch := range []uint64{0, 4, 5} {
		res := f.Apply(ownLog(4, epoch, shard.SlotRange{Start: 0, End: shard.NumSlots - 1}))
		if r, ok := res.(OwnershipResult); !ok || r.Applied || r.Epoch != 5 {
			t.Errorf("SetOwnership at epoch %d over epoch 5: %v", epoch, res)
		}
	}
	if f.Owns(shard.Slot("theirs")) {
		t.Error("a stale SetOwnership changed the ownership")
	}
	// A newer epoch replaces the ownership whole: owning nothing.
	if r := f.Apply(ownLog(5, 6)).(OwnershipResult); !r.Applied || f.Owns(shard.Slot("mine")) {
		t.Errorf("empty ownership at epoch 6: %+v, owns mine %v", r, f.Owns(shard.Slot("mine")))
	}
	if got := replies(t, f.Apply(cmdLog(6, 3000, cmd("SET", "mine", "2")))); got[0] != notOwner("mine") {
		t.Errorf("write after losing every slot: %q", got)
	}
}

func TestParseNotOwner(t *testing.T) {
	for _, tt := range []struct {
		in   string
		slot int
		ok   bool
	}{
		{"-NOTOWNER 0\r\n", 0, true},
		{"-NOTOWNER 16383\r\n", 16383, true},
		{"NOTOWNER 77", 77, true},
		{"-NOTOWNER 16384\r\n", 0, false},
		{"-NOTOWNER \r\n", 0, false},
		{"-NOTOWNER x1\r\n", 0, false},
		{"-NOTOWNER1\r\n", 0, false},
		{"-ERR NOTOWNER 1\r\n", 0, false},
		{"+OK\r\n", 0, false},
		{"", 0, false},
		{"-NOTOWNER 99999999999999999999999\r\n", 0, false},
	} {
		if slot, ok := ParseNotOwner([]byte(tt.in)); slot != tt.slot || ok != tt.ok {
			t.Errorf("ParseNotOwner(%q) = %d, %v; want %d, %v", tt.in, slot, ok, tt.slot, tt.ok)
		}
	}
	for _, s := range []int{0, 1, 999, shard.NumSlots - 1} {
		if slot, ok := ParseNotOwner(appendNotOwner(nil, s)); !ok || slot != s {
			t.Errorf("round trip of slot %d: %d, %v", s, slot, ok)
		}
	}
}

// keysExec is an Executor whose Keys does not allocate: every argument
// after the name is a key.
type keysExec struct{ fakeExec }

func (*keysExec) Keys(args [][]byte, dst [][]byte) [][]byte { return append(dst, args[1:]...) }

func TestOwnershipCheckDoesNotAllocate(t *testing.T) {
	f := NewFSM(shard.New(), &keysExec{}, nil)
	f.Apply(ownLog(1, 1, shard.SlotRange{Start: 0, End: 8000}))
	o := f.owner.Load()
	args := cmd("MSET", "a", "b", "c", "d", "e", "f", "g", "h")
	f.refused(o, nil, args) // grow the key buffer
	out := make([]byte, 0, 64)
	n := testing.AllocsPerRun(200, func() {
		if slot := f.refused(o, nil, args); slot >= 0 {
			out = appendNotOwner(out[:0], slot)
		}
	})
	if n != 0 {
		t.Errorf("ownership check allocates %v times per command", n)
	}
	if len(out) == 0 {
		t.Error("no key of the test command was unowned: the reply path was not measured")
	}
}

// snapshotBytes persists f's snapshot to bytes, as a file store would.
func snapshotBytes(t *testing.T, f *FSM) []byte {
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
	return sink.Bytes()
}

// viewStoreBytes persists f's snapshot into an in-memory view store (which
// keeps the view) and opens it again, as raft does to send it to a follower.
func viewStoreBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	vs := newViewStore()
	sink, err := vs.Create(1, 10, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if vs.latest == nil || vs.latest.view == nil {
		t.Fatal("the view store did not keep the view")
	}
	_, rc, err := vs.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOwnershipSurvivesSnapshot(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	var ranges []shard.SlotRange
	for start := rng.IntN(100); start < shard.NumSlots; {
		end := min(start+rng.IntN(500), shard.NumSlots-1)
		ranges = append(ranges, shard.SlotRange{Start: start, End: end})
		start = end + 2 + rng.IntN(300)
	}
	var want shard.SlotSet
	for _, r := range ranges {
		want.AddRange(r)
	}
	for name, persist := range map[string]func(*testing.T, *FSM) []byte{"file": snapshotBytes, "view store": viewStoreBytes} {
		t.Run(name, func(t *testing.T) {
			src, _ := newTestFSM()
			src.Apply(cmdLog(1, 100, cmd("SET", "k", "v")))
			if r := src.Apply(ownLog(2, 42, ranges...)).(OwnershipResult); !r.Applied {
				t.Fatal("SetOwnership not applied")
			}
			data := persist(t, src)

			dst, _ := newTestFSM()
			dst.Apply(ownLog(1, 99)) // a later epoch, owning nothing: replaced
			if err := dst.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
				t.Fatal(err)
			}
			epoch, got := dst.Ownership()
			if epoch != 42 || got != want {
				t.Fatalf("restored ownership: epoch %d, %d slots; want 42, %d slots", epoch, got.Count(), want.Count())
			}
			sameMap(t, "restored store", storeMap(dst.Store()), map[string]kv{"k": {"v", 0}})
			// Own-all also survives (written compactly).
			all, _ := newTestFSM()
			all.Apply(ownLog(1, 3, shard.SlotRange{Start: 0, End: shard.NumSlots - 1}))
			if err := dst.Restore(io.NopCloser(bytes.NewReader(persist(t, all)))); err != nil {
				t.Fatal(err)
			}
			if epoch, got := dst.Ownership(); epoch != 3 || got.Count() != shard.NumSlots {
				t.Fatalf("restored own-all: epoch %d, %d slots", epoch, got.Count())
			}
		})
	}
}

// TestRestoreVersion1Snapshot: a snapshot from before ownership restores as
// every slot at epoch 0, whatever the FSM owned before.
func TestRestoreVersion1Snapshot(t *testing.T) {
	data, err := os.ReadFile("../snapshot/testdata/v1.snap")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newTestFSM()
	f.Apply(ownLog(1, 7, shard.SlotRange{Start: 10, End: 20}))
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if epoch, set := f.Ownership(); epoch != 0 || set.Count() != shard.NumSlots {
		t.Fatalf("ownership after a version 1 snapshot: epoch %d, %d slots", epoch, set.Count())
	}
	sameMap(t, "restored", storeMap(f.Store()), map[string]kv{"a": {"1", 0}, "b": {"two", 5_000_000}, "{tag}c": {"\x00\xff", 0}})
	if got := replies(t, f.Apply(cmdLog(2, 5000, cmd("SET", "any", "1")))); got[0] != "+OK\r\n" {
		t.Errorf("write after restoring a version 1 snapshot: %q", got)
	}
	// Its epoch 0 is below any proposed epoch.
	if r := f.Apply(ownLog(3, 1)).(OwnershipResult); !r.Applied {
		t.Error("epoch 1 not applied over a version 1 snapshot")
	}
}

func TestGroupOwnership(t *testing.T) {
	dataDirs(t, func(t *testing.T, dir string) {
		cfg := testConfig(dir)
		cfg.OwnAllSlots = false
		g, _ := startGroup(t, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if e, slots := g.Ownership(); e != 0 || len(slots) != 0 || g.Owns(shard.Slot("a")) {
			t.Fatalf("cluster group starts with epoch %d, slots %v", e, slots)
		}
		if got := propose(t, g, cmd("SET", "a", "1")); got[0] != notOwner("a") {
			t.Fatalf("write before ownership: %q", got)
		}
		sa := shard.Slot("a")
		ranges := []shard.SlotRange{{Start: 100, End: 200}, {Start: sa, End: sa}, {Start: 150, End: 300}}
		if err := g.ProposeOwnership(ctx, 3, ranges); err != nil {
			t.Fatalf("ProposeOwnership: %v", err)
		}
		wantRanges := fmt.Sprint([]shard.SlotRange{{Start: 100, End: 300}, {Start: sa, End: sa}})
		if sa < 301 {
			t.Fatalf("test assumes slot of a (%d) above 301", sa)
		}
		if e, slots := g.Ownership(); e != 3 || fmt.Sprint(slots) != wantRanges {
			t.Fatalf("Ownership() = %d, %v; want 3, %s", e, slots, wantRanges)
		}
		if got := propose(t, g, cmd("SET", "a", "1")); got[0] != "+OK\r\n" {
			t.Fatalf("write to an owned slot: %q", got)
		}
		if err := g.ProposeOwnership(ctx, 3, nil); !errors.Is(err, ErrStaleEpoch) {
			t.Fatalf("ProposeOwnership at the same epoch: %v, want ErrStaleEpoch", err)
		}
		if err := g.ProposeOwnership(ctx, 4, []shard.SlotRange{{Start: 5, End: shard.NumSlots}}); err == nil {
			t.Fatal("ProposeOwnership accepted a range past the last slot")
		}
		if !g.Owns(sa) {
			t.Fatal("a refused proposal changed the ownership")
		}
		if err := g.Snapshot(ctx); err != nil {
			t.Fatal(err)
		}
		shutdown(t, g)

		// Restarted: the ownership comes back from the snapshot (without
		// a data directory the state is gone, so only check with one).
		if dir == "" {
			return
		}
		g2, _ := startGroup(t, cfg)
		if e, slots := g2.Ownership(); e != 3 || fmt.Sprint(slots) != wantRanges {
			t.Fatalf("after restart Ownership() = %d, %v; want 3, %s", e, slots, wantRanges)
		}
	})
}

// TestFollowerGetsOwnershipBySnapshot: an in-memory follower that joins
// after the log was compacted receives the ownership in the snapshot the
// leader streams from its view store.
func TestFollowerGetsOwnershipBySnapshot(t *testing.T) {
	gs := testNodesWith(t, 2, func(c *Config) { c.TrailingLogs = 0 })
	n1, n2 := gs[0], gs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sb := shard.Slot("b")
	if err := n1.ProposeOwnership(ctx, 9, []shard.SlotRange{{Start: sb, End: sb}}); err != nil {
		t.Fatal(err)
	}
	propose(t, n1, cmd("SET", "b", "1"))
	if err := n1.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n1.AddVoter(ctx, "n2", "n2"); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, 10*time.Second, "n2 to receive the snapshot", func() bool {
		e, _ := n2.Ownership()
		return e == 9
	})
	if !n2.Owns(sb) || n2.Owns((sb+1)%shard.NumSlots) {
		t.Fatal("n2's ownership differs from the leader's")
	}
	storeHas(t, n2.Store(), map[string]string{"b": "1"})
	// raft records the installed snapshot just after the FSM restored it:
	// reading the stat at once raced with it.
	testutil.Until(t, 5*time.Second, "n2 to have caught up by a snapshot, not from the log", func() bool {
		return statUint(t, n2, "last_snapshot_index") != 0
	})
}

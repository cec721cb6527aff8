package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

func txLog(index uint64, now int64, tx *Tx) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: EncodeTx(nil, now, tx)}
}

func txExpireLog(index uint64, now int64, key string, at int64) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand,
		Data: encodeExpire(nil, now, 0, []shard.ExpiredKey{{Key: key, ExpireAt: at}})}
}

func evictLog(index uint64, key string) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: encodeEvict(nil, 0, [][]byte{[]byte(key)})}
}

// txOutcome describes a Transaction entry's result for comparisons.
func txOutcome(t *testing.T, v interface{}) string {
	t.Helper()
	r, ok := v.(*TxResult)
	if !ok {
		t.Fatalf("result %T (%v), want *TxResult", v, v)
	}
	switch {
	case r.Refused != nil:
		return "refused " + string(r.Refused)
	case r.Aborted:
		return "aborted"
	}
	return fmt.Sprintf("ran %q", r.Res.Replies)
}

// watchOf is a watch of key at since, as the leader would record it from
// f's store.
func watchOf(f *FSM, key string, since uint64, now int64) TxWatch {
	e := f.Store().Peek([]byte(key))
	return TxWatch{Key: []byte(key), Since: since, Existed: e != nil, Expired: e != nil && e.ExpireAt != 0 && e.ExpireAt <= now}
}

// TestTxWatchDecisions: the FSM aborts a transaction whose watched key
// changed after its since index (set, deleted, expired by an entry or by
// the clock, evicted, flushed while it existed), and runs it otherwise.
func TestTxWatchDecisions(t *testing.T) {
	incr := [][][]byte{cmd("INCR", "n")}
	tests := []struct {
		name   string
		setup  func(f *FSM, i uint64) // applies entries i, i+1, ... before the tx
		key    string
		now    int64 // the transaction's clock
		abort  bool
		before func(f *FSM) // entries before WATCH (index 2...)
	}{
		{name: "untouched", key: "k", abort: false},
		{name: "set", key: "k", abort: true, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("SET", "k", "2"))) }},
		{name: "set to the same value", key: "k", abort: true, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("SET", "k", "1"))) }},
		{name: "other key", key: "k", abort: false, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("SET", "other", "2"))) }},
		{name: "deleted", key: "k", abort: true, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("DEL", "k"))) }},
		{name: "del of a missing key", key: "nope", abort: false, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("DEL", "nope"))) }},
		{name: "created", key: "nope", abort: true, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("SET", "nope", "1"))) }},
		{name: "flushed while there", key: "k", abort: true, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("FLUSHALL"))) }},
		{name: "flushed while missing", key: "nope", abort: false, setup: func(f *FSM, i uint64) { f.Apply(cmdLog(i, 1000, cmd("FLUSHALL"))) }},
		{name: "evicted", key: "k", abort: true, setup: func(f *FSM, i uint64) { f.Apply(evictLog(i, "k")) }},
		{name: "expired by an entry", key: "v", abort: true, setup: func(f *FSM, i uint64) { f.Apply(txExpireLog(i, 3000, "v", 2000)) }},
		{name: "expired by the clock", key: "v", now: 2500, abort: true},
		{name: "not yet expired", key: "v", now: 1500, abort: false},
		{name: "ownership changed", key: "k", abort: true, setup: func(f *FSM, i uint64) {
			f.Apply(ownLog(i, 5, shard.SlotRange{Start: 0, End: shard.NumSlots - 1}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newTestFSM()
			f.Apply(txLog(1, 1000, &Tx{})) // the change index starts
			f.Apply(cmdLog(2, 1000, cmd("SET", "k", "1"), cmd("SETAT", "v", "x", "2000")))
			w := watchOf(f, tt.key, f.AppliedIndex(), 1000)
			i := uint64(3)
			if tt.setup != nil {
				tt.setup(f, i)
				i++
			}
			now := tt.now
			if now == 0 {
				now = 1000
			}
			got := txOutcome(t, f.Apply(txLog(i, now, &Tx{Watches: []TxWatch{w}, Cmds: incr})))
			if want := map[bool]string{true: "aborted", false: `ran ":1\r\n"`}[tt.abort]; got != want {
				t.Errorf("transaction %s, want %s", got, want)
			}
		})
	}
}

// TestTxOwnershipAndStart: a transaction with a command or a watched key of
// a slot the group does not own runs nothing (NOTOWNER); a watch from
// before the change index started aborts.
func TestTxOwnershipAndStart(t *testing.T) {
	f, _ := newTestFSM()
	f.Apply(ownLog(1, 1, one("mine")))
	if got := txOutcome(t, f.Apply(txLog(2, 1000, &Tx{Cmds: [][][]byte{cmd("SET", "mine", "1"), cmd("SET", "theirs", "1")}}))); got != fmt.Sprintf("refused -NOTOWNER %d\r\n", shard.Slot([]byte("theirs"))) {
		t.Errorf("transaction over a slot not owned: %s", got)
	}
	if f.Store().Peek([]byte("mine")) != nil {
		t.Error("a refused transaction applied a command")
	}
	w := TxWatch{Key: []byte("theirs"), Since: 2}
	if got := txOutcome(t, f.Apply(txLog(3, 1000, &Tx{Watches: []TxWatch{w}, Cmds: [][][]byte{cmd("SET", "mine", "1")}}))); got[:7] != "refused" {
		t.Errorf("transaction watching a key of a slot not owned: %s", got)
	}
	g, _ := newTestFSM()
	g.Apply(cmdLog(1, 1000, cmd("SET", "a", "1")))
	w = TxWatch{Key: []byte("a"), Since: 1, Existed: true}
	if got := txOutcome(t, g.Apply(txLog(2, 1000, &Tx{Watches: []TxWatch{w}}))); got != "aborted" {
		t.Errorf("a watch older than the change index: %s, want aborted", got)
	}
	w.Since = 2
	if got := txOutcome(t, g.Apply(txLog(3, 1000, &Tx{Watches: []TxWatch{w}}))); got != `ran ""` {
		t.Errorf("a watch after the change index started: %s", got)
	}
}

// TestTxDeterminism applies one random log to an FSM, and to another that
// is restored from a snapshot of a third taken midway: every transaction
// after the snapshot gets the same decision and replies on both, and the
// stores end equal. Replay with SHOAL_SEED.
func TestTxDeterminism(t *testing.T) {
	rng := testutil.Rand(t)
	key := func() string { return "k" + strconv.Itoa(rng.IntN(8)) }
	const n = 600
	logs := make([]*raft.Log, 0, n)
	now := int64(1_000_000)
	ref, _ := newTestFSM() // tells the generator what a leader would see
	var txs []int
	for i := uint64(1); i <= n; i++ {
		now += int64(rng.IntN(40))
		var l *raft.Log
		switch r := rng.IntN(100); {
		case i == 1 || r < 25:
			tx := &Tx{}
			for range rng.IntN(3) {
				back := uint64(rng.IntN(12))
				since := ref.AppliedIndex()
				if back < since {
					since -= back
				}
				tx.Watches = append(tx.Watches, watchOf(ref, key(), since, now))
			}
			for range rng.IntN(3) {
				tx.Cmds = append(tx.Cmds, cmd("INCR", key()))
			}
			l = txLog(i, now, tx)
			txs = append(txs, int(i-1))
		case r < 60:
			l = cmdLog(i, now, cmd("SET", key(), strconv.Itoa(rng.IntN(3))))
		case r < 70:
			l = cmdLog(i, now, cmd("SETAT", key(), "e", strconv.FormatInt(now+int64(rng.IntN(200)), 10)))
		case r < 80:
			l = cmdLog(i, now, cmd("DEL", key()))
		case r < 88:
			k := key()
			at := int64(0)
			if e := ref.Store().Peek([]byte(k)); e != nil {
				at = e.ExpireAt
			}
			l = txExpireLog(i, now, k, at)
		case r < 94:
			l = evictLog(i, key())
		default:
			l = cmdLog(i, now, cmd("FLUSHALL"))
		}
		ref.Apply(l)
		logs = append(logs, l)
	}

	a, _ := newTestFSM()
	b, _ := newTestFSM()
	mid := n / 2
	var outA, outC []string
	for i, l := range logs {
		v := a.Apply(l)
		if i < mid {
			b.Apply(l)
		}
		if i >= mid {
			if _, ok := v.(*TxResult); ok {
				outA = append(outA, txOutcome(t, v))
			}
		}
	}
	c, _ := newTestFSM()
	if err := c.Restore(io.NopCloser(bytes.NewReader(persisted(t, b).Bytes()))); err != nil {
		t.Fatal(err)
	}
	for _, l := range logs[mid:] {
		if v := c.Apply(l); v != nil {
			if _, ok := v.(*TxResult); ok {
				outC = append(outC, txOutcome(t, v))
			}
		}
	}
	if len(outA) != len(outC) {
		t.Fatalf("%d transactions vs %d", len(outA), len(outC))
	}
	aborted, ran := 0, 0
	for i := range outA {
		if outA[i] != outC[i] {
			t.Fatalf("transaction %d after the snapshot: %s on the replica that applied the whole log, %s on the restored one", i, outA[i], outC[i])
		}
		if outA[i] == "aborted" {
			aborted++
		} else {
			ran++
		}
	}
	t.Logf("%d transactions after the snapshot: %d aborted, %d ran", len(outA), aborted, ran)
	if aborted == 0 || ran == 0 {
		t.Fatalf("the log exercised one decision only (%d aborted, %d ran)", aborted, ran)
	}
	sameMap(t, "restored replica", storeMap(c.Store()), storeMap(a.Store()))
}

// BenchmarkApplySetTxIndex is BenchmarkApplySet once a transaction turned
// the change index on: each changed key is hashed into its bucket.
func BenchmarkApplySetTxIndex(b *testing.B) {
	f := NewFSM(shard.New(), setExec{}, nil)
	f.Apply(txLog(1, 1000, &Tx{}))
	benchApplySet(b, f, 2)
}

// BenchmarkTxIndexMark is the change index's own cost per changed key
// (hash and store), without the rest of the write path.
func BenchmarkTxIndexMark(b *testing.B) {
	t := &txIndex{buckets: make([]uint64, txBuckets)}
	k := []byte("key:000012345")
	for i := uint64(1); b.Loop(); i++ {
		t.mark(0, k, i)
	}
}

// TestTxWatchDatabases: a change of the same key name in another database
// does not abort a watch; a Commands entry of version 2 marks its own
// database.
func TestTxWatchDatabases(t *testing.T) {
	f, _ := newTestFSM()
	f.Apply(txLog(1, 1000, &Tx{}))
	w := TxWatch{DB: 3, Key: []byte("k"), Since: 1}
	f.Apply(dbLog(2, 1000, []int{5}, cmd("SET", "k", "other db")))
	if got := txOutcome(t, f.Apply(txLog(3, 1000, &Tx{Watches: []TxWatch{w}}))); got != `ran ""` {
		t.Errorf("after a change of k in another database: %s", got)
	}
	f.Apply(dbLog(4, 1000, []int{3}, cmd("SET", "k", "same db")))
	if got := txOutcome(t, f.Apply(txLog(5, 1000, &Tx{Watches: []TxWatch{w}}))); got != "aborted" {
		t.Errorf("after a change of k in its database: %s", got)
	}
}

// TestTxIndexOnlyForWatch: a transaction without WATCH leaves the change
// index off (its users pay nothing on later writes); an empty one (what
// WATCH proposes) turns it on.
func TestTxIndexOnlyForWatch(t *testing.T) {
	f, _ := newTestFSM()
	if got := txOutcome(t, f.Apply(txLog(1, 1000, &Tx{Cmds: [][][]byte{cmd("SET", "a", "1")}}))); got != `ran "+OK\r\n"` {
		t.Fatalf("transaction: %s", got)
	}
	if f.txi != nil {
		t.Fatal("a transaction without WATCH turned the change index on")
	}
	f.Apply(txLog(2, 1000, &Tx{}))
	if f.txi == nil || f.txi.from != 2 {
		t.Fatalf("an empty transaction did not turn the index on at its index: %+v", f.txi)
	}
}

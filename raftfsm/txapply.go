package raftfsm

import (
	"context"
	"fmt"
	"time"

	"github.com/shoalcache/shoal/shard"
	"github.com/shoalcache/shoal/snapshot"
)

// Transactions and WATCH (docs/transactions.md).
//
// A Transaction entry (codec_tx.go) applies whole or not at all. Its
// watched keys are checked against the FSM's change index: for each of
// txBuckets buckets (a hash of the key), the log index of the last entry
// that changed a key of that bucket, plus the index of the last change of
// an unknown set of keys (a flush, a snapshot's data replaced by a
// migration entry...). The index is replicated state: every replica
// updates it the same way as it applies entries, and snapshots carry it
// (snapshot.TxWatch in Meta.Extra), so every replica, restarted or
// restored, reaches the same commit or abort decision for an entry.
//
// The index is kept only from the first Transaction entry that is empty
// (the one WATCH proposes when the index is off) or watches keys (From):
// until then the write path pays one nil check. A watch whose since index
// is below From aborts.

// txBuckets is the number of buckets of the change index (a power of 2):
// 512 KiB per group once on. Two keys of a bucket share
// their changes: a change of one aborts a watch of the other (a false
// abort, 1 in txBuckets per other key changed meanwhile).
const txBuckets = 1 << 16

// txIndex is an FSM's change index. Written by the FSM goroutine under the
// store's write lock; Snapshot encodes it under the same lock.
type txIndex struct {
	from, global uint64
	buckets      []uint64
}

// TxResult is the result of applying a Transaction entry.
type TxResult struct {
	// Refused, when not nil, is the error reply that refused the whole
	// transaction before anything ran: "-NOTOWNER <slot>" (a key, or a
	// watched key, of a slot the group does not own or has fenced) or the
	// migration's refusal of keyless writes.
	Refused []byte
	// Aborted: a watched key changed after its since index; nothing ran.
	Aborted bool
	// Res holds the reply of each command (RESP3), when it ran.
	Res *Result
}

// txBucket returns the bucket of key of database db: FNV-1a over the key,
// offset by the database (an odd multiplier keeps the 16 databases' buckets
// of one key apart). Fixed, so that every replica (and every version
// reading a snapshot) puts a key in the same bucket.
func txBucket(db int, key []byte) int {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	h += uint64(db) * 0x9e3779b97f4a7c15
	return int(h & (txBuckets - 1))
}

// mark records a change of key of database db at index.
func (t *txIndex) mark(db int, key []byte, index uint64) {
	t.buckets[txBucket(db, key)] = index
}

// markAll records, at the entry being applied, a change of unknown keys,
// when the index is kept. FSM goroutine, store locked.
func (f *FSM) markAll() {
	if t := f.txi; t != nil {
		t.global = f.curIndex
	}
}

// markKey records a change of key of database db at the entry being
// applied, when the index is kept.
func (f *FSM) markKey(db int, key []byte) {
	if t := f.txi; t != nil {
		t.mark(db, key, f.curIndex)
	}
}

// markCommand records the keys of a command applied in database db that
// changed the store (f.txi set). A keyless one (FLUSHALL, FLUSHDB)
// changes unknown keys that existed; a keyless one that reaches other
// databases (SWAPDB) any key; one with keys that reaches other databases
// (MOVE, COPY ... DB: the executor's CrossDB) its keys in every database.
func (f *FSM) markCommand(db int, args [][]byte) {
	f.keys = f.exec.Keys(args, f.keys[:0])
	if len(f.keys) == 0 {
		if f.crossDB(args) {
			// SWAPDB: a key missing before may exist now, which the
			// global index (for keys that existed) would not abort.
			// Rare: every bucket takes the index.
			for i := range f.txi.buckets {
				f.txi.buckets[i] = f.curIndex
			}
			return
		}
		f.txi.global = f.curIndex
		return
	}
	if f.crossDB(args) {
		for d := range shard.NumDBs {
			for _, k := range f.keys {
				f.txi.mark(d, k, f.curIndex)
			}
		}
		return
	}
	for _, k := range f.keys {
		f.txi.mark(db, k, f.curIndex)
	}
}

// crossDB reports whether the write args may change keys of another
// database than its own; an executor that cannot tell (no CrossDB) is
// taken to say no.
func (f *FSM) crossDB(args [][]byte) bool {
	if x, ok := f.exec.(interface{ CrossDB(args [][]byte) bool }); ok {
		return x.CrossDB(args)
	}
	return false
}

// watchChanged reports whether watch w must abort the transaction applied
// at now: a change of its key (or bucket) after w.Since, a flush after it
// of a key that was there, or the key's expiry since WATCH.
func (f *FSM) watchChanged(w *TxWatch, now int64) bool {
	t := f.txi
	if t == nil || w.Since < t.from {
		return true
	}
	if t.buckets[txBucket(w.DB, w.Key)] > w.Since {
		return true
	}
	if w.Existed && !w.Expired && t.global > w.Since {
		return true
	}
	if !w.Expired {
		if e := f.store.DB(w.DB).Peek(w.Key); e != nil && e.ExpireAt != 0 && e.ExpireAt <= now {
			return true // expired since WATCH (Redis 7.0's isWatchedKeyExpired)
		}
	}
	return false
}

// TxExecutor is an Executor that can also run the read commands and the
// keyless data commands of a transaction inside the FSM. ExecTx has Exec's
// contract, and must be as deterministic for reads (a read may touch
// access metadata only from now and fixed values). An Executor without it
// runs a transaction's commands with Exec.
type TxExecutor interface {
	ExecTx(st *shard.Store, now int64, args [][]byte, out []byte) []byte
}

// applyTx applies a decoded Transaction entry (store locked).
func (f *FSM) applyTx(d *Decoded) *TxResult {
	now := f.advance(d.Now)
	if f.txi == nil && (len(d.watches) > 0 || len(d.Cmds) == 0) {
		// WATCH's first entry (empty), or a watching transaction, turns
		// the index on; transactions without WATCH leave it off, so
		// that their users do not pay for it on every write.
		f.txi = &txIndex{from: f.curIndex, buckets: make([]uint64, txBuckets)}
	}
	own, mig := f.owner.Load(), f.mig.Load()
	for _, args := range d.Cmds {
		if slot := f.refused(own, mig, args); slot >= 0 {
			return &TxResult{Refused: appendNotOwner(nil, slot)}
		} else if slot == refusedKeyless && f.isWrite(args) {
			return &TxResult{Refused: []byte(migrationKeylessReply)}
		}
	}
	for i := range d.watches {
		if s := shard.Slot(d.watches[i].Key); !own.slots.Has(s) || (mig != nil && mig.fenced != nil && mig.fenced.Has(s)) {
			return &TxResult{Refused: appendNotOwner(nil, s)}
		}
	}
	for i := range d.watches {
		if f.watchChanged(&d.watches[i], now) {
			return &TxResult{Aborted: true}
		}
	}
	hook := f.changeHook()
	tx, _ := f.exec.(TxExecutor)
	res := newResult(len(d.Cmds))
	for i, args := range d.Cmds {
		st := f.store.DB(d.DB(i))
		mods := f.store.Mods()
		if tx != nil {
			res.Replies = tx.ExecTx(st, now, args, res.Replies)
		} else {
			res.Replies = f.exec.Exec(st, now, args, res.Replies)
		}
		changed := f.store.Mods() != mods
		if changed && f.txi != nil {
			f.markCommand(d.DB(i), args)
		}
		if hook != nil && (changed || f.isWrite(args)) {
			f.notifyCommand(hook, args, changed)
		}
		res.Ends = append(res.Ends, len(res.Replies))
	}
	return &TxResult{Res: res}
}

// isWrite reports whether args is a write for the change hook's purposes:
// a keyless read (DBSIZE) must not be told as a change of everything. The
// executor tells through WriteCommand when it can; else every command is
// taken as a write.
func (f *FSM) isWrite(args [][]byte) bool {
	if w, ok := f.exec.(interface{ IsWrite(args [][]byte) bool }); ok {
		return w.IsWrite(args)
	}
	return true
}

// snapshotTx adds the change index to meta (store locked).
func (f *FSM) snapshotTx(meta *snapshot.Meta) {
	if t := f.txi; t != nil {
		meta.Extra = snapshot.AppendTxWatch(meta.Extra, &snapshot.TxWatch{From: t.from, Global: t.global, Buckets: t.buckets})
	}
}

// restoreTx reads the change index of a restored snapshot (nil when it
// has none: no transaction had run).
func restoreTx(meta *snapshot.Meta) (*txIndex, error) {
	t, err := snapshot.ReadTxWatch(meta.Extra)
	if err != nil || t == nil {
		return nil, err
	}
	if len(t.Buckets) != txBuckets {
		return nil, fmt.Errorf("%w: change index of %d buckets, want %d", snapshot.ErrCorrupt, len(t.Buckets), txBuckets)
	}
	return &txIndex{from: t.From, global: t.Global, buckets: t.Buckets}, nil
}

// WatchReady reports whether the group's FSM keeps its change index, so
// that a WATCH can start now. Caller holds the store's RLock.
func (g *Group) WatchReady() bool { return g.fsm.txi != nil }

// ProposeTx proposes tx as one Transaction entry, stamped with this node's
// clock, and returns its result once applied. An empty Tx (no command, no
// watch) only turns the change index on. Errors as the typed proposals'
// (ErrNotLeader: nothing proposed).
func (g *Group) ProposeTx(ctx context.Context, tx *Tx) (*TxResult, error) {
	size := 32
	for _, w := range tx.Watches {
		size += len(w.Key) + 24
	}
	size += encodedSizeAll(tx.Cmds) + len(tx.Cmds)
	data := EncodeTx(make([]byte, 0, size), time.Now().UnixMilli(), tx)
	v, err := g.proposeEntry(ctx, data)
	if err != nil {
		return nil, err
	}
	r, ok := v.(*TxResult)
	if !ok {
		return nil, fmt.Errorf("raftfsm: unexpected apply result %T", v)
	}
	return r, nil
}

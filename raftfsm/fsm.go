package raftfsm

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/resp"
	"github.com/shoalcache/shoal/shard"
	"github.com/shoalcache/shoal/snapshot"
)

// Executor applies one write command to the store. The server package
// implements it with Shoal's command table.
//
// Exec is called only from the FSM goroutine (raft's runFSM), with the
// store's Lock held, never concurrently with itself. It must be deterministic:
// the reply and the new state may depend only on the store, args and now (the
// proposing leader's clock, in milliseconds, never less than the now of any
// earlier entry). It must not read the clock or a random source, must copy any
// argument it keeps (args alias the log entry), and appends the command's
// reply in RESP3 form to out.
//
// Keys appends the key arguments of the write command args to dst (none for
// a keyless command such as FLUSHALL, or an unknown one) and returns dst. The
// FSM calls it on the FSM goroutine to check slot ownership before Exec; it
// must be deterministic and should not allocate beyond growing dst.
//
// Exec's st is the database the command runs in (shard.Store.DB of the
// FSM's store): database 0, the FSM's store itself, unless the entry names
// another. A command that acts on other databases (MOVE, SWAPDB, FLUSHALL)
// reaches them through st.DB.
type Executor interface {
	Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte
	Keys(args [][]byte, dst [][]byte) [][]byte
}

// Result is the outcome of applying one command entry: the replies of its
// commands, concatenated. Reply i is Replies[Ends[i-1]:Ends[i]] (Ends[-1] = 0).
// A Result is immutable once returned.
type Result struct {
	Replies []byte
	Ends    []int

	// Inline room for the replies and ends of a small entry (a few
	// commands with short replies, the common entry at -P 1): the Result
	// is then its only allocation, on every replica.
	ends    [4]int
	replies [32]byte
}

// newResult returns an empty Result with room for n commands' ends and,
// at 8 bytes a command (a write's reply is mostly +OK or a short integer),
// their replies: an entry of a pipelined batch otherwise grew its replies
// by doubling, an allocation and a copy at each step.
func newResult(n int) *Result {
	r := new(Result)
	if n*8 <= len(r.replies) {
		r.Replies = r.replies[:0]
	} else {
		r.Replies = make([]byte, 0, n*8)
	}
	if n <= len(r.ends) {
		r.Ends = r.ends[:0]
	} else {
		r.Ends = make([]int, 0, n)
	}
	return r
}

// Reply returns the reply of command i.
func (r *Result) Reply(i int) []byte {
	start := 0
	if i > 0 {
		start = r.Ends[i-1]
	}
	return r.Replies[start:r.Ends[i]]
}

// FSM is the replicated state machine of one shard group: the in-memory store
// of its slots. It implements raft.BatchingFSM.
//
// An entry the FSM cannot apply (unknown type or version, or malformed; see
// codec.go) halts it: it logs one error line, applies nothing from then on
// (every later command log's result is ErrHalted, and Snapshot and Restore
// fail), and calls the halt callback, with which a Group shuts itself down.
// Skipping the entry instead would let this replica silently diverge from
// the others.
//
// ApplyBatch, Apply, Snapshot and Restore are called by raft from its FSM
// goroutine, one at a time. The FSMSnapshot returned by Snapshot is persisted
// on another goroutine concurrently with later ApplyBatch calls; it reads a
// shard.View, which stays consistent while the store changes.
type FSM struct {
	store *shard.Store
	exec  Executor
	log   *slog.Logger

	// now is the largest entry clock applied so far (milliseconds). Entries
	// apply at max(now, entry's clock), so time never goes backwards across
	// leader changes. Only the FSM goroutine writes it.
	now atomic.Int64
	dec Decoded
	// pfKeys is prefetch's buffer, reused by the FSM goroutine.
	pfKeys  [][]byte
	applied atomic.Uint64
	// logBytes counts the bytes of command entries applied since the last
	// snapshot; the group compacts the log when it outgrows the data.
	logBytes atomic.Int64
	// logEntries counts the command entries applied since the last
	// snapshot: with logBytes, their mean size, which bounds the log kept
	// after a snapshot in bytes (Config.TrailingBytes).
	logEntries atomic.Int64

	// halted is set, by the FSM goroutine, once an entry could not be
	// applied. onHalt, set before raft starts, is then called once on a new
	// goroutine.
	halted atomic.Bool
	onHalt func()
	// snapStats, set before raft starts (nil outside a Group), records
	// the snapshots persisted (metrics.go).
	snapStats *snapshotStats
	// snaps, set before raft starts (nil outside a Group), is the group's
	// snapshot store: Restore names the snapshot it restored from it.
	snaps raft.SnapshotStore
	// restoreFailed is set when the last Restore failed, so that the next
	// one does not name a snapshot raft may have skipped (FSM goroutine).
	restoreFailed bool

	// owner is the group's slot ownership (see ownership.go): replaced
	// whole, only by the FSM goroutine; read lock-free by anyone.
	owner atomic.Pointer[ownership]
	// mig is the group's slot migration jobs and the ids of those that
	// ended (see migrate.go), nil until one starts: replaced whole, only by
	// the FSM goroutine.
	mig atomic.Pointer[migState]
	// curIndex is the index of the entry being applied (FSM goroutine).
	curIndex uint64
	// keys is the FSM goroutine's buffer for a command's keys.
	keys [][]byte
	// hook, when set, is told the keys applied entries change
	// (changes.go); set by anyone, read by the FSM goroutine.
	hook atomic.Pointer[hookBox]
	// txi is the change index for WATCH (txapply.go), nil until the first
	// Transaction entry: FSM goroutine, under the store's write lock.
	txi *txIndex
	// scr is the script cache (script.go).
	scr scriptState
	// fn is the function library registry (function.go).
	fn functionState
}

// Halted reports whether the FSM stopped applying entries (see FSM).
func (f *FSM) Halted() bool { return f.halted.Load() }

// LogBytesSinceSnapshot returns the bytes of command entries applied since
// the last snapshot was taken.
func (f *FSM) LogBytesSinceSnapshot() int64 { return f.logBytes.Load() }

// LogEntriesSinceSnapshot returns the number of command entries applied
// since the last snapshot. Safe to call from any goroutine.
func (f *FSM) LogEntriesSinceSnapshot() int64 { return f.logEntries.Load() }

// NewFSM returns an FSM over store. It owns every slot at epoch 0 until a
// SetOwnership entry or a snapshot says otherwise.
func NewFSM(store *shard.Store, exec Executor, log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FSM{store: store, exec: exec, log: log}
	f.owner.Store(newOwnership(0, nil))
	return f
}

// Store returns the FSM's store.
func (f *FSM) Store() *shard.Store { return f.store }

// Now returns the FSM clock: the largest leader clock applied (milliseconds).
func (f *FSM) Now() int64 { return f.now.Load() }

// AppliedIndex returns the index of the last log entry applied.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM. The result for each command log is
// a *Result for a Commands entry, an int (the keys deleted) for an Expire or
// Evict entry, an OwnershipResult for SetOwnership, a migration result for a
// migration entry (migrate.go), or an error: the reason the FSM halted, or
// ErrHalted.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	f.store.Lock()
	defer f.store.Unlock()
	for i, l := range logs {
		if f.halted.Load() {
			if l.Type == raft.LogCommand {
				out[i] = ErrHalted
			}
			continue
		}
		if l.Type == raft.LogCommand {
			f.logBytes.Add(int64(len(l.Data)))
			f.logEntries.Add(1)
			if len(l.Data) > 0 && entryType(l.Data[0]) == entryScript {
				// Script entries have their own codec (codec_script.go).
				f.curIndex = l.Index
				res := f.applyScript(l.Data)
				if err, ok := res.(error); ok {
					f.dec.typ, f.dec.version = entryScript, 0
					if len(l.Data) > 1 {
						f.dec.version = l.Data[1]
					}
					f.halt(l, err)
					out[i] = err
					continue
				}
				out[i] = res
				f.applied.Store(l.Index)
				continue
			}
			if err := decodeEntry(l.Data, &f.dec); err != nil {
				f.halt(l, err)
				out[i] = err
				continue
			}
			f.curIndex = l.Index
			res := f.applyEntry(&f.dec)
			if err, ok := res.(error); ok {
				f.halt(l, err)
				out[i] = err
				continue
			}
			out[i] = res
		}
		f.applied.Store(l.Index)
	}
	return out
}

// prefetch asks the store for the memory of the first keys of d's commands
// (prefetchKeys) before they run one after another
// (shard.Store.Prefetch). Called by the FSM goroutine, which holds the
// store's lock.
func (f *FSM) prefetch(d *Decoded) {
	keys := prefetchKeys(d, f.pfKeys[:0])
	if len(keys) > 1 {
		f.store.Prefetch(keys)
	}
	clear(keys)
	f.pfKeys = keys[:0]
}

// prefetchKeys appends to dst argument 1 of each of d's commands in
// database 0 that has one: the first key of nearly every keyed command. A
// guess that is not a key (PING's message, a keyless command's argument)
// costs a prefetch of a few cache lines and nothing else.
func prefetchKeys(d *Decoded, dst [][]byte) [][]byte {
	for i, args := range d.Cmds {
		if len(args) > 1 && d.DB(i) == 0 {
			dst = append(dst, args[1])
		}
	}
	return dst
}

// halt stops the FSM on the entry l, which failed to decode with err.
func (f *FSM) halt(l *raft.Log, err error) {
	f.halted.Store(true)
	typ, ver := int(f.dec.typ), int(f.dec.version)
	if errors.Is(err, ErrUnknownEntry) {
		f.log.Error("log entry of unknown type or version: this replica cannot apply entries written by a newer Shoal; stopping the group",
			"index", l.Index, "type", typ, "version", ver)
	} else {
		f.log.Error("malformed log entry: this replica cannot apply it; stopping the group",
			"index", l.Index, "type", typ, "version", ver, "err", err)
	}
	if f.onHalt != nil {
		// Not here: raft's Shutdown waits for this goroutine.
		go f.onHalt()
	}
}

// advance moves the FSM clock to the entry's clock unless that is behind,
// and returns the clock the entry applies at.
func (f *FSM) advance(now int64) int64 {
	if prev := f.now.Load(); now < prev {
		return prev
	}
	f.now.Store(now)
	return now
}

// applyEntry applies a decoded entry. Caller holds the store's Lock.
func (f *FSM) applyEntry(d *Decoded) interface{} {
	switch d.typ {
	case entryCommands, entryLegacyCommands:
		now := f.advance(d.Now)
		own, mig := f.owner.Load(), f.mig.Load()
		hook := f.changeHook()
		res := newResult(len(d.Cmds))
		if len(d.Cmds) > 1 {
			f.prefetch(d)
		}
		for i, args := range d.Cmds {
			if d.legacy && len(args[0]) > 0 && args[0][0] == 0 {
				res.Replies = f.applyLegacyOp(now, args, res.Replies)
				if hook != nil {
					hook.AllChanged() // rare: logs from before typed entries
				}
				f.markAll()
			} else if slot := f.refused(own, mig, args); slot >= 0 {
				res.Replies = appendNotOwner(res.Replies, slot)
			} else if slot == refusedKeyless {
				res.Replies = append(res.Replies, migrationKeylessReply...)
			} else {
				st := f.store
				if db := d.DB(i); db != 0 {
					st = st.DB(db)
				}
				var mods uint64
				if hook != nil || f.txi != nil {
					mods = f.store.Mods()
				}
				res.Replies = f.exec.Exec(st, now, args, res.Replies)
				if hook != nil {
					f.notifyCommand(hook, args, f.store.Mods() != mods)
				}
				if f.txi != nil && f.store.Mods() != mods {
					f.markCommand(d.DB(i), args) // WATCH (txapply.go)
				}
			}
			res.Ends = append(res.Ends, len(res.Replies))
		}
		return res
	case entryExpire:
		now := f.advance(d.Now)
		fen := f.fencedSlots()
		st := f.store.DB(d.db)
		hook := f.changeHook()
		n := 0
		for i, k := range d.keys {
			if fen != nil && fen.Has(shard.Slot(k)) {
				continue // fenced: nothing changes after the fence
			}
			var changed bool
			if d.expireAt[i] == 0 {
				changed = st.ExpireFields(k, now) > 0 // hash fields (codec.go)
			} else {
				changed = st.Expire(k, d.expireAt[i], now)
			}
			if changed {
				n++
				f.markKey(d.db, k)
				if hook != nil {
					hook.KeysChanged(d.keys[i : i+1])
				}
			}
		}
		return n
	case entryEvict:
		fen := f.fencedSlots()
		st := f.store.DB(d.db)
		hook := f.changeHook()
		n := 0
		for i, k := range d.keys {
			if fen != nil && fen.Has(shard.Slot(k)) {
				continue
			}
			if st.Evict(k) {
				n++
				f.markKey(d.db, k)
				if hook != nil {
					hook.KeysChanged(d.keys[i : i+1])
				}
			}
		}
		return n
	case entrySetOwnership:
		f.markAll()
		return f.applyOwnership(d)
	case entryMigrateOut, entryFence, entryIngestReset, entryIngest, entryMigrateEnd:
		f.markAll()
		return f.applyMigration(d, f.curIndex)
	case entryTransaction:
		return f.applyTx(d)
	}
	// decodeEntry returns no other type; if it did, applying nothing and
	// halting is the only safe answer.
	return ErrUnknownEntry
}

// applyLegacyOp applies an internal command of a legacy commands entry.
func (f *FSM) applyLegacyOp(now int64, args [][]byte, out []byte) []byte {
	switch string(args[0]) {
	case string(opExpire):
		n := int64(0)
		if len(args) == 3 && len(args[2]) == 8 {
			if f.store.Expire(args[1], int64(binary.BigEndian.Uint64(args[2])), now) {
				n = 1
			}
		}
		return resp.AppendInt(out, n)
	case string(opEvict):
		n := int64(0)
		for _, k := range args[1:] {
			if f.store.Evict(k) {
				n++
			}
		}
		return resp.AppendInt(out, n)
	}
	return append(out, "-ERR unknown internal command\r\n"...)
}

// Snapshot implements raft.FSM: it opens a shard.View in O(slots) time, and
// copies the dirty indexes of running migration jobs (O(dirty keys): the
// only state that is neither copy-on-write nor immutable). A halted FSM
// refuses: raft would label the snapshot with entries it did not apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	if f.halted.Load() {
		return nil, ErrHalted
	}
	var meta snapshot.Meta
	f.store.Lock()
	v := f.store.Snapshot()
	dataBytes := f.store.Bytes()
	f.snapshotMigrations(&meta)
	f.snapshotTx(&meta)                                                  // WATCH's change index, in meta.Extra (txapply.go)
	meta.Extra = snapshot.AppendScripts(meta.Extra, f.Scripts())         // script.go
	meta.Extra = snapshot.AppendFunctions(meta.Extra, f.FunctionCodes()) // function.go
	f.store.Unlock()
	f.logBytes.Store(0)
	f.logEntries.Store(0)
	meta.Now, meta.Seq = f.now.Load(), v.Seq()
	o := f.owner.Load()
	meta.Epoch = o.epoch
	if !o.all {
		meta.Slots = &o.slots // immutable
	}
	return &fsmSnapshot{view: v, meta: meta, dataBytes: dataBytes, keys: v.TotalKeys(), stats: f.snapStats, log: f.log}, nil
}

// Restore implements raft.FSM: it loads the snapshot into a fresh store and
// swaps it in, so readers never see a half-loaded store. It logs one
// "snapshot restored" line (or "snapshot restore failed").
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if f.halted.Load() {
		return ErrHalted
	}
	start := time.Now()
	fresh := shard.New()
	meta, err := snapshot.Read(rc, fresh)
	var txi *txIndex
	var scripts, libs [][]byte
	if err == nil {
		txi, err = restoreTx(&meta) // WATCH's change index (txapply.go)
	}
	if err == nil {
		scripts, err = snapshot.ReadScripts(meta.Extra) // the script cache (script.go)
	}
	if err == nil {
		libs, err = snapshot.ReadFunctions(meta.Extra) // the function libraries (function.go)
	}
	if err != nil {
		f.restoreFailed = true
		f.log.Error("snapshot restore failed", "err", err)
		return err
	}
	attrs := make([]any, 0, 10)
	term, index, known := LatestSnapshot(f.snaps)
	known = known && !f.restoreFailed
	if known {
		attrs = append(attrs, "index", index, "term", term)
	}
	f.restoreFailed = false
	attrs = append(attrs, "keys", fresh.TotalLen(), "epoch", meta.Epoch, "took", time.Since(start).String())
	f.store.Lock()
	f.store.ReplaceWith(fresh)
	f.now.Store(meta.Now)
	// A snapshot from before ownership existed has Slots nil: every slot.
	f.owner.Store(newOwnership(meta.Epoch, meta.Slots))
	// One from before migrations (version 1 or 2) has no jobs.
	f.restoreMigrations(&meta)
	f.txi = txi
	f.RestoreScripts(scripts)
	f.RestoreFunctions(libs)
	if known {
		// The state is the snapshot's now: AppliedIndex (CLUSTER SHARDS'
		// offset, WATCH's mark) must not wait for the next entry.
		f.applied.Store(index)
	}
	f.notifyAll()
	f.store.Unlock()
	f.log.Info("snapshot restored", attrs...)
	return nil
}

type fsmSnapshot struct {
	view *shard.View
	meta snapshot.Meta
	// dataBytes is the store's accounted bytes when the view was taken.
	dataBytes int64
	keys      int64
	stats     *snapshotStats
	log       *slog.Logger
}

// Persist implements raft.FSMSnapshot. It runs concurrently with Apply. An
// in-memory snapshot store takes the view itself instead of its bytes.
// A snapshot persisted is logged as one "snapshot taken" line.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	if vs, ok := sink.(viewSink); ok {
		vs.setView(s.view, s.meta)
		s.view = nil // owned by the store now
		err := sink.Close()
		s.stats.record(start, s.dataBytes, err)
		s.logTaken(sink.ID(), s.dataBytes, start, err)
		return err
	}
	cs := &countingSink{SnapshotSink: sink}
	if err := snapshot.Write(cs, s.view, s.meta); err != nil {
		sink.Cancel()
		s.stats.record(start, 0, err)
		return err
	}
	err := sink.Close()
	s.stats.record(start, cs.n, err)
	s.logTaken(sink.ID(), cs.n, start, err)
	return err
}

// logTaken logs a snapshot persisted without error: its raft index and
// term, its keys, its bytes (written; for an in-memory group, which keeps
// the view itself, the data's accounted bytes) and the time Persist took.
// A failure is raft's to log (it fails the snapshot).
func (s *fsmSnapshot) logTaken(id string, bytes int64, start time.Time, err error) {
	if err != nil || s.log == nil {
		return
	}
	attrs := make([]any, 0, 12)
	if term, index, ok := ParseSnapshotID(id); ok {
		attrs = append(attrs, "index", index, "term", term)
	}
	attrs = append(attrs, "keys", s.keys, "bytes", bytes, "epoch", s.meta.Epoch, "took", time.Since(start).String())
	s.log.Info("snapshot taken", attrs...)
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {
	if s.view != nil {
		s.view.Release()
	}
}

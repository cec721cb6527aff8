package raftfsm

import (
	"encoding/binary"
	"io"
	"log/slog"
	"sync/atomic"

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
type Executor interface {
	Exec(st *shard.Store, now int64, args [][]byte, out []byte) []byte
}

// Internal commands the leader proposes for expiry and eviction. The front
// end never proposes a user command whose name starts with a NUL byte.
var (
	opExpire = []byte("\x00expire") // key, expireAt (8 bytes big endian)
	opEvict  = []byte("\x00evict")  // key...
)

// Result is the outcome of applying one command entry: the replies of its
// commands, concatenated. Reply i is Replies[Ends[i-1]:Ends[i]] (Ends[-1] = 0).
// A Result is immutable once returned.
type Result struct {
	Replies []byte
	Ends    []int
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
	now     atomic.Int64
	dec     Decoded
	applied atomic.Uint64
	// logBytes counts the bytes of command entries applied since the last
	// snapshot; the group compacts the log when it outgrows the data.
	logBytes atomic.Int64
}

// LogBytesSinceSnapshot returns the bytes of command entries applied since
// the last snapshot was taken.
func (f *FSM) LogBytesSinceSnapshot() int64 { return f.logBytes.Load() }

// NewFSM returns an FSM over store.
func NewFSM(store *shard.Store, exec Executor, log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &FSM{store: store, exec: exec, log: log}
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

// ApplyBatch implements raft.BatchingFSM. It returns a *Result, or an error
// for an entry that could not be decoded, for each command log.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	f.store.Lock()
	defer f.store.Unlock()
	for i, l := range logs {
		f.applied.Store(l.Index)
		if l.Type != raft.LogCommand {
			continue
		}
		f.logBytes.Add(int64(len(l.Data)))
		if err := DecodeCommands(l.Data, &f.dec); err != nil {
			f.log.Error("skipping malformed log entry", "index", l.Index, "error", err)
			out[i] = err
			continue
		}
		now := f.dec.Now
		if prev := f.now.Load(); now < prev {
			now = prev
		} else {
			f.now.Store(now)
		}
		res := &Result{Ends: make([]int, 0, len(f.dec.Cmds))}
		for _, args := range f.dec.Cmds {
			res.Replies = f.applyOne(now, args, res.Replies)
			res.Ends = append(res.Ends, len(res.Replies))
		}
		out[i] = res
	}
	return out
}

func (f *FSM) applyOne(now int64, args [][]byte, out []byte) []byte {
	if len(args[0]) > 0 && args[0][0] == 0 {
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
	return f.exec.Exec(f.store, now, args, out)
}

// Snapshot implements raft.FSM: it opens a shard.View in O(slots) time.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.store.Lock()
	v := f.store.Snapshot()
	f.store.Unlock()
	f.logBytes.Store(0)
	return &fsmSnapshot{view: v, meta: snapshot.Meta{Now: f.now.Load(), Seq: v.Seq()}}, nil
}

// Restore implements raft.FSM: it loads the snapshot into a fresh store and
// swaps it in, so readers never see a half-loaded store.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	fresh := shard.New()
	meta, err := snapshot.Read(rc, fresh)
	if err != nil {
		f.log.Error("snapshot restore failed", "error", err)
		return err
	}
	f.store.Lock()
	f.store.ReplaceWith(fresh)
	f.store.Unlock()
	f.now.Store(meta.Now)
	return nil
}

type fsmSnapshot struct {
	view *shard.View
	meta snapshot.Meta
}

// Persist implements raft.FSMSnapshot. It runs concurrently with Apply. An
// in-memory snapshot store takes the view itself instead of its bytes.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if vs, ok := sink.(viewSink); ok {
		vs.setView(s.view, s.meta)
		s.view = nil // owned by the store now
		return sink.Close()
	}
	if err := snapshot.Write(sink, s.view, s.meta); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {
	if s.view != nil {
		s.view.Release()
	}
}

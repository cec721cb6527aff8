package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/shard"
	"github.com/shoalcache/shoal/snapshot"
)

// viewStore is the snapshot store of a group without a data directory. It
// keeps only the latest snapshot and, for snapshots the local FSM takes, it
// keeps the copy-on-write shard.View itself instead of a serialized copy:
// the bytes are produced only when the snapshot is opened (to send it to a
// lagging follower), so an in-memory node does not hold a second copy of its
// data. Snapshots received from a leader arrive as bytes and are kept as
// bytes.
//
// Methods are called by raft's snapshot and FSM goroutines and by the
// replication goroutines that send snapshots; all are safe for concurrent use.
//
// A store made with discard keeps no view: for a group that has one
// replica for its whole life (a standalone node in memory), no follower
// will ever need a snapshot, and an open view makes every write after a
// snapshot copy the slot map and the entry it touches (copy-on-write), the
// garbage that fragments the heap under churn. The snapshot then only
// marks the point up to which raft may compact the log.
type viewStore struct {
	mu      sync.Mutex
	latest  *memSnap
	discard bool
}

// memSnap is one stored snapshot: a view or bytes. refs counts the store's
// own reference plus open readers; the view is released at zero.
type memSnap struct {
	meta raft.SnapshotMeta
	view *shard.View
	fsm  snapshot.Meta
	data []byte
	refs int
	// discarded: the view was released at once (viewStore.discard); the
	// snapshot cannot be opened.
	discarded bool
}

func newViewStore() *viewStore { return &viewStore{} }

// viewSink is implemented by sinks that accept a view in place of bytes.
type viewSink interface {
	setView(v *shard.View, meta snapshot.Meta)
}

// Create implements raft.SnapshotStore.
func (s *viewStore) Create(version raft.SnapshotVersion, index, term uint64, configuration raft.Configuration,
	configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("raftfsm: unsupported snapshot version %d", version)
	}
	return &storeSink{store: s, snap: &memSnap{refs: 1, meta: raft.SnapshotMeta{
		Version:            version,
		ID:                 fmt.Sprintf("%d-%d-%d", term, index, time.Now().UnixMilli()),
		Index:              index,
		Term:               term,
		Configuration:      configuration,
		ConfigurationIndex: configurationIndex,
	}}}, nil
}

// List implements raft.SnapshotStore.
func (s *viewStore) List() ([]*raft.SnapshotMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.latest == nil {
		return nil, nil
	}
	m := s.latest.meta
	return []*raft.SnapshotMeta{&m}, nil
}

// Open implements raft.SnapshotStore. A view snapshot is serialized on the
// fly; its size is computed first by a counting pass, since raft sends it
// ahead of the data.
func (s *viewStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	s.mu.Lock()
	snap := s.latest
	if snap == nil || snap.meta.ID != id {
		s.mu.Unlock()
		return nil, nil, fmt.Errorf("raftfsm: snapshot %s not found", id)
	}
	snap.refs++
	s.mu.Unlock()
	meta := snap.meta
	if snap.discarded {
		s.unref(snap)
		return nil, nil, fmt.Errorf("raftfsm: snapshot %s was not kept (a sole replica keeps none)", id)
	}
	if snap.view == nil {
		s.unref(snap)
		return &meta, io.NopCloser(bytes.NewReader(snap.data)), nil
	}
	var cw countingWriter
	if err := snapshot.Write(&cw, snap.view, snap.fsm); err != nil {
		s.unref(snap)
		return nil, nil, err
	}
	meta.Size = cw.n
	pr, pw := io.Pipe()
	go func() {
		err := snapshot.Write(pw, snap.view, snap.fsm)
		s.unref(snap)
		pw.CloseWithError(err)
	}()
	return &meta, pr, nil
}

func (s *viewStore) unref(snap *memSnap) {
	s.mu.Lock()
	snap.refs--
	release := snap.refs == 0 && snap.view != nil
	s.mu.Unlock()
	if release {
		snap.view.Release()
	}
}

func (s *viewStore) install(snap *memSnap) {
	s.mu.Lock()
	old := s.latest
	s.latest = snap
	s.mu.Unlock()
	if old != nil {
		s.unref(old)
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// storeSink collects one snapshot.
type storeSink struct {
	store *viewStore
	snap  *memSnap
	buf   bytes.Buffer
	done  bool
}

// setView hands the sink a view: the snapshot will be the view itself.
func (k *storeSink) setView(v *shard.View, meta snapshot.Meta) {
	k.snap.view, k.snap.fsm = v, meta
	k.snap.meta.Size = v.TotalKeys() // an estimate until opened
}

// Write implements io.Writer, for snapshots received from a leader.
func (k *storeSink) Write(p []byte) (int, error) { return k.buf.Write(p) }

// ID implements raft.SnapshotSink.
func (k *storeSink) ID() string { return k.snap.meta.ID }

// Close implements raft.SnapshotSink: the snapshot becomes the latest.
func (k *storeSink) Close() error {
	if k.done {
		return nil // raft closes again after Persist did
	}
	k.done = true
	if k.snap.view != nil && k.store.discard {
		k.snap.view.Release()
		k.snap.view, k.snap.discarded = nil, true
	} else if k.snap.view == nil {
		k.snap.data = k.buf.Bytes()
		k.snap.meta.Size = int64(len(k.snap.data))
	}
	k.store.install(k.snap)
	return nil
}

// Cancel implements raft.SnapshotSink.
func (k *storeSink) Cancel() error {
	if !k.done && k.snap.view != nil {
		k.snap.view.Release()
	}
	k.done = true
	return nil
}

// ParseSnapshotID returns the term and index a raft snapshot id names.
// raft's file and in-memory snapshot stores name a snapshot
// "term-index-milliseconds" (raft's snapshotName), and viewStore does the
// same; ok is false for an id of another form. Logging uses it: raft gives
// the FSM's Persist only the sink, whose ID is all it says of the snapshot.
func ParseSnapshotID(id string) (term, index uint64, ok bool) {
	parts := strings.Split(id, "-")
	if len(parts) != 3 {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(parts[0], 10, 64)
	index, err2 := strconv.ParseUint(parts[1], 10, 64)
	_, err3 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return term, index, true
}

// LatestSnapshot returns the term and index of the newest snapshot in
// store (ok false when there is none, store is nil or List fails). It is
// the snapshot raft restores, at start and after receiving one from a
// leader, unless restoring it failed and raft fell back to an older one.
func LatestSnapshot(store raft.SnapshotStore) (term, index uint64, ok bool) {
	if store == nil {
		return 0, 0, false
	}
	list, err := store.List()
	if err != nil || len(list) == 0 {
		return 0, 0, false
	}
	return list[0].Term, list[0].Index, true
}

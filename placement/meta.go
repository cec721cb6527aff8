package placement

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/raftfsm"
)

// Meta log operations.
const (
	// opInit sets the first map; it applies only while there is none.
	opInit = "init"
	// opSet replaces the map; it applies only when Expect is the current
	// epoch and the new map's epoch is Expect+1.
	opSet = "set"
)

// metaCommand is one meta log entry, as JSON:
// {"op":"init"|"set","expect":<epoch>,"map":{...}}.
type metaCommand struct {
	Op     string `json:"op"`
	Expect uint64 `json:"expect"`
	Map    *Map   `json:"map"`
}

// metaSnapshotData is the JSON form of a meta snapshot; Map is null before
// the cluster is initialised. Version is metaSnapshotVersion; snapshots
// written before it existed have none (version 1) and restore alike.
// Version 2 added the map's ACL users (Map.ACL, absent in version 1).
type metaSnapshotData struct {
	Version int  `json:"version,omitempty"`
	Map     *Map `json:"map"`
}

// metaSnapshotVersion is the meta snapshot format this node writes; it
// restores this one and every older one.
const metaSnapshotVersion = 2

// metaFSM is the meta group's state machine: its state is the current *Map
// (nil before init). Maps are immutable, so a snapshot only captures the
// pointer.
//
// Apply, Snapshot and Restore are called by raft on its FSM goroutine only
// (and Restore once during raft.NewRaft, before that goroutine starts), so
// cur needs no lock. Every map the FSM adopts is handed to publish on that
// goroutine; publish must be quick and must not call back into raft.
//
// Snapshots taken and restored are logged ("snapshot taken", "snapshot
// restored", group "meta") to log, set before raft starts; snaps, likewise,
// is the meta snapshot store, from which Restore names the snapshot it
// restored (nil: unnamed).
type metaFSM struct {
	cur     *Map
	publish func(*Map)
	log     *slog.Logger
	snaps   raft.SnapshotStore
	// restoreFailed is set when the last Restore failed (see raftfsm.FSM).
	restoreFailed bool
}

func newMetaFSM(publish func(*Map)) *metaFSM {
	if publish == nil {
		publish = func(*Map) {}
	}
	return &metaFSM{publish: publish, log: slog.New(slog.DiscardHandler)}
}

// Apply implements raft.FSM. It returns nil when the entry changed the
// map, or an error wrapping ErrMapExists, ErrEpochMismatch, ErrBadCommand or
// ErrBadMap when it changed nothing. The outcome depends only on the state
// and the entry, so every replica agrees.
func (f *metaFSM) Apply(l *raft.Log) interface{} {
	var cmd metaCommand
	if err := json.Unmarshal(l.Data, &cmd); err != nil {
		// Map.UnmarshalJSON validates: an invalid map lands here too.
		return fmt.Errorf("%w: index %d: %v", ErrBadCommand, l.Index, err)
	}
	if cmd.Map == nil {
		return fmt.Errorf("%w: index %d: no map", ErrBadCommand, l.Index)
	}
	switch cmd.Op {
	case opInit:
		if f.cur != nil {
			return fmt.Errorf("%w: epoch %d", ErrMapExists, f.cur.Epoch)
		}
		if cmd.Map.Epoch == 0 {
			return fmt.Errorf("%w: initial map has epoch 0", ErrBadMap)
		}
	case opSet:
		if f.cur == nil {
			return ErrNoMap
		}
		if cmd.Expect != f.cur.Epoch {
			return fmt.Errorf("%w: expected %d, current %d", ErrEpochMismatch, cmd.Expect, f.cur.Epoch)
		}
		if cmd.Map.Epoch != cmd.Expect+1 {
			return fmt.Errorf("%w: new epoch %d after %d", ErrBadMap, cmd.Map.Epoch, cmd.Expect)
		}
	default:
		return fmt.Errorf("%w: index %d: unknown op %q", ErrBadCommand, l.Index, cmd.Op)
	}
	f.cur = cmd.Map
	f.publish(cmd.Map)
	return nil
}

// Snapshot implements raft.FSM: it captures the current map pointer.
func (f *metaFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &metaSnapshot{m: f.cur, log: f.log}, nil
}

// Restore implements raft.FSM: it replaces the state with the snapshot's.
func (f *metaFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	start := time.Now()
	var d metaSnapshotData
	err := json.NewDecoder(rc).Decode(&d)
	if err == nil && d.Version > metaSnapshotVersion {
		err = fmt.Errorf("format version %d, this node reads up to %d", d.Version, metaSnapshotVersion)
	}
	if err != nil {
		f.restoreFailed = true
		f.log.Error("snapshot restore failed", "group", metaStream, "err", err)
		return fmt.Errorf("placement: restore meta snapshot: %w", err)
	}
	f.cur = d.Map
	if d.Map != nil {
		f.publish(d.Map)
	}
	attrs := []any{"group", metaStream}
	if term, index, ok := raftfsm.LatestSnapshot(f.snaps); ok && !f.restoreFailed {
		attrs = append(attrs, "index", index, "term", term)
	}
	f.restoreFailed = false
	attrs = append(attrs, mapAttrs(d.Map)...)
	f.log.Info("snapshot restored", append(attrs, "took", time.Since(start).String())...)
	return nil
}

// mapAttrs returns the log attributes of a snapshot's map: its epoch, nodes
// and groups (all 0 before the cluster has a map).
func mapAttrs(m *Map) []any {
	if m == nil {
		return []any{"epoch", 0, "nodes", 0, "groups", 0}
	}
	return []any{"epoch", m.Epoch, "nodes", len(m.Nodes), "groups", len(m.Groups)}
}

// metaSnapshot is a point-in-time meta state. Persist runs on a raft
// goroutine, concurrently with later Applies; the map it holds is
// immutable.
type metaSnapshot struct {
	m   *Map
	log *slog.Logger
}

// Persist implements raft.FSMSnapshot. A snapshot persisted is logged as
// one "snapshot taken" line (failures are raft's to log).
func (s *metaSnapshot) Persist(sink raft.SnapshotSink) error {
	start := time.Now()
	b, err := json.Marshal(metaSnapshotData{Version: metaSnapshotVersion, Map: s.m})
	if err == nil {
		_, err = sink.Write(b)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	attrs := []any{"group", metaStream}
	if term, index, ok := raftfsm.ParseSnapshotID(sink.ID()); ok {
		attrs = append(attrs, "index", index, "term", term)
	}
	attrs = append(attrs, mapAttrs(s.m)...)
	s.log.Info("snapshot taken", append(attrs, "bytes", len(b), "took", time.Since(start).String())...)
	return nil
}

// Release implements raft.FSMSnapshot.
func (s *metaSnapshot) Release() {}

// encodeCommand returns the log entry for cmd.
func encodeCommand(cmd metaCommand) ([]byte, error) {
	return json.Marshal(cmd)
}

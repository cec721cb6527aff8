package placement

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
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
// the cluster is initialised.
type metaSnapshotData struct {
	Map *Map `json:"map"`
}

// metaFSM is the meta group's state machine: its state is the current *Map
// (nil before init). Maps are immutable, so a snapshot only captures the
// pointer.
//
// Apply, Snapshot and Restore are called by raft on its FSM goroutine only
// (and Restore once during raft.NewRaft, before that goroutine starts), so
// cur needs no lock. Every map the FSM adopts is handed to publish on that
// goroutine; publish must be quick and must not call back into raft.
type metaFSM struct {
	cur     *Map
	publish func(*Map)
}

func newMetaFSM(publish func(*Map)) *metaFSM {
	if publish == nil {
		publish = func(*Map) {}
	}
	return &metaFSM{publish: publish}
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
	return &metaSnapshot{m: f.cur}, nil
}

// Restore implements raft.FSM: it replaces the state with the snapshot's.
func (f *metaFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var d metaSnapshotData
	if err := json.NewDecoder(rc).Decode(&d); err != nil {
		return fmt.Errorf("placement: restore meta snapshot: %w", err)
	}
	f.cur = d.Map
	if d.Map != nil {
		f.publish(d.Map)
	}
	return nil
}

// metaSnapshot is a point-in-time meta state. Persist runs on a raft
// goroutine, concurrently with later Applies; the map it holds is
// immutable.
type metaSnapshot struct {
	m *Map
}

// Persist implements raft.FSMSnapshot.
func (s *metaSnapshot) Persist(sink raft.SnapshotSink) error {
	b, err := json.Marshal(metaSnapshotData{Map: s.m})
	if err == nil {
		_, err = sink.Write(b)
	}
	if err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *metaSnapshot) Release() {}

// encodeCommand returns the log entry for cmd.
func encodeCommand(cmd metaCommand) ([]byte, error) {
	return json.Marshal(cmd)
}

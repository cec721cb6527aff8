package placement

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// applyCmd applies cmd to f as log entry index and returns the result.
func applyCmd(t *testing.T, f *metaFSM, index uint64, cmd metaCommand) error {
	t.Helper()
	b, err := encodeCommand(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return applyRaw(f, index, b)
}

func applyRaw(f *metaFSM, index uint64, data []byte) error {
	res := f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	if res == nil {
		return nil
	}
	return res.(error)
}

func nextMap(t *testing.T, m *Map) *Map {
	t.Helper()
	n := m.Clone()
	n.Epoch = m.Epoch + 1
	n.Slots[0] = int16((int(n.Slots[0]) + 1) % len(n.Groups))
	return n
}

func TestMetaFSMApply(t *testing.T) {
	var published []*Map
	f := newMetaFSM(func(m *Map) { published = append(published, m) })
	m1, err := InitialMap(testNodes(3), 3, 3)
	if err != nil {
		t.Fatal(err)
	}

	// set before init changes nothing.
	if err := applyCmd(t, f, 1, metaCommand{Op: opSet, Expect: 0, Map: nextMap(t, m1)}); !errors.Is(err, ErrNoMap) {
		t.Fatalf("set before init: %v", err)
	}
	if err := applyCmd(t, f, 2, metaCommand{Op: opInit, Map: m1}); err != nil {
		t.Fatalf("init: %v", err)
	}
	if f.cur == nil || f.cur.Epoch != 1 || len(published) != 1 || !reflect.DeepEqual(published[0], m1) {
		t.Fatalf("after init: cur %v, published %d", f.cur, len(published))
	}
	// A second init is a no-op.
	other, _ := InitialMap(testNodes(4), 2, 2)
	if err := applyCmd(t, f, 3, metaCommand{Op: opInit, Map: other}); !errors.Is(err, ErrMapExists) {
		t.Fatalf("second init: %v", err)
	}
	m2 := nextMap(t, m1)
	if err := applyCmd(t, f, 4, metaCommand{Op: opSet, Expect: 1, Map: m2}); err != nil {
		t.Fatalf("set: %v", err)
	}
	if f.cur.Epoch != 2 || len(published) != 2 {
		t.Fatalf("after set: epoch %d, published %d", f.cur.Epoch, len(published))
	}
	// CAS mismatch: a stale expect changes nothing.
	if err := applyCmd(t, f, 5, metaCommand{Op: opSet, Expect: 1, Map: nextMap(t, m1)}); !errors.Is(err, ErrEpochMismatch) {
		t.Fatalf("stale set: %v", err)
	}
	// The new map must be exactly one epoch ahead.
	skip := nextMap(t, m2)
	skip.Epoch = 9
	if err := applyCmd(t, f, 6, metaCommand{Op: opSet, Expect: 2, Map: skip}); !errors.Is(err, ErrBadMap) {
		t.Fatalf("epoch jump: %v", err)
	}
	for i, data := range []string{
		`not json`,
		`{"op":"frob","expect":2,"map":null}`,
		`{"op":"set","expect":2}`,
		`{"op":"set","expect":2,"map":{"epoch":3,"nodes":[],"groups":[{"id":"g0","members":["x"]}],"slots":[]}}`,
	} {
		if err := applyRaw(f, uint64(7+i), []byte(data)); !errors.Is(err, ErrBadCommand) {
			t.Errorf("entry %q: %v, want ErrBadCommand", data, err)
		}
	}
	if f.cur.Epoch != 2 || len(published) != 2 || !reflect.DeepEqual(f.cur, m2) {
		t.Fatalf("rejected entries changed the state: epoch %d, published %d", f.cur.Epoch, len(published))
	}
}

// TestMetaFSMDeterministic feeds one log to two FSMs and compares results.
func TestMetaFSMDeterministic(t *testing.T) {
	m1, _ := InitialMap(testNodes(3), 3, 3)
	m2 := nextMap(t, m1)
	m3 := nextMap(t, m2)
	var entries [][]byte
	for _, c := range []metaCommand{
		{Op: opInit, Map: m1}, {Op: opInit, Map: m1}, {Op: opSet, Expect: 1, Map: m2},
		{Op: opSet, Expect: 1, Map: m2}, {Op: opSet, Expect: 2, Map: m3},
	} {
		b, _ := encodeCommand(c)
		entries = append(entries, b)
	}
	a, b := newMetaFSM(nil), newMetaFSM(nil)
	for i, e := range entries {
		ra, rb := applyRaw(a, uint64(i+1), e), applyRaw(b, uint64(i+1), e)
		if (ra == nil) != (rb == nil) || (ra != nil && ra.Error() != rb.Error()) {
			t.Fatalf("entry %d: %v vs %v", i, ra, rb)
		}
	}
	if !reflect.DeepEqual(a.cur, b.cur) || a.cur.Epoch != 3 {
		t.Fatalf("states differ or wrong epoch: %d vs %d", a.cur.Epoch, b.cur.Epoch)
	}
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func TestMetaFSMSnapshotRestore(t *testing.T) {
	f := newMetaFSM(nil)
	m1, _ := InitialMap(testNodes(4), 5, 3)
	if err := applyCmd(t, f, 1, metaCommand{Op: opInit, Map: m1}); err != nil {
		t.Fatal(err)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// A later Apply does not change the snapshot: it is point-in-time.
	if err := applyCmd(t, f, 2, metaCommand{Op: opSet, Expect: 1, Map: nextMap(t, m1)}); err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	if !sink.closed || sink.cancelled {
		t.Fatalf("sink closed %v cancelled %v", sink.closed, sink.cancelled)
	}
	var published *Map
	g := newMetaFSM(func(m *Map) { published = m })
	if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.cur, m1) || published != g.cur {
		t.Fatalf("restored epoch %v, want the snapshot's (1) published", g.cur)
	}
	// The restored FSM continues from the snapshot's epoch.
	if err := applyCmd(t, g, 3, metaCommand{Op: opSet, Expect: 1, Map: nextMap(t, m1)}); err != nil {
		t.Fatal(err)
	}

	// An empty FSM snapshots and restores as "no map".
	empty := newMetaFSM(nil)
	snap, _ = empty.Snapshot()
	sink = memSink{}
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	var d metaSnapshotData
	if err := json.Unmarshal(sink.Bytes(), &d); err != nil || d.Map != nil {
		t.Fatalf("empty snapshot %s: %v", sink.Bytes(), err)
	}
	h := newMetaFSM(func(*Map) { t.Error("published a nil map") })
	if err := h.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil || h.cur != nil {
		t.Fatalf("restore empty: %v, cur %v", err, h.cur)
	}
	if err := h.Restore(io.NopCloser(bytes.NewReader([]byte("{")))); err == nil {
		t.Fatal("restore of a truncated snapshot succeeded")
	}
}

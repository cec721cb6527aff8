package placement

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

// TestUpdateACL checks UpdateACL's change of the map: nil lines before the
// first change, no new map for equal lines, the change's error returned,
// and the lines in the map.
func TestUpdateACL(t *testing.T) {
	m0, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	next, err := updateACL(m0.Clone(), func(lines []string) ([]string, error) {
		got = lines
		return []string{"user a on nopass ~* +@all"}, nil
	})
	if err != nil || next == nil || got != nil {
		t.Fatalf("first change: map %v err %v, saw %q (want nil lines)", next, err, got)
	}
	if !slices.Equal(next.ACL.Lines, []string{"user a on nopass ~* +@all"}) {
		t.Fatalf("lines %q", next.ACL.Lines)
	}
	same, err := updateACL(next.Clone(), func(lines []string) ([]string, error) { return lines, nil })
	if err != nil || same != nil {
		t.Fatalf("equal lines: map %v err %v, want no change", same, err)
	}
	boom := errors.New("boom")
	if _, err := updateACL(next.Clone(), func([]string) ([]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	empty, err := updateACL(next.Clone(), func([]string) ([]string, error) { return nil, nil })
	if err != nil || empty == nil || empty.ACL == nil || len(empty.ACL.Lines) != 0 {
		t.Fatalf("all deleted: %v %v", empty, err)
	}
	if err := empty.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := next.Clone()
	bad.ACL.Lines = []string{"user a", "user a on"}
	if err := bad.Validate(); !errors.Is(err, ErrBadMap) {
		t.Fatalf("duplicate user validated: %v", err)
	}
}

// TestMetaSnapshotACL snapshots a meta FSM whose map has ACL users
// (format version 2) and restores it; a version 1 snapshot (no version,
// no users) still restores, and a newer version is refused.
func TestMetaSnapshotACL(t *testing.T) {
	l := newMetaLog(t)
	m0, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	l.index++
	if err := applyCmd(t, l.f, l.index, metaCommand{Op: opInit, Map: m0}); err != nil {
		t.Fatal(err)
	}
	lines := []string{"user a on #" + strings.Repeat("ab", 32) + " ~k* resetchannels -@all +get"}
	if out := l.step(func(m *Map) (*Map, error) {
		n, err := updateACL(m.Clone(), func([]string) ([]string, error) { return lines, nil })
		if n != nil {
			n.Epoch = m.Epoch + 1
		}
		return n, err
	}); !strings.HasPrefix(out, "map ") {
		t.Fatal(out)
	}
	snap, _ := l.f.Snapshot()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sink.Bytes(), []byte(`"version":2`)) {
		t.Fatalf("snapshot without version 2: %s", sink.Bytes())
	}
	r := l.restored()
	if r.f.cur.ACL == nil || !slices.Equal(r.f.cur.ACL.Lines, lines) || r.published != r.f.cur {
		t.Fatalf("restored ACL %+v", r.f.cur.ACL)
	}
	// Version 1: what nodes wrote before ACL users.
	v1 := []byte(`{"map":` + mapJSON(m0) + `}`)
	f := newMetaFSM(nil)
	if err := f.Restore(io.NopCloser(bytes.NewReader(v1))); err != nil || f.cur == nil || f.cur.ACL != nil {
		t.Fatalf("version 1 restore: %v, map %v", err, f.cur)
	}
	v3 := []byte(`{"version":3,"map":` + mapJSON(m0) + `}`)
	if err := newMetaFSM(nil).Restore(io.NopCloser(bytes.NewReader(v3))); err == nil {
		t.Fatal("version 3 snapshot restored")
	}
}

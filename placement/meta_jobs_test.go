package placement

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
)

// metaLog is a meta FSM fed entry by entry, as the meta group's log
// would: each step computes the next map from the FSM's current one with a
// job transition and applies it as an "set" entry (compare-and-set on the
// epoch).
type metaLog struct {
	t         *testing.T
	f         *metaFSM
	index     uint64
	published *Map
}

func newMetaLog(t *testing.T) *metaLog {
	l := &metaLog{t: t}
	l.f = newMetaFSM(func(m *Map) { l.published = m })
	return l
}

// step applies the transition fn to the current map and returns an
// outcome to compare: the transition's refusal, or the entry's Apply
// result and the new map.
func (l *metaLog) step(fn func(*Map) (*Map, error)) string {
	l.t.Helper()
	next, err := fn(l.f.cur)
	if err != nil {
		return "refused: " + err.Error()
	}
	if next == l.f.cur {
		return "unchanged"
	}
	l.index++
	if err := applyCmd(l.t, l.f, l.index, metaCommand{Op: opSet, Expect: l.f.cur.Epoch, Map: next}); err != nil {
		return "apply: " + err.Error()
	}
	return "map " + mapJSON(l.f.cur)
}

// restored snapshots l's FSM and restores the snapshot into a new one.
func (l *metaLog) restored() *metaLog {
	l.t.Helper()
	snap, err := l.f.Snapshot()
	if err != nil {
		l.t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		l.t.Fatal(err)
	}
	snap.Release()
	r := newMetaLog(l.t)
	r.index = l.index
	if err := r.f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		l.t.Fatal(err)
	}
	return r
}

// TestMetaFSMSnapshotRestoreJobs snapshots and restores the meta FSM with
// a job in each state a migration passes (created, claimed, claimed again
// by a newer term, flipped, aborted, and a finished job next to an active
// one): the restored map equals the original one (job phase, copier,
// reason, times and slot ownership) and is published, and every job
// transition (ClaimJob, FlipClaimedJob, AbortJob, NewJob) then has the
// same outcome, refusal or new map, on the restored FSM as on the FSM that
// applied the log.
func TestMetaFSMSnapshotRestoreJobs(t *testing.T) {
	m0, err := InitialMap(testNodes(3), 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	slots := []SlotRange{{Start: 10, End: 19}, {Start: 30, End: 30}}
	const id = "j2" // NewJob names the job after the epoch it creates
	newJob := func(m *Map) (*Map, error) {
		next, _, err := NewJob(m, slots, "g2", 100, 0)
		return next, err
	}
	claim := func(term uint64) func(*Map) (*Map, error) {
		return func(m *Map) (*Map, error) { return ClaimJob(m, id, term) }
	}
	flip := func(term uint64) func(*Map) (*Map, error) {
		return func(m *Map) (*Map, error) { return FlipClaimedJob(m, id, term, 200) }
	}
	abort := func(m *Map) (*Map, error) { return AbortJob(m, id, "cancelled", 300) }
	other := func(m *Map) (*Map, error) {
		next, _, err := NewJob(m, []SlotRange{{Start: 40, End: 49}}, "g1", 400, 0)
		return next, err
	}

	type transition struct {
		name string
		fn   func(*Map) (*Map, error)
	}
	states := []struct {
		name  string
		steps []func(*Map) (*Map, error) // from the initial map
		check func(*testing.T, *Map)
	}{
		{"created", []func(*Map) (*Map, error){newJob}, func(t *testing.T, m *Map) {
			if j := m.Job(id); j == nil || j.Phase != JobCopying || j.Copier != 0 {
				t.Fatalf("job %+v", j)
			}
		}},
		{"claimed", []func(*Map) (*Map, error){newJob, claim(5)}, func(t *testing.T, m *Map) {
			if j := m.Job(id); j.Copier != 5 {
				t.Fatalf("job %+v", j)
			}
		}},
		{"claimed again", []func(*Map) (*Map, error){newJob, claim(5), claim(7)}, func(t *testing.T, m *Map) {
			if j := m.Job(id); j.Copier != 7 {
				t.Fatalf("job %+v", j)
			}
		}},
		{"flipped", []func(*Map) (*Map, error){newJob, claim(5), flip(5)}, func(t *testing.T, m *Map) {
			if j := m.Job(id); j.Phase != JobDone || j.Ended != 200 || m.SlotGroup(10).ID != "g2" {
				t.Fatalf("job %+v, slot 10 in %s", j, m.SlotGroup(10).ID)
			}
		}},
		{"aborted", []func(*Map) (*Map, error){newJob, claim(5), abort}, func(t *testing.T, m *Map) {
			if j := m.Job(id); j.Phase != JobAborted || j.Reason != "cancelled" || m.SlotGroup(10).ID != "g0" {
				t.Fatalf("job %+v, slot 10 in %s", j, m.SlotGroup(10).ID)
			}
		}},
		{"flipped, another active", []func(*Map) (*Map, error){newJob, claim(5), flip(5), other}, func(t *testing.T, m *Map) {
			if len(m.ActiveJobs()) != 1 || m.Job(id).Phase != JobDone {
				t.Fatalf("jobs %+v", m.Jobs)
			}
		}},
	}
	// Each transition runs on the state it follows in the list, on both
	// FSMs: refusals (an older or other term, a finished job, busy slots)
	// as well as changes.
	transitions := []transition{
		{"claim by an older term", claim(4)},
		{"flip by a term without the claim", flip(6)},
		{"claim by the current claim's term", claim(5)},
		{"new job on the same slots", newJob},
		{"claim by a newer term", claim(8)},
		{"flip by the replaced term", flip(5)},
		{"flip by the claiming term", flip(8)},
		{"abort after the flip", abort},
		{"claim after the flip", claim(9)},
		{"new job moving the slots back", func(m *Map) (*Map, error) {
			next, _, err := NewJob(m, slots, "g0", 500, 0)
			return next, err
		}},
	}
	for _, st := range states {
		t.Run(st.name, func(t *testing.T) {
			live := newMetaLog(t)
			if err := applyCmd(t, live.f, 1, metaCommand{Op: opInit, Map: m0}); err != nil {
				t.Fatal(err)
			}
			live.index = 1
			for i, fn := range st.steps {
				if out := live.step(fn); len(out) < 4 || out[:4] != "map " {
					t.Fatalf("step %d: %s", i, out)
				}
			}
			st.check(t, live.f.cur)
			rest := live.restored()
			if !reflect.DeepEqual(rest.f.cur, live.f.cur) || mapJSON(rest.f.cur) != mapJSON(live.f.cur) {
				t.Fatalf("restored map\n%s\nwant\n%s", mapJSON(rest.f.cur), mapJSON(live.f.cur))
			}
			if rest.published != rest.f.cur {
				t.Fatal("the restored map was not published")
			}
			if err := rest.f.cur.Validate(); err != nil {
				t.Fatal(err)
			}
			st.check(t, rest.f.cur)
			for _, tr := range transitions {
				a, b := live.step(tr.fn), rest.step(tr.fn)
				if a != b {
					t.Fatalf("%s: applied log: %s; restored: %s", tr.name, a, b)
				}
				if len(a) > 4 && a[:4] == "map " {
					a = fmt.Sprintf("new map at epoch %d", live.f.cur.Epoch)
				}
				t.Logf("%s: %s", tr.name, a)
			}
			// A stale compare-and-set is refused by both alike.
			stale := metaCommand{Op: opSet, Expect: m0.Epoch, Map: nextMap(t, m0)}
			ea, eb := applyCmd(t, live.f, live.index+1, stale), applyCmd(t, rest.f, rest.index+1, stale)
			if !errors.Is(ea, ErrEpochMismatch) || fmt.Sprint(ea) != fmt.Sprint(eb) {
				t.Fatalf("stale set: %v vs %v", ea, eb)
			}
		})
	}
}

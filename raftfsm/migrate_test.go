package raftfsm

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/shard"
)

// Keys "{m}..." live in the migrated slot, "{o}..." in another one.
var (
	slotM  = shard.Slot("m")
	slotO  = shard.Slot("o")
	rangeM = []shard.SlotRange{{Start: slotM, End: slotM}}
)

func entryLog(index uint64, data []byte) *raft.Log {
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: data}
}

// allBut returns the ranges of every slot except those of except.
func allBut(except ...shard.SlotRange) []shard.SlotRange {
	set := *shard.AllSlots()
	var out shard.SlotSet
	for _, r := range except {
		out.AddRange(r)
	}
	for i := range set {
		set[i] &^= out[i]
	}
	return set.Ranges(nil)
}

func dirty(f *FSM, job string, after, upTo uint64) []string {
	f.Store().RLock()
	defer f.Store().RUnlock()
	keys := f.DirtyKeys(job, after, upTo, nil)
	slices.Sort(keys)
	return keys
}

func expireLog(index uint64, now int64, keys ...shard.ExpiredKey) *raft.Log {
	return entryLog(index, encodeExpire(nil, now, 0, keys))
}

// step is one entry applied to an FSM, and what it must do.
type step struct {
	name  string
	log   *raft.Log
	want  interface{} // a migResult, or []string of command replies (nil: don't check)
	check func(t *testing.T, f *FSM)
}

func runSteps(t *testing.T, f *FSM, steps []step) {
	t.Helper()
	for _, s := range steps {
		res := f.Apply(s.log)
		switch w := s.want.(type) {
		case nil:
			if err, isErr := res.(error); isErr {
				t.Fatalf("%s: %v", s.name, err)
			}
		case []string:
			if got := replies(t, res); !slices.Equal(got, w) {
				t.Fatalf("%s: replies %q, want %q", s.name, got, w)
			}
		default:
			if !reflect.DeepEqual(res, w) {
				t.Fatalf("%s: result %+v, want %+v", s.name, res, w)
			}
		}
		if s.check != nil {
			s.check(t, f)
		}
	}
}

func wantDirty(job string, after, upTo uint64, keys ...string) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		if got := dirty(f, job, after, upTo); !slices.Equal(got, keys) && !(len(got) == 0 && len(keys) == 0) {
			t.Fatalf("DirtyKeys(%s, %d, %d) = %q, want %q", job, after, upTo, got, keys)
		}
	}
}

func checks(cs ...func(*testing.T, *FSM)) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		for _, c := range cs {
			c(t, f)
		}
	}
}

func wantStore(want map[string]kv) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		sameMap(t, "store", storeMap(f.Store()), want)
		if t.Failed() {
			t.FailNow()
		}
	}
}

func TestMigrateOutSource(t *testing.T) {
	if slotM == slotO {
		t.Fatal("test slots coincide")
	}
	ok := func(i uint64) migResult { return migResult{code: migOK, index: i} }
	f, _ := newTestFSM()
	runSteps(t, f, []step{
		{"writes before the job", cmdLog(1, 1000, cmd("SET", "{m}1", "a"), cmd("SET", "{m}2", "b"), cmd("SET", "{o}1", "c")), nil, nil},
		{"migrate out", entryLog(2, encodeMigrateOut(nil, "j1", rangeM, "g2", 5)), ok(2), func(t *testing.T, f *FSM) {
			st, found := f.MigrationOut("j1")
			if !found || st.StartIndex != 2 || st.Target != "g2" || st.Epoch != 5 || st.Fenced || fmt.Sprint(st.Slots) != fmt.Sprint(rangeM) {
				t.Fatalf("MigrationOut = %+v, %v", st, found)
			}
			if jobs := f.MigrationJobs(); !slices.Equal(jobs, []string{"j1"}) {
				t.Fatalf("MigrationJobs = %q", jobs)
			}
			wantDirty("j1", 0, 100)(t, f) // nothing changed yet
		}},
		{"same job again", entryLog(3, encodeMigrateOut(nil, "j1", rangeM, "g2", 5)), migResult{code: migJobExists, index: 2}, nil},
		{"other job, same slot", entryLog(4, encodeMigrateOut(nil, "j2", rangeM, "g3", 5)), migResult{code: migBusy}, nil},
		{"set", cmdLog(5, 1100, cmd("SET", "{m}1", "a2"), cmd("SET", "{o}1", "c2")), []string{"+OK\r\n", "+OK\r\n"},
			wantDirty("j1", 0, 100, "{m}1")},
		{"del", cmdLog(6, 1200, cmd("DEL", "{m}2", "{o}1")), []string{":2\r\n"}, wantDirty("j1", 0, 100, "{m}1", "{m}2")},
		{"set with expiry", cmdLog(7, 1300, cmd("SETAT", "{m}3", "x", "1500"), cmd("SET", "{m}4", "y")), nil,
			wantDirty("j1", 6, 7, "{m}3", "{m}4")},
		{"active expiry", expireLog(8, 2000, shard.ExpiredKey{Key: "{m}3", ExpireAt: 1500}), 1,
			wantDirty("j1", 7, 8, "{m}3")},
		{"eviction", entryLog(9, encodeEvict(nil, 0, [][]byte{[]byte("{m}4")})), 1, wantDirty("j1", 8, 9, "{m}4")},
		{"lazy expiry on write", cmdLog(10, 2100, cmd("SETAT", "{m}5", "z", "2150")), nil, nil},
		{"incr of the expired key", cmdLog(11, 2200, cmd("INCR", "{m}5")), []string{":1\r\n"}, wantDirty("j1", 10, 11, "{m}5")},
		{"flushall", cmdLog(12, 2300, cmd("SET", "{m}6", "w"), cmd("FLUSHALL")), nil, checks(
			wantDirty("j1", 11, 12, "{m}1", "{m}5", "{m}6"),
			// Every key's last change only: {m}2 was deleted at 6, {m}3 at 8.
			wantDirty("j1", 0, 100, "{m}1", "{m}2", "{m}3", "{m}4", "{m}5", "{m}6"),
			wantDirty("j1", 5, 8, "{m}2", "{m}3"),
			wantDirty("j1", 12, 100),
			wantDirty("nope", 0, 100),
		)},
		{"writes after the flush", cmdLog(13, 2400, cmd("SET", "{m}1", "A"), cmd("SET", "{m}7", "B"), cmd("SET", "{o}2", "C")), nil,
			wantDirty("j1", 12, 13, "{m}1", "{m}7")},
		{"fence unknown job", entryLog(14, encodeFence(nil, "j9")), migResult{code: migUnknownJob}, nil},
		{"fence", entryLog(15, encodeFence(nil, "j1")), ok(15), func(t *testing.T, f *FSM) {
			if !f.Fenced(slotM) || f.Fenced(slotO) {
				t.Fatalf("Fenced(m) = %v, Fenced(o) = %v", f.Fenced(slotM), f.Fenced(slotO))
			}
			if st, _ := f.MigrationOut("j1"); !st.Fenced || st.FenceIndex != 15 || st.StartIndex != 2 {
				t.Fatalf("after fence: %+v", st)
			}
		}},
		{"fence again", entryLog(16, encodeFence(nil, "j1")), ok(15), nil},
		{"writes while fenced", cmdLog(17, 2500,
			cmd("SET", "{m}1", "no"), cmd("SET", "{o}2", "yes"), cmd("DEL", "{o}2", "{m}7"), cmd("FLUSHALL"), cmd("INCR", "{o}3")),
			[]string{fmt.Sprintf("-NOTOWNER %d\r\n", slotM), "+OK\r\n", fmt.Sprintf("-NOTOWNER %d\r\n", slotM), migrationKeylessReply, ":1\r\n"},
			wantStore(map[string]kv{"{m}1": {"A", 0}, "{m}7": {"B", 0}, "{o}2": {"yes", 0}, "{o}3": {"1", 0}})},
		{"expiry and eviction skip fenced slots", entryLog(18, encodeEvict(nil, 0, [][]byte{[]byte("{m}1"), []byte("{o}3")})), 1,
			checks(wantDirty("j1", 15, 100), wantStore(map[string]kv{"{m}1": {"A", 0}, "{m}7": {"B", 0}, "{o}2": {"yes", 0}}))},
		{"done while still owning", entryLog(19, encodeMigrateEnd(nil, "j1", true)), migResult{code: migOwned}, func(t *testing.T, f *FSM) {
			if !f.Fenced(slotM) {
				t.Fatal("a refused MigrateEnd unfenced the job")
			}
		}},
		{"give the slot up", ownLog(20, 2, allBut(rangeM...)...), OwnershipResult{Applied: true, Epoch: 2}, nil},
		{"done", entryLog(21, encodeMigrateEnd(nil, "j1", true)), ok(0), checks(
			wantStore(map[string]kv{"{o}2": {"yes", 0}}),
			func(t *testing.T, f *FSM) {
				if _, found := f.MigrationOut("j1"); found || f.Fenced(slotM) || len(f.MigrationJobs()) != 0 || f.store.HasWatch() {
					t.Fatal("the job is not forgotten")
				}
			})},
		{"end again", entryLog(22, encodeMigrateEnd(nil, "j1", true)), migResult{code: migUnknownJob}, nil},
		{"an ended job does not start again", entryLog(23, encodeMigrateOut(nil, "j1", []shard.SlotRange{{Start: slotO, End: slotO}}, "g2", 6)),
			migResult{code: migEnded}, nil},
		{"writes without a job", cmdLog(24, 2600, cmd("SET", "{o}9", "x"), cmd("FLUSHALL")), []string{"+OK\r\n", "+OK\r\n"}, nil},
	})
	if f.Store().TryLock() {
		f.Store().Unlock()
	} else {
		t.Fatal("store lock still held")
	}
}

func TestMigrateOutRefusals(t *testing.T) {
	f, _ := newTestFSM()
	runSteps(t, f, []step{
		{"own all but m", ownLog(1, 1, allBut(rangeM...)...), nil, nil},
		{"unowned slot", entryLog(2, encodeMigrateOut(nil, "j", []shard.SlotRange{{Start: slotO, End: slotO}, {Start: slotM, End: slotM}}, "g2", 1)),
			migResult{code: migNotOwned}, nil},
		{"owned slot", entryLog(3, encodeMigrateOut(nil, "j", []shard.SlotRange{{Start: slotO, End: slotO}}, "g2", 1)), migResult{code: migOK, index: 3}, nil},
		{"import of a job migrating out", entryLog(4, EncodeIngestReset(nil, "j", rangeM, "g0", 1)), migResult{code: migJobExists}, nil},
		{"import into an outgoing slot", entryLog(5, EncodeIngestReset(nil, "k", []shard.SlotRange{{Start: slotO, End: slotO}}, "g0", 1)),
			migResult{code: migOwned}, nil},
	})
}

func TestMigrateOutAbort(t *testing.T) {
	f, _ := newTestFSM()
	runSteps(t, f, []step{
		{"write", cmdLog(1, 1000, cmd("SET", "{m}1", "a")), nil, nil},
		{"migrate out", entryLog(2, encodeMigrateOut(nil, "j1", rangeM, "g2", 1)), migResult{code: migOK, index: 2}, nil},
		{"write", cmdLog(3, 1000, cmd("SET", "{m}2", "b")), nil, wantDirty("j1", 0, 10, "{m}2")},
		{"fence", entryLog(4, encodeFence(nil, "j1")), migResult{code: migOK, index: 4}, nil},
		{"aborted", entryLog(5, encodeMigrateEnd(nil, "j1", false)), migResult{code: migOK}, func(t *testing.T, f *FSM) {
			if f.Fenced(slotM) || len(f.MigrationJobs()) != 0 || f.store.HasWatch() {
				t.Fatal("still fenced or still a job after the abort")
			}
		}},
		{"writes work again", cmdLog(6, 1000, cmd("SET", "{m}3", "c"), cmd("FLUSHALL"), cmd("SET", "{m}1", "d")),
			[]string{"+OK\r\n", "+OK\r\n", "+OK\r\n"}, checks(wantStore(map[string]kv{"{m}1": {"d", 0}}), wantDirty("j1", 0, 10))},
	})
}

func ingestLog(index uint64, job string, term, upTo uint64, keys ...IngestKey) *raft.Log {
	return entryLog(index, EncodeIngest(nil, job, term, upTo, keys))
}

func set(key, value string, at int64) IngestKey {
	return IngestKey{Key: []byte(key), Value: []byte(value), ExpireAt: at}
}

func del(key string) IngestKey { return IngestKey{Key: []byte(key), Deleted: true} }

func wantImport(job string, want ImportStatus) func(*testing.T, *FSM) {
	return func(t *testing.T, f *FSM) {
		t.Helper()
		got, found := f.Importing(job)
		if !found || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Importing(%s) = %+v, %v; want %+v", job, got, found, want)
		}
	}
}

func TestImportTarget(t *testing.T) {
	ok := migResult{code: migOK}
	chunk := []IngestKey{set("{m}1", "v1", 0), set("{m}2", "v2", 9000), set("{m}3", "old", 500), del("{m}9"), set("{o}1", "not mine", 0)}
	afterChunk := map[string]kv{"{m}1": {"v1", 0}, "{m}2": {"v2", 9000}, "{o}x": {"own", 0}}
	f, _ := newTestFSM()
	runSteps(t, f, []step{
		{"junk in the slot", cmdLog(1, 1000, cmd("SET", "{m}1", "junk"), cmd("SET", "{m}3", "junk"), cmd("SET", "{o}x", "own")), nil, nil},
		{"reset while owning the slot", entryLog(2, EncodeIngestReset(nil, "j1", rangeM, "g1", 5)), migResult{code: migOwned}, nil},
		{"own all but m", ownLog(3, 1, allBut(rangeM...)...), nil, nil},
		{"ingest before reset", ingestLog(4, "j1", 5, 0, chunk...), migResult{code: migNotImporting}, nil},
		{"reset", entryLog(5, EncodeIngestReset(nil, "j1", rangeM, "g1", 5)), ok, checks(
			wantStore(map[string]kv{"{o}x": {"own", 0}}),
			wantImport("j1", ImportStatus{Slots: rangeM, Source: "g1", MaxSourceTerm: 5}))},
		{"chunk", ingestLog(6, "j1", 5, 0, chunk...), ok, checks(wantStore(afterChunk),
			wantImport("j1", ImportStatus{Slots: rangeM, Source: "g1", MaxSourceTerm: 5, Keys: 4, Bytes: (4 + 2) + (4 + 2) + (4 + 3) + 4}))},
		{"same chunk again", ingestLog(7, "j1", 5, 0, chunk...), ok, wantStore(afterChunk)},
		{"stale chunk", ingestLog(8, "j1", 4, 99, set("{m}1", "stale", 0)), migResult{code: migStale, index: 5}, wantStore(afterChunk)},
		{"chunk of a newer term before its reset", ingestLog(9, "j1", 6, 99, set("{m}1", "new", 0)), migResult{code: migNotImporting, index: 5},
			wantStore(afterChunk)},
		{"writes to the importing slot", cmdLog(10, 1100, cmd("SET", "{m}1", "client")), []string{fmt.Sprintf("-NOTOWNER %d\r\n", slotM)}, wantStore(afterChunk)},
		{"flushall while importing", cmdLog(10, 1100, cmd("FLUSHALL"), cmd("ECHO", "x")), []string{migrationKeylessReply, migrationKeylessReply},
			wantStore(afterChunk)},
		{"watermark", ingestLog(11, "j1", 5, 50, del("{m}2")), ok, func(t *testing.T, f *FSM) {
			if st, _ := f.Importing("j1"); st.Watermark != 50 {
				t.Fatalf("watermark %d", st.Watermark)
			}
		}},
		{"lower upTo", ingestLog(12, "j1", 5, 30, set("{m}4", "d", 0)), ok, func(t *testing.T, f *FSM) {
			if st, _ := f.Importing("j1"); st.Watermark != 50 {
				t.Fatalf("watermark %d after a lower upTo", st.Watermark)
			}
		}},
		{"stale reset", entryLog(13, EncodeIngestReset(nil, "j1", rangeM, "g1", 4)), migResult{code: migStale, index: 5}, nil},
		{"reset from another source", entryLog(14, EncodeIngestReset(nil, "j1", rangeM, "gX", 7)), migResult{code: migConflict}, nil},
		{"other job on the slot", entryLog(15, EncodeIngestReset(nil, "j2", rangeM, "g1", 7)), migResult{code: migBusy}, nil},
		{"reset at a newer term", entryLog(16, EncodeIngestReset(nil, "j1", rangeM, "g1", 6)), ok, checks(
			wantStore(map[string]kv{"{o}x": {"own", 0}}),
			wantImport("j1", ImportStatus{Slots: rangeM, Source: "g1", MaxSourceTerm: 6}))},
		{"chunk of the old term", ingestLog(17, "j1", 5, 0, chunk...), migResult{code: migStale, index: 6}, nil},
		{"chunk of the new term", ingestLog(18, "j1", 6, 70, chunk...), ok, wantStore(afterChunk)},
		{"aborted", entryLog(19, encodeMigrateEnd(nil, "j1", false)), ok, checks(
			wantStore(map[string]kv{"{o}x": {"own", 0}}),
			func(t *testing.T, f *FSM) {
				if _, found := f.Importing("j1"); found || len(f.MigrationJobs()) != 0 {
					t.Fatal("job not forgotten")
				}
			})},
		{"chunk after the end", ingestLog(20, "j1", 6, 0, chunk...), migResult{code: migNotImporting}, nil},
		{"delayed reset of the aborted job", entryLog(21, EncodeIngestReset(nil, "j1", rangeM, "g1", 7)), migResult{code: migEnded},
			wantStore(map[string]kv{"{o}x": {"own", 0}})},
		{"again, to finish", entryLog(21, EncodeIngestReset(nil, "j1b", rangeM, "g1", 7)), ok, nil},
		{"chunk", ingestLog(22, "j1b", 7, 80, chunk...), ok, nil},
		{"take the slot", ownLog(23, 2, shard.SlotRange{Start: 0, End: shard.NumSlots - 1}), nil, nil},
		{"chunk after the flip is ignored", ingestLog(24, "j1b", 7, 90, set("{m}1", "late", 0)), ok, wantStore(afterChunk)},
		{"abort once owning", entryLog(25, encodeMigrateEnd(nil, "j1b", false)), migResult{code: migOwned}, nil},
		{"done", entryLog(26, encodeMigrateEnd(nil, "j1b", true)), ok, wantStore(afterChunk)},
		{"writes to the slot now owned", cmdLog(27, 1200, cmd("SET", "{m}1", "client"), cmd("FLUSHALL")), []string{"+OK\r\n", "+OK\r\n"},
			wantStore(map[string]kv{})},
	})
}

// TestMigrationSurvivesSnapshot: a snapshot taken mid-job, on the source
// (fenced, with dirty indexes) and on the target (importing, with counters),
// restores the same state, through both snapshot stores; the source keeps
// recording dirty indexes after the restore.
func TestMigrationSurvivesSnapshot(t *testing.T) {
	for name, persist := range map[string]func(*testing.T, *FSM) []byte{"file": snapshotBytes, "view store": viewStoreBytes} {
		t.Run(name, func(t *testing.T) {
			src, _ := newTestFSM()
			runSteps(t, src, []step{
				{"an earlier job", entryLog(1, encodeMigrateOut(nil, "j0", rangeM, "g2", 2)), migResult{code: migOK, index: 1}, nil},
				{"ends", entryLog(1, encodeMigrateEnd(nil, "j0", false)), migResult{code: migOK}, nil},
				{"write", cmdLog(1, 1000, cmd("SET", "{m}1", "a"), cmd("SET", "{o}1", "b")), nil, nil},
				{"out", entryLog(2, encodeMigrateOut(nil, "j1", rangeM, "g2", 3)), migResult{code: migOK, index: 2}, nil},
				{"out 2", entryLog(3, encodeMigrateOut(nil, "j2", []shard.SlotRange{{Start: slotO, End: slotO}}, "g3", 3)), migResult{code: migOK, index: 3}, nil},
				{"write", cmdLog(4, 1000, cmd("SET", "{m}2", "c"), cmd("DEL", "{m}1"), cmd("SET", "{o}1", "d")), nil, nil},
				{"fence", entryLog(5, encodeFence(nil, "j1")), migResult{code: migOK, index: 5}, nil},
			})
			dst, _ := newTestFSM()
			dst.Apply(entryLog(1, encodeMigrateOut(nil, "old", rangeM, "gx", 1))) // replaced by the restore
			if err := dst.Restore(io.NopCloser(bytes.NewReader(persist(t, src)))); err != nil {
				t.Fatal(err)
			}
			for _, job := range []string{"j1", "j2"} {
				a, _ := src.MigrationOut(job)
				b, found := dst.MigrationOut(job)
				if !found || fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("%s restored as %+v, %v; want %+v", job, b, found, a)
				}
				if got, want := dirty(dst, job, 0, 100), dirty(src, job, 0, 100); !slices.Equal(got, want) {
					t.Fatalf("%s dirty keys restored as %q, want %q", job, got, want)
				}
			}
			if _, found := dst.MigrationOut("old"); found || !dst.Fenced(slotM) || dst.Fenced(slotO) {
				t.Fatal("restored jobs or fence differ")
			}
			runSteps(t, dst, []step{
				{"write after restore", cmdLog(6, 1000, cmd("SET", "{m}1", "x"), cmd("SET", "{o}2", "y")),
					[]string{fmt.Sprintf("-NOTOWNER %d\r\n", slotM), "+OK\r\n"},
					checks(wantDirty("j2", 5, 6, "{o}2"), wantDirty("j2", 0, 4, "{o}1"), wantDirty("j1", 0, 100, "{m}1", "{m}2"))},
				{"the ended job is remembered", entryLog(7, encodeMigrateOut(nil, "j0", []shard.SlotRange{{Start: 1, End: 1}}, "g2", 2)),
					migResult{code: migEnded}, nil},
			})

			tgt, _ := newTestFSM()
			runSteps(t, tgt, []step{
				{"own all but m", ownLog(1, 1, allBut(rangeM...)...), nil, nil},
				{"reset", entryLog(2, EncodeIngestReset(nil, "j1", rangeM, "g1", 4)), migResult{code: migOK}, nil},
				{"chunk", ingestLog(3, "j1", 4, 40, set("{m}1", "v", 0), set("{m}2", "w", 7000)), migResult{code: migOK}, nil},
			})
			tdst, _ := newTestFSM()
			if err := tdst.Restore(io.NopCloser(bytes.NewReader(persist(t, tgt)))); err != nil {
				t.Fatal(err)
			}
			a, _ := tgt.Importing("j1")
			runSteps(t, tdst, []step{
				{"restored", cmdLog(4, 1000), []string{}, checks(wantImport("j1", a), wantStore(storeMap(tgt.Store())))},
				{"stale chunk refused after restore", ingestLog(5, "j1", 3, 0, set("{m}1", "stale", 0)), migResult{code: migStale, index: 4}, nil},
				{"chunk", ingestLog(6, "j1", 4, 60, del("{m}2")), migResult{code: migOK}, wantStore(map[string]kv{"{m}1": {"v", 0}})},
			})
		})
	}
}

// TestNoJobNoTracking: without a job the store has no watch and the FSM no
// migration state; a write's path is unchanged.
func TestNoJobNoTracking(t *testing.T) {
	f := NewFSM(shard.New(), &keysExec{}, nil)
	f.Apply(cmdLog(1, 1000, cmd("SET", "{m}1", "a")))
	if f.mig.Load() != nil || f.fencedSlots() != nil {
		t.Fatal("migration state without a job")
	}
	o := f.owner.Load()
	args := cmd("SET", "{m}1", "b")
	n := testing.AllocsPerRun(200, func() {
		if f.refused(o, f.mig.Load(), args) != -1 {
			t.Fatal("refused without a job")
		}
	})
	if n != 0 {
		t.Errorf("the fence check allocates %v times without a job", n)
	}
	// With a fenced job the check of a key in another slot does not
	// allocate either.
	f.Apply(entryLog(2, encodeMigrateOut(nil, "j", rangeM, "g", 1)))
	f.Apply(entryLog(3, encodeFence(nil, "j")))
	other := cmd("SET", "{o}"+strconv.Itoa(1), "b")
	f.refused(o, f.mig.Load(), other)
	if n := testing.AllocsPerRun(200, func() { f.refused(o, f.mig.Load(), other) }); n != 0 {
		t.Errorf("the fence check allocates %v times with a job", n)
	}
	if f.refused(o, f.mig.Load(), args) != slotM {
		t.Error("a key of the fenced slot is not refused")
	}
}

// TestEndedJobsBounded: a group remembers the last maxEndedJobs ended jobs,
// and forgets older ones.
func TestEndedJobsBounded(t *testing.T) {
	f, _ := newTestFSM()
	idx := uint64(0)
	apply := func(data []byte) migResult {
		idx++
		return f.Apply(entryLog(idx, data)).(migResult)
	}
	for i := 0; i <= maxEndedJobs; i++ {
		job := fmt.Sprintf("j%d", i)
		if r := apply(encodeMigrateOut(nil, job, rangeM, "g2", 1)); r.code != migOK {
			t.Fatalf("job %s: %+v", job, r)
		}
		if r := apply(encodeMigrateEnd(nil, job, false)); r.code != migOK {
			t.Fatalf("end of %s: %+v", job, r)
		}
	}
	if n := len(f.mig.Load().ended); n != maxEndedJobs {
		t.Fatalf("%d ended jobs remembered, want %d", n, maxEndedJobs)
	}
	if r := apply(encodeMigrateOut(nil, "j1", rangeM, "g2", 1)); r.code != migEnded {
		t.Fatalf("recent ended job restarted: %+v", r)
	}
	if r := apply(encodeMigrateOut(nil, "j0", rangeM, "g2", 1)); r.code != migOK {
		t.Fatalf("the oldest ended job, forgotten, did not start: %+v", r)
	}
}

package raftfsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// startNamedGroup starts a single-voter in-memory group with id id.
func startNamedGroup(t *testing.T, id string, ownAll bool) *Group {
	t.Helper()
	cfg := testConfig("")
	cfg.GroupID = id
	cfg.OwnAllSlots = ownAll
	cfg.Logger = testutil.Logger(t)
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
	cfg.Transport = trans
	cfg.Bootstrap = []raft.Server{{Suffrage: raft.Voter, ID: cfg.NodeID, Address: addr}}
	g, _ := startGroup(t, cfg)
	return g
}

// slotContents returns the keys of the slots of ranges in g's store.
func slotContents(g *Group, ranges []shard.SlotRange) map[string]string {
	st := g.Store()
	st.RLock()
	defer st.RUnlock()
	m := map[string]string{}
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			st.RangeSlot(s, func(k string, e *shard.Entry) bool {
				m[k] = string(e.Value)
				return true
			})
		}
	}
	return m
}

func sameContents(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	n := 0
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: key %q = %q (present %v), want %q", what, k, g, ok, v)
			n++
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra key %q = %q", what, k, v)
			n++
		}
	}
	if n > 0 {
		t.FailNow()
	}
}

// mover is the test's hand-driven mover: it copies job's slots from src to
// dst with the Group API, as the real mover will.
type mover struct {
	t        *testing.T
	ctx      context.Context
	job      string
	slots    []shard.SlotRange
	src, dst *Group
	term     uint64
	chunks   int
}

// full reads every key of the job's slots under src's read lock and returns
// them with the index they are current at.
func (m *mover) full() ([]IngestKey, uint64) {
	st := m.src.Store()
	st.RLock()
	defer st.RUnlock()
	at := m.src.AppliedIndex()
	var keys []IngestKey
	for _, r := range m.slots {
		for s := r.Start; s <= r.End; s++ {
			st.RangeSlot(s, func(k string, e *shard.Entry) bool {
				keys = append(keys, IngestKey{Key: []byte(k), Value: bytes.Clone(e.Value), ExpireAt: e.ExpireAt})
				return true
			})
		}
	}
	return keys, at
}

// delta returns the keys changed after index after (their value, or their
// deletion) and the index they are current at.
func (m *mover) delta(after uint64) ([]IngestKey, uint64) {
	st := m.src.Store()
	st.RLock()
	defer st.RUnlock()
	at := m.src.AppliedIndex()
	var keys []IngestKey
	for _, k := range m.src.DirtyKeys(m.job, after, at, nil) {
		if e := st.Peek([]byte(k)); e != nil {
			keys = append(keys, IngestKey{Key: []byte(k), Value: bytes.Clone(e.Value), ExpireAt: e.ExpireAt})
		} else {
			keys = append(keys, IngestKey{Key: []byte(k), Deleted: true})
		}
	}
	return keys, at
}

// ship sends keys to dst in chunks; the last one carries upTo.
func (m *mover) ship(keys []IngestKey, upTo uint64) {
	m.t.Helper()
	const chunk = 16
	for first := true; first || len(keys) > 0; first = false {
		n := min(chunk, len(keys))
		last := n == len(keys)
		var u uint64
		if last {
			u = upTo
		}
		data := EncodeIngest(nil, m.job, m.term, u, keys[:n])
		if err := m.dst.ProposeMigrationEntry(m.ctx, data); err != nil {
			m.t.Fatalf("ingest chunk: %v", err)
		}
		m.chunks++
		keys = keys[n:]
	}
}

// TestGroupMigratesSlots moves half the slots from group A to group B by
// hand with the migration API while a writer keeps writing to A, and checks
// that B ends with exactly the data A acknowledged for those slots.
func TestGroupMigratesSlots(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	a := startNamedGroup(t, "gA", true)
	b := startNamedGroup(t, "gB", false)
	moved := []shard.SlotRange{{Start: 0, End: shard.NumSlots/2 - 1}}
	var movedSet shard.SlotSet
	movedSet.AddRange(moved[0])

	// The writer: SETs and DELs on A, one proposal at a time, keeping a
	// model of what A acknowledged in the moved slots.
	var (
		mu       sync.Mutex
		model    = map[string]string{}
		writes   atomic.Int64
		refused  atomic.Int64
		stop     = make(chan struct{})
		writerWG sync.WaitGroup
	)
	writerWG.Add(1)
	go func() {
		defer writerWG.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			cmds := make([][][]byte, 4)
			for i := range cmds {
				k := fmt.Sprintf("k:%d", rng.IntN(300))
				if rng.IntN(5) == 0 {
					cmds[i] = cmd("DEL", k)
				} else {
					cmds[i] = cmd("SET", k, fmt.Sprintf("v%d.%d", n, i))
				}
			}
			r, err := a.Propose(ctx, cmds)
			if err != nil {
				t.Errorf("writer: %v", err)
				return
			}
			mu.Lock()
			for i, c := range cmds {
				reply := string(r.Get(i))
				if _, no := ParseNotOwner([]byte(reply)); no {
					refused.Add(1)
					continue
				}
				if !movedSet.Has(shard.Slot(c[1])) {
					continue
				}
				if string(c[0]) == "SET" {
					model[string(c[1])] = string(c[2])
				} else {
					delete(model, string(c[1]))
				}
			}
			mu.Unlock()
			writes.Add(1)
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		writerWG.Wait()
	}()
	waitWrites := func(what string) {
		t.Helper()
		from := writes.Load()
		testutil.Until(t, 10*time.Second, what, func() bool { return writes.Load() >= from+20 })
	}
	waitWrites("the writer to start")

	const job = "job-1"
	m := &mover{t: t, ctx: ctx, job: job, slots: moved, src: a, dst: b, term: a.Term()}
	if err := a.ProposeMigrateOut(ctx, job, moved, "gB", 1); err != nil {
		t.Fatalf("MigrateOut: %v", err)
	}
	if err := b.ProposeMigrationEntry(ctx, EncodeIngestReset(nil, job, moved, "gA", m.term)); err != nil {
		t.Fatalf("IngestReset: %v", err)
	}
	keys, at := m.full()
	if len(keys) == 0 {
		t.Fatal("nothing to copy")
	}
	m.ship(keys, at)
	var deltaKeys int
	for round := 0; round < 3; round++ {
		waitWrites("writes during the copy")
		var next uint64
		keys, next = m.delta(at)
		deltaKeys += len(keys)
		m.ship(keys, next)
		at = next
	}
	if deltaKeys == 0 {
		t.Fatal("the delta rounds found no dirty key although the writer kept writing")
	}
	fi, err := a.ProposeFence(ctx, job)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if !a.Fenced(moved[0].Start) || a.Fenced(shard.NumSlots-1) {
		t.Fatal("Fenced does not reflect the fence")
	}
	keys, last := m.delta(at)
	if last < fi {
		t.Fatalf("applied index %d below the fence index %d", last, fi)
	}
	m.ship(keys, fi)
	if st, ok := b.Importing(job); !ok || st.Watermark != fi || st.MaxSourceTerm != m.term || st.Keys == 0 {
		t.Fatalf("B's import after the last delta: %+v, %v (fence index %d)", st, ok, fi)
	}
	// Nothing changes in the moved slots after the fence, though the
	// writer goes on: its writes there are refused.
	from := refused.Load()
	testutil.Until(t, 10*time.Second, "writes to fenced slots to be refused", func() bool { return refused.Load() > from+10 })
	if extra, _ := m.delta(fi); len(extra) != 0 {
		t.Fatalf("%d keys changed after the fence", len(extra))
	}
	atFence := slotContents(a, moved)

	// The flip: B owns the moved slots, A the others; then both end.
	if err := b.ProposeOwnership(ctx, 1, moved); err != nil {
		t.Fatal(err)
	}
	if err := a.ProposeMigrateEnd(ctx, job, true); !errors.Is(err, ErrSlotsOwned) {
		t.Fatalf("MigrateEnd(done) on A while it owns the slots: %v, want ErrSlotsOwned", err)
	}
	if err := a.ProposeOwnership(ctx, 1, allBut(moved...)); err != nil {
		t.Fatal(err)
	}
	if err := a.ProposeMigrateEnd(ctx, job, true); err != nil {
		t.Fatalf("MigrateEnd on A: %v", err)
	}
	if err := b.ProposeMigrateEnd(ctx, job, true); err != nil {
		t.Fatalf("MigrateEnd on B: %v", err)
	}
	waitWrites("writes after the flip")
	close(stop)
	writerWG.Wait()

	mu.Lock()
	defer mu.Unlock()
	sameContents(t, "A at the fence vs. what A acknowledged", atFence, model)
	sameContents(t, "B vs. what A acknowledged", slotContents(b, moved), model)
	if left := slotContents(a, moved); len(left) != 0 {
		t.Fatalf("A still holds %d keys of the moved slots", len(left))
	}
	if len(a.MigrationJobs()) != 0 || len(b.MigrationJobs()) != 0 || a.Fenced(moved[0].Start) {
		t.Fatalf("jobs left: A %q, B %q", a.MigrationJobs(), b.MigrationJobs())
	}
	var k string
	for k = range model {
		break
	}
	if got := propose(t, b, cmd("SET", k, "on B")); got[0] != "+OK\r\n" {
		t.Fatalf("write to a moved key on B: %q", got)
	}
	if got := propose(t, a, cmd("SET", k, "on A")); got[0] != fmt.Sprintf("-NOTOWNER %d\r\n", shard.Slot(k)) {
		t.Fatalf("write to a moved key on A: %q", got)
	}
	t.Logf("moved %d keys in %d chunks, %d in deltas, fence at %d, %d writes, %d refused", len(model), m.chunks, deltaKeys, fi, writes.Load(), refused.Load())
}

// TestGroupMigrationErrors: the Group API's validation and the FSM's
// refusals come back as the documented errors.
func TestGroupMigrationErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a := startNamedGroup(t, "gA", true)
	b := startNamedGroup(t, "gB", false)
	slots := []shard.SlotRange{{Start: 10, End: 20}}
	term := a.Term()

	check := func(what string, err, want error) {
		t.Helper()
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", what, err, want)
		}
	}
	mustFail := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
	}
	mustFail("no slots", a.ProposeMigrateOut(ctx, "j", nil, "gB", 1))
	mustFail("bad range", a.ProposeMigrateOut(ctx, "j", []shard.SlotRange{{Start: 5, End: shard.NumSlots}}, "gB", 1))
	mustFail("empty job", a.ProposeMigrateOut(ctx, "", slots, "gB", 1))
	mustFail("long job", a.ProposeMigrateOut(ctx, strings.Repeat("j", maxName+1), slots, "gB", 1))
	if len(a.MigrationJobs()) != 0 {
		t.Fatal("an invalid proposal made a job")
	}
	check("migrate out", a.ProposeMigrateOut(ctx, "j", slots, "gB", 1), nil)
	check("same again", a.ProposeMigrateOut(ctx, "j", []shard.SlotRange{{Start: 15, End: 20}, {Start: 10, End: 14}}, "gB", 1), nil)
	check("other target", a.ProposeMigrateOut(ctx, "j", slots, "gC", 1), ErrJobConflict)
	check("overlapping job", a.ProposeMigrateOut(ctx, "j2", []shard.SlotRange{{Start: 20, End: 30}}, "gB", 1), ErrSlotsBusy)
	check("unowned slots", b.ProposeMigrateOut(ctx, "j3", slots, "gA", 1), ErrSlotsNotOwned)
	_, err := a.ProposeFence(ctx, "nope")
	check("fence unknown", err, ErrUnknownJob)
	check("end unknown", a.ProposeMigrateEnd(ctx, "nope", false), ErrUnknownJob)
	check("done while owning", a.ProposeMigrateEnd(ctx, "j", true), ErrSlotsOwned)

	check("ingest before reset", b.ProposeMigrationEntry(ctx, EncodeIngest(nil, "j", term, 0, nil)), ErrNotImporting)
	check("reset", b.ProposeMigrationEntry(ctx, EncodeIngestReset(nil, "j", slots, "gA", term+1)), nil)
	check("stale reset", b.ProposeMigrationEntry(ctx, EncodeIngestReset(nil, "j", slots, "gA", term)), ErrStaleSource)
	check("stale chunk", b.ProposeMigrationEntry(ctx, EncodeIngest(nil, "j", term, 0, nil)), ErrStaleSource)
	in := keyInSlot(15)
	check("chunk", b.ProposeMigrationEntry(ctx, EncodeIngest(nil, "j", term+1, 5, []IngestKey{
		{Key: []byte(in), Value: []byte("v")}, {Key: []byte(keyInSlot(30)), Value: []byte("ignored")}})), nil)
	check("fence entry", b.ProposeMigrationEntry(ctx, encodeFence(nil, "j")), ErrBadEntry)
	check("commands entry", b.ProposeMigrationEntry(ctx, EncodeCommands(nil, 1, [][][]byte{cmd("SET", "k", "v")})), ErrBadEntry)
	check("garbage", b.ProposeMigrationEntry(ctx, []byte{byte(entryIngest), versionIngest, 0xff}), ErrBadEntry)
	check("unknown type", b.ProposeMigrationEntry(ctx, []byte{200, 1}), ErrBadEntry)
	check("reset of owned slots", a.ProposeMigrationEntry(ctx, EncodeIngestReset(nil, "x", []shard.SlotRange{{Start: 100, End: 100}}, "gB", 1)), ErrSlotsOwned)
	if st, ok := b.Importing("j"); !ok || st.Watermark != 5 || st.Keys != 1 || st.MaxSourceTerm != term+1 {
		t.Fatalf("Importing = %+v, %v", st, ok)
	}
	if got := slotContents(b, []shard.SlotRange{{Start: 0, End: shard.NumSlots - 1}}); len(got) != 1 || got[in] != "v" {
		t.Fatalf("B holds %q", got)
	}
	check("abort on B", b.ProposeMigrateEnd(ctx, "j", false), nil)
	if got := slotContents(b, slots); len(got) != 0 {
		t.Fatalf("B holds %q after the abort", got)
	}
	check("abort on A", a.ProposeMigrateEnd(ctx, "j", false), nil)
	if len(a.MigrationJobs())+len(b.MigrationJobs()) != 0 {
		t.Fatal("jobs left after the aborts")
	}
	check("delayed reset of the aborted job", b.ProposeMigrationEntry(ctx, EncodeIngestReset(nil, "j", slots, "gA", term+1)), ErrJobEnded)
	check("restart of the aborted job", a.ProposeMigrateOut(ctx, "j", slots, "gB", 1), ErrJobEnded)
}

// TestFollowerGetsMigrationBySnapshot: an in-memory follower that joins
// after the log was compacted receives the migration state (fence and dirty
// indexes) in the snapshot the leader streams from its view store.
func TestFollowerGetsMigrationBySnapshot(t *testing.T) {
	gs := testNodesWith(t, 2, func(c *Config) { c.TrailingLogs = 0 })
	n1, n2 := gs[0], gs[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	propose(t, n1, cmd("SET", "{m}1", "a"))
	if err := n1.ProposeMigrateOut(ctx, "j", rangeM, "gB", 4); err != nil {
		t.Fatal(err)
	}
	propose(t, n1, cmd("SET", "{m}2", "b"), cmd("DEL", "{m}1"), cmd("SET", "{o}1", "c"))
	fi, err := n1.ProposeFence(ctx, "j")
	if err != nil {
		t.Fatal(err)
	}
	if err := n1.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n1.AddVoter(ctx, "n2", "n2"); err != nil {
		t.Fatal(err)
	}
	testutil.Until(t, 10*time.Second, "n2 to receive the snapshot", func() bool {
		_, ok := n2.MigrationOut("j")
		return ok
	})
	want, _ := n1.MigrationOut("j")
	got, _ := n2.MigrationOut("j")
	if fmt.Sprint(got) != fmt.Sprint(want) || !got.Fenced || got.FenceIndex != fi || !n2.Fenced(slotM) {
		t.Fatalf("n2's job %+v, want %+v", got, want)
	}
	dirtyOf := func(g *Group) []string {
		g.Store().RLock()
		defer g.Store().RUnlock()
		return g.DirtyKeys("j", 0, fi, nil)
	}
	if g, w := fmt.Sprint(sortedStrings(dirtyOf(n2))), fmt.Sprint(sortedStrings(dirtyOf(n1))); g != w || w != "[{m}1 {m}2]" {
		t.Fatalf("n2's dirty keys %s, n1's %s, want [{m}1 {m}2]", g, w)
	}
	// raft records the installed snapshot just after the FSM restored it.
	testutil.Until(t, 5*time.Second, "n2 to have caught up by a snapshot, not from the log", func() bool {
		return statUint(t, n2, "last_snapshot_index") != 0
	})
	// Its status counts the snapshot as applied (the balancer's catch-up
	// check reads it), though no entry applied since.
	if got, snap := n2.Status().AppliedIndex, statUint(t, n2, "last_snapshot_index"); got < snap {
		t.Fatalf("n2 reports applied index %d after restoring the snapshot at %d", got, snap)
	}
}

// keyInSlot returns a key of slot.
func keyInSlot(slot int) string {
	for i := 0; ; i++ {
		if k := fmt.Sprintf("k:%d", i); shard.Slot(k) == slot {
			return k
		}
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

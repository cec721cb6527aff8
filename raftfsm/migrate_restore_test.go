package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// diskGroup is a single-voter group with a data directory (raft-boltdb
// log, file snapshots), which restart snapshots, stops and starts again:
// the new replica's FSM is restored from the snapshot (FSM.Snapshot,
// Persist, then FSM.Restore in raft.NewRaft) and elects itself at a higher
// term, as a group's new leader would.
type diskGroup struct {
	id, dir string
	ownAll  bool
	g       *Group
}

func startDiskGroup(t *testing.T, id string, ownAll bool) *diskGroup {
	t.Helper()
	d := &diskGroup{id: id, dir: t.TempDir(), ownAll: ownAll}
	d.start(t)
	return d
}

func (d *diskGroup) start(t *testing.T) {
	t.Helper()
	cfg := testConfig(d.dir)
	cfg.GroupID = d.id
	cfg.OwnAllSlots = d.ownAll
	cfg.Logger = testutil.Logger(t)
	addr, trans := raft.NewInmemTransport(raft.ServerAddress(d.id))
	cfg.Transport = trans
	cfg.Bootstrap = []raft.Server{{Suffrage: raft.Voter, ID: cfg.NodeID, Address: addr}}
	d.g, _ = startGroup(t, cfg)
}

// groupState is what a group's migration state and data look like, for
// comparing a group before and after a restore.
type groupState struct {
	jobs      []string
	out, in   string
	dirty     []string
	fenced    []bool
	owned     string
	store     map[string]kv
	lastIndex uint64
}

func stateOf(g *Group, job string, slots []shard.SlotRange) groupState {
	s := groupState{jobs: g.MigrationJobs(), store: storeMap(g.Store()), lastIndex: g.AppliedIndex()}
	if st, ok := g.MigrationOut(job); ok {
		s.out = fmt.Sprintf("%+v", st)
	}
	if st, ok := g.Importing(job); ok {
		s.in = fmt.Sprintf("%+v", st)
	}
	// Every dirty key: a replica restored from a snapshot reports
	// AppliedIndex 0 until it applies an entry (FSM.Restore does not learn
	// the snapshot's index).
	g.Store().RLock()
	s.dirty = sortedStrings(g.DirtyKeys(job, 0, math.MaxUint64, nil))
	g.Store().RUnlock()
	for _, r := range slots {
		s.fenced = append(s.fenced, g.Fenced(r.Start), g.Fenced(r.End))
	}
	e, owned := g.Ownership()
	s.owned = fmt.Sprint(e, owned)
	return s
}

// restart snapshots the group, stops it, starts it again from its data
// directory and checks that its migration state, data and ownership are
// those it had, restored from the snapshot rather than replayed from the
// log.
func (d *diskGroup) restart(t *testing.T, job string, slots []shard.SlotRange) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.g.Snapshot(ctx); err != nil {
		t.Fatalf("snapshot of %s: %v", d.id, err)
	}
	before, term := stateOf(d.g, job, slots), d.g.Term()
	shutdown(t, d.g)
	d.start(t)
	if n := statUint(t, d.g, "last_snapshot_index"); n < before.lastIndex {
		t.Fatalf("%s restarted from a snapshot at %d, below its applied index %d", d.id, n, before.lastIndex)
	}
	after := stateOf(d.g, job, slots)
	if d.g.Term() <= term {
		t.Fatalf("%s restarted at term %d, not above %d", d.id, d.g.Term(), term)
	}
	what := d.id + " after restore"
	if fmt.Sprint(after.jobs, after.out, after.in, after.dirty, after.fenced, after.owned) !=
		fmt.Sprint(before.jobs, before.out, before.in, before.dirty, before.fenced, before.owned) {
		t.Fatalf("%s: jobs %v out %s in %s dirty %v fenced %v owned %s; before: jobs %v out %s in %s dirty %v fenced %v owned %s",
			what, after.jobs, after.out, after.in, after.dirty, after.fenced, after.owned,
			before.jobs, before.out, before.in, before.dirty, before.fenced, before.owned)
	}
	sameMap(t, what, after.store, before.store)
	if t.Failed() {
		t.FailNow()
	}
}

// Restore points: the boundaries of a migration at which the source, the
// target or both are snapshotted and restored (docs/migration.md, "Phases").
const (
	atMigrateOut  = "migrate-out"  // MigrateOut applied in the source
	atIngestReset = "ingest-reset" // IngestReset applied in the target
	atMidCopy     = "mid-copy"     // half of the full copy ingested
	atCopied      = "copied"       // full copy and one delta round ingested
	atFenced      = "fenced"       // Fence applied in the source
	atLastDelta   = "last-delta"   // the last delta ingested
	atFlipped     = "flipped"      // the target owns the slots, the source not
	atEnded       = "ended"        // MigrateEnd(done) applied in both
)

// restoreRun moves the slots of job from a to b by hand (as the real
// mover and the controller do), with writes to a and b at every boundary,
// restoring which ("source", "target" or "both") at point.
type restoreRun struct {
	t      *testing.T
	ctx    context.Context
	job    string
	moved  []shard.SlotRange
	set    shard.SlotSet
	a, b   *diskGroup
	point  string
	which  string
	done   bool // the restart happened
	rng    *rand.Rand
	seq    int
	keys   []string          // every key written
	model  map[string]string // acknowledged values
	flip   bool              // the simulated map gives the slots to b
	movers int
	// lastTerm is the term of the last mover (0: none yet).
	lastTerm uint64
}

// write makes four writes, through the group that owns the key's slot in
// the simulated map, and records those acknowledged.
func (r *restoreRun) write() {
	r.t.Helper()
	for i := 0; i < 4; i++ {
		r.seq++
		k := r.keys[r.rng.IntN(len(r.keys))]
		c := cmd("SET", k, "v"+strconv.Itoa(r.seq))
		if r.rng.IntN(4) == 0 {
			c = cmd("DEL", k)
		}
		g := r.a.g
		if r.flip && r.set.Has(shard.Slot(k)) {
			g = r.b.g
		}
		reply := propose(r.t, g, c)[0]
		if _, refused := ParseNotOwner([]byte(reply)); refused {
			continue
		}
		if string(c[0]) == "SET" {
			r.model[k] = string(c[2])
		} else {
			delete(r.model, k)
		}
	}
}

// at is a boundary: the run writes, and at its point restarts the groups
// it restores. It reports whether the source restarted, which ends the
// running mover m (its leader is gone); otherwise m goes on, with the
// restarted target.
func (r *restoreRun) at(point string, m *mover) bool {
	r.t.Helper()
	r.write()
	if point != r.point || r.done {
		return false
	}
	defer func() { m.dst = r.b.g }()
	r.done = true
	if r.which != "target" {
		r.a.restart(r.t, r.job, r.moved)
	}
	if r.which != "source" {
		r.b.restart(r.t, r.job, r.moved)
	}
	r.write() // the restored source records dirty keys, the target keeps refusing
	return r.which != "target"
}

// move is one mover, at the source's current term, from the start: it
// returns early when the source restarted under it.
func (r *restoreRun) move() {
	t := r.t
	r.movers++
	// A source restart ends this mover; a target restart changes m.dst.
	a := r.a.g
	m := &mover{t: t, ctx: r.ctx, job: r.job, slots: r.moved, src: a, dst: r.b.g, term: a.Term()}
	defer func() { r.lastTerm = m.term }()
	if _, ok := a.MigrationOut(r.job); !ok {
		if err := a.ProposeMigrateOut(r.ctx, r.job, r.moved, r.b.id, 1); err != nil {
			t.Fatalf("MigrateOut: %v", err)
		}
	}
	if r.at(atMigrateOut, m) {
		return
	}
	if err := m.dst.ProposeMigrationEntry(r.ctx, EncodeIngestReset(nil, r.job, r.moved, r.a.id, m.term)); err != nil {
		t.Fatalf("IngestReset at term %d: %v", m.term, err)
	}
	if r.lastTerm != 0 && r.lastTerm < m.term {
		// A chunk of the replaced mover's term is refused now.
		stale := EncodeIngest(nil, r.job, r.lastTerm, 0, []IngestKey{{Key: []byte(r.keys[0]), Value: []byte("stale")}})
		if err := m.dst.ProposeMigrationEntry(r.ctx, stale); !errors.Is(err, ErrStaleSource) {
			t.Fatalf("chunk of the replaced term: %v, want ErrStaleSource", err)
		}
	}
	if r.at(atIngestReset, m) {
		return
	}
	keys, upTo := m.full()
	half := len(keys) / 2
	m.ship(keys[:half], 0)
	if r.at(atMidCopy, m) {
		return
	}
	m.ship(keys[half:], upTo)
	out, _ := a.MigrationOut(r.job)
	if !out.Fenced {
		var next uint64
		keys, next = m.delta(upTo)
		m.ship(keys, next)
		upTo = next
	}
	if r.at(atCopied, m) {
		return
	}
	fi, err := a.ProposeFence(r.ctx, r.job)
	if err != nil {
		t.Fatalf("Fence: %v", err)
	}
	if r.at(atFenced, m) {
		return
	}
	keys, _ = m.delta(upTo)
	m.ship(keys, fi)
	if st, ok := m.dst.Importing(r.job); !ok || st.Watermark < fi {
		t.Fatalf("target's import before the flip: %+v, %v; want a watermark of at least %d", st, ok, fi)
	}
	if r.at(atLastDelta, m) {
		return
	}
	r.flip = true
	r.own()
	if r.at(atFlipped, m) {
		return
	}
	r.end()
	r.at(atEnded, m)
}

// own commits the ownership of the flipped map in both groups, as their
// leaders' controllers do.
func (r *restoreRun) own() {
	if err := r.b.g.ProposeOwnership(r.ctx, 1, r.moved); err != nil {
		r.t.Fatal(err)
	}
	if err := r.a.g.ProposeOwnership(r.ctx, 1, allBut(r.moved...)); err != nil {
		r.t.Fatal(err)
	}
}

// end ends the job in each group that still runs it, as the controller
// does once the map flipped.
func (r *restoreRun) end() {
	for _, g := range []*Group{r.a.g, r.b.g} {
		if !slices.Contains(g.MigrationJobs(), r.job) {
			continue
		}
		if err := g.ProposeMigrateEnd(r.ctx, r.job, true); err != nil {
			r.t.Fatalf("MigrateEnd in %s: %v", g.ID(), err)
		}
	}
}

// TestMigrationResumesAfterRestore snapshots and restores the source, the
// target or both at every boundary of a migration (after MigrateOut,
// IngestReset, mid copy, after the copy, Fence, the last delta, the flip
// and MigrateEnd), and checks that each restored FSM holds the state it
// had (job, dirty keys, fence, watermark, ownership, data) and that the
// job then finishes correctly: a source restart ends its mover and a new
// one, at the new term, starts over with IngestReset (the replaced term's
// chunks are refused); a target-only restart lets the mover go on; after
// the flip the groups only end the job. In the end the target holds
// exactly the acknowledged values of the moved slots, the source none of
// them and the rest unchanged, no job is left, and neither group starts
// the ended job again.
func TestMigrationResumesAfterRestore(t *testing.T) {
	seed := testutil.Seed(t)
	points := []string{atMigrateOut, atIngestReset, atMidCopy, atCopied, atFenced, atLastDelta, atFlipped, atEnded}
	for _, point := range points {
		for _, which := range []string{"source", "target", "both"} {
			t.Run(point+"/"+which, func(t *testing.T) {
				testRestoreAt(t, seed, point, which)
			})
		}
	}
}

func testRestoreAt(t *testing.T, seed uint64, point, which string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := &restoreRun{t: t, ctx: ctx, job: "j1", point: point, which: which,
		moved: []shard.SlotRange{{Start: 0, End: shard.NumSlots/4 - 1}},
		a:     startDiskGroup(t, "gA", true), b: startDiskGroup(t, "gB", false),
		rng: rand.New(rand.NewPCG(seed, 1)), model: map[string]string{}}
	r.set.AddRange(r.moved[0])
	var init [][][]byte
	for i := 0; i < 200; i++ {
		k := "k:" + strconv.Itoa(i)
		r.keys = append(r.keys, k)
		r.model[k] = "init"
		init = append(init, cmd("SET", k, "init"))
	}
	propose(t, r.a.g, init...)

	for !r.flip || len(r.a.g.MigrationJobs())+len(r.b.g.MigrationJobs()) > 0 {
		if r.movers > 3 {
			t.Fatal("the job did not finish after 3 movers")
		}
		if r.flip {
			// The map is flipped: no mover; the controller ends the job
			// in each group (ownership came back with the snapshots).
			r.end()
			break
		}
		r.move()
	}
	if !r.done {
		t.Fatalf("restore point %s never reached", point)
	}
	r.write()

	a, b := r.a.g, r.b.g
	want := map[string]kv{}
	wantA := map[string]kv{}
	for k, v := range r.model {
		if r.set.Has(shard.Slot(k)) {
			want[k] = kv{val: v}
		} else {
			wantA[k] = kv{val: v}
		}
	}
	if len(want) == 0 || len(wantA) == 0 {
		t.Fatal("no key in the moved slots or outside them")
	}
	sameMap(t, "target", storeMap(b.Store()), want)
	sameMap(t, "source", storeMap(a.Store()), wantA)
	if jobs := append(a.MigrationJobs(), b.MigrationJobs()...); len(jobs) != 0 || a.Fenced(0) {
		t.Fatalf("jobs left %v, fenced %v", jobs, a.Fenced(0))
	}
	if !b.Owns(0) || a.Owns(0) || !a.Owns(shard.NumSlots-1) || b.Owns(shard.NumSlots-1) {
		t.Fatal("ownership does not match the flip")
	}
	// Both remember the ended job, restored or not: it cannot start again.
	for _, g := range []*Group{a, b} {
		if err := g.ProposeMigrateOut(ctx, r.job, r.moved, "gX", 1); !errors.Is(err, ErrJobEnded) {
			t.Fatalf("MigrateOut of the ended job in %s: %v, want ErrJobEnded", g.ID(), err)
		}
	}
	t.Logf("%d movers, %d keys in the moved slots, %d outside", r.movers, len(want), len(wantA))
}

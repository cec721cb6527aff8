package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
	"github.com/shoalcache/shoal/shard"
)

// Failpoint tests of the real mover (migrate.go), driven by the real
// controller, placement service and group-rpc stream of a one-node cluster
// on loopback with two groups, g0 and g1. The hook (failpoint.go) stops or
// disturbs the mover at each phase boundary; at every boundary it also
// writes to the keys of the job's slots and of other slots, through the
// group the map names, keeping a model of the acknowledged writes. After
// the job ended in the map and in both groups the test checks that every
// key is in exactly the group the map gives its slot, with its last
// acknowledged value, that the groups' FSMs own what the map says, and
// that nothing is fenced or left of the job.
//
// With one node, a restarted mover runs at the same Raft term as the one
// that failed (the controller retries), so a source leader change is
// simulated by the "deposed" mode: a successor mover at term+1, which is
// what a new source leader's mover is to the meta group (the claim) and to
// the target (the IngestReset's source term).

// errFailpoint is the crash a failpoint injects.
var errFailpoint = errors.New("simulated mover crash")

// fpCluster is a one-node cluster with groups g0 and g1 and a model of the
// keys the test wrote.
type fpCluster struct {
	cs  *clusterState
	ctx context.Context // bounds the whole test

	// moved are keys of the slots the jobs move (moveSlots), others keys
	// of slots no job moves.
	moved, others []string

	// mu serializes the test's writes with the final checks: a write is
	// proposed and recorded under it.
	mu     sync.Mutex
	rng    *rand.Rand
	model  map[string]string // the acknowledged value of each key; absent: deleted
	seq    int
	acked  int
	refuse int
}

// moveSlots are the slots every job of these tests moves, back and forth
// between g0 and g1; otherSlots stay in g0.
var (
	moveSlots  = topology.SlotRange{Start: 0, End: 63}
	otherSlots = topology.SlotRange{Start: 100, End: 199}
)

func startFPCluster(t *testing.T, seed uint64) *fpCluster {
	t.Helper()
	lg := testutil.Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	// Installed before the node starts, so that the reset runs after the
	// node's shutdown.
	t.Cleanup(func() { moverHook.Store(nil) })

	cfg := DefaultConfig()
	cfg.ID = nid('f')
	ports := testutil.FreePorts(t, 3)
	cfg.Port, cfg.ClusterPort, cfg.GossipPort = ports[0], ports[1], ports[2]
	cfg.BootstrapExpect, cfg.Groups, cfg.Replicas = 1, 2, 1
	cfg.Controller.Interval = 20 * time.Millisecond
	cfg.Migration.ChunkBytes = 1024 // several chunks: a mid-copy boundary
	cfg.Migration.FenceKeys = 0     // any dirty key makes a delta round
	cfg.Migration.MaxRounds = 2
	cfg.Migration.RPCTimeout = 5 * time.Second
	cfg.Logger = lg
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		if err := n.Shutdown(sctx); err != nil {
			t.Logf("shutdown: %v", err)
		}
	})
	f := &fpCluster{cs: n.cluster, ctx: ctx, rng: rand.New(rand.NewPCG(seed, 8)), model: map[string]string{}}
	testutil.Eventually(t, 30*time.Second, "g0 and g1 to be formed and led here", func() error {
		m := f.cs.pl.Map()
		if m == nil {
			return errors.New("no map")
		}
		for _, gid := range []string{"g0", "g1"} {
			g := f.cs.localGroup(gid)
			if g == nil || !g.Ready() || !g.Formed() {
				return fmt.Errorf("group %s not ready here", gid)
			}
		}
		for _, r := range []topology.SlotRange{moveSlots, otherSlots} {
			for s := r.Start; s <= r.End; s++ {
				if m.SlotGroup(s).ID != "g0" || !f.cs.localGroup("g0").Owns(s) {
					return fmt.Errorf("slot %d not in g0 yet", s)
				}
			}
		}
		return nil
	})
	for i := 0; len(f.moved) < 200 || len(f.others) < 40; i++ {
		k := "k:" + strconv.Itoa(i)
		switch s := shard.Slot(k); {
		case s >= moveSlots.Start && s <= moveSlots.End && len(f.moved) < 200:
			f.moved = append(f.moved, k)
		case s >= otherSlots.Start && s <= otherSlots.End && len(f.others) < 40:
			f.others = append(f.others, k)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range append(slices.Clone(f.moved), f.others...) {
		if err := f.writeLocked(k, "init"); err != nil {
			t.Fatal(err)
		}
	}
	if f.refuse != 0 {
		t.Fatalf("%d initial writes refused", f.refuse)
	}
	return f
}

// writeLocked sets k to v (or deletes it, v empty) through the group the
// map gives k's slot, and records the write in the model when the group
// acknowledged it (not when it refused the slot: unowned or fenced).
// f.mu is held.
func (f *fpCluster) writeLocked(k, v string) error {
	gid := f.cs.pl.Map().SlotGroup(shard.Slot(k)).ID
	g := f.cs.localGroup(gid)
	if g == nil {
		return fmt.Errorf("no local replica of %s", gid)
	}
	c := [][]byte{[]byte("SET"), []byte(k), []byte(v)}
	if v == "" {
		c = [][]byte{[]byte("DEL"), []byte(k)}
	}
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	r, err := g.Propose(ctx, [][][]byte{c})
	if err != nil {
		return fmt.Errorf("write %s to %s: %w", k, gid, err)
	}
	reply := r.Get(0)
	if _, refused := raftfsm.ParseNotOwner(reply); refused {
		f.refuse++
		return nil
	}
	if reply[0] == '-' {
		return fmt.Errorf("write %s to %s: %q", k, gid, reply)
	}
	f.acked++
	if v == "" {
		delete(f.model, k)
	} else {
		f.model[k] = v
	}
	return nil
}

// writeSomeLocked writes four keys: a SET of a moved key (so that every boundary
// after MigrateOut leaves a dirty key), then random SETs and DELs of moved
// and other keys.
func (f *fpCluster) writeSomeLocked() error {
	for i := 0; i < 4; i++ {
		f.seq++
		k := f.moved[f.rng.IntN(len(f.moved))]
		if i > 0 && f.rng.IntN(5) == 0 {
			k = f.others[f.rng.IntN(len(f.others))]
		}
		v := "v" + strconv.Itoa(f.seq)
		if i > 0 && f.rng.IntN(4) == 0 {
			v = ""
		}
		if err := f.writeLocked(k, v); err != nil {
			return err
		}
	}
	return nil
}

// fpRun is one job under a failpoint: what the hook saw.
type fpRun struct {
	f     *fpCluster
	job   string
	mode  string // "crash", "abort", "deposed" or "replay"
	phase string // the boundary of the failpoint

	// Under f.mu.
	closed  bool                // the run's checks began: the hook no longer acts
	fired   bool                // the failpoint's action ran
	phases  map[uint64][]string // boundaries passed, by mover term
	starts  int                 // movers started
	errs    []string            // what went wrong on hook goroutines
	oldTerm uint64              // deposed: the term the successor replaced
}

func (r *fpRun) errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// hook is the mover hook of the run: it writes, and at r.phase, the first
// time, carries out r.mode.
func (r *fpRun) hook(mv *mover, phase string) error {
	f := r.f
	if mv.cs != f.cs {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.closed || mv.job.ID != r.job {
		return errFailpoint // a mover of an earlier job: let it stop
	}
	r.phases[mv.term] = append(r.phases[mv.term], phase)
	if phase == phaseStart {
		r.starts++
	}
	if err := f.writeSomeLocked(); err != nil {
		r.errorf("at %s: %v", phase, err)
	}
	if phase != r.phase || r.fired {
		return nil
	}
	r.fired = true
	switch r.mode {
	case "crash":
		return errFailpoint
	case "abort":
		// The mover is not told: it goes on and must not flip.
		err := f.cs.CancelJob(f.ctx, r.job)
		if phase == phaseFlip {
			if !errors.Is(err, server.ErrJobNotActive) {
				r.errorf("cancel after the flip: %v, want ErrJobNotActive", err)
			}
		} else if err != nil {
			r.errorf("cancel at %s: %v", phase, err)
		}
		return nil
	case "deposed":
		// A successor at a higher term (a new source leader's mover) runs
		// the job to its end while this one waits here; then this one goes
		// on with its stale term.
		r.oldTerm = mv.term
		succ := &mover{cs: mv.cs, cfg: mv.cfg, log: mv.log, job: mv.job, g: mv.g, term: mv.term + 1, life: mv.life}
		f.mu.Unlock()
		err := succ.run(f.ctx)
		f.mu.Lock()
		if phase == phaseFlip {
			// The job was flipped: the successor's claim (or its
			// MigrateOut, if the source already ended the job) fails and
			// nothing is reset in the target.
			if err == nil || slices.Contains(r.phases[succ.term], phaseIngestReset) {
				r.errorf("successor after the flip: %v, passed %v", err, r.phases[succ.term])
			}
		} else if err != nil {
			r.errorf("successor: %v", err)
		}
		return nil
	case "replay":
		// The controller starts a mover of the same term again from a map
		// older than the flip (this node's map may lag): it must stop at
		// its claim, before IngestReset would wipe the target's copy.
		before := len(r.phases[mv.term])
		again := &mover{cs: mv.cs, cfg: mv.cfg, log: mv.log, job: mv.job, g: mv.g, term: mv.term, life: mv.life}
		f.mu.Unlock()
		err := again.run(f.ctx)
		f.mu.Lock()
		replayed := r.phases[mv.term][before:]
		if err == nil || slices.Contains(replayed, phaseIngestReset) {
			r.errorf("same-term mover after the flip: %v, passed %v", err, replayed)
		}
		return nil
	}
	r.errorf("unknown mode %q", r.mode)
	return nil
}

// checkStale runs, in deposed mode, once the successor holds the claim and
// has reset the target: the old term can neither claim nor flip, and the
// target refuses its chunks.
func (r *fpRun) checkStale(mv *mover, phase string) {
	if r.mode != "deposed" || phase != phaseIngestReset || mv.term != r.oldTerm+1 || r.oldTerm == 0 {
		return
	}
	pl := r.f.cs.pl
	if err := pl.ClaimJob(r.f.ctx, r.job, r.oldTerm); !errors.Is(err, placement.ErrNotCopier) {
		r.errorf("claim by the replaced term: %v, want ErrNotCopier", err)
	}
	if err := pl.FlipClaimedJob(r.f.ctx, r.job, r.oldTerm, 0, 0); !errors.Is(err, placement.ErrNotCopier) {
		r.errorf("flip by the replaced term: %v, want ErrNotCopier", err)
	}
	old := &mover{cs: mv.cs, cfg: mv.cfg, log: mv.log, job: mv.job, g: mv.g, term: r.oldTerm, life: mv.life}
	k := raftfsm.IngestKey{Key: []byte(r.f.moved[0]), Value: []byte("stale")}
	data := raftfsm.EncodeIngest(appendRPCHeader(nil, rpcIngest, mv.job.Target), mv.job.ID, r.oldTerm, 0, []raftfsm.IngestKey{k})
	if err := old.ship(r.f.ctx, data); !errors.Is(err, errRPCStale) {
		r.errorf("chunk of the replaced term: %v, want errRPCStale", err)
	}
}

// runJob creates a job moving moveSlots to the group that does not own
// them, with the hook set for mode at phase, waits until the job ended in
// the map and in both groups, and checks the outcome and the keys. A
// failpoint never reached fails the test, the flip's included: the
// controller cancels a mover as soon as its map shows the job ended, but
// the flip runs under the node's lifetime, so the mover learns that its
// flip committed and passes the boundary (soon after the map shows it).
func (f *fpCluster) runJob(t *testing.T, mode, phase string) {
	t.Helper()
	m := f.cs.pl.Map()
	src := m.SlotGroup(moveSlots.Start).ID
	dst := map[string]string{"g0": "g1", "g1": "g0"}[src]
	r := &fpRun{f: f, mode: mode, phase: phase, phases: map[uint64][]string{}}
	hook := func(mv *mover, p string) error {
		err := r.hook(mv, p)
		if err == nil {
			f.mu.Lock()
			if !r.closed && mv.job.ID == r.job {
				r.checkStale(mv, p)
			}
			f.mu.Unlock()
		}
		return err
	}
	// The job id is known once Migrate returns; a mover the controller
	// starts before that waits on f.mu.
	f.mu.Lock()
	moverHook.Store(&hook)
	id, err := f.cs.Migrate(f.ctx, []topology.SlotRange{moveSlots}, dst)
	if err != nil {
		f.mu.Unlock()
		t.Fatalf("migrate %s -> %s: %v", src, dst, err)
	}
	r.job = id
	f.mu.Unlock()
	t.Cleanup(func() {
		f.mu.Lock()
		r.closed = true
		f.mu.Unlock()
		// A job a failed check left active would block the next one.
		if j := f.cs.pl.Map().Job(id); j != nil && j.Active() {
			_ = f.cs.CancelJob(f.ctx, id)
		}
	})

	g := map[string]*raftfsm.Group{"g0": f.cs.localGroup("g0"), "g1": f.cs.localGroup("g1")}
	testutil.Eventually(t, 60*time.Second, "the job to end in the map, in both groups and in their ownership", func() error {
		m := f.cs.pl.Map()
		j := m.Job(id)
		if j == nil || j.Active() {
			return fmt.Errorf("job %+v", j)
		}
		for gid, grp := range g {
			if jobs := grp.MigrationJobs(); len(jobs) != 0 {
				return fmt.Errorf("%s still runs %v", gid, jobs)
			}
		}
		for s := moveSlots.Start; s <= moveSlots.End; s++ {
			owner := m.SlotGroup(s).ID
			other := map[string]string{"g0": "g1", "g1": "g0"}[owner]
			if !g[owner].Owns(s) || g[other].Owns(s) {
				return fmt.Errorf("slot %d: map says %s, g0 owns %v, g1 owns %v", s, owner, g["g0"].Owns(s), g["g1"].Owns(s))
			}
		}
		return nil
	})

	// The map can show the job ended before the mover passes the
	// boundary after its flip (FlipClaimedJob returns after the apply that
	// the controller reacts to), so the failpoint is waited for too.
	testutil.Eventually(t, 10*time.Second, "the failpoint at "+phase+" to be reached", func() error {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !r.fired {
			return fmt.Errorf("boundaries passed: %v", r.phases)
		}
		return nil
	})
	f.mu.Lock()
	r.closed = true
	f.mu.Unlock()
	for _, e := range r.errs {
		t.Error(e)
	}

	// The outcome.
	m = f.cs.pl.Map()
	j := m.Job(id)
	wantDone := mode != "abort" || phase == phaseFlip
	if (j.Phase == topology.JobDone) != wantDone {
		t.Fatalf("job ended %s (%s), want done %v", j.Phase, j.Reason, wantDone)
	}
	owner := src
	if wantDone {
		owner = dst
	}
	if got := m.SlotGroup(moveSlots.Start).ID; got != owner {
		t.Fatalf("the map gives the slots to %s, want %s", got, owner)
	}
	switch {
	case mode == "crash" && phase != phaseFlip && r.starts < 2:
		t.Fatalf("%d movers started: the failed one was not replaced", r.starts)
	case mode == "deposed" && phase != phaseFlip:
		if j.Copier != r.oldTerm+1 {
			t.Fatalf("the job was flipped under the claim of term %d, want the successor's %d", j.Copier, r.oldTerm+1)
		}
		// The replaced mover went on after the failpoint but never got
		// its flip through.
		ph := r.phases[r.oldTerm]
		if i := slices.Index(ph, phase); slices.Contains(ph[i+1:], phaseFlip) {
			t.Fatalf("the replaced mover flipped: %v", ph)
		}
	}
	f.checkKeys(t, g, m)
	t.Logf("job %s %s -> %s: %s; failpoint fired %v; movers %d, boundaries by term %v; writes acked %d, refused %d",
		id, src, dst, j.Phase, r.fired, r.starts, r.phases, f.acked, f.refuse)
}

// checkKeys checks that every key is in the group the map gives its slot
// only, with its last acknowledged value, and that nothing is fenced.
func (f *fpCluster) checkKeys(t *testing.T, g map[string]*raftfsm.Group, m *placement.Map) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for gid, grp := range g {
		st := grp.Store()
		st.RLock()
		for _, r := range []topology.SlotRange{moveSlots, otherSlots} {
			for s := r.Start; s <= r.End; s++ {
				if grp.Fenced(s) {
					t.Errorf("slot %d fenced in %s", s, gid)
				}
				st.RangeSlot(s, func(k string, e *shard.Entry) bool {
					want, ok := f.model[k]
					switch owner := m.SlotGroup(s).ID; {
					case owner != gid:
						t.Errorf("key %q in %s, but the map gives slot %d to %s", k, gid, s, owner)
					case !ok:
						t.Errorf("key %q in %s was deleted", k, gid)
					case string(e.Value) != want:
						t.Errorf("key %q in %s = %q, want %q", k, gid, e.Value, want)
					}
					return true
				})
			}
		}
		st.RUnlock()
	}
	for k, v := range f.model {
		grp := g[m.SlotGroup(shard.Slot(k)).ID]
		st := grp.Store()
		st.RLock()
		e := st.Peek([]byte(k))
		st.RUnlock()
		if e == nil {
			t.Errorf("key %q = %q lost: not in %s", k, v, grp.ID())
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// TestMoverFailpoints runs a job with the mover stopped or disturbed at
// each phase boundary, in three modes:
//
//   - crash: the mover fails there; the controller starts a new one, which
//     finishes the job (after the flip: nothing is left to do);
//   - abort: the job is cancelled there while the mover goes on; the job
//     ends aborted, with the keys in the source, the target's copy deleted
//     and the fence lifted (after the flip the cancel is refused and the
//     job is done);
//   - deposed: a successor mover at a higher term runs the job to its end
//     there, then the first one goes on with its stale term: the
//     successor's claim makes the old term's claim, flip and chunks fail,
//     and the old mover never flips (after the flip, the successor's claim
//     fails and resets nothing);
//   - replay (at the flip only): a mover of the same term runs again with
//     the job as it was before the flip, as a controller acting on a map
//     older than the flip would start it; its claim is refused and it
//     resets nothing.
//
// In every case no acknowledged write is lost, no key is in two groups and
// the groups' ownership matches the map. Each mode runs its jobs one after
// the other on one node, moving the slots back and forth.
func TestMoverFailpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster node and 30 jobs")
	}
	seed := testutil.Seed(t)
	for _, mode := range []string{"crash", "abort", "deposed", "replay"} {
		t.Run(mode, func(t *testing.T) {
			f := startFPCluster(t, seed)
			phases := moverPhases
			if mode == "replay" {
				phases = []string{phaseFlip}
			}
			for _, phase := range phases {
				t.Run(phase, func(t *testing.T) { f.runJob(t, mode, phase) })
			}
		})
	}
}

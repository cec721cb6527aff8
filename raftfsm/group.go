package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/shoalcache/shoal/internal/logging"
	"github.com/shoalcache/shoal/shard"
)

// Group is one Raft group on this node: its raft.Raft, its FSM and the
// proposer that packs concurrent writes into shared log entries.
//
// Propose, IsLeader, Ready and the accessors are safe for concurrent use.
type Group struct {
	cfg  Config
	raft *raft.Raft
	fsm  *FSM
	log  *slog.Logger

	closers []func() error

	reqs     chan *request
	inflight chan inflight
	// slots holds a token for each entry proposed and not answered yet:
	// the batcher takes one before it packs an entry, finish gives it
	// back, so that at most MaxInflight entries are in flight and the
	// requests arriving meanwhile join the next entry (group commit).
	slots chan struct{}
	stop  chan struct{}
	wg    sync.WaitGroup
	// raftDown is closed once raft has shut down: a future it has not
	// answered by then never will be. down is closed once the batcher and
	// the waiter have exited: nothing answers a queued request any more.
	raftDown chan struct{}
	down     chan struct{}
	// enqMu and closed order the proposers' sends on reqs before the
	// batcher's last drain (failQueued): a proposer sends under a read
	// lock, and only while closed is false; the batcher sets closed under
	// the write lock before it drains. So every queued request is
	// answered, and await waits on the request's own channel alone (a
	// receive, not a select: 0.1 µs less per request).
	enqMu  sync.RWMutex
	closed bool

	// ready is true while this node is leader and has applied every entry
	// committed by earlier terms (a Barrier succeeded in this term).
	ready atomic.Bool
	// barrier applies every entry committed before it (raft.Barrier);
	// a field so that a test can make it fail (barrierAfterElection).
	barrier  func() error
	lastSave atomic.Int64
	verify   verifier
	sole     atomic.Bool
	// lease lets the leader serve linearizable reads without a round
	// (lease.go).
	lease readLease
	// formed is false while the group's Raft configuration lacks members
	// the placement map gives it (see SetFormed).
	formed atomic.Bool
	// guard keeps a replica that started without state out of elections
	// until it has caught up (nil with a non-network transport).
	guard    *VoteGuard
	shutOnce sync.Once

	// A leadership transfer holds new entries back and lets the ones in
	// flight commit first (members.go, TransferLeadership), so that it
	// fails no proposal as indeterminate. applyMu orders the batcher's
	// raft.Apply with the transfer setting gate; gate, when not nil, is
	// closed when the transfer ends; pending counts the batcher's entries
	// proposed and not answered yet; transferMu serialises transfers.
	applyMu    sync.Mutex
	gate       chan struct{}
	pending    atomic.Int64
	transferMu sync.Mutex

	// stats are the counters Metrics reports (metrics.go).
	stats groupStats

	// cohort is the batcher's wait for the proposers of the entry just
	// answered (cohort.go).
	cohort cohort
	// trailing is the TrailingLogs last given to raft, 0 for
	// Config.TrailingLogs (compactor goroutine only; trailing.go).
	trailing uint64
}

// queueLen is how many proposals may wait for the batcher; Propose waits
// for room beyond that, and TryPropose gives up.
const queueLen = 4096

type request struct {
	cmds  [][][]byte
	db    int    // the database of cmds
	gen   uint64 // cohort.gen when queued
	res   *Result
	first int
	err   error
	done  chan struct{}
}

type inflight struct {
	f     raft.ApplyFuture
	batch []*request
	// list holds batch, for batchPool once the batch is answered.
	list *[]*request
	// start is when the entry was proposed (for Metrics).
	start time.Time
}

var reqPool = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

// batchPool recycles the batcher's request lists: finish returns a list
// once its requests are answered.
var batchPool = sync.Pool{New: func() any { return new([]*request) }}

// NewGroup starts a group over store. The group applies write commands with
// exec. It bootstraps the group when cfg.Bootstrap is set and there is no
// existing state.
func NewGroup(cfg Config, store *shard.Store, exec Executor) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	lg = lg.With("group", cfg.GroupID)
	g := &Group{
		cfg:      cfg,
		fsm:      NewFSM(store, exec, lg),
		log:      lg,
		reqs:     make(chan *request, queueLen),
		inflight: make(chan inflight, cfg.MaxInflight),
		slots:    make(chan struct{}, cfg.MaxInflight),
		stop:     make(chan struct{}),
		raftDown: make(chan struct{}),
		down:     make(chan struct{}),
	}
	g.barrier = func() error { return g.raft.Barrier(0).Error() }
	g.lastSave.Store(time.Now().Unix())
	g.formed.Store(true)
	g.fsm.onHalt = g.haltShutdown
	g.fsm.snapStats = &g.stats.snap
	if !cfg.OwnAllSlots {
		g.fsm.owner.Store(newOwnership(0, &shard.SlotSet{}))
	}

	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if cfg.DataDir == "" {
		mem := raft.NewInmemStore()
		vs := newViewStore()
		vs.discard = cfg.SoleReplica
		logs, stable, snaps = mem, mem, vs
	} else {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, err
		}
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
		if err != nil {
			return nil, fmt.Errorf("raftfsm: open log store: %w", err)
		}
		g.closers = append(g.closers, bolt.Close)
		cached, err := raft.NewLogCache(1024, bolt)
		if err != nil {
			return nil, err
		}
		logs, stable = cached, bolt
		fss, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, logging.HCLog(lg, "snapshot"))
		if err != nil {
			return nil, fmt.Errorf("raftfsm: open snapshot store: %w", err)
		}
		snaps = fss
	}

	rc := cfg.raftConfig()
	rc.Logger = logging.HCLog(lg, "raft")
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		g.closeStores()
		return nil, err
	}
	if len(cfg.Bootstrap) > 0 && !has {
		if err := raft.BootstrapCluster(rc, logs, stable, snaps, cfg.Transport,
			raft.Configuration{Servers: cfg.Bootstrap}); err != nil {
			g.closeStores()
			return nil, fmt.Errorf("raftfsm: bootstrap: %w", err)
		}
	}
	trans := cfg.Transport
	var guard *VoteGuard
	var nt RaftTransport
	switch t := trans.(type) {
	case *raft.NetworkTransport:
		nt = t
	case *Transport:
		nt = t
	}
	if nt != nil {
		// A replica that neither has state nor bootstraps may be a member
		// that lost its state: it must not vote until it has caught up.
		guard = NewVoteGuard(nt, cfg.NodeID, !has && len(cfg.Bootstrap) == 0, lg)
		trans = guard
	}
	g.fsm.snaps = snaps
	r, err := raft.NewRaft(rc, g.fsm, logs, stable, snaps, trans)
	if err != nil {
		g.closeStores()
		return nil, fmt.Errorf("raftfsm: start raft: %w", err)
	}
	if guard != nil {
		// Before raft hears from anyone: this replica's vote must not help
		// elect a leader while another may still hold a read lease.
		guard.HoldVotes(cfg.ReadLease)
		guard.Start(r.LastIndex, cfg.CatchUpTimeout)
		if cfg.SuspectAfter > 0 {
			guard.EnableFastElection(r, cfg.SuspectAfter, StickyFor(cfg.HeartbeatTimeout, cfg.ReadLease), cfg.LeaderLeaseTimeout)
		}
	}
	g.raft, g.guard = r, guard
	r.RegisterObserver(g.leaderObserver())
	g.wg.Add(4)
	go g.batcher()
	go g.waiter()
	go g.watchLeadership()
	go g.compactor()
	return g, nil
}

// haltShutdown shuts the group down after its FSM halted. It runs on its own
// goroutine (raft's Shutdown waits for the FSM goroutine).
func (g *Group) haltShutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		g.log.Warn("shutdown after the state machine halted failed", "err", err)
	}
}

// Halted reports whether the group's FSM stopped applying entries because it
// met one it cannot apply (see FSM); the group then shuts itself down.
func (g *Group) Halted() bool { return g.fsm.Halted() }

// CatchingUp reports whether this replica started without its state and
// has not yet caught up with a leader; it does not vote meanwhile (see
// VoteGuard).
func (g *Group) CatchingUp() bool { return g.guard != nil && g.guard.Guarding() }

// Store returns the group's store.
func (g *Group) Store() *shard.Store { return g.fsm.store }

// IsLeader reports whether this node is the group's leader.
func (g *Group) IsLeader() bool { return g.raft.State() == raft.Leader }

// Ready reports whether this node leads the group and its FSM holds every
// entry committed in earlier terms, so that local reads see every
// acknowledged write.
func (g *Group) Ready() bool { return g.ready.Load() && g.IsLeader() }

// SetFormed records whether the group's configuration holds all the voters
// it should. A cluster node marks a new group unformed until its leader has
// added every member, so that no write is acknowledged by fewer replicas than
// the map promises.
func (g *Group) SetFormed(v bool) { g.formed.Store(v) }

// Formed reports the last SetFormed value (true by default).
func (g *Group) Formed() bool { return g.formed.Load() }

// LastSave returns the Unix time (seconds) of the last successful snapshot,
// or of the group's start.
func (g *Group) LastSave() int64 { return g.lastSave.Load() }

func (g *Group) watchLeadership() {
	defer g.wg.Done()
	ch := g.raft.LeaderCh()
	var term uint64 // the term this replica last led in
	for {
		var leader bool
		select {
		case <-g.raftDown:
			// A leader that shuts down loses leadership: raft's last
			// notification, if any, is in the channel by now.
			select {
			case leader = <-ch:
			default:
				return
			}
			if !leader {
				g.log.Info("lost leadership", "term", term)
			}
			return
		case leader = <-ch:
		}
		g.ready.Store(false)
		if !leader {
			g.log.Info("lost leadership", "term", term)
			continue
		}
		term = g.raft.CurrentTerm()
		if !g.barrierAfterElection(term) {
			continue
		}
		g.refreshPeers()
		g.ready.Store(g.IsLeader())
		g.log.Info("leading group", "term", term)
	}
}

// barrierRetry is how long barrierAfterElection waits between tries.
const barrierRetry = 50 * time.Millisecond

// barrierAfterElection applies everything earlier terms committed, so that
// the new leader may serve reads, and reports whether it did while this
// replica still leads in term. A barrier that fails while the replica
// still leads in term is tried again: raft refuses it while its own
// leadership transfer is in progress (groups without a VoteGuard; the
// others never enter raft's transfer state, see
// VoteGuard.TransferLeadership), and the controller hands a group to its
// preferred node right after an election. Were it not retried, a leader
// whose transfer then failed would stay unready, answering every read
// with CLUSTERDOWN, until its next election. watchLeadership's goroutine;
// raft's leader channel keeps the latest notification meanwhile.
func (g *Group) barrierAfterElection(term uint64) bool {
	for try := 0; ; try++ {
		err := g.barrier()
		if err == nil {
			return true
		}
		if errors.Is(err, raft.ErrRaftShutdown) {
			return false
		}
		if !g.IsLeader() || g.raft.CurrentTerm() != term {
			g.log.Warn("barrier after election failed", "term", term, "err", err)
			return false
		}
		if try == 0 {
			g.log.Warn("barrier after election failed; retrying while this replica leads", "term", term, "err", err)
		}
		select {
		case <-g.raftDown:
			return false
		case <-time.After(barrierRetry):
		}
	}
}

// compactor snapshots the group when the log applied since the last
// snapshot outgrows the data (see Config.CompactMinBytes). It runs on every
// replica, since each compacts its own log.
func (g *Group) compactor() {
	defer g.wg.Done()
	t := time.NewTicker(g.cfg.CompactCheckInterval)
	defer t.Stop()
	var lastBytes int64
	var idleSince time.Time
	dirty := false
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		if g.IsLeader() {
			// Voters join and leave: the batcher's wait for a cohort
			// applies only while there are others (cohort.go).
			g.refreshPeers()
		}
		g.boundTrailingLogs()
		logBytes := g.fsm.LogBytesSinceSnapshot()
		// After a burst of writes, once the log has been quiet for a while,
		// compact it even below the thresholds: the memory comes back.
		if logBytes != lastBytes {
			lastBytes, idleSince, dirty = logBytes, time.Now(), true
		}
		quiet := time.Since(idleSince) >= g.cfg.CompactIdleAfter
		if quiet && dirty && logBytes < g.cfg.CompactIdleBytes {
			// A burst ended but left too little log to compact: still give
			// its garbage back to the OS.
			dirty = false
			freeOSMemory(g.log)
		}
		idle := logBytes >= g.cfg.CompactIdleBytes && quiet
		st := g.fsm.store
		st.RLock()
		data := st.Bytes()
		st.RUnlock()
		minBytes, ratio := compactRule(&g.cfg)
		if !idle && (logBytes < minBytes || float64(logBytes) < ratio*float64(data)) {
			continue
		}
		err := g.raft.Snapshot().Error()
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			g.log.Warn("log compaction snapshot failed", "err", err, "log-bytes", logBytes)
			continue
		}
		g.lastSave.Store(time.Now().Unix())
		g.log.Debug("compacted log", "log-bytes", logBytes, "data-bytes", data, "idle", idle)
		if idle {
			dirty = false
		}
		if idle {
			// A write burst is over and its log is gone: hand the memory
			// back to the OS now rather than at the scavenger's pace.
			freeOSMemory(g.log)
		}
	}
}

// compactRule returns the log bytes since the last snapshot, and the ratio
// of the data's bytes, that both have to be passed for the compactor to
// snapshot a group of configuration cfg.
func compactRule(cfg *Config) (minBytes int64, ratio float64) {
	switch {
	case cfg.DataDir != "":
		return cfg.CompactMinBytes, cfg.CompactRatio
	case cfg.SoleReplica:
		// No view is kept: a snapshot costs nothing, and the log is kept
		// small.
		return cfg.CompactMinBytesSole, cfg.CompactRatioMemory
	default:
		// A copy-on-write view, not a copy: a smaller ratio of the data,
		// and a floor that spaces the views' copies out.
		return cfg.CompactMinBytesMemory, cfg.CompactRatioMemory
	}
}

// Replies is the set of replies of one Propose call.
type Replies struct {
	res   *Result
	first int
	n     int
}

// Len returns the number of replies.
func (r Replies) Len() int { return r.n }

// Get returns reply i (RESP3 encoded). It aliases a shared buffer: callers
// must not modify it.
func (r Replies) Get(i int) []byte { return r.res.Reply(r.first + i) }

// Propose replicates cmds, packed with other concurrent proposals into one
// log entry, and returns their replies once the entry is committed and
// applied. cmds (and their arguments) must stay unchanged until Propose
// returns. ctx only bounds the wait to enter the queue: once queued, Propose
// waits for raft's verdict, so that arguments are never read after it returns.
//
// Errors: ErrNotLeader (not applied), ErrIndeterminate (may be applied),
// ErrShutdown.
func (g *Group) Propose(ctx context.Context, cmds [][][]byte) (Replies, error) {
	return g.ProposeDB(ctx, 0, cmds)
}

// ProposeDB is Propose for commands that run in database db (0 <= db <
// shard.NumDBs; SELECT in standalone mode).
func (g *Group) ProposeDB(ctx context.Context, db int, cmds [][][]byte) (Replies, error) {
	if !g.IsLeader() {
		return Replies{}, ErrNotLeader
	}
	r := reqPool.Get().(*request)
	r.cmds, r.db, r.gen = cmds, db, g.cohort.gen.Load()
	g.enqMu.RLock()
	if g.closed {
		g.enqMu.RUnlock()
		reqPool.Put(r)
		return Replies{}, ErrShutdown
	}
	select {
	case g.reqs <- r:
		g.enqMu.RUnlock()
	case <-ctx.Done():
		g.enqMu.RUnlock()
		reqPool.Put(r)
		return Replies{}, ctx.Err()
	case <-g.stop:
		// The batcher, on its way out, waits for this read lock: stop is
		// closed before it exits, so a send blocked on a full queue ends.
		g.enqMu.RUnlock()
		reqPool.Put(r)
		return Replies{}, ErrShutdown
	}
	return g.await(r, len(cmds))
}

// TryPropose is Propose when the group's queue has room: it reports
// queued false, with a nil error, and proposes nothing when the queue is
// full (the caller then calls Propose, with a deadline). It spares the
// common case a context and a timer per call. Errors as Propose's.
func (g *Group) TryPropose(cmds [][][]byte) (out Replies, queued bool, err error) {
	return g.TryProposeDB(0, cmds)
}

// TryProposeDB is TryPropose for commands that run in database db.
func (g *Group) TryProposeDB(db int, cmds [][][]byte) (out Replies, queued bool, err error) {
	if !g.IsLeader() {
		return Replies{}, false, ErrNotLeader
	}
	r := reqPool.Get().(*request)
	r.cmds, r.db, r.gen = cmds, db, g.cohort.gen.Load()
	g.enqMu.RLock()
	if g.closed {
		g.enqMu.RUnlock()
		reqPool.Put(r)
		return Replies{}, false, ErrShutdown
	}
	select {
	case g.reqs <- r:
		g.enqMu.RUnlock()
	default:
		g.enqMu.RUnlock()
		reqPool.Put(r)
		return Replies{}, false, nil
	}
	out, err = g.await(r, len(cmds))
	return out, true, err
}

// await waits for the verdict on the queued request r of n commands. Every
// queued request gets one: the batcher packs it, or fails it on its way
// out (failQueued drains the queue after the last send, see enqMu).
func (g *Group) await(r *request, n int) (Replies, error) {
	<-r.done
	out, err := Replies{res: r.res, first: r.first, n: n}, r.err
	r.cmds, r.res, r.err, r.db = nil, nil, nil, 0
	reqPool.Put(r)
	return out, err
}

// batcher packs queued requests into log entries.
func (g *Group) batcher() {
	defer g.wg.Done()
	defer close(g.inflight)
	for {
		var first *request
		select {
		case first = <-g.reqs:
		case <-g.stop:
			g.failQueued()
			return
		}
		// Wait for room in flight; requests queue up meanwhile and join
		// this entry.
		select {
		case g.slots <- struct{}{}:
		case <-g.stop:
			g.failBatch([]*request{first}, ErrShutdown)
			g.failQueued()
			return
		}
		bp := batchPool.Get().(*[]*request)
		p := pack{batch: (*bp)[:0]}
		g.gather(&p, first)
		if want := g.cohortWant(&p); want > len(p.batch) {
			g.awaitCohort(&p, want)
		}
		batch, ncmds := p.batch, p.ncmds
		now := time.Now()
		var data []byte
		if !p.dbs {
			data = beginCommands(make([]byte, 0, p.size+32), now.UnixMilli(), ncmds)
			for _, r := range batch {
				for _, args := range r.cmds {
					data = appendCommand(data, args)
				}
			}
		} else {
			// Some command runs in another database than 0: version 2,
			// with each command's database (one more byte per command).
			data = beginCommandsDB(make([]byte, 0, p.size+ncmds+32), now.UnixMilli(), ncmds)
			for _, r := range batch {
				for _, args := range r.cmds {
					data = appendCommandDB(data, r.db, args)
				}
			}
		}
		// The arguments have been copied: the proposers may go on as soon as
		// their replies arrive. raft.Apply blocks when its queue is full,
		// which holds further requests back to form larger entries.
		f, err := g.apply(data, batch)
		if errors.Is(err, ErrShutdown) {
			g.failQueued()
			return
		}
		if err != nil {
			<-g.slots
			continue
		}
		g.stats.batchCommands.observe(uint64(ncmds))
		*bp = batch
		inf := inflight{f: f, batch: batch, list: bp, start: now}
		select {
		case g.inflight <- inf:
		case <-g.stop:
			g.finish(inf)
			g.failQueued()
			return
		}
	}
}

// gather adds first and the requests queued behind it to p, up to
// MaxBatchCommands and MaxBatchBytes.
//
// It yields the processor once before it looks at the queue. The batcher
// has just been woken by the end of the entry in flight, and the scheduler
// runs a goroutine woken by a channel operation next (runnext), ahead of the
// connections that the netpoller made runnable meanwhile, each with a
// request in its buffer about to be queued. Without the yield those
// requests miss this entry and wait a whole commit for the next one; with
// it they join, and under load the entries grow (cluster SET -P 1: 6.9 to
// 8.9 commands an entry, 8-16% less CPU per SET; BENCHMARKS.md, "The
// batcher yields before it drains"). With nothing else runnable the yield
// returns at once. Called by the batcher goroutine only.
func (g *Group) gather(p *pack, first *request) {
	runtime.Gosched()
	p.add(first)
	for !p.full(&g.cfg) {
		select {
		case r := <-g.reqs:
			p.add(r)
		default:
			return
		}
	}
}

// apply proposes one batch's entry, unless a leadership transfer holds
// entries back: then it waits for the transfer to end and, if this node no
// longer leads, answers the batch ErrNotLeader (it was never proposed) and
// returns that error; it answers ErrShutdown, and returns it, when the
// group stops meanwhile. The batch's requests must not be touched after an
// error: their proposers own them again.
func (g *Group) apply(data []byte, batch []*request) (raft.ApplyFuture, error) {
	for {
		g.applyMu.Lock()
		gate := g.gate
		if gate == nil {
			f := g.raft.Apply(data, 0)
			g.pending.Add(1)
			g.applyMu.Unlock()
			return f, nil
		}
		g.applyMu.Unlock()
		select {
		case <-gate:
		case <-g.stop:
			g.failBatch(batch, ErrShutdown)
			return nil, ErrShutdown
		}
		if !g.IsLeader() {
			g.failBatch(batch, ErrNotLeader)
			return nil, ErrNotLeader
		}
	}
}

func (g *Group) failBatch(batch []*request, err error) {
	g.stats.proposalFailures.Add(1)
	for _, r := range batch {
		r.err = err
		r.done <- struct{}{}
	}
}

func encodedSizeAll(cmds [][][]byte) int {
	n := 0
	for _, c := range cmds {
		n += EncodedSize(c)
	}
	return n
}

// failQueued fails the queued requests as the batcher exits (stop is
// closed): it closes the queue to proposers first, and waits for the sends
// under way, so that none is left behind unanswered.
func (g *Group) failQueued() {
	g.enqMu.Lock()
	g.closed = true
	g.enqMu.Unlock()
	for {
		select {
		case r := <-g.reqs:
			r.err = ErrShutdown
			r.done <- struct{}{}
		default:
			return
		}
	}
}

// waiter delivers the replies of in-flight entries in log order.
func (g *Group) waiter() {
	defer g.wg.Done()
	for inf := range g.inflight {
		g.finish(inf)
	}
}

func (g *Group) finish(inf inflight) {
	err := g.futureError(inf.f)
	g.pending.Add(-1)
	var res *Result
	if err == nil {
		switch v := inf.f.Response().(type) {
		case *Result:
			res = v
		case error:
			err = v
		}
	}
	end := time.Now()
	g.stats.proposalMicros.observe(uint64(max(end.Sub(inf.start).Microseconds(), 0)))
	if err != nil {
		g.stats.proposalFailures.Add(1)
		err = mapRaftError(err)
	} else {
		// Before the answers: a proposer that comes back must find the
		// new generation (cohort.go).
		g.cohort.answer(len(inf.batch), int64(end.Sub(monoBase)))
	}
	off := 0
	for _, r := range inf.batch {
		r.res, r.first, r.err = res, off, err
		off += len(r.cmds)
		r.done <- struct{}{}
	}
	clear(inf.batch) // the requests go back to reqPool: drop them
	batchPool.Put(inf.list)
	<-g.slots
}

// futureError waits for f, or for raft to shut down without answering it
// (raft does not answer the futures left in its apply queue).
func (g *Group) futureError(f raft.Future) error {
	return g.waitFuture(context.Background(), f)
}

func mapRaftError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader),
		// raft refuses new entries during a leadership transfer, and
		// ErrEnqueueTimeout means the entry never reached raft's queue:
		// neither was proposed.
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrNotLeader
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, ErrHalted), errors.Is(err, ErrUnknownEntry), errors.Is(err, ErrBadEntry):
		// Committed, but this replica's FSM halted: replicas that can
		// apply the entry will.
		return fmt.Errorf("%w: %w", ErrIndeterminate, err)
	default:
		// ErrLeadershipLost and others: the entry may still be committed
		// by a later leader.
		return fmt.Errorf("%w: %v", ErrIndeterminate, err)
	}
}

// Snapshot takes a snapshot now and waits for it (SAVE). It is not an error
// when there is nothing new to snapshot.
func (g *Group) Snapshot(ctx context.Context) error {
	f := g.raft.Snapshot()
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			return err
		}
		g.lastSave.Store(time.Now().Unix())
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Shutdown stops the group: pending proposals fail with ErrShutdown or
// ErrIndeterminate, raft stops, and the log store is closed.
func (g *Group) Shutdown(ctx context.Context) error {
	var err error
	g.shutOnce.Do(func() {
		close(g.stop)
		errc := make(chan error, 1)
		go func() {
			e := g.raft.Shutdown().Error()
			close(g.raftDown)
			g.wg.Wait()
			close(g.down)
			errc <- e
		}()
		select {
		case err = <-errc:
		case <-ctx.Done():
			err = ctx.Err()
		}
		if cerr := g.closeStores(); err == nil {
			err = cerr
		}
	})
	return err
}

func (g *Group) closeStores() error {
	var err error
	for _, c := range g.closers {
		if e := c(); e != nil && err == nil {
			err = e
		}
	}
	g.closers = nil
	return err
}

// ID returns the group's id.
func (g *Group) ID() string { return g.cfg.GroupID }

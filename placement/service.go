package placement

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/hashicorp/serf/serf"

	"github.com/shoalcache/shoal/internal/logging"
	"github.com/shoalcache/shoal/raftfsm"
)

// metaStream is the meta group's stream name on the cluster-port Mux.
const metaStream = "meta"

// Service is a node's placement service: it runs the node's serf agent
// (membership, failure detection, discovery tags) and its replica of the
// meta Raft group, which holds the cluster map, and it bootstraps the
// cluster and reconciles membership into the meta group.
//
// Goroutines: after Start, the service runs an event loop (serf events,
// leader hints), a tag loop (the only caller of serf.SetTags), a join loop
// (until joined), a reconcile loop (bootstrap, meta leader duties, epoch
// lag), a meta leadership logger (until the meta replica is down), the
// meta-rpc server (raftfsm.ServeCalls: one goroutine per forwarded map
// update, see forward.go), plus raft's and serf's own goroutines. The meta
// FSM publishes maps from raft's FSM goroutine.
//
// Every exported method is safe for concurrent use. Map, Changes and
// LeaderHint are lock-free and cheap enough for request paths; Members
// takes serf's locks; UpdateMap does Raft round trips, and from a node
// that does not lead the meta group a network round trip to the leader.
type Service struct {
	cfg     Config
	log     *slog.Logger // the service's own logs
	baseLog *slog.Logger // cfg.Logger, for raft and serf (they name their component)

	// cur is the latest committed map, stored by the FSM.
	cur atomic.Pointer[Map]
	// chMu guards changes, the channel closed at the next map change.
	chMu    sync.Mutex
	changes chan struct{}

	probes authProbes // cluster-secret probes of members (authprobe.go)

	lead      atomic.Pointer[[]string]          // SetLeading's groups, sorted
	hints     atomic.Pointer[map[string]string] // group id -> node id, from gossip
	metaState atomic.Bool                       // the meta replica has Raft state
	peers     peerChecks                        // tls-cluster admission checks (tls.go)

	// mu serialises Start and Shutdown.
	mu       sync.Mutex
	shut     bool
	shutDone chan struct{}
	shutErr  error
	// started is set once Start succeeded; the fields below it are written
	// before and never change after, so readers that saw started may use
	// them without locks.
	started atomic.Bool
	serfP   atomic.Pointer[serf.Serf]
	raft    *raft.Raft
	trans   *raft.NetworkTransport
	guard   *raftfsm.VoteGuard
	closers []func() error

	rpcLayer      net.Listener // the meta-rpc stream (see forward.go)
	events        chan serf.Event
	stop          chan struct{}   // closed by Shutdown
	stopCtx       context.Context // cancelled by Shutdown
	stopCancel    context.CancelFunc
	tagsPoke      chan struct{}
	hintsPoke     chan struct{}
	reconcilePoke chan struct{}
	leaderObs     chan raft.Observation // meta leadership changes
	raftDown      chan struct{}         // closed once the meta replica has shut down
	wg            sync.WaitGroup        // event loop
	leaderWG      sync.WaitGroup        // meta leadership logger
	rpcWG         sync.WaitGroup        // meta-rpc server
	loopsWG       sync.WaitGroup        // tag and join loops
	reconcileWG   sync.WaitGroup        // reconcile loop

	// updateMu serialises UpdateMap calls on this node.
	updateMu sync.Mutex

	// Reconcile-goroutine-only state.
	bootWait  string
	lagSince  time.Time
	lagWarned bool
}

// New validates cfg and returns a Service; call Start to run it.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	cfg.Join = append([]string(nil), cfg.Join...)
	stopCtx, stopCancel := context.WithCancel(context.Background())
	return &Service{
		stopCtx:       stopCtx,
		stopCancel:    stopCancel,
		cfg:           cfg,
		log:           lg.With("component", "placement"),
		baseLog:       lg,
		changes:       make(chan struct{}),
		events:        make(chan serf.Event, 256),
		stop:          make(chan struct{}),
		shutDone:      make(chan struct{}),
		tagsPoke:      make(chan struct{}, 1),
		hintsPoke:     make(chan struct{}, 1),
		reconcilePoke: make(chan struct{}, 1),
		leaderObs:     make(chan raft.Observation, 16),
		raftDown:      make(chan struct{}),
	}, nil
}

// Start opens the meta group's stores and starts its Raft replica on the
// Mux's "meta" stream, serves forwarded map updates on its "meta-rpc"
// stream, starts serf with the node's tags, and starts the background loops: joining the Join addresses (retried every
// JoinRetryInterval), bootstrap and reconciliation. It returns once
// everything runs; joining and bootstrapping continue in the background.
// Call it once.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shut:
		return ErrShutdown
	case s.started.Load():
		return errors.New("placement: already started")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.startRaft(); err != nil {
		s.closeRaft()
		return err
	}
	sc, err := s.newSerfConfig()
	if err == nil {
		var sf *serf.Serf
		if sf, err = serf.Create(sc); err == nil {
			s.serfP.Store(sf)
		}
	}
	if err != nil {
		s.closeRaft()
		return fmt.Errorf("placement: start serf: %w", err)
	}
	s.started.Store(true)
	s.leaderWG.Add(1)
	go s.watchMetaLeadership()
	s.rpcWG.Add(1)
	go func() {
		defer s.rpcWG.Done()
		if err := raftfsm.ServeCalls(s.rpcLayer, 0, s.cfg.ApplyTimeout, s.handleMetaRPC); err != nil {
			s.log.Error("meta-rpc server stopped", "err", err)
		}
	}()
	s.wg.Add(1)
	go s.eventLoop()
	s.loopsWG.Add(2)
	go s.tagLoop()
	go s.joinLoop()
	s.reconcileWG.Add(1)
	go s.reconcileLoop()
	poke(s.tagsPoke)
	s.log.Info("placement service started", "node-id", s.cfg.NodeID, "gossip-addr", s.GossipAddr(),
		"cluster-addr", s.cfg.Mux.Addr().String(), "bootstrap-expect", s.cfg.BootstrapExpect)
	return nil
}

// startRaft opens the meta stores and transport and starts the replica.
func (s *Service) startRaft() error {
	var (
		logs   raft.LogStore
		stable raft.StableStore
		snaps  raft.SnapshotStore
	)
	if s.cfg.DataDir == "" {
		mem := raft.NewInmemStore()
		logs, stable, snaps = mem, mem, raft.NewInmemSnapshotStore()
	} else {
		dir := filepath.Join(s.cfg.DataDir, "meta")
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("placement: meta data dir: %w", err)
		}
		bolt, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
		if err != nil {
			return fmt.Errorf("placement: open meta log: %w", err)
		}
		s.closers = append(s.closers, bolt.Close)
		fss, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, logging.HCLog(s.baseLog, "meta-snapshot"))
		if err != nil {
			return fmt.Errorf("placement: open meta snapshots: %w", err)
		}
		logs, stable, snaps = bolt, bolt, fss
	}
	has, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		return fmt.Errorf("placement: read meta state: %w", err)
	}
	s.metaState.Store(has)

	rpc, err := s.cfg.Mux.Layer(raftfsm.StreamMetaRPC)
	if err != nil {
		return fmt.Errorf("placement: meta-rpc stream: %w", err)
	}
	s.rpcLayer = rpc
	layer, err := s.cfg.Mux.Layer(metaStream)
	if err != nil {
		return fmt.Errorf("placement: meta transport: %w", err)
	}
	// As Mux.Transport, but with a layer that closes its connections.
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  layer, // the mux closes its connections when the layer closes
		MaxPool: 3,
		Timeout: 10 * time.Second,
		Logger:  logging.HCLog(s.baseLog.With("group", metaStream), "transport"),
	})
	// A meta replica that starts without state may be a voter that lost
	// it: it stays out of elections until it has caught up (see
	// raftfsm.VoteGuard); bootstrapping releases the guard.
	s.guard = raftfsm.NewVoteGuard(trans, raft.ServerID(s.cfg.NodeID), !has, s.baseLog.With("group", metaStream))
	s.trans = trans
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.LeaderLeaseTimeout
	rc.CommitTimeout = s.cfg.CommitTimeout
	rc.SnapshotInterval = s.cfg.SnapshotInterval
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.TrailingLogs = s.cfg.TrailingLogs
	// Only the labelled form of raft's per-peer figures, not also one
	// family per peer ID (see raftfsm.Config's raftConfig).
	rc.NoLegacyTelemetry = true
	rc.Logger = logging.HCLog(s.baseLog, "meta-raft")
	fsm := newMetaFSM(s.publish)
	fsm.log, fsm.snaps = s.log, snaps
	r, err := raft.NewRaft(rc, fsm, logs, stable, snaps, s.guard)
	if err != nil {
		return fmt.Errorf("placement: start meta raft: %w", err)
	}
	s.guard.Start(r.LastIndex, s.cfg.CatchUpTimeout)
	if s.cfg.SuspectAfter > 0 {
		// No read lease rests on the meta group's followers: a silence of
		// half the heartbeat timeout lets them vote (raftfsm/failover.go).
		s.guard.EnableFastElection(r, s.cfg.SuspectAfter, raftfsm.StickyFor(s.cfg.HeartbeatTimeout, 0), s.cfg.LeaderLeaseTimeout)
	}
	s.raft = r
	// Leadership changes wake the reconcile loop, so that a new meta leader
	// does its duties at once rather than at the next tick.
	r.RegisterObserver(raft.NewObserver(s.leaderObs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	}))
	return nil
}

// watchMetaLeadership logs this node's meta leadership changes as
// raftfsm.Group logs a data group's: "leading group" with the term once
// this replica leads, "lost leadership" with the term it led in. It is
// raft's LeaderCh's only reader, on its own goroutine from Start until the
// meta replica has shut down (then it reads raft's last notification: a
// leader that shuts down loses leadership).
func (s *Service) watchMetaLeadership() {
	defer s.leaderWG.Done()
	ch := s.raft.LeaderCh()
	var term uint64
	note := func(leader bool) {
		if leader {
			term = s.raft.CurrentTerm()
			s.log.Info("leading group", "group", metaStream, "term", term)
		} else {
			s.log.Info("lost leadership", "group", metaStream, "term", term)
		}
	}
	for {
		select {
		case leader := <-ch:
			note(leader)
		case <-s.raftDown:
			select {
			case leader := <-ch:
				note(leader)
			default:
			}
			return
		}
	}
}

// closeRaft undoes a partial Start.
func (s *Service) closeRaft() {
	if s.raft != nil {
		_ = s.raft.Shutdown().Error()
	}
	if s.trans != nil {
		_ = s.trans.Close()
	}
	if s.rpcLayer != nil {
		_ = s.rpcLayer.Close()
	}
	for _, c := range s.closers {
		_ = c()
	}
	s.raft, s.trans, s.rpcLayer, s.closers = nil, nil, nil, nil
}

// serfAgent returns the serf agent, nil before Start.
func (s *Service) serfAgent() *serf.Serf { return s.serfP.Load() }

// publish makes m the current map and wakes watchers. The FSM calls it on
// raft's FSM goroutine.
func (s *Service) publish(m *Map) {
	s.cur.Store(m)
	s.chMu.Lock()
	close(s.changes)
	s.changes = make(chan struct{})
	s.chMu.Unlock()
	poke(s.tagsPoke)
	s.log.Debug("map changed", "epoch", m.Epoch, "nodes", len(m.Nodes), "groups", len(m.Groups))
}

// Map returns the latest map committed to and applied by this node's meta
// replica, or nil before the cluster has one. The map is immutable: use
// Clone to derive a new one. Lock-free.
func (s *Service) Map() *Map { return s.cur.Load() }

// Changes returns a channel that is closed at the next change of Map. To
// watch without missing a change, take the channel before reading Map:
//
//	for {
//		ch := s.Changes()
//		m := s.Map()
//		... use m ...
//		<-ch
//	}
func (s *Service) Changes() <-chan struct{} {
	s.chMu.Lock()
	defer s.chMu.Unlock()
	return s.changes
}

// Wait blocks until this node holds a map with an epoch greater than epoch
// (Wait(ctx, 0) waits for any map) and returns it. It fails with ctx's
// error, or ErrShutdown after Shutdown.
func (s *Service) Wait(ctx context.Context, epoch uint64) (*Map, error) {
	for {
		ch := s.Changes()
		if m := s.Map(); m != nil && m.Epoch > epoch {
			return m, nil
		}
		select {
		case <-ch:
		case <-s.stop:
			return nil, ErrShutdown
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// IsMetaLeader reports whether this node currently leads the meta group.
func (s *Service) IsMetaLeader() bool {
	return s.started.Load() && s.raft.State() == raft.Leader
}

// MetaLeader returns the meta group's leader as this node knows it: its
// node id and cluster address, or empty strings when unknown.
func (s *Service) MetaLeader() (nodeID, clusterAddr string) {
	if !s.started.Load() {
		return "", ""
	}
	addr, id := s.raft.LeaderWithID()
	return string(id), string(addr)
}

// apply proposes cmd on the meta group and waits for its result.
func (s *Service) apply(ctx context.Context, cmd metaCommand) error {
	b, err := encodeCommand(cmd)
	if err != nil {
		return err
	}
	f := s.raft.Apply(b, s.timeout(ctx))
	if err := s.waitFuture(ctx, f); err != nil {
		return err
	}
	if rerr, ok := f.Response().(error); ok {
		return rerr
	}
	// Followers learn that an entry committed from the next AppendEntries,
	// which an idle group sends only after CommitTimeout (50 ms or more).
	// Every node must see a new map at about the same time (a migration's
	// flip on the source's node and not yet on the target's leaves slots
	// with no owner for a client comparing them, such as redis-cli
	// --cluster check), so a barrier entry follows at once and carries the
	// commit index. Not waited for; maps change rarely.
	s.raft.Barrier(time.Millisecond)
	return nil
}

// timeout returns how long raft may take to enqueue an operation: until
// ctx's deadline, or ApplyTimeout.
func (s *Service) timeout(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return s.cfg.ApplyTimeout
}

// waitFuture waits for f or ctx, translating raft's errors. A goroutine
// waits for f in the background; raft resolves every future by Shutdown.
func (s *Service) waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrIndeterminate, ctx.Err())
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Not proposed (raft refuses entries while it hands leadership
		// over): the caller retries on the leader.
		return fmt.Errorf("%w: %v", ErrNotMetaLeader, err)
	case errors.Is(err, raft.ErrLeadershipLost):
		return fmt.Errorf("%w: %v", ErrIndeterminate, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	}
	return err
}

// Shutdown leaves serf gracefully (other members see this node as left),
// stops the loops and the meta replica, shuts serf down and closes the
// meta stores. The Mux is the caller's. If ctx ends first Shutdown returns
// its error and the teardown goes on in the background. Later calls wait
// for the first one's result.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		select {
		case <-s.shutDone:
			return s.shutErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.shut = true
	close(s.stop)
	s.stopCancel()
	started := s.started.Load()
	s.mu.Unlock()
	if !started {
		close(s.shutDone)
		return nil
	}
	go func() {
		s.shutErr = s.teardown()
		close(s.shutDone)
	}()
	select {
	case <-s.shutDone:
		return s.shutErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) teardown() error {
	sf := s.serfAgent()
	s.loopsWG.Wait()
	s.handOffLeadership()
	if err := sf.Leave(); err != nil {
		s.log.Warn("leave gossip cluster", "err", err)
	}
	// No more forwarded updates; those in progress end with raft.
	_ = s.rpcLayer.Close()
	var errs []error
	if err := s.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("shut down meta raft: %w", err))
	}
	close(s.raftDown)
	s.leaderWG.Wait()
	s.rpcWG.Wait()
	s.reconcileWG.Wait()
	if err := sf.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("shut down serf: %w", err))
	}
	s.wg.Wait()
	if err := s.trans.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close meta transport: %w", err))
	}
	for _, c := range s.closers {
		if err := c(); err != nil {
			errs = append(errs, fmt.Errorf("close meta store: %w", err))
		}
	}
	s.log.Info("placement service stopped")
	return errors.Join(errs...)
}

// handOffLeadership transfers meta leadership to another voter, if this
// node leads and there is one, so that the group need not wait for an
// election timeout after this node goes.
func (s *Service) handOffLeadership() {
	if s.raft.State() != raft.Leader {
		return
	}
	cf := s.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	for _, srv := range cf.Configuration().Servers {
		if srv.Suffrage == raft.Voter && string(srv.ID) != s.cfg.NodeID {
			if err := s.transferMeta(); err != nil {
				s.log.Warn("transfer meta leadership", "err", err)
			} else {
				s.log.Info("transferred meta leadership")
			}
			return
		}
	}
}

// transferMeta hands the meta group's leadership to any other voter and
// waits for this node to step down, within four election timeouts (also
// during Shutdown, after stopCtx ended). It is
// raftfsm's transfer, not raft's, which can leave the leader refusing
// every entry for good (see raftfsm.VoteGuard.TransferLeadership).
func (s *Service) transferMeta() error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.cfg.ElectionTimeout)
	defer cancel()
	if err := s.guard.TransferLeadership(ctx, s.raft, "", "", s.cfg.ElectionTimeout); err != nil {
		return err
	}
	for s.raft.State() == raft.Leader && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	if s.raft.State() == raft.Leader {
		return fmt.Errorf("%w: no other voter took over", raftfsm.ErrTransferFailed)
	}
	return nil
}

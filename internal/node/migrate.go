package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// Slot migration, the source side: the mover. See docs/migration.md.
//
// A mover runs on the node that leads a job's source group, on a goroutine
// of its own that the controller starts for every active job of the map
// whose source this node leads, and cancels when the job ends or the node
// stops leading. It keeps no durable state: everything it relies on is in
// the source group's FSM (migrating-out state, dirty indexes, fence), the
// target group's FSM (importing state, watermark) and the map (the job).
// A mover that fails returns an error; the controller starts a new one on
// its next round, which begins again with IngestReset at the current term.

// MigrationConfig tunes slot migration on a cluster node.
type MigrationConfig struct {
	// ChunkBytes is the most key and value bytes one Ingest entry carries.
	// Default 1 MiB.
	ChunkBytes int
	// FenceKeys: once a delta round finds at most this many changed keys,
	// the mover fences the source and sends the last delta. Default 512.
	FenceKeys int
	// MaxRounds bounds the delta rounds before the mover fences anyway (a
	// write rate the copy cannot outrun). Default 8.
	MaxRounds int
	// MaxActive is the most jobs that may be active at once in the cluster
	// (new ones are refused). Default 4.
	MaxActive int
	// RateBytes limits the bytes per second one mover sends (0: no limit).
	RateBytes int64
	// Inflight is how many chunks a mover keeps on their way to the
	// target at once. Default 4.
	Inflight int
	// RPCTimeout bounds one call to the target's leader. Default 10 s.
	RPCTimeout time.Duration
	// StallTimeout: a job whose mover has failed without pause for this
	// long, or whose target has had no leader that long, is aborted.
	// Default 30 s.
	StallTimeout time.Duration
	// BusyRateBytes caps the bytes per second one mover sends while the
	// source node's clients are busy (pacing.go); 0: no such cap. Default
	// 2 MiB.
	BusyRateBytes int64
}

// DefaultMigrationConfig returns the defaults.
func DefaultMigrationConfig() MigrationConfig {
	return MigrationConfig{
		ChunkBytes:    1 << 20,
		FenceKeys:     512,
		MaxRounds:     8,
		MaxActive:     4,
		Inflight:      4,
		RPCTimeout:    10 * time.Second,
		StallTimeout:  30 * time.Second,
		BusyRateBytes: 2 << 20,
	}
}

// Validate reports the first problem with c.
func (c *MigrationConfig) Validate() error {
	if c.ChunkBytes < 1024 || c.FenceKeys < 0 || c.MaxRounds < 1 || c.MaxActive < 1 || c.Inflight < 1 ||
		c.RateBytes < 0 || c.BusyRateBytes < 0 || c.RPCTimeout <= 0 || c.StallTimeout <= 0 {
		return fmt.Errorf("%w: migration: ChunkBytes >= 1024, MaxRounds, MaxActive and Inflight >= 1, RPCTimeout and StallTimeout > 0, FenceKeys, RateBytes and BusyRateBytes >= 0", ErrBadConfig)
	}
	return nil
}

// mover copies one job's slots from the source group g (led by this node)
// to the target group's leader.
type mover struct {
	cs   *clusterState
	cfg  MigrationConfig
	log  *slog.Logger
	job  topology.Job
	g    *raftfsm.Group
	term uint64
	// life ends when the controller shuts down (not when this mover is
	// cancelled): the flip runs under it.
	life context.Context

	// sent counts what this mover shipped, for its log line.
	sentKeys, sentBytes int64
	// inflight holds a slot per chunk on its way to the target (at most
	// Inflight at once); wg waits for them; errMu guards firstErr, the
	// first chunk's failure.
	inflight chan struct{}
	wg       sync.WaitGroup
	errMu    sync.Mutex
	firstErr error
	// throttle state
	windowStart time.Time
	windowBytes int64
	// pace slows the copy while clients are busy (pacing.go); nil: never.
	pace *pacer
}

// run drives the job from MigrateOut to the flip. It returns nil once the
// flip is committed, an error otherwise; no chunk is in flight after it.
func (mv *mover) run(ctx context.Context) error {
	if mv.pace == nil && mv.cfg.BusyRateBytes > 0 {
		if c := mv.cs.commands.Load(); c != nil {
			mv.pace = newPacer(*c)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	err := mv.drive(ctx)
	cancel() // a failed run stops the chunks still in flight
	mv.wg.Wait()
	return err
}

func (mv *mover) drive(ctx context.Context) error {
	job, g := mv.job, mv.g
	slots := toShardRanges(job.Slots)
	if err := mv.failpoint(phaseStart); err != nil {
		return err
	}
	if _, ok := g.MigrationOut(job.ID); !ok {
		if err := g.ProposeMigrateOut(ctx, job.ID, slots, job.Target, mv.cs.pl.Map().Epoch); err != nil {
			return fmt.Errorf("migrate-out: %w", err)
		}
	}
	out, ok := g.MigrationOut(job.ID)
	if !ok {
		return errors.New("the source group did not accept the job (does it own every slot?)")
	}
	if err := mv.failpoint(phaseMigrateOut); err != nil {
		return err
	}
	start := time.Now()
	// Claim the copy for this term before touching the target: a flip by a
	// deposed leader's mover and this restart are then ordered by the meta
	// group (the second one fails), so a reset can never wipe a target
	// whose copy was already flipped.
	if err := mv.cs.pl.ClaimJob(ctx, job.ID, mv.term); err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if err := mv.failpoint(phaseClaim); err != nil {
		return err
	}
	reset := raftfsm.EncodeIngestReset(appendRPCHeader(nil, rpcIngest, job.Target), job.ID, slots, job.Source, mv.term)
	if err := mv.ship(ctx, reset); err != nil {
		return fmt.Errorf("ingest-reset: %w", err)
	}
	if err := mv.failpoint(phaseIngestReset); err != nil {
		return err
	}
	// Full copy. Every change after MigrateOut is dirty, so a key read
	// before a later change is sent again by a delta round.
	st := g.Store()
	st.RLock()
	upTo := g.AppliedIndex()
	st.RUnlock()
	if upTo < out.StartIndex {
		upTo = out.StartIndex
	}
	if err := mv.copySlots(ctx, slots, upTo); err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if err := mv.failpoint(phaseCopy); err != nil {
		return err
	}
	after := upTo
	fenced := out.Fenced
	for round := 0; !fenced && round < mv.cfg.MaxRounds; round++ {
		var keys []string
		upTo, keys = mv.dirty(after, 0)
		if len(keys) <= mv.cfg.FenceKeys {
			break
		}
		if err := mv.sendKeys(ctx, keys, upTo); err != nil {
			return fmt.Errorf("delta: %w", err)
		}
		if err := mv.failpoint(phaseDelta); err != nil {
			return err
		}
		after = upTo
	}
	fenceAt := out.FenceIndex
	if !fenced {
		idx, err := g.ProposeFence(ctx, job.ID)
		if err != nil {
			return fmt.Errorf("fence: %w", err)
		}
		fenceAt = idx
		// Once: a mover restarted after this finds the source fenced.
		mv.log.Info("migration job fenced", "job", job.ID, "source-group", job.Source, "target-group", job.Target,
			"slots", placement.FormatRanges(job.Slots), "index", fenceAt)
	}
	if err := mv.failpoint(phaseFence); err != nil {
		return err
	}
	fenceStart := time.Now()
	// Nothing changes in the slots after the fence: this delta is the last.
	_, last := mv.dirty(after, fenceAt)
	if err := mv.sendKeys(ctx, last, fenceAt); err != nil {
		return fmt.Errorf("last delta: %w", err)
	}
	if err := mv.failpoint(phaseLastDelta); err != nil {
		return err
	}
	// The flip is the commit point. The controller cancels a mover once
	// its map shows the job ended, and that is how the map looks the
	// moment this flip applies: cancelled then, the call would return an
	// unknown outcome for a flip that committed (and "migration job
	// flipped" would go unlogged). So it runs under the node's lifetime
	// (life, ended only by shutdown), bounded by OpTimeout.
	flipCtx, flipCancel := context.WithTimeout(mv.life, mv.cs.n.cfg.Controller.OpTimeout)
	err := mv.cs.pl.FlipClaimedJob(flipCtx, job.ID, mv.term, mv.sentKeys, mv.sentBytes)
	flipCancel()
	if err != nil {
		return fmt.Errorf("flip: %w", err)
	}
	if err := mv.failpoint(phaseFlip); err != nil {
		return err
	}
	// placement logged the flip ("migration job flipped", keys and bytes).
	mv.log.Debug("slots moved", "job", job.ID, "keys", mv.sentKeys, "bytes", mv.sentBytes,
		"took", time.Since(start).String(), "fenced-for", time.Since(fenceStart).String())
	return nil
}

// dirty returns the keys changed in (after, upTo] and upTo; upTo 0 means
// the index applied now.
func (mv *mover) dirty(after, upTo uint64) (uint64, []string) {
	st := mv.g.Store()
	st.RLock()
	defer st.RUnlock()
	if upTo == 0 {
		upTo = mv.g.AppliedIndex()
	}
	return upTo, mv.g.DirtyKeys(mv.job.ID, after, upTo, nil)
}

// copySlots sends every key of slots, read from the live store under its
// read lock one slot at a time, in chunks; the last chunk carries upTo.
// Keys and values are encoded straight into the chunk (one copy each).
func (mv *mover) copySlots(ctx context.Context, slots []shard.SlotRange, upTo uint64) error {
	st := mv.g.Store()
	var chunk raftfsm.IngestBody
	for _, r := range slots {
		for slot := r.Start; slot <= r.End; slot++ {
			st.RLock()
			if st.SlotLen(slot) > 0 {
				st.RangeSlot(slot, func(k string, e *shard.Entry) bool {
					chunk.AddEntry(k, e)
					return true
				})
			}
			st.RUnlock()
			if chunk.Size() >= mv.cfg.ChunkBytes {
				if err := mv.sendChunk(ctx, &chunk, 0); err != nil {
					return err
				}
				if err := mv.failpoint(phaseCopyChunk); err != nil {
					return err
				}
				chunk.Reset()
			}
		}
	}
	return mv.sendChunk(ctx, &chunk, upTo)
}

// sendKeys sends the current value of each key (a deletion for a key that
// is gone), in chunks; the last chunk carries upTo.
func (mv *mover) sendKeys(ctx context.Context, keys []string, upTo uint64) error {
	st := mv.g.Store()
	var chunk raftfsm.IngestBody
	for i := 0; i < len(keys); {
		st.RLock()
		for ; i < len(keys) && chunk.Size() < mv.cfg.ChunkBytes; i++ {
			k := keys[i]
			if e := st.Peek([]byte(k)); e != nil {
				chunk.AddEntry(k, e)
			} else {
				chunk.Delete([]byte(k))
			}
		}
		st.RUnlock()
		if i < len(keys) {
			if err := mv.sendChunk(ctx, &chunk, 0); err != nil {
				return err
			}
			chunk.Reset()
		}
	}
	return mv.sendChunk(ctx, &chunk, upTo)
}

// sendChunk ships one Ingest entry (skipped when empty and without upTo).
// Chunks without upTo go out concurrently, up to Inflight at once: within a
// round every key is in one chunk only, so their order does not matter. A
// chunk with upTo (a round's last) waits for all earlier ones first and is
// shipped alone, so that the target's watermark only rises once everything
// below it is in its log. The entry is built before it returns: keys may
// be reused for the next chunk.
func (mv *mover) sendChunk(ctx context.Context, keys *raftfsm.IngestBody, upTo uint64) error {
	if keys.Keys() == 0 && upTo == 0 {
		return nil
	}
	// One buffer, sized up front, holds the group-rpc header and the
	// entry: no copy on the way to the socket.
	size := 2 + len(mv.job.Target) + raftfsm.IngestHeaderSize(mv.job.ID) + keys.Size()
	data := raftfsm.AppendIngest(appendRPCHeader(make([]byte, 0, size), rpcIngest, mv.job.Target), mv.job.ID, mv.term, upTo, keys)
	if err := mv.throttle(ctx, len(data)); err != nil {
		return err
	}

	mv.sentKeys += int64(keys.Keys())
	mv.sentBytes += int64(len(data))
	if upTo != 0 {
		if err := mv.drain(); err != nil {
			return err
		}
		return mv.ship(ctx, data)
	}
	if mv.inflight == nil {
		mv.inflight = make(chan struct{}, max(mv.cfg.Inflight, 1))
	}
	select {
	case mv.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := mv.failed(); err != nil {
		<-mv.inflight
		return err
	}
	mv.wg.Add(1)
	go func() {
		defer mv.wg.Done()
		defer func() { <-mv.inflight }()
		if err := mv.ship(ctx, data); err != nil {
			mv.errMu.Lock()
			if mv.firstErr == nil {
				mv.firstErr = err
			}
			mv.errMu.Unlock()
		}
	}()
	return nil
}

// drain waits for the chunks in flight and returns the first failure.
func (mv *mover) drain() error {
	mv.wg.Wait()
	return mv.failed()
}

func (mv *mover) failed() error {
	mv.errMu.Lock()
	defer mv.errMu.Unlock()
	return mv.firstErr
}

// throttle waits so that this mover sends at most RateBytes per second.
func (mv *mover) throttle(ctx context.Context, n int) error {
	rate := mv.cfg.RateBytes
	if mv.pace != nil && mv.pace.Busy() && (rate <= 0 || mv.cfg.BusyRateBytes < rate) {
		rate = mv.cfg.BusyRateBytes
	}
	if rate <= 0 {
		mv.windowStart = time.Time{}
		return nil
	}
	now := time.Now()
	if mv.windowStart.IsZero() || now.Sub(mv.windowStart) >= time.Second {
		mv.windowStart, mv.windowBytes = now, 0
	}
	mv.windowBytes += int64(n)
	if mv.windowBytes <= rate {
		return nil
	}
	return pause(ctx, time.Duration(float64(mv.windowBytes-rate)/float64(rate)*float64(time.Second)))
}

// pause waits for d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ship has the target group's leader propose one encoded entry (req: a
// group-rpc header for rpcIngest, then the entry), retrying on a leader
// change until ctx ends.
func (mv *mover) ship(ctx context.Context, req []byte) error {
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
			case <-time.After(min(time.Duration(attempt)*20*time.Millisecond, 500*time.Millisecond)):
			}
		}
		cctx, cancel := context.WithTimeout(ctx, mv.cfg.RPCTimeout)
		_, err := mv.cs.callGroupRaw(cctx, mv.job.Target, req)
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errRPCStale), errors.Is(err, errRPCNotImporting):
			return err // a newer mover owns the job, or it ended: give up
		case ctx.Err() != nil:
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		}
		last = err
	}
}

func toShardRanges(rs []topology.SlotRange) []shard.SlotRange {
	out := make([]shard.SlotRange, len(rs))
	for i, r := range rs {
		out[i] = shard.SlotRange{Start: r.Start, End: r.End}
	}
	return out
}

package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/server"
	"github.com/shoalcache/shoal/shard"
)

// Migration jobs: the controller's part (movers, ending jobs in the
// groups' FSMs) and the node's server.Admin methods. See
// docs/migration.md.

// moverHandle is a running mover, owned by the controller goroutine.
type moverHandle struct {
	job    topology.Job
	term   uint64
	cancel context.CancelFunc
	done   chan struct{}
	err    atomic.Pointer[error]
}

// migrations runs on the controller goroutine after each round: it starts
// a mover for every active job whose source group this node leads (not in
// the pass in which the job's last mover ended, and never again after a
// mover of the job returned success: m may predate that mover's flip, and a
// mover restarted after the flip would reset the target's copy), stops
// movers whose job ended or whose leadership was lost, aborts jobs whose
// mover has failed for StallTimeout, and ends finished jobs in the FSMs of
// the groups this node leads.
func (c *controller) migrations(m *placement.Map, now time.Time) {
	cs := c.cs
	cfg := cs.n.cfg.Migration
	active := make(map[string]topology.Job)
	for _, j := range m.Jobs {
		if j.Phase == topology.JobCopying {
			active[j.ID] = j
		}
	}
	// ended holds the jobs whose mover ended during this pass: they are
	// restarted on a later round only, from a newer map (this one may
	// predate the flip the mover just committed).
	ended := make(map[string]bool)
	for id, h := range c.movers {
		select {
		case <-h.done:
			delete(c.movers, id)
			ended[id] = true
			if p := h.err.Load(); p != nil && *p == nil {
				// The mover committed the flip: the job is done, whatever
				// this (maybe older) map says. Never restart it.
				c.flipped[id] = true
			}
			if _, ok := active[id]; !ok {
				// The job ended (flipped, maybe by this very mover just
				// before it was cancelled, or aborted): whatever the mover
				// returned is no failure to retry.
				delete(c.moverFailSince, id)
				continue
			}
			if p := h.err.Load(); p != nil && *p != nil && errors.Is(*p, errRPCNotImporting) {
				// The target no longer imports the job (it ended there):
				// the copy cannot complete.
				c.abortJob(id, fmt.Sprintf("the target group refused the copy: %v", *p))
			} else if p != nil && *p != nil {
				if _, ok := c.moverFailSince[id]; !ok {
					c.moverFailSince[id] = now
				}
				c.log.Warn("migration mover failed; retrying", "job", id, "err", *p)
				if now.Sub(c.moverFailSince[id]) >= cfg.StallTimeout {
					c.abortJob(id, fmt.Sprintf("the copy has failed for %s: %v", cfg.StallTimeout, *p))
				}
			} else {
				delete(c.moverFailSince, id)
			}
			continue
		default:
		}
		g := cs.localGroup(h.job.Source)
		if _, ok := active[id]; !ok || g == nil || !g.IsLeader() || g.Term() != h.term {
			h.cancel()
		}
	}
	for id, j := range active {
		if c.movers[id] != nil || ended[id] || c.flipped[id] {
			continue
		}
		g := cs.localGroup(j.Source)
		if g == nil || !g.Ready() {
			continue
		}
		ctx, cancel := context.WithCancel(c.ctx)
		h := &moverHandle{job: j, term: g.Term(), cancel: cancel, done: make(chan struct{})}
		c.movers[id] = h
		mv := &mover{cs: cs, cfg: cfg, log: c.log, job: j, g: g, term: h.term, life: c.ctx}
		c.bg.Add(1)
		go func() {
			defer c.bg.Done()
			defer close(h.done)
			defer cancel()
			err := mv.run(ctx)
			h.err.Store(&err)
		}()
	}
	for id := range c.moverFailSince {
		if _, ok := active[id]; !ok {
			delete(c.moverFailSince, id)
		}
	}
	for id := range c.flipped {
		if _, ok := active[id]; !ok {
			delete(c.flipped, id)
		}
	}
	c.endJobs(m)
}

// endJobs ends, in every group this node leads, the migration state of jobs
// that are no longer active in the map: done when the map gives the job's
// slots to its target (the source deletes them, the target keeps them),
// aborted otherwise (the source unfences, the target deletes its copy).
func (c *controller) endJobs(m *placement.Map) {
	rt := c.cs.rt.Load()
	for _, g := range rt.hosted {
		if !g.IsLeader() {
			continue
		}
		for _, id := range g.MigrationJobs() {
			if j := m.Job(id); j != nil && j.Phase == topology.JobCopying {
				continue
			} else if j == nil && !jobPredates(id, m.Epoch) {
				continue // this node's map does not have the job yet
			}
			var done bool
			if out, ok := g.MigrationOut(id); ok {
				done = slotsOf(m, out.Slots, out.Target)
			} else if in, ok := g.Importing(id); ok {
				done = slotsOf(m, in.Slots, g.ID())
			} else {
				continue
			}
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
			err := g.ProposeMigrateEnd(ctx, id, done)
			cancel()
			if err != nil {
				c.log.Warn("cannot end migration job in group", "job", id, "group", g.ID(), "err", err)
				continue
			}
			c.log.Info("ended migration job in group", "job", id, "group", g.ID(), "done", done)
		}
	}
}

// jobPredates reports whether job id (named "j" and the epoch of the map
// that created it) was created at or before epoch: a job missing from a map
// that new has ended (and left the history); one missing from an older map
// is simply not known here yet.
func jobPredates(id string, epoch uint64) bool {
	if len(id) < 2 || id[0] != 'j' {
		return false
	}
	e, err := strconv.ParseUint(id[1:], 10, 64)
	return err == nil && e <= epoch
}

// slotsOf reports whether m assigns every slot of rs to group gid.
func slotsOf(m *placement.Map, rs []shard.SlotRange, gid string) bool {
	for _, r := range rs {
		for s := r.Start; s <= r.End; s++ {
			g := m.SlotGroup(s)
			if g == nil || g.ID != gid {
				return false
			}
		}
	}
	return true
}

// abortJob aborts job id through the meta group, on a goroutine of its own.
func (c *controller) abortJob(id, reason string) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.OpTimeout)
		defer cancel()
		// placement logs the abort ("migration job aborted").
		if err := c.cs.pl.AbortJob(ctx, id, reason); err != nil {
			c.log.Warn("cannot abort migration job", "job", id, "reason", reason, "err", err)
		}
	}()
}

// Migrate implements server.Admin: it creates a job moving slots to
// targetGroup. The job runs without the caller.
func (cs *clusterState) Migrate(ctx context.Context, slots []topology.SlotRange, targetGroup string) (string, error) {
	// A group without a leader could neither copy nor ingest: refuse now
	// rather than create a job that can only stall and abort.
	if m := cs.pl.Map(); m != nil {
		var groups []string
		if len(slots) > 0 && slots[0].Start >= 0 && slots[0].Start < topology.NumSlots {
			if src := m.SlotGroup(slots[0].Start); src != nil {
				groups = append(groups, src.ID)
			}
		}
		if m.Group(targetGroup) != nil {
			groups = append(groups, targetGroup)
		}
		for _, gid := range groups {
			if cs.groupLeader(gid) == "" {
				return "", fmt.Errorf("%w: group %s has no leader now; try again", errNoGroupLeader, gid)
			}
		}
	}
	// placement logs the job ("migration job created").
	j, err := cs.pl.CreateJob(ctx, slots, targetGroup, cs.n.cfg.Migration.MaxActive)
	if err != nil {
		return "", adminError(err)
	}
	return j.ID, nil
}

// CancelJob implements server.Admin: it aborts a job that has not flipped.
func (cs *clusterState) CancelJob(ctx context.Context, jobID string) error {
	if err := cs.pl.AbortJob(ctx, jobID, "cancelled by an operator"); err != nil {
		return adminError(err)
	}
	return nil
}

// Jobs implements server.Admin: every job of the map, newest last, with
// the progress its target reports for the active ones.
func (cs *clusterState) Jobs(ctx context.Context) ([]server.JobStatus, error) {
	m := cs.pl.Map()
	if m == nil {
		return nil, nil
	}
	out := make([]server.JobStatus, 0, len(m.Jobs))
	for _, j := range m.Jobs {
		st := server.JobStatus{ID: j.ID, Slots: j.Slots, Source: j.Source, Target: j.Target,
			Phase: string(j.Phase), Reason: j.Reason, ETA: -1, Created: time.UnixMilli(j.Created)}
		if j.Ended != 0 {
			st.Ended = time.UnixMilli(j.Ended)
		}
		if j.Phase == topology.JobDone {
			st.Keys, st.Bytes = j.Keys, j.Bytes
			if secs := st.Ended.Sub(st.Created).Seconds(); secs > 0 {
				st.KeysPerSec, st.BytesPerSec = float64(j.Keys)/secs, float64(j.Bytes)/secs
			}
		}
		if j.Phase == topology.JobCopying {
			cs.jobProgress(ctx, &st)
		}
		out = append(out, st)
	}
	return out, nil
}

// jobProgress fills in what the job's target has ingested and, from the
// source, whether it is fenced and how many keys it holds; best effort.
func (cs *clusterState) jobProgress(ctx context.Context, st *server.JobStatus) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if b, err := cs.callGroup(ctx, st.Target, rpcImportStatus, []byte(st.ID)); err == nil {
		var in raftfsm.ImportStatus
		if json.Unmarshal(b, &in) == nil {
			st.Keys, st.Bytes = int64(in.Keys), int64(in.Bytes)
		}
	}
	var total int64 = -1
	if b, err := cs.callGroup(ctx, st.Source, rpcOutStatus, []byte(st.ID)); err == nil {
		var out outStatus
		if json.Unmarshal(b, &out) == nil {
			total = out.Keys
			if out.Fenced {
				st.Phase = "fenced"
			}
		}
	}
	if secs := time.Since(st.Created).Seconds(); secs > 0 {
		st.KeysPerSec, st.BytesPerSec = float64(st.Keys)/secs, float64(st.Bytes)/secs
	}
	if total >= 0 && st.KeysPerSec > 0 {
		st.ETA = time.Duration(float64(max(total-st.Keys, 0)) / st.KeysPerSec * float64(time.Second))
	}
}

// adminError maps placement's refusals to the front end's sentinels, which
// SHOAL turns into error replies; the message stays.
func adminError(err error) error {
	pairs := []struct{ from, to error }{
		{placement.ErrUnknownGroup, server.ErrUnknownGroup},
		{placement.ErrBadSlots, server.ErrBadSlots},
		{placement.ErrUnassignedSlots, server.ErrUnassignedSlots},
		{placement.ErrMixedSources, server.ErrMixedSources},
		{placement.ErrAlreadyOwner, server.ErrAlreadyOwner},
		{placement.ErrSlotsBusy, server.ErrSlotsBusy},
		{placement.ErrTooManyJobs, server.ErrTooManyJobs},
		{placement.ErrUnknownJob, server.ErrUnknownJob},
		{placement.ErrJobNotActive, server.ErrJobNotActive},
	}
	for _, p := range pairs {
		if errors.Is(err, p.from) {
			return fmt.Errorf("%w: %v", p.to, err)
		}
	}
	return err
}

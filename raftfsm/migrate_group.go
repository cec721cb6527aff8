package raftfsm

import (
	"context"
	"fmt"
	"slices"

	"github.com/shoalcache/shoal/shard"
)

// Slot migration proposals and state (see migrate.go for the FSM's rules and
// docs/migration.md for the protocol).
//
// The Propose methods are safe for concurrent use; like the typed proposals
// (typed.go) each makes one log entry of its own and waits until it is
// applied. Errors: those of typed.go (ErrNotLeader, ErrShutdown,
// ErrIndeterminate: retrying is safe, every migration entry is idempotent or
// refused as a duplicate with an error that says so: ErrUnknownJob for a
// MigrateEnd that already applied), a validation error (nothing proposed),
// or the FSM's refusal (ErrUnknownJob, ErrJobConflict, ErrJobEnded,
// ErrSlotsNotOwned, ErrSlotsOwned, ErrSlotsBusy, ErrStaleSource,
// ErrNotImporting), wrapped with the job's id and group; a refused entry
// changed nothing.
//
// The readers Fenced, MigrationOut, Importing and MigrationJobs are
// lock-free (an atomic load of immutable state); DirtyKeys needs the store's
// read lock (see there).

// validJob checks a job id and a peer group id before they are encoded.
func validJob(job, peer string) error {
	if job == "" || len(job) > maxName {
		return fmt.Errorf("raftfsm: invalid migration job id %q", job)
	}
	if len(peer) > maxName {
		return fmt.Errorf("raftfsm: group id of %d bytes is too long", len(peer))
	}
	return nil
}

// validSlots checks slots and returns them canonical (ascending, merged).
func validSlots(slots []shard.SlotRange) ([]shard.SlotRange, error) {
	for _, r := range slots {
		if r.Start < 0 || r.End >= shard.NumSlots || r.Start > r.End {
			return nil, fmt.Errorf("raftfsm: invalid slot range %d-%d", r.Start, r.End)
		}
	}
	c := canonical(slots)
	if len(c) == 0 {
		return nil, fmt.Errorf("raftfsm: migration job without slots")
	}
	return c, nil
}

// proposeMigration proposes a migration entry and returns the FSM's result.
func (g *Group) proposeMigration(ctx context.Context, data []byte) (migResult, error) {
	v, err := g.proposeEntry(ctx, data)
	if err != nil {
		return migResult{}, err
	}
	res, ok := v.(migResult)
	if !ok {
		return migResult{}, fmt.Errorf("raftfsm: unexpected apply result %T", v)
	}
	return res, nil
}

// migError turns a refusal into an error naming job (nil for migOK).
func (g *Group) migError(res migResult, job string) error {
	var err error
	switch res.code {
	case migOK:
		return nil
	case migUnknownJob:
		err = ErrUnknownJob
	case migJobExists, migConflict:
		err = ErrJobConflict
	case migNotOwned:
		err = ErrSlotsNotOwned
	case migOwned:
		err = ErrSlotsOwned
	case migBusy:
		err = ErrSlotsBusy
	case migStale:
		return fmt.Errorf("%w: job %s in group %s has seen source term %d", ErrStaleSource, job, g.cfg.GroupID, res.index)
	case migNotImporting:
		err = ErrNotImporting
	case migEnded:
		err = ErrJobEnded
	default:
		err = fmt.Errorf("raftfsm: unknown migration outcome %d", res.code)
	}
	return fmt.Errorf("%w: job %s in group %s", err, job, g.cfg.GroupID)
}

// ProposeMigrateOut starts migrating slots out of this group to the target
// group under job (a MigrateOut entry): from the entry on, every change to a
// key of those slots records its dirty index. epoch is the map epoch the job
// was created at (recorded only). Proposing it again for a running job with
// the same slots and target is a no-op that succeeds; otherwise a known job
// is ErrJobConflict, and one that ended here ErrJobEnded. ErrSlotsNotOwned
// if the group does not own every slot, ErrSlotsBusy if one is in another
// job.
func (g *Group) ProposeMigrateOut(ctx context.Context, job string, slots []shard.SlotRange, target string, epoch uint64) error {
	if err := validJob(job, target); err != nil {
		return err
	}
	ranges, err := validSlots(slots)
	if err != nil {
		return err
	}
	res, err := g.proposeMigration(ctx, encodeMigrateOut(nil, job, ranges, target, epoch))
	if err != nil {
		return err
	}
	if res.code == migJobExists {
		if st, ok := g.fsm.MigrationOut(job); ok && st.Target == target && slices.Equal(st.Slots, ranges) {
			return nil
		}
	}
	return g.migError(res, job)
}

// ProposeFence fences job in this source group (a Fence entry) and returns
// the index the fence applied at: from that entry on, writes to the job's
// slots are refused with NOTOWNER, so nothing changes in them after
// fenceIndex. Fencing a fenced job returns its fence index.
// ErrUnknownJob if the group does not migrate job out.
func (g *Group) ProposeFence(ctx context.Context, job string) (fenceIndex uint64, err error) {
	if err := validJob(job, ""); err != nil {
		return 0, err
	}
	res, err := g.proposeMigration(ctx, encodeFence(nil, job))
	if err != nil {
		return 0, err
	}
	if err := g.migError(res, job); err != nil {
		return 0, err
	}
	return res.index, nil
}

// ProposeMigrateEnd ends job in this group, source or target (a MigrateEnd
// entry), with done true once the map flipped the slots to the target and
// false once it aborted the job. Source, done: deletes the keys of the job's
// slots (ErrSlotsOwned while the group still owns one of them: commit the
// ownership that drops them first). Source, aborted: unfences. Target,
// done: keeps the keys. Target, aborted: deletes them (ErrSlotsOwned if the
// group owns one of the slots). Every case forgets the job. ErrUnknownJob if
// the group does not run job (also when an earlier attempt ended it).
func (g *Group) ProposeMigrateEnd(ctx context.Context, job string, done bool) error {
	if err := validJob(job, ""); err != nil {
		return err
	}
	res, err := g.proposeMigration(ctx, encodeMigrateEnd(nil, job, done))
	if err != nil {
		return err
	}
	return g.migError(res, job)
}

// ProposeMigrationEntry proposes, in this target group, an IngestReset or
// Ingest entry that the source's leader encoded (EncodeIngestReset,
// EncodeIngest) and shipped. The entry is decoded first: anything else, or
// a malformed entry, is ErrBadEntry and nothing is proposed. raft keeps
// data: the caller must not modify it afterwards.
//
// IngestReset: ErrStaleSource (a higher source term was seen),
// ErrSlotsOwned (the group owns one of the slots), ErrJobConflict (the job
// runs with other slots or source), ErrSlotsBusy, ErrJobEnded (the job
// ended here: a delayed reset of a finished job). Ingest: ErrNotImporting
// (unknown job, or no IngestReset at this source term), ErrStaleSource.
func (g *Group) ProposeMigrationEntry(ctx context.Context, data []byte) error {
	var d Decoded
	if err := decodeEntry(data, &d); err != nil {
		return fmt.Errorf("%w: migration entry: %v", ErrBadEntry, err)
	}
	if d.typ != entryIngestReset && d.typ != entryIngest {
		return fmt.Errorf("%w: entry of type %d is not IngestReset or Ingest", ErrBadEntry, d.typ)
	}
	job := string(d.job)
	res, err := g.proposeMigration(ctx, data)
	if err != nil {
		return err
	}
	return g.migError(res, job)
}

// Term returns the group's current Raft term on this node. A source leader
// stamps its Ingest entries with it.
func (g *Group) Term() uint64 { return g.raft.CurrentTerm() }

// Fenced reports whether slot belongs to a fenced migration job of this
// group, as of the last entry this replica applied. Lock-free: meant for
// connection goroutines, which refuse reads and writes of fenced slots.
func (g *Group) Fenced(slot int) bool { return g.fsm.Fenced(slot) }

// MigrationOut returns this group's state of job if it migrates job out, as
// of the last entry this replica applied. Lock-free.
func (g *Group) MigrationOut(job string) (MigrateOutStatus, bool) { return g.fsm.MigrationOut(job) }

// Importing returns this group's state of job if it imports job, as of the
// last entry this replica applied. Lock-free.
func (g *Group) Importing(job string) (ImportStatus, bool) { return g.fsm.Importing(job) }

// MigrationJobs returns the ids of the migration jobs this group runs, as
// source or target, sorted. Lock-free.
func (g *Group) MigrationJobs() []string { return g.fsm.MigrationJobs() }

// DirtyKeys appends to dst the keys of job (migrating out of this group)
// whose last change is at a log index in (after, upTo], and returns dst.
// The caller holds the store's read lock (Store().RLock()) across the call,
// and typically also while it reads AppliedIndex (stable under the lock)
// and the keys' values, so that all three agree. It must not propose while
// holding it.
func (g *Group) DirtyKeys(job string, after, upTo uint64, dst []string) []string {
	return g.fsm.DirtyKeys(job, after, upTo, dst)
}

package raftfsm

import (
	"bytes"
	"maps"
	"slices"
	"sort"

	"github.com/shoalcache/shoal/shard"
	"github.com/shoalcache/shoal/snapshot"
)

// Slot migration: the replicated half (docs/migration.md).
//
// A source group migrating slots out and a target group importing them each
// keep a per-job state in their FSM, changed only by log entries and saved in
// snapshots:
//
//   - MigrateOut (source): if the group owns every slot of the job, none of
//     them is in another job and the job is unknown, the job starts:
//     {slots, target, epoch, startIndex = the entry's index, not fenced}.
//     From then on every change to a key of those slots (command writes,
//     lazy and active expiry, eviction, FLUSHALL, renames) records the key's
//     dirty index: the log index of the entry that last changed it.
//   - Fence (source): the job is fenced at the entry's index. From then on a
//     keyed write to its slots is refused at apply time with
//     "-NOTOWNER <slot>", as for an unowned slot; a keyless write (FLUSHALL)
//     is refused with "-TRYAGAIN ..." while any job is fenced (it would change
//     fenced slots behind the mover's last delta) and, in a target, while any
//     job imports (it would delete copied keys); Expire and Evict entries
//     skip keys of fenced slots. Fenced(slot) answers lock-free for the front
//     end. Fencing a fenced job changes nothing and returns its fence index.
//   - IngestReset (target): (re)starts importing: the job is registered with
//     maxSourceTerm = sourceTerm, watermark, keys and bytes 0, and every key
//     the store holds in its slots is deleted. Refused when the group owns one
//     of the slots, when sourceTerm is below the job's highest source term,
//     when the job is known with other slots or source, or (new job) when a
//     slot is in another job.
//   - Ingest (target): refused unless the job is importing at exactly
//     sourceTerm (below: a deposed source leader; above: a new leader that has
//     not reset the copy). Each key of the job's slots that the group does not
//     own is set (value, expireAt; already expired at the FSM clock: deleted)
//     or deleted; other keys are ignored. upTo above the watermark raises
//     it. Applying a chunk twice leaves the same store.
//   - MigrateEnd: source, done: every key of the job's slots is deleted and
//     the job forgotten (fence and dirty indexes included); refused while the
//     group still owns one of the slots, since it would then serve them
//     empty. Source, aborted: the job is forgotten (unfenced). Target, done:
//     forgotten, keys kept. Target, aborted: the keys of the job's slots are
//     deleted and the job forgotten; refused while the group owns one of the
//     slots. Unknown job: nothing.
//   - A job that ended in a group cannot start there again: a late
//     MigrateOut or IngestReset of one of the last 256 jobs ended is
//     refused, so that, say, a deposed source leader's delayed IngestReset
//     cannot restart an import its job's abort removed.
//
// A refused entry changes nothing; its result says why (the Group methods
// turn it into an error). Writes through Commands entries to slots a target
// imports stay refused by the ownership check: it does not own them yet.
//
// The state is immutable behind FSM.mig (nil until a job starts), so
// that Fenced, MigrationOut, Importing and MigrationJobs are lock-free; only
// the dirty indexes are mutable, written by the FSM goroutine under the
// store's Lock and read under its RLock (DirtyKeys).

// migCode is the outcome of a migration entry.
type migCode uint8

const (
	migOK           migCode = iota
	migUnknownJob           // Fence, MigrateEnd of a job this group does not run
	migJobExists            // MigrateOut of a known job, IngestReset of a job migrating out
	migNotOwned             // MigrateOut: the group does not own every slot
	migOwned                // IngestReset, MigrateEnd: the group owns a slot of the job
	migBusy                 // a slot is in another job
	migStale                // sourceTerm below the job's highest
	migNotImporting         // Ingest: no import of this job at this term
	migConflict             // IngestReset of an importing job with other slots or source
	migEnded                // MigrateOut, IngestReset of a job that ended in this group
)

// migResult is the FSM's result for a migration entry. It is not an error:
// ApplyBatch halts the FSM on errors. index is the job's start index
// (MigrateOut), fence index (Fence) or highest source term (a stale
// IngestReset or Ingest).
type migResult struct {
	code  migCode
	index uint64
}

// outJob is a source's migrating-out job. Every field but dirty is
// immutable; a change makes a new outJob sharing dirty.
type outJob struct {
	slots      []shard.SlotRange
	set        shard.SlotSet
	target     string
	epoch      uint64
	start      uint64
	fenced     bool
	fenceIndex uint64
	// dirty maps each key of the slots changed since start to the index
	// of its last change. Written by the FSM goroutine under the store's
	// Lock; read under RLock.
	dirty map[string]uint64
}

// inJob is a target's importing job; immutable.
type inJob struct {
	slots                          []shard.SlotRange
	set                            shard.SlotSet
	source                         string
	maxTerm, watermark, keys, size uint64
}

// migState is the FSM's migration jobs; immutable, replaced whole.
type migState struct {
	out map[string]*outJob
	in  map[string]*inJob
	// fenced is the union of the fenced jobs' slots, nil if none is.
	fenced *shard.SlotSet
	// busy is the union of every job's slots; watched of the outgoing ones.
	busy, watched shard.SlotSet
	// blockKeyless is set while a job is fenced or importing: keyless
	// writes (FLUSHALL) are refused.
	blockKeyless bool
	// ended are the ids of the last maxEndedJobs jobs ended in this group,
	// oldest first: they cannot start again (a late MigrateOut or
	// IngestReset of a finished job is refused).
	ended []string
}

// maxEndedJobs bounds the ended job ids a group remembers.
const maxEndedJobs = 256

func (m *migState) hasEnded(job string) bool { return slices.Contains(m.ended, job) }

// withEnded returns m's ended ids with job added (dropping the oldest
// beyond maxEndedJobs), as a new slice.
func (m *migState) withEnded(job string) []string {
	ended := m.ended
	if len(ended) >= maxEndedJobs {
		ended = ended[len(ended)-maxEndedJobs+1:]
	}
	return append(slices.Clone(ended), job)
}

var noMigrations = &migState{}

// migrations returns the current state, never nil.
func (f *FSM) migrations() *migState {
	if m := f.mig.Load(); m != nil {
		return m
	}
	return noMigrations
}

// fencedSlots returns the fenced slots, or nil: one atomic load when no job
// runs.
func (f *FSM) fencedSlots() *shard.SlotSet {
	if m := f.mig.Load(); m != nil {
		return m.fenced
	}
	return nil
}

// Fenced reports whether slot belongs to a job that is fenced in this
// group, as of the last entry applied. Lock-free.
func (f *FSM) Fenced(slot int) bool {
	s := f.fencedSlots()
	return s != nil && s.Has(slot)
}

// publish installs a new state with the given jobs and points the store's
// change watch at the outgoing jobs' slots. Caller holds the store's Lock,
// on the FSM goroutine.
func (f *FSM) publish(out map[string]*outJob, in map[string]*inJob, ended []string) {
	if len(out) == 0 && len(in) == 0 && len(ended) == 0 {
		f.mig.Store(nil)
		f.store.SetWatch(nil, nil)
		return
	}
	m := &migState{out: out, in: in, ended: ended}
	var fenced shard.SlotSet
	anyFenced := false
	for _, j := range out {
		or(&m.busy, &j.set)
		or(&m.watched, &j.set)
		if j.fenced {
			or(&fenced, &j.set)
			anyFenced = true
		}
	}
	for _, j := range in {
		or(&m.busy, &j.set)
	}
	if anyFenced {
		m.fenced = &fenced
	}
	m.blockKeyless = anyFenced || len(in) > 0
	f.mig.Store(m)
	if len(out) == 0 {
		f.store.SetWatch(nil, nil)
	} else {
		f.store.SetWatch(&m.watched, f.markDirty)
	}
}

func or(dst, src *shard.SlotSet) {
	for i := range dst {
		dst[i] |= src[i]
	}
}

func overlaps(a, b *shard.SlotSet) bool {
	for i := range a {
		if a[i]&b[i] != 0 {
			return true
		}
	}
	return false
}

func covers(a, b *shard.SlotSet) bool {
	for i := range a {
		if b[i]&^a[i] != 0 {
			return false
		}
	}
	return true
}

// markDirty is the store's change watch: it records the index of the entry
// being applied as key's dirty index in the job whose slots hold it.
func (f *FSM) markDirty(key string) {
	slot := shard.SlotString(key)
	for _, j := range f.migrations().out {
		if j.set.Has(slot) {
			j.dirty[key] = f.curIndex
			return
		}
	}
}

// flushSlots deletes every key of set's slots. Caller holds the store's Lock.
func (f *FSM) flushSlots(set *shard.SlotSet) {
	for _, r := range set.Ranges(nil) {
		for s := r.Start; s <= r.End; s++ {
			f.store.FlushSlot(s)
		}
	}
	f.notifyAll()
}

func rangeSet(ranges []shard.SlotRange) shard.SlotSet {
	var s shard.SlotSet
	for _, r := range ranges {
		s.AddRange(r)
	}
	return s
}

// applyMigration applies a decoded migration entry at log index index.
// Caller holds the store's Lock. Its lines are debug: every replica
// applies the entry, again when it replays its log at a restart; the
// node that proposes a step logs it once at info (docs/logging.md).
func (f *FSM) applyMigration(d *Decoded, index uint64) migResult {
	m := f.migrations()
	job := string(d.job)
	switch d.typ {
	case entryMigrateOut:
		return f.applyMigrateOut(m, job, d, index)
	case entryFence:
		j := m.out[job]
		if j == nil {
			return migResult{code: migUnknownJob}
		}
		if j.fenced {
			return migResult{code: migOK, index: j.fenceIndex}
		}
		nj := *j
		nj.fenced, nj.fenceIndex = true, index
		out := maps.Clone(m.out)
		out[job] = &nj
		f.publish(out, m.in, m.ended)
		f.log.Debug("slot migration fenced", "job", job, "index", index, "dirty-keys", len(j.dirty))
		return migResult{code: migOK, index: index}
	case entryIngestReset:
		return f.applyIngestReset(m, job, d)
	case entryIngest:
		return f.applyIngest(m, job, d)
	case entryMigrateEnd:
		return f.applyMigrateEnd(m, job, d.done)
	}
	return migResult{code: migUnknownJob}
}

func (f *FSM) applyMigrateOut(m *migState, job string, d *Decoded, index uint64) migResult {
	if j := m.out[job]; j != nil {
		return migResult{code: migJobExists, index: j.start}
	}
	if m.in[job] != nil {
		return migResult{code: migJobExists}
	}
	if m.hasEnded(job) {
		return migResult{code: migEnded}
	}
	set := rangeSet(d.ranges)
	if own := f.owner.Load(); !covers(&own.slots, &set) {
		return migResult{code: migNotOwned}
	}
	if overlaps(&m.busy, &set) {
		return migResult{code: migBusy}
	}
	out := maps.Clone(m.out)
	if out == nil {
		out = make(map[string]*outJob)
	}
	out[job] = &outJob{
		slots: slices.Clone(d.ranges), set: set, target: string(d.peer), epoch: d.epoch,
		start: index, dirty: make(map[string]uint64),
	}
	f.publish(out, m.in, m.ended)
	f.log.Debug("slot migration out started", "job", job, "target-group", string(d.peer), "slots", set.Count(), "index", index)
	return migResult{code: migOK, index: index}
}

func (f *FSM) applyIngestReset(m *migState, job string, d *Decoded) migResult {
	if m.out[job] != nil {
		return migResult{code: migJobExists}
	}
	set := rangeSet(d.ranges)
	if own := f.owner.Load(); overlaps(&own.slots, &set) {
		return migResult{code: migOwned}
	}
	if j := m.in[job]; j != nil {
		if d.sourceTerm < j.maxTerm {
			return migResult{code: migStale, index: j.maxTerm}
		}
		if j.set != set || j.source != string(d.peer) {
			return migResult{code: migConflict}
		}
	} else if m.hasEnded(job) {
		return migResult{code: migEnded}
	} else if overlaps(&m.busy, &set) {
		return migResult{code: migBusy}
	}
	in := maps.Clone(m.in)
	if in == nil {
		in = make(map[string]*inJob)
	}
	in[job] = &inJob{slots: slices.Clone(d.ranges), set: set, source: string(d.peer), maxTerm: d.sourceTerm}
	f.publish(m.out, in, m.ended)
	f.flushSlots(&set)
	f.log.Debug("slot migration import (re)started", "job", job, "source-group", string(d.peer), "source-term", d.sourceTerm, "slots", set.Count())
	return migResult{code: migOK}
}

func (f *FSM) applyIngest(m *migState, job string, d *Decoded) migResult {
	j := m.in[job]
	if j == nil {
		return migResult{code: migNotImporting}
	}
	if d.sourceTerm < j.maxTerm {
		return migResult{code: migStale, index: j.maxTerm}
	}
	if d.sourceTerm > j.maxTerm {
		// A new source leader must reset the copy before sending chunks.
		return migResult{code: migNotImporting, index: j.maxTerm}
	}
	own := f.owner.Load()
	now := f.now.Load()
	nj := *j
	for _, k := range d.ingest {
		slot := shard.Slot(k.Key)
		if !j.set.Has(slot) || own.slots.Has(slot) {
			continue
		}
		switch {
		case k.Deleted || (k.ExpireAt != 0 && k.ExpireAt <= now):
			f.store.Delete(k.Key)
		case k.Obj != nil:
			// The decoded object is the entry's own: the store keeps it.
			f.store.SetObject(k.Key, k.Obj, k.ExpireAt, now)
		default:
			f.store.Set(k.Key, bytes.Clone(k.Value), k.ExpireAt, now)
		}
		nj.keys++
		nj.size += uint64(len(k.Key) + len(k.Value))
	}
	if d.upTo > nj.watermark {
		nj.watermark = d.upTo
	}
	in := maps.Clone(m.in)
	in[job] = &nj
	f.publish(m.out, in, m.ended)
	return migResult{code: migOK}
}

func (f *FSM) applyMigrateEnd(m *migState, job string, done bool) migResult {
	own := f.owner.Load()
	if j := m.out[job]; j != nil {
		if done && overlaps(&own.slots, &j.set) {
			return migResult{code: migOwned}
		}
		out := maps.Clone(m.out)
		delete(out, job)
		f.publish(out, m.in, m.withEnded(job))
		if done {
			f.flushSlots(&j.set)
		}
		f.log.Debug("slot migration out ended", "job", job, "done", done)
		return migResult{code: migOK}
	}
	if j := m.in[job]; j != nil {
		if !done && overlaps(&own.slots, &j.set) {
			return migResult{code: migOwned}
		}
		in := maps.Clone(m.in)
		delete(in, job)
		f.publish(m.out, in, m.withEnded(job))
		if !done {
			f.flushSlots(&j.set)
		}
		f.log.Debug("slot migration import ended", "job", job, "done", done, "keys", j.keys)
		return migResult{code: migOK}
	}
	return migResult{code: migUnknownJob}
}

// MigrateOutStatus is a source group's state of a job migrating slots out.
type MigrateOutStatus struct {
	Slots  []shard.SlotRange
	Target string
	// Epoch is the map epoch of the MigrateOut entry.
	Epoch uint64
	// StartIndex is the index of the MigrateOut entry: changes after it
	// have dirty indexes.
	StartIndex uint64
	Fenced     bool
	// FenceIndex is the index of the Fence entry (0 until fenced).
	FenceIndex uint64
}

// ImportStatus is a target group's state of a job importing slots.
type ImportStatus struct {
	Slots  []shard.SlotRange
	Source string
	// MaxSourceTerm is the highest source leader term seen: chunks of
	// other terms are refused.
	MaxSourceTerm uint64
	// Watermark is the source log index up to which the target holds every
	// change (the highest upTo applied since the last IngestReset).
	Watermark uint64
	// Keys and Bytes count the keys ingested (set or deleted) and their
	// key and value bytes, since the last IngestReset.
	Keys, Bytes uint64
}

// MigrationOut returns the state of job if this group migrates it out, as
// of the last entry applied. Lock-free.
func (f *FSM) MigrationOut(job string) (MigrateOutStatus, bool) {
	j := f.migrations().out[job]
	if j == nil {
		return MigrateOutStatus{}, false
	}
	return MigrateOutStatus{Slots: slices.Clone(j.slots), Target: j.target, Epoch: j.epoch,
		StartIndex: j.start, Fenced: j.fenced, FenceIndex: j.fenceIndex}, true
}

// Importing returns the state of job if this group imports it, as of the
// last entry applied. Lock-free.
func (f *FSM) Importing(job string) (ImportStatus, bool) {
	j := f.migrations().in[job]
	if j == nil {
		return ImportStatus{}, false
	}
	return ImportStatus{Slots: slices.Clone(j.slots), Source: j.source, MaxSourceTerm: j.maxTerm,
		Watermark: j.watermark, Keys: j.keys, Bytes: j.size}, true
}

// MigrationJobs returns the ids of the jobs this group migrates out or
// imports, sorted. Lock-free.
func (f *FSM) MigrationJobs() []string {
	m := f.migrations()
	ids := make([]string, 0, len(m.out)+len(m.in))
	for id := range m.out {
		ids = append(ids, id)
	}
	for id := range m.in {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// DirtyKeys appends to dst the keys of job whose dirty index is in
// (after, upTo] and returns dst (in no particular order); nothing for a job
// this group does not migrate out. Caller holds the store's RLock (or Lock),
// so that the keys, the store and AppliedIndex agree.
func (f *FSM) DirtyKeys(job string, after, upTo uint64, dst []string) []string {
	j := f.migrations().out[job]
	if j == nil {
		return dst
	}
	for k, idx := range j.dirty {
		if idx > after && idx <= upTo {
			dst = append(dst, k)
		}
	}
	return dst
}

// snapshotMigrations fills meta with the jobs, copying the dirty indexes.
// Caller holds the store's Lock.
func (f *FSM) snapshotMigrations(meta *snapshot.Meta) {
	m := f.mig.Load()
	if m == nil {
		return
	}
	meta.EndedJobs = m.ended // immutable
	for id, j := range m.out {
		meta.MigratingOut = append(meta.MigratingOut, snapshot.MigratingOut{
			Job: id, Target: j.target, Slots: j.slots, Epoch: j.epoch, StartIndex: j.start,
			Fenced: j.fenced, FenceIndex: j.fenceIndex, Dirty: maps.Clone(j.dirty),
		})
	}
	for id, j := range m.in {
		meta.Importing = append(meta.Importing, snapshot.Importing{
			Job: id, Source: j.source, Slots: j.slots, MaxSourceTerm: j.maxTerm,
			Watermark: j.watermark, Keys: j.keys, Bytes: j.size,
		})
	}
}

// restoreMigrations replaces the jobs with those of a restored snapshot.
// Caller holds the store's Lock.
func (f *FSM) restoreMigrations(meta *snapshot.Meta) {
	var out map[string]*outJob
	var in map[string]*inJob
	for _, j := range meta.MigratingOut {
		if out == nil {
			out = make(map[string]*outJob)
		}
		dirty := j.Dirty
		if dirty == nil {
			dirty = make(map[string]uint64)
		}
		out[j.Job] = &outJob{slots: j.Slots, set: rangeSet(j.Slots), target: j.Target, epoch: j.Epoch,
			start: j.StartIndex, fenced: j.Fenced, fenceIndex: j.FenceIndex, dirty: dirty}
	}
	for _, j := range meta.Importing {
		if in == nil {
			in = make(map[string]*inJob)
		}
		in[j.Job] = &inJob{slots: j.Slots, set: rangeSet(j.Slots), source: j.Source, maxTerm: j.MaxSourceTerm,
			watermark: j.Watermark, keys: j.Keys, size: j.Bytes}
	}
	f.publish(out, in, slices.Clone(meta.EndedJobs))
}

package placement

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Slot migration jobs: the meta group's half of docs/migration.md. A job
// is a record in the map, so that one compare-and-set covers a job's phase
// and the ownership of its slots together. The transitions below are pure
// functions of a map, for use inside UpdateMap's fn (which may run more
// than once); the Service methods wrap them.
//
//	NewJob:   (none)  -> copying
//	FlipJob:  copying -> done     (the slots move to the target)
//	AbortJob: copying -> aborted  (the source keeps the slots)
//
// Flip and abort both require phase copying, so once one has been applied
// the other is refused: they can never both succeed.

// JobHistory is how many finished (done or aborted) jobs the map keeps;
// when a flip or an abort finishes one more, the oldest finished job is
// dropped.
const JobHistory = 32

// NewJob returns a copy of m with a new job, in phase copying, that moves
// slots from the group that owns them to the group target, and the epoch
// incremented; and a copy of the job. The job's id is "j" followed by the
// new epoch, which no other map has. now is the creation time in Unix
// milliseconds. maxActive caps the active jobs (the new one included); 0
// or less means no cap. Overlapping or adjacent ranges are merged.
//
// It changes nothing and returns an error wrapping ErrUnknownGroup,
// ErrBadSlots, ErrUnassignedSlots, ErrMixedSources, ErrAlreadyOwner,
// ErrSlotsBusy or ErrTooManyJobs (in that order of checks), or ErrBadMap
// when m itself is inconsistent.
func NewJob(m *Map, slots []SlotRange, target string, now int64, maxActive int) (*Map, *Job, error) {
	ti := m.GroupIndex(target)
	if ti < 0 {
		return nil, nil, fmt.Errorf("%w: target %q", ErrUnknownGroup, target)
	}
	ranges, err := normalizeSlots(slots)
	if err != nil {
		return nil, nil, err
	}
	src := -1
	for _, r := range ranges {
		for s := r.Start; s <= r.End; s++ {
			gi := int(m.Slots[s])
			switch {
			case gi < 0 || gi >= len(m.Groups):
				return nil, nil, fmt.Errorf("%w: slot %d", ErrUnassignedSlots, s)
			case src < 0:
				src = gi
			case gi != src:
				return nil, nil, fmt.Errorf("%w: slot %d is in %s, slot %d in %s",
					ErrMixedSources, ranges[0].Start, m.Groups[src].ID, s, m.Groups[gi].ID)
			}
		}
	}
	if src == ti {
		return nil, nil, fmt.Errorf("%w: %s owns slots %s", ErrAlreadyOwner, target, FormatRanges(ranges))
	}
	active := 0
	for i := range m.Jobs {
		j := &m.Jobs[i]
		if !j.Active() {
			continue
		}
		active++
		for _, r := range ranges {
			for s := r.Start; s <= r.End; s++ {
				if j.HasSlot(s) {
					return nil, nil, fmt.Errorf("%w: slot %d is in job %s", ErrSlotsBusy, s, j.ID)
				}
			}
		}
	}
	if maxActive > 0 && active >= maxActive {
		return nil, nil, fmt.Errorf("%w: %d active, at most %d", ErrTooManyJobs, active, maxActive)
	}
	next := m.Clone()
	next.Epoch = m.Epoch + 1
	id := "j" + strconv.FormatUint(next.Epoch, 10)
	if m.Job(id) != nil {
		return nil, nil, fmt.Errorf("%w: job id %s already used", ErrBadMap, id)
	}
	job := Job{
		ID:      id,
		Slots:   ranges,
		Source:  m.Groups[src].ID,
		Target:  target,
		Phase:   JobCopying,
		Created: now,
	}
	next.Jobs = append(next.Jobs, job)
	job.Slots = slices.Clone(ranges)
	return next, &job, nil
}

// FlipJob returns a copy of m in which the job id, in phase copying, is
// done: its slots belong to its target, Ended is now (Unix milliseconds)
// and the epoch is incremented. It changes nothing and returns an error
// wrapping ErrUnknownJob, or ErrJobNotActive when the job was already
// flipped or aborted (the error names its phase), or ErrBadMap when the
// source no longer owns the slots (m is inconsistent).
func FlipJob(m *Map, id string, now int64) (*Map, error) {
	next, j, err := endJob(m, id)
	if err != nil {
		return nil, err
	}
	src, dst := next.GroupIndex(j.Source), next.GroupIndex(j.Target)
	if src < 0 || dst < 0 {
		return nil, fmt.Errorf("%w: job %s moves from group %q to group %q", ErrBadMap, id, j.Source, j.Target)
	}
	for _, r := range j.Slots {
		for s := r.Start; s <= r.End; s++ {
			if int(next.Slots[s]) != src {
				return nil, fmt.Errorf("%w: job %s's slot %d is not in its source %s", ErrBadMap, id, s, j.Source)
			}
			next.Slots[s] = int16(dst)
		}
	}
	j.Phase, j.Ended = JobDone, now
	trimHistory(next)
	return next, nil
}

// ClaimJob returns a copy of m in which the mover of source term term
// claims the copy of job id (phase copying): Copier becomes term and the
// epoch is incremented. A mover claims the job before it touches the
// target, and only the claiming term may flip it (FlipClaimedJob), so a
// flip by a deposed source leader and a restart of the copy by its
// successor are ordered by the meta group: whichever comes second fails.
// Claiming again with the current term changes nothing (it returns m).
// Errors wrap ErrUnknownJob, ErrJobNotActive or ErrNotCopier (a newer
// term claimed the job).
func ClaimJob(m *Map, id string, term uint64) (*Map, error) {
	if j := m.Job(id); j != nil && j.Active() && j.Copier == term {
		return m, nil
	} else if j != nil && j.Active() && j.Copier > term {
		return nil, fmt.Errorf("%w: job %s is claimed by term %d, not %d", ErrNotCopier, id, j.Copier, term)
	}
	next, j, err := endJob(m, id)
	if err != nil {
		return nil, err
	}
	j.Copier = term
	return next, nil
}

// FlipClaimedJob is FlipJob for the mover of source term term: it refuses
// with ErrNotCopier unless that term holds the job's claim.
func FlipClaimedJob(m *Map, id string, term uint64, now int64) (*Map, error) {
	if j := m.Job(id); j != nil && j.Active() && j.Copier != term {
		return nil, fmt.Errorf("%w: job %s is claimed by term %d, not %d", ErrNotCopier, id, j.Copier, term)
	}
	return FlipJob(m, id, now)
}

// AbortJob returns a copy of m in which the job id, in phase copying, is
// aborted for reason: the source keeps the slots, Ended is now (Unix
// milliseconds) and the epoch is incremented. It changes nothing and
// returns an error wrapping ErrUnknownJob, or ErrJobNotActive when the job
// was already flipped or aborted (the error names its phase).
func AbortJob(m *Map, id, reason string, now int64) (*Map, error) {
	next, j, err := endJob(m, id)
	if err != nil {
		return nil, err
	}
	j.Phase, j.Ended, j.Reason = JobAborted, now, reason
	trimHistory(next)
	return next, nil
}

// endJob checks that job id is active and returns a copy of m with the
// epoch incremented and a pointer to the job in the copy.
func endJob(m *Map, id string) (*Map, *Job, error) {
	j := m.Job(id)
	switch {
	case j == nil:
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownJob, id)
	case !j.Active():
		return nil, nil, fmt.Errorf("%w: job %s is %s", ErrJobNotActive, id, j.Phase)
	}
	next := m.Clone()
	next.Epoch = m.Epoch + 1
	return next, next.Job(id), nil
}

// trimHistory drops the oldest finished jobs (by Ended, then creation
// order) while more than JobHistory are finished. Active jobs stay.
func trimHistory(m *Map) {
	var finished []int // indexes into m.Jobs
	for i := range m.Jobs {
		if !m.Jobs[i].Active() {
			finished = append(finished, i)
		}
	}
	extra := len(finished) - JobHistory
	if extra <= 0 {
		return
	}
	slices.SortStableFunc(finished, func(a, b int) int {
		if m.Jobs[a].Ended != m.Jobs[b].Ended {
			if m.Jobs[a].Ended < m.Jobs[b].Ended {
				return -1
			}
			return 1
		}
		return a - b
	})
	drop := make(map[int]bool, extra)
	for _, i := range finished[:extra] {
		drop[i] = true
	}
	kept := m.Jobs[:0:0]
	for i, j := range m.Jobs {
		if !drop[i] {
			kept = append(kept, j)
		}
	}
	m.Jobs = kept
}

// normalizeSlots checks ranges and returns them sorted, with overlapping
// and adjacent ranges merged; errors wrap ErrBadSlots.
func normalizeSlots(in []SlotRange) ([]SlotRange, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("%w: no slots", ErrBadSlots)
	}
	for _, r := range in {
		if r.Start < 0 || r.End >= NumSlots || r.Start > r.End {
			return nil, fmt.Errorf("%w: range %d-%d (slots are 0-%d, start <= end)", ErrBadSlots, r.Start, r.End, NumSlots-1)
		}
	}
	rs := slices.Clone(in)
	slices.SortFunc(rs, func(a, b SlotRange) int { return a.Start - b.Start })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.Start <= last.End+1 {
			last.End = max(last.End, r.End)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// FormatRanges renders ranges as "a-b,c" (the slots key of the migration
// job lines, docs/logging.md).
func FormatRanges(rs []SlotRange) string {
	b := make([]byte, 0, 16*len(rs))
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(r.Start), 10)
		if r.End != r.Start {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(r.End), 10)
		}
	}
	return string(b)
}

// CreateJob adds a job moving slots to the group target through the meta
// group, from any node, and returns it (see NewJob; maxActive caps the
// active jobs, 0 for no cap). The creation time is taken once, before the
// compare-and-set. NewJob's refusals are returned comparable with
// errors.Is; UpdateMap's errors as UpdateMap returns them (with
// ErrIndeterminate the job may or may not exist: look for it in the map).
func (s *Service) CreateJob(ctx context.Context, slots []SlotRange, target string, maxActive int) (*Job, error) {
	now := time.Now().UnixMilli()
	var job *Job
	err := s.updateChecked(ctx, func(old *Map) (*Map, error) {
		next, j, err := NewJob(old, slots, target, now, maxActive)
		if err != nil {
			return nil, err
		}
		job = j // the last run's job is the one proposed
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("migration job created", jobAttrs(job)...)
	return job, nil
}

// jobAttrs returns the keys every migration job line starts with: job,
// source-group, target-group and slots ("a-b,c"). The job methods below
// log each change they commit once, on the node that made it (see
// docs/logging.md).
func jobAttrs(j *Job, more ...any) []any {
	return append([]any{"job", j.ID, "source-group", j.Source, "target-group", j.Target,
		"slots", FormatRanges(j.Slots)}, more...)
}

// logEnded logs the flip or abort of job id that next committed: with
// the keys and bytes shipped and the time since creation for a flip, the
// reason for an abort.
func (s *Service) logEnded(next *Map, id string, more ...any) {
	j := next.Job(id)
	if j == nil {
		return
	}
	took := time.Duration(j.Ended-j.Created) * time.Millisecond
	switch j.Phase {
	case JobDone:
		s.log.Info("migration job flipped", jobAttrs(j, append(more, "keys", j.Keys, "bytes", j.Bytes, "took", took.String())...)...)
	case JobAborted:
		s.log.Info("migration job aborted", jobAttrs(j, append(more, "reason", j.Reason, "took", took.String())...)...)
	}
}

// FlipJob marks the job id done and gives its slots to its target, by
// compare-and-set through the meta group, from any node (see the FlipJob
// function). It is the migration's commit point: the caller asks for it
// only once the source is fenced and the last delta is in the target's
// log. Refusals (ErrUnknownJob, ErrJobNotActive) are comparable with
// errors.Is.
func (s *Service) FlipJob(ctx context.Context, id string) error {
	now := time.Now().UnixMilli()
	var next *Map
	err := s.updateChecked(ctx, func(old *Map) (m *Map, err error) {
		next, err = FlipJob(old, id, now)
		return next, err
	})
	if err == nil {
		s.logEnded(next, id)
	}
	return err
}

// ClaimJob claims the copy of job id for the mover of source term term,
// by compare-and-set through the meta group (see the ClaimJob function).
func (s *Service) ClaimJob(ctx context.Context, id string, term uint64) error {
	// Always a compare-and-set through the meta group, even when this
	// node's map shows the claim already held: that map may lag behind a
	// flip, and a mover that went on from it would reset a target whose
	// copy is already the slots' owner (the claim orders the two).
	var prev uint64
	var next *Map
	err := s.updateChecked(ctx, func(old *Map) (m *Map, err error) {
		if j := old.Job(id); j != nil {
			prev = j.Copier
		}
		next, err = ClaimJob(old, id, term)
		return next, err
	})
	if err != nil {
		return err
	}
	if j := next.Job(id); j != nil {
		if prev != term {
			s.log.Info("migration job claimed", jobAttrs(j, "copier-term", term, "previous-term", prev)...)
		} else {
			s.log.Debug("migration job claim renewed", jobAttrs(j, "copier-term", term)...)
		}
	}
	return nil
}

// FlipClaimedJob flips job id for the mover of source term term (see the
// FlipClaimedJob function), recording the keys and bytes it shipped.
func (s *Service) FlipClaimedJob(ctx context.Context, id string, term uint64, keys, bytes int64) error {
	now := time.Now().UnixMilli()
	var next *Map
	err := s.updateChecked(ctx, func(old *Map) (m *Map, err error) {
		next, err = FlipClaimedJob(old, id, term, now)
		if err == nil {
			j := next.Job(id)
			j.Keys, j.Bytes = keys, bytes
		}
		return next, err
	})
	if err == nil {
		s.logEnded(next, id, "copier-term", term)
	}
	return err
}

// AbortJob marks the job id aborted for reason, by compare-and-set
// through the meta group, from any node (see the AbortJob function); the
// source keeps the slots. Refusals (ErrUnknownJob, ErrJobNotActive: the
// job was already flipped or aborted) are comparable with errors.Is.
func (s *Service) AbortJob(ctx context.Context, id, reason string) error {
	now := time.Now().UnixMilli()
	var next *Map
	err := s.updateChecked(ctx, func(old *Map) (m *Map, err error) {
		next, err = AbortJob(old, id, reason, now)
		return next, err
	})
	if err == nil {
		s.logEnded(next, id)
	}
	return err
}

// updateChecked is UpdateMap for the job methods, whose fn refuses changes
// that the map does not allow. On a node that does not lead the meta
// group fn sees this node's map, which may lag (a job created a moment ago
// through another node may not be in it yet). So a refusal is trusted only
// when fn saw at least the leader's epoch: otherwise this node waits for
// that epoch and runs UpdateMap again. If the leader's epoch cannot be
// learnt before ctx ends, the refusal is returned as it is.
func (s *Service) updateChecked(ctx context.Context, fn func(*Map) (*Map, error)) error {
	for {
		var refusal error
		var seen uint64
		err := s.UpdateMap(ctx, func(old *Map) (*Map, error) {
			next, err := fn(old)
			refusal, seen = err, old.Epoch
			return next, err
		})
		if err == nil || refusal == nil || err != refusal {
			return err
		}
		lead, lerr := s.leaderEpoch(ctx)
		if lerr != nil || lead <= seen {
			return err
		}
		s.log.Debug("refusal on a lagging map; retrying at the leader's epoch", "epoch", seen, "leader-epoch", lead, "err", err)
		if s.waitEpoch(ctx, lead) != nil {
			return err
		}
	}
}

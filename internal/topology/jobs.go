package topology

import (
	"fmt"
	"math"
)

// JobPhase is the phase of a slot migration job as the map records it (see
// docs/migration.md). A job is active while it is copying; done and aborted
// are final.
type JobPhase string

// Job phases.
const (
	// JobCopying: the source group still owns the job's slots and copies
	// them to the target (this includes the source's fenced interval, which
	// is the source group's state, not the map's).
	JobCopying JobPhase = "copying"
	// JobDone: the flip moved the slots to the target.
	JobDone JobPhase = "done"
	// JobAborted: the job was given up before the flip; the source kept the
	// slots.
	JobAborted JobPhase = "aborted"
)

// Job is a slot migration job: the map's record of moving Slots from group
// Source to group Target. A Job in a published Map is immutable, as the map
// is.
type Job struct {
	// ID names the job ("j" and the epoch of the map that created it).
	ID string `json:"id"`
	// Slots are the job's slots: sorted, non-overlapping ranges.
	Slots []SlotRange `json:"slots"`
	// Source and Target are group ids: the slots' owner when the job was
	// created, and the group they move to.
	Source string `json:"source"`
	Target string `json:"target"`
	// Phase is the job's phase.
	Phase JobPhase `json:"phase"`
	// Created is when the job was created, in Unix milliseconds (the
	// caller's clock).
	Created int64 `json:"created"`
	// Ended is when the job was flipped or aborted, in Unix milliseconds;
	// 0 while active.
	Ended int64 `json:"ended,omitempty"`
	// Reason says why the job was aborted.
	Reason string `json:"reason,omitempty"`
	// Copier is the source group's Raft term of the mover that claimed the
	// copy (0: none yet). Only that mover may flip the job: a mover of a
	// deposed source leader, whose claim a newer leader replaced, cannot.
	Copier uint64 `json:"copier,omitempty"`
	// Keys and Bytes are what the mover that flipped the job shipped: the
	// keys (those changed during the copy counted again in the delta
	// rounds) and the bytes of its Ingest entries; 0 until the flip.
	Keys  int64 `json:"keys,omitempty"`
	Bytes int64 `json:"bytes,omitempty"`
}

// Active reports whether the job has not ended yet (phase copying).
func (j *Job) Active() bool { return j.Phase == JobCopying }

// HasSlot reports whether slot is one of the job's slots.
func (j *Job) HasSlot(slot int) bool {
	for _, r := range j.Slots {
		if slot >= r.Start && slot <= r.End {
			return true
		}
	}
	return false
}

// NumSlots returns how many slots the job moves.
func (j *Job) NumSlots() int {
	n := 0
	for _, r := range j.Slots {
		n += r.End - r.Start + 1
	}
	return n
}

// clone returns a deep copy of j.
func (j *Job) clone() Job {
	c := *j
	c.Slots = append([]SlotRange(nil), j.Slots...)
	return c
}

// Job returns the job with id (active or finished), or nil.
func (m *Map) Job(id string) *Job {
	for i := range m.Jobs {
		if m.Jobs[i].ID == id {
			return &m.Jobs[i]
		}
	}
	return nil
}

// ActiveJobs returns the jobs in phase copying, in creation order. The
// slice is new; the jobs' Slots are the map's and must not be modified.
func (m *Map) ActiveJobs() []Job {
	var out []Job
	for _, j := range m.Jobs {
		if j.Active() {
			out = append(out, j)
		}
	}
	return out
}

// JobOfSlot returns the active job that moves slot, or nil.
func (m *Map) JobOfSlot(slot int) *Job {
	for i := range m.Jobs {
		if j := &m.Jobs[i]; j.Active() && j.HasSlot(slot) {
			return j
		}
	}
	return nil
}

// GroupIndex returns the index in Groups of the group with id, or -1.
func (m *Map) GroupIndex(id string) int {
	for i := range m.Groups {
		if m.Groups[i].ID == id {
			return i
		}
	}
	return -1
}

// validateJobs checks the jobs' invariants: unique non-empty ids, known
// phases, non-empty slot ranges within 0-16383, source and target groups
// that differ (and exist, for active jobs: a finished job may name a group
// deleted since), and for active jobs slots that no other active job
// (nor the job itself twice) holds and that their source group owns.
func (m *Map) validateJobs() error {
	if len(m.Jobs) == 0 {
		return nil
	}
	if len(m.Jobs) > math.MaxInt16 {
		return fmt.Errorf("%w: %d jobs", ErrBadMap, len(m.Jobs))
	}
	ids := make(map[string]bool, len(m.Jobs))
	var busy []int16 // slot -> 1 + index of its active job, allocated on the first active job
	for i := range m.Jobs {
		j := &m.Jobs[i]
		if j.ID == "" || ids[j.ID] {
			return fmt.Errorf("%w: empty or duplicate job id %q", ErrBadMap, j.ID)
		}
		ids[j.ID] = true
		switch j.Phase {
		case JobCopying, JobDone, JobAborted:
		default:
			return fmt.Errorf("%w: job %s has unknown phase %q", ErrBadMap, j.ID, j.Phase)
		}
		if len(j.Slots) == 0 {
			return fmt.Errorf("%w: job %s has no slots", ErrBadMap, j.ID)
		}
		for _, r := range j.Slots {
			if r.Start < 0 || r.End >= NumSlots || r.Start > r.End {
				return fmt.Errorf("%w: job %s has slot range %d-%d", ErrBadMap, j.ID, r.Start, r.End)
			}
		}
		if j.Source == "" || j.Target == "" || j.Source == j.Target {
			return fmt.Errorf("%w: job %s moves from group %q to group %q", ErrBadMap, j.ID, j.Source, j.Target)
		}
		if !j.Active() {
			continue
		}
		src := m.GroupIndex(j.Source)
		if src < 0 || m.GroupIndex(j.Target) < 0 {
			return fmt.Errorf("%w: job %s moves from group %q to group %q", ErrBadMap, j.ID, j.Source, j.Target)
		}
		if busy == nil {
			busy = make([]int16, NumSlots)
		}
		for _, r := range j.Slots {
			for s := r.Start; s <= r.End; s++ {
				if busy[s] != 0 {
					return fmt.Errorf("%w: slot %d is in active jobs %s and %s", ErrBadMap, s, m.Jobs[busy[s]-1].ID, j.ID)
				}
				busy[s] = int16(i + 1)
				if int(m.Slots[s]) != src {
					return fmt.Errorf("%w: active job %s has slot %d, which its source %s does not own", ErrBadMap, j.ID, s, j.Source)
				}
			}
		}
	}
	return nil
}

package raftfsm

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// HistogramBuckets is the number of buckets of a Histogram: bucket i counts
// observations v with v <= 1<<i (the last one also counts larger values).
const HistogramBuckets = 32

// Histogram is a snapshot of a power-of-two histogram: Buckets[i] counts
// the observations v with 1<<(i-1) < v <= 1<<i (Buckets[0]: v <= 1), not
// cumulative; the last bucket also counts every larger value. Sum is the
// sum of the observations, Count their number.
type Histogram struct {
	Buckets [HistogramBuckets]uint64
	Count   uint64
	Sum     uint64
}

// histogram is a lock-free power-of-two histogram of non-negative integers.
// Observe is safe for concurrent use; snapshot reads each counter
// atomically but not all of them at one instant (good enough for metrics).
type histogram struct {
	buckets [HistogramBuckets]atomic.Uint64
	count   atomic.Uint64
	sum     atomic.Uint64
}

// bucketOf returns the bucket of v: the least i with v <= 1<<i.
func bucketOf(v uint64) int {
	if v <= 1 {
		return 0
	}
	return min(bits.Len64(v-1), HistogramBuckets-1)
}

func (h *histogram) observe(v uint64) {
	h.buckets[bucketOf(v)].Add(1)
	h.sum.Add(v)
	h.count.Add(1)
}

func (h *histogram) snapshot() Histogram {
	var out Histogram
	for i := range h.buckets {
		out.Buckets[i] = h.buckets[i].Load()
	}
	out.Count, out.Sum = h.count.Load(), h.sum.Load()
	return out
}

// groupStats are a group's counters for metrics. The batcher and the
// waiter update the proposal figures once per log entry (never per
// command); raft's goroutines update the leader changes; snapshot
// persistence updates the snapshot figures.
type groupStats struct {
	// proposalMicros: from raft.Apply of an entry of commands to raft's
	// verdict on it, in microseconds.
	proposalMicros histogram
	// batchCommands: client commands per entry.
	batchCommands histogram
	// proposalFailures: entries of commands that failed (not leader,
	// shutdown, indeterminate, halted).
	proposalFailures atomic.Uint64
	// leaderChanges: times this replica learned of a new leader.
	leaderChanges atomic.Uint64
	// verifyRounds: leadership confirmation rounds for reads (VerifyRead
	// calls the read lease did not answer share them).
	verifyRounds atomic.Uint64
	// cohortWaits and cohortTimeouts: the batcher's waits for the
	// proposers of the entry just answered that they all came back to,
	// and those that timed out (cohort.go).
	cohortWaits    atomic.Uint64
	cohortTimeouts atomic.Uint64
	snap           snapshotStats
}

// snapshotStats are the snapshots this replica's FSM persisted.
type snapshotStats struct {
	count  atomic.Uint64
	failed atomic.Uint64
	// micros: time to persist a snapshot, in microseconds.
	micros    histogram
	lastBytes atomic.Int64
}

// record notes one persisted snapshot.
func (s *snapshotStats) record(start time.Time, size int64, err error) {
	if s == nil {
		return
	}
	if err != nil {
		s.failed.Add(1)
		return
	}
	s.micros.observe(uint64(max(time.Since(start).Microseconds(), 0)))
	s.lastBytes.Store(size)
	s.count.Add(1)
}

// GroupMetrics is a point-in-time report of a replica's counters, for a
// metrics exporter (internal/metrics). Counters count since the replica
// started.
type GroupMetrics struct {
	// ProposalMicros: latency of entries of client commands, from
	// raft.Apply to raft's verdict (committed and applied, or failed), in
	// microseconds. One observation per entry.
	ProposalMicros Histogram
	// BatchCommands: client commands packed in each entry.
	BatchCommands Histogram
	// ProposalFailures: entries of commands that failed.
	ProposalFailures uint64
	// LeaderChanges: times this replica learned of a new leader (raft's
	// leader observations with a known leader).
	LeaderChanges uint64
	// ReadRounds: leadership confirmation rounds run for linearizable
	// reads (the reads a read lease answered need none).
	ReadRounds uint64
	// FastElections: elections this replica started because its leader
	// fell silent and a quorum agreed (failover.go).
	FastElections uint64
	// CohortWaits: times the batcher waited for the proposers of the entry
	// just answered and they all came back; CohortTimeouts: waits that
	// ended at Config.CohortWait without them (cohort.go).
	CohortWaits, CohortTimeouts uint64
	// Snapshots and SnapshotFailures: snapshots the FSM persisted, and
	// those whose persistence failed. SnapshotMicros: time to persist each.
	Snapshots, SnapshotFailures uint64
	SnapshotMicros              Histogram
	// LastSnapshotBytes: size of the last persisted snapshot: the bytes
	// written with a data directory; in memory (where a snapshot is a
	// copy-on-write view, serialized only to send it to a follower), the
	// accounted bytes of the data it covers.
	LastSnapshotBytes int64
}

// Metrics returns the replica's counters. Lock-free; safe for concurrent
// use.
func (g *Group) Metrics() GroupMetrics {
	s := &g.stats
	return GroupMetrics{
		ProposalMicros:    s.proposalMicros.snapshot(),
		BatchCommands:     s.batchCommands.snapshot(),
		ProposalFailures:  s.proposalFailures.Load(),
		LeaderChanges:     s.leaderChanges.Load(),
		ReadRounds:        s.verifyRounds.Load(),
		FastElections:     g.fastElections(),
		CohortWaits:       s.cohortWaits.Load(),
		CohortTimeouts:    s.cohortTimeouts.Load(),
		Snapshots:         s.snap.count.Load(),
		SnapshotFailures:  s.snap.failed.Load(),
		SnapshotMicros:    s.snap.micros.snapshot(),
		LastSnapshotBytes: s.snap.lastBytes.Load(),
	}
}

// leaderObserver returns a raft observer that counts leader changes. It
// counts in its filter, called by raft on the goroutine that changes the
// leader, and lets nothing through to its channel.
func (g *Group) leaderObserver() *raft.Observer {
	return raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		if lo, ok := o.Data.(raft.LeaderObservation); ok {
			// Any change of leader ends this node's read lease, at once
			// (raft calls this on its own goroutine as it changes state).
			g.revokeLease()
			if lo.LeaderID != "" {
				g.stats.leaderChanges.Add(1)
			}
		}
		return false
	})
}

// countingSink counts the bytes written to a snapshot sink.
type countingSink struct {
	raft.SnapshotSink
	n int64
}

func (c *countingSink) Write(p []byte) (int, error) {
	n, err := c.SnapshotSink.Write(p)
	c.n += int64(n)
	return n, err
}

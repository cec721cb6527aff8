package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoalcache/shoal/raftfsm"
)

// GroupSource is this node's replica of one Raft group as the group
// collector reads it; *raftfsm.Group implements it. Its methods are called
// from scrape goroutines and must be safe for concurrent use (Status takes
// raft's locks briefly; Metrics is lock-free).
type GroupSource interface {
	ID() string
	Status() raftfsm.Status
	Metrics() raftfsm.GroupMetrics
}

var _ GroupSource = (*raftfsm.Group)(nil)

// raftStates are the values of the state label, as raftfsm.Status.State.
var raftStates = []string{"follower", "candidate", "leader", "shutdown"}

var (
	descGroups         = newDesc("groups", "Raft groups this node hosts a replica of.")
	descGroupState     = newDesc("group_raft_state", "1 for the replica's Raft state, 0 for the others.", "group", "state")
	descGroupTerm      = newDesc("group_raft_term", "Current Raft term of the replica.", "group")
	descGroupCommit    = newDesc("group_raft_commit_index", "Last log index the replica knows committed.", "group")
	descGroupApplied   = newDesc("group_raft_applied_index", "Last log index applied to the replica's state machine.", "group")
	descGroupLast      = newDesc("group_raft_last_log_index", "Index of the last entry in the replica's log.", "group")
	descGroupLag       = newDesc("group_raft_apply_lag_entries", "Committed entries not applied yet (commit index minus applied index).", "group")
	descGroupLeaderChg = newDesc("group_raft_leader_changes_total", "Times the replica learned of a new leader of its group.", "group")
	descGroupReadRnd   = newDesc("group_read_rounds_total", "Leadership confirmation rounds run for linearizable reads (reads served under a read lease need none).", "group")
	descGroupFastElect = newDesc("group_fast_elections_total", "Elections the replica started because its leader fell silent for --raft-suspect-after and a quorum of voters agreed.", "group")
	descGroupPropDur   = newDesc("group_proposal_duration_seconds", "Time from proposing a log entry of client commands to its commit and apply (or failure); one observation per entry.", "group")
	descGroupPropFail  = newDesc("group_proposal_failures_total", "Log entries of client commands that failed (not leader, shut down, indeterminate).", "group")
	descGroupBatch     = newDesc("group_batch_commands", "Client commands packed into each log entry.", "group")
	descGroupCohort    = newDesc("group_cohort_waits_total", "Times a group leader waited for the proposers of the entry just answered before packing the next, by outcome: all came back (full) or the wait timed out (timeout).", "group", "result")
	descGroupSnaps     = newDesc("group_snapshots_total", "Snapshots the replica persisted.", "group")
	descGroupSnapFail  = newDesc("group_snapshot_failures_total", "Snapshots whose persistence failed.", "group")
	descGroupSnapDur   = newDesc("group_snapshot_duration_seconds", "Time to persist a snapshot.", "group")
	descGroupSnapSize  = newDesc("group_last_snapshot_size_bytes", "Size of the last snapshot: bytes written with a data directory, the accounted bytes of its data in memory.", "group")
	groupDescs         = []*prometheus.Desc{descGroups, descGroupState, descGroupTerm, descGroupCommit, descGroupApplied, descGroupLast, descGroupLag, descGroupLeaderChg, descGroupReadRnd, descGroupFastElect, descGroupPropDur, descGroupPropFail, descGroupBatch, descGroupCohort, descGroupSnaps, descGroupSnapFail, descGroupSnapDur, descGroupSnapSize}
	// microsPerSecond converts microseconds to seconds.
	microsPerSecond float64 = 1e6
)

// groupCollector exports each hosted replica's Raft status and counters.
type groupCollector struct {
	groups func() []GroupSource
}

// NewGroupCollector returns a collector over the replicas groups returns at
// each scrape.
func NewGroupCollector(groups func() []GroupSource) prometheus.Collector {
	return &groupCollector{groups: groups}
}

// Describe implements prometheus.Collector.
func (c *groupCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range groupDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *groupCollector) Collect(ch chan<- prometheus.Metric) {
	groups := c.groups()
	ch <- gauge(descGroups, float64(len(groups)))
	for _, g := range groups {
		id, st, m := g.ID(), g.Status(), g.Metrics()
		for _, s := range raftStates {
			v := 0.0
			if s == st.State {
				v = 1
			}
			ch <- gauge(descGroupState, v, id, s)
		}
		ch <- gauge(descGroupTerm, float64(st.Term), id)
		ch <- gauge(descGroupCommit, float64(st.CommitIndex), id)
		ch <- gauge(descGroupApplied, float64(st.AppliedIndex), id)
		ch <- gauge(descGroupLast, float64(st.LastIndex), id)
		lag := 0.0
		if st.CommitIndex > st.AppliedIndex {
			lag = float64(st.CommitIndex - st.AppliedIndex)
		}
		ch <- gauge(descGroupLag, lag, id)
		ch <- counter(descGroupLeaderChg, float64(m.LeaderChanges), id)
		ch <- counter(descGroupReadRnd, float64(m.ReadRounds), id)
		ch <- counter(descGroupFastElect, float64(m.FastElections), id)
		// 16 µs .. 2^24 µs (about 17 s).
		ch <- pow2Histogram(descGroupPropDur, m.ProposalMicros, microsPerSecond, 4, 24, id)
		ch <- counter(descGroupPropFail, float64(m.ProposalFailures), id)
		// 1 .. 16384 commands.
		ch <- pow2Histogram(descGroupBatch, m.BatchCommands, 1, 0, 14, id)
		ch <- counter(descGroupCohort, float64(m.CohortWaits), id, "full")
		ch <- counter(descGroupCohort, float64(m.CohortTimeouts), id, "timeout")
		ch <- counter(descGroupSnaps, float64(m.Snapshots), id)
		ch <- counter(descGroupSnapFail, float64(m.SnapshotFailures), id)
		// 1 ms .. 2^30 µs (about 18 min).
		ch <- pow2Histogram(descGroupSnapDur, m.SnapshotMicros, microsPerSecond, 10, 30, id)
		ch <- gauge(descGroupSnapSize, float64(m.LastSnapshotBytes), id)
	}
}

package raftfsm

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures one Raft group on this node.
type Config struct {
	// GroupID names the group ("g0", "meta"); used in logs and, in a
	// cluster, to route transport connections.
	GroupID string
	// NodeID is this node's Raft server ID.
	NodeID raft.ServerID
	// Transport carries this group's Raft RPCs. Required.
	Transport raft.Transport
	// Bootstrap lists the group's initial voters. When it is non-empty and the
	// group has no existing state, the group is bootstrapped with them.
	Bootstrap []raft.Server
	// DataDir is the directory for the group's log (raft-boltdb) and snapshot
	// files. Empty keeps the log and snapshots in memory.
	DataDir string

	// HeartbeatTimeout is how long a follower waits without contact from the
	// leader before it starts an election (raft's HeartbeatTimeout).
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits before a new election.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without contact
	// from a quorum. Must be at most HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// ReadLease is how long the leader serves linearizable reads without a
	// confirmation round, from the time by which a quorum of its voters had
	// heard from it (lease.go). It must be below HeartbeatTimeout, by a
	// margin for the nodes' clock rates; a replica also refuses votes for
	// ReadLease after it starts. 0 disables leases: every run of reads
	// waits for a round.
	ReadLease time.Duration
	// SuspectAfter is how long a follower hears nothing from its leader
	// before it asks the other voters whether they lost it too and, if a
	// quorum did, starts an election at once (plus up to a quarter of it,
	// drawn at random; see failover.go). It must be at least
	// StickyFor(HeartbeatTimeout, ReadLease). 0 leaves elections to raft's
	// own timer, which fires HeartbeatTimeout to 3x HeartbeatTimeout after
	// the last contact.
	SuspectAfter time.Duration
	// CommitTimeout bounds how long followers may lag in learning the commit
	// index when there is no traffic: raft's replication sends each
	// follower an AppendEntries, empty when there is nothing new, after
	// CommitTimeout to 2x CommitTimeout without one. It costs idle CPU on
	// every group of every node (5 ms made an idle 3-node cluster use 31-33%
	// of a core, 50 ms 9-16%) and does not delay writes, which are answered
	// once the leader applies them; under load the next entries carry the
	// commit index anyway.
	CommitTimeout time.Duration
	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger a new one.
	SnapshotThreshold uint64
	// TrailingLogs is how many entries are kept in the log after a snapshot,
	// so that a slightly lagging follower catches up without a snapshot.
	TrailingLogs uint64
	// TrailingBytes bounds the same log in bytes: the compactor lowers
	// raft's TrailingLogs to TrailingBytes over the mean size of the
	// entries applied since the last snapshot (never below
	// minTrailingLogs, never above TrailingLogs). Entries of pipelined
	// writes carry hundreds of commands: 4096 of them kept 110 MB per group
	// alive, which the garbage collector marked on every cycle
	// (BENCHMARKS.md, "The log kept after a snapshot"). A follower that
	// falls further behind gets a snapshot. 0: the count alone bounds it.
	TrailingBytes int64
	// CompactMinBytes: besides SnapshotThreshold, a snapshot is taken when
	// the command bytes applied since the last one exceed both this and the
	// size of the data (as Redis rewrites its AOF when it doubles, from 64 MB).
	// This bounds the log's memory by the data's, whatever the write rate.
	CompactMinBytes int64
	// CompactRatio is the log-to-data size ratio that triggers compaction
	// (with CompactMinBytes) when the group has a DataDir.
	CompactRatio float64
	// CompactMinBytesMemory and CompactRatioMemory replace CompactMinBytes
	// and CompactRatio for groups without a DataDir, whose snapshots are
	// copy-on-write views and cost no copy of the data. The view costs
	// something else: until the next snapshot, the first write to each key
	// copies its entry and its slot's index, garbage the collector paces
	// itself on. Default 64 MB, as on disk: with 16 MB, cluster SET -P 16
	// snapshotted each group every second or so, and its p99 was 5.1-6.3
	// ms against 4.2-4.6 (BENCHMARKS.md, "Snapshots of replicated groups
	// in memory"), for a log of at most this many bytes per group.
	CompactMinBytesMemory int64
	CompactRatioMemory    float64
	// CompactMinBytesSole replaces CompactMinBytesMemory for a SoleReplica
	// group in memory, whose snapshots keep no view (nothing is copied on
	// write), so a snapshot costs nothing and the log is kept small: 16 MB.
	CompactMinBytesSole int64
	// CompactCheckInterval is how often the byte rule is checked.
	CompactCheckInterval time.Duration
	// CompactIdleAfter and CompactIdleBytes: when at least CompactIdleBytes
	// of commands were applied since the last snapshot and none for
	// CompactIdleAfter, the log is compacted anyway.
	CompactIdleAfter time.Duration
	CompactIdleBytes int64
	// MaxAppendEntries is the most entries sent in one AppendEntries RPC,
	// taken from the apply queue at once and handed to the FSM at once; the
	// apply queue holds as many. Default 32: raft allocates a slice of
	// this many pointers on every commit of every replica (processLogs), 2
	// KB a commit at 256, which was 40% of the bytes a standalone node
	// allocated per SET at -P 1; an entry carries a whole group-committed
	// batch of commands, so 32 entries still make large RPCs.
	MaxAppendEntries int

	// MaxBatchCommands is the most client commands packed into one log entry
	// (group commit).
	MaxBatchCommands int
	// MaxBatchBytes is the most encoded bytes packed into one log entry;
	// a single larger command still gets an entry of its own.
	MaxBatchBytes int
	// CatchUpTimeout: a replica that starts without state refuses to vote
	// until it has caught up with a leader (see VoteGuard); if no leader
	// contacts it within this time it votes anyway. 0 waits forever.
	CatchUpTimeout time.Duration

	// MaxInflight is how many log entries the proposer keeps in flight
	// before it waits; requests arriving meanwhile join the next entry.
	// The default, 1, is classic group commit: everything that queued
	// while an entry committed goes out as the next one. Under load that
	// makes entries larger and the messages per command fewer (cluster
	// SET 13-29% less CPU per request than at 4, BENCHMARKS.md); the cost
	// is that a request arriving while an entry commits waits for it.
	MaxInflight int

	// CohortWait bounds how long the batcher, with one entry in flight
	// (MaxInflight 1), waits for the proposers the last entry answered to
	// come back before it proposes the next entry, so that a closed-loop
	// load (clients that send a command once they have the previous
	// reply) shares one entry instead of alternating between two
	// (cohort.go). It applies only to groups with other voters. 0 never
	// waits.
	CohortWait time.Duration

	// OwnAllSlots is the group's slot ownership before any SetOwnership
	// entry (see Group.ProposeOwnership): every slot when true, none when
	// false, at epoch 0. A standalone node's single group owns every slot;
	// a cluster group starts owning none and receives its slots from the
	// controller. DefaultConfig sets it to true so that cluster nodes keep
	// working until their controller proposes ownership; they set it false
	// then. Every replica of a group must use the same value.
	OwnAllSlots bool

	// SoleReplica: the group has one replica for its whole life (a
	// standalone node). Without DataDir its snapshots then keep no
	// copy-on-write view of the store (viewStore.discard): nothing will
	// ever read them, and an open view costs a copy of each slot map and
	// entry written after the snapshot. Never set it on a group that may
	// gain members.
	SoleReplica bool

	// Logger receives the group's logs. Nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with timeouts tuned for a LAN (sub-millisecond
// round trips), a log bounded by snapshots, and group commit enabled. The
// caller sets GroupID, NodeID, Transport, Bootstrap and DataDir.
func DefaultConfig() Config {
	return Config{
		HeartbeatTimeout:      500 * time.Millisecond,
		ElectionTimeout:       500 * time.Millisecond,
		LeaderLeaseTimeout:    250 * time.Millisecond,
		ReadLease:             400 * time.Millisecond,
		SuspectAfter:          500 * time.Millisecond,
		CommitTimeout:         50 * time.Millisecond,
		SnapshotInterval:      5 * time.Second,
		SnapshotThreshold:     16384,
		TrailingLogs:          4096,
		TrailingBytes:         8 << 20,
		MaxAppendEntries:      32,
		CompactMinBytes:       64 << 20,
		CompactRatio:          1,
		CompactMinBytesMemory: 64 << 20,
		CompactMinBytesSole:   16 << 20,
		CompactRatioMemory:    0.25,
		CompactCheckInterval:  250 * time.Millisecond,
		CompactIdleAfter:      2 * time.Second,
		CompactIdleBytes:      1 << 20,
		MaxBatchCommands:      1024,
		MaxBatchBytes:         1 << 20,
		MaxInflight:           1,
		CohortWait:            2 * time.Millisecond,
		CatchUpTimeout:        30 * time.Second,
		OwnAllSlots:           true,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case c.GroupID == "":
		return errors.New("raftfsm: GroupID is required")
	case c.NodeID == "":
		return errors.New("raftfsm: NodeID is required")
	case c.Transport == nil:
		return errors.New("raftfsm: Transport is required")
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout || c.HeartbeatTimeout > c.ElectionTimeout:
		return fmt.Errorf("raftfsm: need LeaderLeaseTimeout (%v) <= HeartbeatTimeout (%v) <= ElectionTimeout (%v)",
			c.LeaderLeaseTimeout, c.HeartbeatTimeout, c.ElectionTimeout)
	case c.ReadLease < 0 || (c.ReadLease > 0 && c.ReadLease >= c.HeartbeatTimeout):
		return fmt.Errorf("raftfsm: ReadLease (%v) must be below HeartbeatTimeout (%v), or 0", c.ReadLease, c.HeartbeatTimeout)
	case c.SuspectAfter < 0 || (c.SuspectAfter > 0 && c.SuspectAfter < StickyFor(c.HeartbeatTimeout, c.ReadLease)):
		return fmt.Errorf("raftfsm: SuspectAfter (%v) must be at least %v (halfway from ReadLease to HeartbeatTimeout), or 0",
			c.SuspectAfter, StickyFor(c.HeartbeatTimeout, c.ReadLease))
	case c.MaxBatchCommands < 1 || c.MaxBatchBytes < 1 || c.MaxInflight < 1:
		return errors.New("raftfsm: MaxBatchCommands, MaxBatchBytes and MaxInflight must be positive")
	case c.CohortWait < 0:
		return errors.New("raftfsm: CohortWait must not be negative")
	case c.CompactMinBytes < 0 || c.CompactMinBytesMemory < 0 || c.CompactMinBytesSole < 0 ||
		c.CompactCheckInterval <= 0 || c.CompactIdleAfter <= 0 || c.CompactIdleBytes < 0:
		return errors.New("raftfsm: CompactMinBytes, CompactMinBytesMemory and CompactMinBytesSole must not be negative and CompactCheckInterval must be positive")
	case c.TrailingBytes < 0:
		return errors.New("raftfsm: TrailingBytes must not be negative")
	case c.MaxAppendEntries < 1 || c.MaxAppendEntries > 1024:
		return errors.New("raftfsm: MaxAppendEntries must be in [1, 1024]")
	}
	return nil
}

func (c *Config) raftConfig() *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = c.NodeID
	rc.HeartbeatTimeout = c.HeartbeatTimeout
	rc.ElectionTimeout = c.ElectionTimeout
	rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	rc.CommitTimeout = c.CommitTimeout
	rc.SnapshotInterval = c.SnapshotInterval
	rc.SnapshotThreshold = c.SnapshotThreshold
	rc.TrailingLogs = c.TrailingLogs
	rc.MaxAppendEntries = c.MaxAppendEntries
	rc.BatchApplyCh = true
	// raft emits its per-peer figures (appendEntries, heartbeat,
	// installSnapshot) with a peer_id label and, unless this is set, again
	// under a name ending in the peer's ID: with --metrics-libraries every
	// peer got families of its own, and every AppendEntries paid two more
	// go-metrics calls.
	rc.NoLegacyTelemetry = true
	rc.NoSnapshotRestoreOnStart = false
	return rc
}

package server

import (
	"context"

	"github.com/shoalcache/shoal/raftfsm"
	"github.com/shoalcache/shoal/shard"
)

// Group is the front end's view of this node's replica of one Raft group:
// what routing, the write pipeline, reads, housekeeping and the front-end
// commands use. Group implements it; tests use fakes.
//
// Every method is called from connection goroutines (and the housekeeping
// goroutine) at any time, concurrently: implementations must be safe for
// concurrent use. IsLeader, Ready and Store are on every request's path and
// must be cheap (atomic loads). A connection never calls Propose (or any
// other proposing method) while it holds the read lock of a store: the
// FSM's apply needs the write lock, so the proposal could never complete
// (client.flushWrites checks this).
type Group interface {
	// ID returns the group's id.
	ID() string
	// Store returns the FSM's store (database 0; the others are its DB);
	// reads take its RLock.
	Store() *shard.Store
	// IsLeader reports whether this replica leads the group.
	IsLeader() bool
	// Ready reports whether this replica leads and has applied every entry
	// committed in earlier terms, so that local reads see every
	// acknowledged write.
	Ready() bool
	// VerifyRound confirms leadership with a quorum round that starts
	// after the call, before a linearizable read (raftfsm.Group.VerifyRound;
	// it also extends the read lease).
	VerifyRound(ctx context.Context) error
	// LeaseHolds reports whether the replica leads under a read lease now
	// (raftfsm.Group.LeaseHolds): reads need no round then, and are checked
	// against the lease again once done.
	LeaseHolds() bool
	// ProposeDB replicates write commands that run in database db and
	// returns their replies once committed and applied
	// (raftfsm.Group.ProposeDB, whose errors it returns).
	ProposeDB(ctx context.Context, db int, cmds [][][]byte) (raftfsm.Replies, error)
	// TryProposeDB is ProposeDB without waiting for room in the group's
	// queue (raftfsm.Group.TryProposeDB): queued false with a nil error
	// means nothing was proposed.
	TryProposeDB(db int, cmds [][][]byte) (out raftfsm.Replies, queued bool, err error)
	// ProposeExpire deletes keys of database db whose time has come through
	// the log, each with the expireAt the leader saw, and returns how many
	// it deleted.
	ProposeExpire(ctx context.Context, db int, keys []shard.ExpiredKey) (int, error)
	// ProposeEvict deletes eviction victims of database db through the log
	// and returns how many existed.
	ProposeEvict(ctx context.Context, db int, keys [][]byte) (int, error)
	// Owns reports whether the group's FSM owns slot (lock-free). The FSM
	// refuses writes to slots it does not own with a NOTOWNER reply.
	Owns(slot int) bool
	// Fenced reports whether the group has fenced slot for a migration
	// (lock-free): it serves neither reads nor writes for it any more.
	Fenced(slot int) bool
	// Snapshot takes a Raft snapshot now and waits for it (SAVE).
	Snapshot(ctx context.Context) error
	// LastSave returns the Unix time (seconds) of the last snapshot.
	LastSave() int64
	// AppliedIndex returns the last log index applied (replication offset).
	AppliedIndex() uint64
	// Status reports the replica's Raft state (INFO); not for request paths.
	Status() raftfsm.Status
}

var _ Group = (*raftfsm.Group)(nil)

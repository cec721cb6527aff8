package raftfsm

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// VoteGuard wraps a replica's transport so that a replica that starts
// without its state (a node restarted without --data-dir, or with a wiped
// one) takes no part in elections until it has caught up with a leader.
//
// Raft's safety rests on voters remembering their log and their vote. A
// voter that lost them could elect a candidate that misses committed
// entries: in a group {A, B, C} where an entry is committed on A and B,
// if B restarts empty and A dies, B would vote for C, and the entry would
// be lost. So while guarding, the replica answers every RequestVote and
// RequestPreVote with a refusal and every TimeoutNow with an error, and
// sends no vote requests of its own (it does not campaign); it still
// accepts AppendEntries and InstallSnapshot, which is how it catches
// up. The guard lifts once the replica's last log index reaches the
// leader's commit index carried by the first AppendEntries it receives:
// from then on it holds every entry committed before it came back, and
// entries committed later are in its log as in any voter's. Refusing a vote
// is always safe; the cost is liveness: a group that has lost a majority of
// its replicas' state waits for a leader that still has it.
//
// A guard that receives no entries from any leader for its timeout (which
// must exceed raft's replication backoff towards a peer that was down, up
// to about 10 s) lifts anyway, with a warning: when the replicas that kept
// their state are too few to elect a leader without this one (two of three
// members restarted empty while the third was a follower), refusing
// forever would leave the group down for good, and for a cache losing the
// writes that only the lost replicas held is the lesser harm.
//
// RPCs pass through one goroutine between the network transport's consumer
// channel and raft's. Release and Guarding may be called from any
// goroutine.
type VoteGuard struct {
	*raft.NetworkTransport
	local     raft.ServerID
	out       chan raft.RPC
	log       *slog.Logger
	guarding  atomic.Bool
	target    atomic.Int64 // leader commit index to reach; -1 until known
	lastIndex atomic.Pointer[func() uint64]
	// lastContact is when the last AppendEntries arrived (unix ns).
	lastContact atomic.Int64

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
}

// errCatchingUp answers TimeoutNow while the guard is up.
var errCatchingUp = errors.New("raftfsm: replica is catching up after a restart without its state; not campaigning")

// NewVoteGuard wraps t for the replica local. guarding says whether the
// replica starts without state (else the guard is a plain pass-through).
// Call Start with the raft's LastIndex once raft is running.
func NewVoteGuard(t *raft.NetworkTransport, local raft.ServerID, guarding bool, log *slog.Logger) *VoteGuard {
	v := &VoteGuard{
		NetworkTransport: t,
		local:            local,
		out:              make(chan raft.RPC),
		log:              log,
		stop:             make(chan struct{}),
	}
	v.guarding.Store(guarding)
	v.target.Store(-1)
	return v
}

// Consumer implements raft.Transport: raft reads its RPCs from here.
func (v *VoteGuard) Consumer() <-chan raft.RPC { return v.out }

// Start begins forwarding RPCs; lastIndex reports the replica's last log
// index (raft.Raft.LastIndex). If no leader sends the replica entries for
// timeout (0: never), the guard lifts. Later calls do nothing.
func (v *VoteGuard) Start(lastIndex func() uint64, timeout time.Duration) {
	v.startOnce.Do(func() {
		v.lastIndex.Store(&lastIndex)
		go v.forward()
		if timeout > 0 && v.guarding.Load() {
			go v.expire(timeout)
		}
	})
}

func (v *VoteGuard) expire(timeout time.Duration) {
	v.lastContact.Store(time.Now().UnixNano())
	t := time.NewTicker(timeout / 4)
	defer t.Stop()
	for v.guarding.Load() {
		select {
		case <-t.C:
		case <-v.stop:
			return
		}
		idle := time.Since(time.Unix(0, v.lastContact.Load()))
		if v.guarding.Load() && idle >= timeout {
			v.log.Warn("no leader has sent this replica entries for a while since it restarted without its state; "+
				"taking part in elections again, so writes held only by replicas that lost their state may be lost",
				"idle", idle.Round(time.Millisecond).String())
			v.Release()
		}
	}
}

// Guarding reports whether the replica still refuses to vote.
func (v *VoteGuard) Guarding() bool { return v.guarding.Load() }

// Release lifts the guard, e.g. when the replica bootstraps a new group
// itself and so has nothing to forget.
func (v *VoteGuard) Release() {
	if v.guarding.CompareAndSwap(true, false) {
		v.log.Info("replica takes part in elections again")
	}
}

// RequestVote implements raft.Transport: while guarding, the replica does
// not campaign either (a replica with part of the log must not be elected
// by replicas that have even less).
func (v *VoteGuard) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if v.guarding.Load() {
		return errCatchingUp
	}
	return v.NetworkTransport.RequestVote(id, target, args, resp)
}

// RequestPreVote implements raft.WithPreVote, refusing to campaign while
// guarding as RequestVote does.
func (v *VoteGuard) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if v.guarding.Load() {
		return errCatchingUp
	}
	return v.NetworkTransport.RequestPreVote(id, target, args, resp)
}

// Close implements raft.WithClose: it stops forwarding and closes the
// network transport.
func (v *VoteGuard) Close() error {
	v.closeOnce.Do(func() { close(v.stop) })
	return v.NetworkTransport.Close()
}

func (v *VoteGuard) forward() {
	in := v.NetworkTransport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-v.stop:
			return
		}
		if v.guarding.Load() && v.intercept(rpc) {
			continue
		}
		select {
		case v.out <- rpc:
		case <-v.stop:
			return
		}
	}
}

// intercept handles rpc while guarding; it reports whether it answered rpc
// itself.
func (v *VoteGuard) intercept(rpc raft.RPC) bool {
	if t := v.target.Load(); t >= 0 && (*v.lastIndex.Load())() >= uint64(t) {
		v.Release()
		return false
	}
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(v.local)}
	switch req := rpc.Command.(type) {
	case *raft.AppendEntriesRequest:
		v.lastContact.Store(time.Now().UnixNano())
		if v.target.Load() < 0 {
			v.target.Store(int64(req.LeaderCommitIndex))
			v.log.Info("replica without state catching up; not voting until it has the leader's commit index",
				"commit-index", req.LeaderCommitIndex, "term", req.Term)
		}
	case *raft.RequestVoteRequest:
		rpc.Respond(&raft.RequestVoteResponse{RPCHeader: hdr, Term: req.Term, Granted: false}, nil)
		return true
	case *raft.RequestPreVoteRequest:
		rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: hdr, Term: req.Term, Granted: false}, nil)
		return true
	case *raft.TimeoutNowRequest:
		rpc.Respond(nil, errCatchingUp)
		return true
	}
	return false
}

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
// be lost. So until it has caught up, the replica answers every RequestVote
// and RequestPreVote with a refusal and every TimeoutNow with an error,
// and sends no vote requests of its own (it does not campaign); it still
// accepts AppendEntries and InstallSnapshot, which is how it catches up.
// It has caught up once its last log index reaches the leader's commit
// index carried by the first AppendEntries it received: from then on it
// holds every entry committed before it came back, and entries committed
// later are in its log as in any voter's. Refusing a vote is always safe;
// the cost is liveness.
//
// When no leader sends the replica entries or a snapshot for the timeout (which must
// exceed raft's replication backoff towards a peer that was down, up to
// about 10 s), the replica starts to vote again, with a warning, but still
// does not campaign until it has caught up: when the replicas that kept
// their state are too few to elect a leader without this one (two of three
// members restarted empty while the third was a follower), refusing forever
// would leave the group down for good. Such a vote can only elect a replica
// that kept its state or has caught up, never one with a partial log; for
// a cache, losing writes that only the lost replicas held is then the
// lesser harm.
//
// RPCs pass through one goroutine between the network transport's consumer
// channel and raft's. The other methods may be called from any goroutine.
type VoteGuard struct {
	RaftTransport
	local raft.ServerID
	out   chan raft.RPC
	log   *slog.Logger
	// caughtUp is false until the replica has caught up (or bootstrapped);
	// it may not campaign before. voting is false until caughtUp or the
	// timeout; it may not vote before.
	caughtUp  atomic.Bool
	voting    atomic.Bool
	target    atomic.Int64 // leader commit index to reach; -1 until known
	lastIndex atomic.Pointer[func() uint64]
	// lastContact is when the last AppendEntries or InstallSnapshot
	// arrived (unix ns).
	lastContact atomic.Int64
	// holdUntil: until then (monoNow ns) the replica refuses every vote and
	// pre-vote that is not part of a leadership transfer (HoldVotes).
	holdUntil atomic.Int64
	// reloadMu serializes the read-modify-write reloads of raft's
	// reloadable configuration: the fast-election watcher's heartbeat
	// timeout (failover.go) and the compactor's TrailingLogs (trailing.go).
	reloadMu sync.Mutex

	// acks holds, per peer, the send time (monoNow ns) of the latest
	// AppendEntries (a heartbeat, or entries sent outside a pipeline:
	// all of them unless TransportConfig.Pipeline)
	// that the peer accepted in the request's term: the peer reset its
	// election timer after that time. The leader's read lease rests on
	// them (AckedSince, lease.go).
	ackMu sync.Mutex
	acks  map[raft.ServerID]peerAck

	// fast is the fast-election state (failover.go); nil while off.
	fast atomic.Pointer[fastElection]

	startOnce sync.Once
	closeOnce sync.Once
	stop      chan struct{}
}

// errCatchingUp answers TimeoutNow while the guard is up.
var errCatchingUp = errors.New("raftfsm: replica is catching up after a restart without its state; not campaigning")

// NewVoteGuard wraps t for the replica local. guarding says whether the
// replica starts without state (else the guard is a plain pass-through).
// Call Start with the raft's LastIndex once raft is running.
func NewVoteGuard(t RaftTransport, local raft.ServerID, guarding bool, log *slog.Logger) *VoteGuard {
	v := &VoteGuard{
		RaftTransport: t,
		local:         local,
		out:           make(chan raft.RPC),
		log:           log,
		stop:          make(chan struct{}),
	}
	v.caughtUp.Store(!guarding)
	v.voting.Store(!guarding)
	v.target.Store(-1)
	return v
}

// HoldVotes makes the replica refuse votes and pre-votes, except for a
// leadership transfer, for d from now. Called before raft starts, with the
// group's ReadLease: a replica that starts again knows no leader and would
// vote at once, while a leader may still hold a read lease that rests on
// this replica's answers from before (lease.go).
func (v *VoteGuard) HoldVotes(d time.Duration) {
	if d > 0 {
		v.holdUntil.Store(monoNow() + int64(d))
	}
}

// heldVote answers rpc with a refusal if it is a vote or pre-vote request
// that the vote hold covers, and reports whether it did.
func (v *VoteGuard) heldVote(rpc raft.RPC) bool {
	h := v.holdUntil.Load()
	if h == 0 {
		return false
	}
	if monoNow() >= h {
		v.holdUntil.Store(0)
		return false
	}
	if req, ok := rpc.Command.(*raft.RequestVoteRequest); ok && req.LeadershipTransfer {
		return false
	}
	return v.refuseVote(rpc)
}

// refuseVote answers rpc with a refusal if it is a vote or pre-vote
// request, and reports whether it was.
func (v *VoteGuard) refuseVote(rpc raft.RPC) bool {
	hdr := v.header()
	switch req := rpc.Command.(type) {
	case *raft.RequestVoteRequest:
		rpc.Respond(&raft.RequestVoteResponse{RPCHeader: hdr, Term: req.Term, Granted: false}, nil)
		return true
	case *raft.RequestPreVoteRequest:
		rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: hdr, Term: req.Term, Granted: false}, nil)
		return true
	}
	return false
}

// peerAck is one peer's latest accepted AppendEntries: its term and when
// it was sent.
type peerAck struct {
	term uint64
	sent int64
}

// AppendEntries implements raft.Transport, recording when the request was
// sent if the peer accepts it in its term (see acks).
func (v *VoteGuard) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	sent := monoNow()
	err := v.RaftTransport.AppendEntries(id, target, args, resp)
	if err == nil && resp.Success && resp.Term == args.Term {
		v.ackMu.Lock()
		if v.acks == nil {
			v.acks = make(map[raft.ServerID]peerAck)
		}
		if a := v.acks[id]; a.term < args.Term || (a.term == args.Term && a.sent < sent) {
			v.acks[id] = peerAck{args.Term, sent}
		}
		v.ackMu.Unlock()
	}
	return err
}

// AckedSince returns, for each of peers, the send time (monoNow ns) of the
// latest AppendEntries it accepted in term, 0 for none.
func (v *VoteGuard) AckedSince(term uint64, peers []raft.ServerID) []int64 {
	out := make([]int64, len(peers))
	v.ackMu.Lock()
	defer v.ackMu.Unlock()
	for i, id := range peers {
		if a := v.acks[id]; a.term == term {
			out[i] = a.sent
		}
	}
	return out
}

// Consumer implements raft.Transport: raft reads its RPCs from here.
func (v *VoteGuard) Consumer() <-chan raft.RPC { return v.out }

// Start begins forwarding RPCs; lastIndex reports the replica's last log
// index (raft.Raft.LastIndex). If no leader sends the replica entries for
// timeout (0: never), it votes again (see VoteGuard). Later calls do
// nothing.
func (v *VoteGuard) Start(lastIndex func() uint64, timeout time.Duration) {
	v.startOnce.Do(func() {
		v.lastIndex.Store(&lastIndex)
		go v.forward()
		if timeout > 0 && !v.voting.Load() {
			go v.expire(timeout)
		}
	})
}

func (v *VoteGuard) expire(timeout time.Duration) {
	v.lastContact.Store(time.Now().UnixNano())
	t := time.NewTicker(timeout / 4)
	defer t.Stop()
	for !v.voting.Load() {
		select {
		case <-t.C:
		case <-v.stop:
			return
		}
		idle := time.Since(time.Unix(0, v.lastContact.Load()))
		if idle >= timeout && v.voting.CompareAndSwap(false, true) {
			v.log.Warn("no leader has sent this replica entries for a while since it restarted without its state; "+
				"voting again (not campaigning), so writes held only by replicas that lost their state may be lost",
				"idle", idle.Round(time.Millisecond).String())
		}
	}
}

// Guarding reports whether the replica has not caught up yet.
func (v *VoteGuard) Guarding() bool { return !v.caughtUp.Load() }

// Voting reports whether the replica grants votes.
func (v *VoteGuard) Voting() bool { return v.voting.Load() }

// Release lifts the guard, e.g. when the replica bootstraps a new group
// itself and so has nothing to forget.
func (v *VoteGuard) Release() {
	v.voting.Store(true)
	if v.caughtUp.CompareAndSwap(false, true) {
		v.log.Info("replica takes part in elections again")
	}
}

// RequestVote implements raft.Transport: until it has caught up, the
// replica does not campaign.
func (v *VoteGuard) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if !v.caughtUp.Load() {
		return errCatchingUp
	}
	return v.RaftTransport.RequestVote(id, target, args, resp)
}

// RequestPreVote implements raft.WithPreVote, refusing to campaign as
// RequestVote does.
func (v *VoteGuard) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if !v.caughtUp.Load() {
		return errCatchingUp
	}
	return v.RaftTransport.RequestPreVote(id, target, args, resp)
}

// Close implements raft.WithClose: it stops forwarding and closes the
// network transport.
func (v *VoteGuard) Close() error {
	v.closeOnce.Do(func() { close(v.stop) })
	return v.RaftTransport.Close()
}

func (v *VoteGuard) forward() {
	in := v.RaftTransport.Consumer()
	for {
		var rpc raft.RPC
		select {
		case rpc = <-in:
		case <-v.stop:
			return
		}
		if (!v.caughtUp.Load() && v.intercept(rpc)) || v.heldVote(rpc) || v.stale(rpc) {
			continue
		}
		select {
		case v.out <- rpc:
		case <-v.stop:
			return
		}
	}
}

// intercept handles rpc until the replica has caught up; it reports
// whether it answered rpc itself.
func (v *VoteGuard) intercept(rpc raft.RPC) bool {
	if t := v.target.Load(); t >= 0 && (*v.lastIndex.Load())() >= uint64(t) {
		v.Release()
		return false
	}
	switch req := rpc.Command.(type) {
	case *raft.AppendEntriesRequest:
		v.lastContact.Store(time.Now().UnixNano())
		if v.target.Load() < 0 {
			v.target.Store(int64(req.LeaderCommitIndex))
			v.log.Info("replica without state catching up; not voting until it has the leader's commit index",
				"commit-index", req.LeaderCommitIndex, "term", req.Term)
		}
	case *raft.InstallSnapshotRequest:
		v.lastContact.Store(time.Now().UnixNano())
	case *raft.RequestVoteRequest, *raft.RequestPreVoteRequest:
		if !v.voting.Load() {
			return v.refuseVote(rpc)
		}
	case *raft.TimeoutNowRequest:
		rpc.Respond(nil, errCatchingUp)
		return true
	}
	return false
}

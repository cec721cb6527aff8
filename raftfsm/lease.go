package raftfsm

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Read leases: a leader serves linearizable reads locally, without a
// confirmation round, for ReadLease after a time by which a quorum of its
// group's voters had heard from it in its term (as TiKV's leader lease
// does).
//
// The anchor. The transport wrapper (VoteGuard.AppendEntries) records, per
// follower, when the latest AppendEntries it accepted in this term was
// sent; a follower resets its election timer when it accepts one, so it
// heard from this leader after that send time. The anchor is the send time
// that a quorum (this leader included) has reached. It is taken after a
// confirmation round succeeds (VerifyLeader makes every follower answer a
// fresh heartbeat), and never from the round's own start: hashicorp/raft
// counts a heartbeat already in flight when the round began, whose
// follower may have heard from the leader before it.
//
// Why no other leader can exist before anchor + ReadLease. A
// hashicorp/raft voter that knows a leader refuses votes and pre-votes
// (unless the candidate carries a leadership transfer), and forgets its
// leader only when its own heartbeat timer fires, HeartbeatTimeout or more
// after it last heard from it; with fast elections (failover.go) its guard
// lets it grant them after Sticky of silence, halfway from ReadLease to
// HeartbeatTimeout, and no sooner. A new leader needs the votes of a
// majority, which includes one voter of the anchor's quorum, so none is
// elected before anchor + Sticky, by that voter's clock. ReadLease is
// below Sticky; the difference is the margin for the clocks' rates
// (monotonic clocks, so only their rates matter, never their offset).
//
// What could break it, and what covers it:
//   - A leadership transfer makes its target campaign at once, and voters
//     grant a transfer's votes although they know a leader. Only the leader
//     starts a transfer (TransferLeadership): it revokes its lease first and
//     extends none until the transfer ends.
//   - A voter that restarts (or whose replica is created again) knows no
//     leader and would vote at once. Every replica refuses votes for
//     ReadLease after it starts (VoteGuard.HoldVotes), which covers the
//     rest of any lease granted with its answer before it went down.
//   - Losing leadership (a higher term seen) revokes the lease at once, from
//     raft's own goroutine (the leader observer).
//   - A process paused between its lease check and its read: callers check
//     LeaseHolds again after reading, before they reply; an expired lease
//     then costs a confirmation round (see server).
//   - Monotonic clocks that stop while a machine is suspended (a VM frozen
//     by its hypervisor) are outside this argument, as they are for etcd.
//
// The lease state is read lock-free on every read (one atomic load and one
// monotonic clock read); extensions and revocations take its mutex.
type readLease struct {
	// until is when the lease ends, in monoNow's nanoseconds; 0: no lease.
	until atomic.Int64

	mu sync.Mutex
	// gen counts revocations: a round that started before one extends
	// nothing.
	gen uint64
	// held counts the transfers in progress: no extension meanwhile.
	held int
}

// monoBase anchors monoNow.
var monoBase = time.Now()

// monoNow is the monotonic clock in nanoseconds since the process started.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// leaseValid reports whether the lease holds now.
func (g *Group) leaseValid() bool {
	u := g.lease.until.Load()
	return u != 0 && monoNow() < u
}

// LeaseHolds reports whether this node leads the group under a read lease
// right now (always, while it leads, on a sole voter: no other node can be
// elected). Reads served because it was true are linearizable if it is
// still true once they are done; if it is not, the caller must confirm
// leadership with a round (VerifyRound) before it replies.
func (g *Group) LeaseHolds() bool {
	if g.sole.Load() {
		return g.IsLeader()
	}
	return g.leaseValid() && g.IsLeader()
}

// leaseRound returns the revocation count as a confirmation round starts,
// to extend the lease with once it succeeds.
func (g *Group) leaseRound() (gen uint64) {
	g.lease.mu.Lock()
	defer g.lease.mu.Unlock()
	return g.lease.gen
}

// leaseAnchor returns the send time (monoNow ns) that a quorum of the
// group's voters, this node included, has acknowledged in the current term
// (see above); false when it has none (no transport wrapper, not a voter,
// too few acknowledgements). Called after a successful round, on the
// verifier's goroutine.
func (g *Group) leaseAnchor() (int64, bool) {
	if g.guard == nil {
		return 0, false
	}
	term := g.raft.CurrentTerm()
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return 0, false
	}
	var peers []raft.ServerID
	self := false
	for _, srv := range f.Configuration().Servers {
		switch {
		case srv.Suffrage != raft.Voter:
		case srv.ID == g.cfg.NodeID:
			self = true
		default:
			peers = append(peers, srv.ID)
		}
	}
	if !self {
		return 0, false
	}
	need := (len(peers) + 1) / 2 // a majority of the voters, less this one
	if need == 0 {
		return monoNow(), true
	}
	acked := g.guard.AckedSince(term, peers)
	slices.Sort(acked)
	anchor := acked[len(acked)-need] // reached by need peers
	return anchor, anchor != 0
}

// extendLease extends the lease to anchor + ReadLease after a confirmation
// round succeeded, unless a revocation came after the round started or a
// transfer is in progress.
func (g *Group) extendLease(gen uint64, anchor int64) {
	if g.cfg.ReadLease <= 0 {
		return
	}
	l := &g.lease
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen || l.held > 0 {
		return
	}
	if u := anchor + int64(g.cfg.ReadLease); u > l.until.Load() {
		l.until.Store(u)
	}
}

// revokeLease ends the lease now; rounds in progress extend nothing.
func (g *Group) revokeLease() { g.changeHeld(0) }

// holdLease revokes the lease and keeps it off until releaseLease: around
// a leadership transfer.
func (g *Group) holdLease() { g.changeHeld(1) }

func (g *Group) releaseLease() { g.changeHeld(-1) }

// changeHeld adds d to the transfers in progress and revokes the lease
// (ends it, and voids the rounds in progress).
func (g *Group) changeHeld(d int) {
	l := &g.lease
	l.mu.Lock()
	l.held += d
	l.gen++
	l.until.Store(0)
	l.mu.Unlock()
}

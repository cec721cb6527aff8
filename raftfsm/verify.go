package raftfsm

import (
	"context"
	"sync"
	"time"
)

// verifier coalesces leadership confirmations for linearizable reads: every
// reader that arrives while a confirmation round runs joins the next round,
// so one heartbeat round answers any number of concurrent readers, and each
// reader's answer comes from a round that started after it arrived.
type verifier struct {
	mu      sync.Mutex
	next    []chan error
	running bool
}

// VerifyRead returns nil once this node has confirmed that it still leads
// the group: at once while it holds a read lease (lease.go), else by a
// round of heartbeats to a quorum that started after the call (which
// extends the lease). A read of the FSM after VerifyRead returns nil (on a
// Ready group) sees every write acknowledged before the read began, if
// the lease still holds once the read is done (LeaseHolds; the answer of a
// round needs no such check): a deposed leader cannot confirm, so it
// never serves a stale read.
//
// Safe for concurrent use; concurrent callers share confirmation rounds.
func (g *Group) VerifyRead(ctx context.Context) error {
	if g.LeaseHolds() {
		return nil
	}
	return g.VerifyRound(ctx)
}

// VerifyRound is VerifyRead without the lease: it waits for a
// confirmation round that started after the call (except on a sole voter,
// whose leadership needs none).
func (g *Group) VerifyRound(ctx context.Context) error {
	if g.sole.Load() {
		// No other node can be elected: leadership needs no confirmation.
		if !g.IsLeader() {
			return ErrNotLeader
		}
		return nil
	}
	ch := make(chan error, 1)
	v := &g.verify
	v.mu.Lock()
	v.next = append(v.next, ch)
	if !v.running {
		v.running = true
		go g.verifyLoop()
	}
	v.mu.Unlock()
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetSoleVoter records that the group has exactly one voter for good (a
// standalone node), which makes VerifyRead free: no other leader can exist.
func (g *Group) SetSoleVoter(v bool) { g.sole.Store(v) }

func (g *Group) verifyLoop() {
	v := &g.verify
	for {
		v.mu.Lock()
		batch := v.next
		v.next = nil
		if len(batch) == 0 {
			v.running = false
			v.mu.Unlock()
			return
		}
		v.mu.Unlock()
		err := g.confirmRound()
		g.stats.verifyRounds.Add(1)
		for _, ch := range batch {
			ch <- err
		}
	}
}

// confirmRound runs raft's VerifyLeader until a quorum has answered
// heartbeats sent after the round started, and extends the read lease
// from them. Raft's verdict alone is not enough: raft counts toward a
// round any answer it processes after the round began, including one to a
// heartbeat or entries sent before (a leader stopped by SIGSTOP finds its
// followers' answers from before the pause in its sockets and, resumed,
// would confirm its leadership with them while another leader already
// took writes: TestClusterPausedLeaderNoStaleRead saw that stale read).
// The transport wrapper's acknowledgements carry each heartbeat's send
// time (leaseAnchor). A round whose quorum of heartbeats was sent before
// it started is run again (each round makes raft send heartbeats at
// once), for up to HeartbeatTimeout; a leader that another replaced fails
// the next round, and one whose followers stay silent ends with
// ErrNotLeader. Without a wrapper (in-memory transports in tests) raft's
// verdict stands. Called on the verifier's goroutine.
func (g *Group) confirmRound() error {
	start := monoNow()
	deadline := start + int64(g.cfg.HeartbeatTimeout)
	for {
		gen := g.leaseRound()
		if err := g.raft.VerifyLeader().Error(); err != nil {
			return mapRaftError(err)
		}
		if g.guard == nil {
			return nil
		}
		if anchor, ok := g.leaseAnchor(); ok && anchor >= start {
			g.extendLease(gen, anchor)
			return nil
		}
		if monoNow() >= deadline {
			return ErrNotLeader
		}
		time.Sleep(time.Millisecond) // let the fresh heartbeats' answers in
	}
}

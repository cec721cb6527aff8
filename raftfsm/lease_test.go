package raftfsm

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestReadLease checks the leader's read lease on a 3-voter group: the
// first VerifyRead runs a confirmation round and takes the lease; reads
// while it holds run none; once it ends a read runs a round again; a
// leadership transfer revokes it before the target campaigns, and the old
// leader then confirms nothing.
func TestReadLease(t *testing.T) {
	const lease = 300 * time.Millisecond
	gs := tcpNodes(t, 3, func(c *Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 400*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
		c.ReadLease = lease
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n1 := gs[0]
	for _, g := range gs[1:] {
		if err := n1.AddVoter(ctx, string(g.cfg.NodeID), string(g.cfg.Transport.LocalAddr())); err != nil {
			t.Fatalf("AddVoter(%s): %v", g.cfg.NodeID, err)
		}
	}
	testutil.Until(t, 10*time.Second, "the lease to end after the membership changes", func() bool { return !n1.LeaseHolds() })

	rounds := func() uint64 { return n1.Metrics().ReadRounds }
	r0 := rounds()
	if err := n1.VerifyRead(ctx); err != nil {
		t.Fatalf("VerifyRead: %v", err)
	}
	if rounds() != r0+1 || !n1.LeaseHolds() {
		t.Fatalf("first read: %d rounds, lease %v; want 1 round and the lease", rounds()-r0, n1.LeaseHolds())
	}
	// Reads under the lease run no round (checked while it still holds,
	// so that a slow machine cannot make this flaky).
	taken := time.Now()
	for i := 0; i < 50 && time.Since(taken) < lease/2; i++ {
		if err := n1.VerifyRead(ctx); err != nil {
			t.Fatalf("VerifyRead under the lease: %v", err)
		}
	}
	if rounds() != r0+1 {
		t.Fatalf("reads under the lease ran %d more rounds", rounds()-r0-1)
	}
	testutil.Until(t, 5*time.Second, "the lease to end", func() bool { return !n1.LeaseHolds() })
	if err := n1.VerifyRead(ctx); err != nil || rounds() != r0+2 || !n1.LeaseHolds() {
		t.Fatalf("read after the lease ended: %v, %d rounds in all; want a second round and the lease again", err, rounds()-r0)
	}

	// A transfer revokes the lease at once; the old leader serves no read.
	if err := n1.TransferLeadership(ctx, "n2", string(gs[1].cfg.Transport.LocalAddr())); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	if n1.LeaseHolds() {
		t.Fatal("the old leader still holds a read lease after the transfer")
	}
	if err := n1.VerifyRead(ctx); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("VerifyRead on the old leader: %v, want ErrNotLeader", err)
	}
	testutil.Until(t, 10*time.Second, "n2 to lead", gs[1].Ready)
	if err := gs[1].VerifyRead(ctx); err != nil || !gs[1].LeaseHolds() {
		t.Fatalf("VerifyRead on the new leader: %v, lease %v", err, gs[1].LeaseHolds())
	}
}

// tcpNodes is testNodesWith over TCP network transports, which NewGroup
// wraps in a VoteGuard (the lease's acknowledgements come from it): n1
// bootstraps alone and leads; the others wait to be added.
func tcpNodes(t *testing.T, n int, mutate func(*Config)) []*Group {
	t.Helper()
	return startNodes(t, n, func(int) raft.Transport { return newTCPTransport(t) }, mutate)
}

// TestReadLeaseRevocation checks the lease's bookkeeping: a round that
// started before a revocation, or during a transfer, extends nothing; an
// extension never shortens the lease; ReadLease 0 never grants one.
func TestReadLeaseRevocation(t *testing.T) {
	g := &Group{cfg: Config{ReadLease: time.Hour}}
	gen := g.leaseRound()
	g.revokeLease()
	g.extendLease(gen, monoNow())
	if g.leaseValid() {
		t.Fatal("a round that started before a revocation extended the lease")
	}
	gen = g.leaseRound()
	g.holdLease()
	gen2 := g.leaseRound()
	g.extendLease(gen2, monoNow())
	if g.leaseValid() {
		t.Fatal("a round during a transfer extended the lease")
	}
	g.releaseLease()
	g.extendLease(gen, monoNow())
	if g.leaseValid() {
		t.Fatal("a round that started before the transfer extended the lease after it")
	}
	gen = g.leaseRound()
	anchor := monoNow()
	g.extendLease(gen, anchor)
	if !g.leaseValid() {
		t.Fatal("a round after the transfer granted no lease")
	}
	until := g.lease.until.Load()
	g.extendLease(gen, anchor-int64(time.Minute))
	if g.lease.until.Load() != until {
		t.Fatal("an older anchor shortened the lease")
	}
	off := &Group{cfg: Config{ReadLease: 0}}
	off.extendLease(off.leaseRound(), monoNow())
	if off.leaseValid() {
		t.Fatal("ReadLease 0 granted a lease")
	}
}

// TestVoteGuardAcks checks the acknowledgements the lease's anchor comes
// from: the send time of the latest AppendEntries a peer accepted in the
// request's term; a refusal, an answer from another term or a failed call
// records nothing, and an older term's record does not count.
func TestVoteGuardAcks(t *testing.T) {
	peer := newAppendPeer(t)
	g := NewVoteGuard(newTCPTransport(t), "me", false, slog.New(slog.DiscardHandler))
	g.Start(func() uint64 { return 0 }, 0)
	t.Cleanup(func() { g.Close() })
	send := func(term uint64) {
		t.Helper()
		var resp raft.AppendEntriesResponse
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("me")}, Term: term}
		if err := g.AppendEntries("p", peer.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
	}
	ids := []raft.ServerID{"p", "q"}
	before := monoNow()
	send(5)
	after := monoNow()
	got := g.AckedSince(5, ids)
	if got[0] < before || got[0] > after || got[1] != 0 {
		t.Fatalf("acked in term 5: %v, want p's send time in [%d, %d] and none for q", got, before, after)
	}
	if got := g.AckedSince(6, ids); got[0] != 0 {
		t.Fatalf("a term-5 acknowledgement counted in term 6: %v", got)
	}
	first := got[0]
	peer.answerWith(func(r *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
		return &raft.AppendEntriesResponse{Term: r.Term, Success: false}
	})
	send(5)
	peer.answerWith(func(r *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
		return &raft.AppendEntriesResponse{Term: r.Term + 1, Success: true}
	})
	send(5)
	if got := g.AckedSince(5, ids); got[0] != first {
		t.Fatalf("a refused or other-term answer moved the acknowledgement: %v, want %d", got, first)
	}
}

// TestVoteGuardHold checks that a replica refuses votes and pre-votes for
// its hold after it starts, except a leadership transfer's, and votes once
// the hold is over.
func TestVoteGuardHold(t *testing.T) {
	peer := newTCPTransport(t)
	g := NewVoteGuard(newTCPTransport(t), "me", false, slog.New(slog.DiscardHandler))
	const hold = time.Second // long enough for the first requests to arrive within it
	g.HoldVotes(hold)
	held := time.Now()
	g.Start(func() uint64 { return 0 }, 0)
	t.Cleanup(func() { g.Close() })
	var votes, appends atomic.Int32
	serveConsumer(t, g.Consumer(), &votes, &appends)
	hdr := raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("peer")}
	vote := func(transfer bool) bool {
		t.Helper()
		var resp raft.RequestVoteResponse
		req := &raft.RequestVoteRequest{RPCHeader: hdr, Term: 3, LeadershipTransfer: transfer}
		if err := peer.RequestVote("me", g.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Granted
	}
	preVote := func() bool {
		t.Helper()
		var resp raft.RequestPreVoteResponse
		if err := peer.RequestPreVote("me", g.LocalAddr(), &raft.RequestPreVoteRequest{RPCHeader: hdr, Term: 3}, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Granted
	}
	v, pv := vote(false), preVote()
	if time.Since(held) >= hold {
		t.Fatalf("the first requests took %v, longer than the hold", time.Since(held))
	}
	if v || pv || votes.Load() != 0 {
		t.Fatalf("votes granted or passed to raft during the hold: vote %v, pre-vote %v, seen %d", v, pv, votes.Load())
	}
	if !vote(true) || votes.Load() != 1 {
		t.Fatalf("a leadership transfer's vote was refused during the hold (seen %d)", votes.Load())
	}
	testutil.Until(t, 5*time.Second, "the hold to end", func() bool { return time.Since(held) > hold })
	if !vote(false) {
		t.Fatal("vote refused after the hold")
	}
}

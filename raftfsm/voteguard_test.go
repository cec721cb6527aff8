package raftfsm

import (
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
)

func newTCPTransport(t *testing.T) *raft.NetworkTransport {
	t.Helper()
	tr, err := raft.NewTCPTransport("127.0.0.1:0", nil, 2, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// appendPeer is a TCP raft transport that answers every AppendEntries
// with its answer function (at first: success in the request's term) and
// keeps the latest request.
type appendPeer struct {
	*raft.NetworkTransport
	answer atomic.Pointer[func(*raft.AppendEntriesRequest) *raft.AppendEntriesResponse]
	last   atomic.Pointer[raft.AppendEntriesRequest]
}

func newAppendPeer(t *testing.T) *appendPeer {
	t.Helper()
	p := &appendPeer{NetworkTransport: newTCPTransport(t)}
	p.answerWith(func(r *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
		return &raft.AppendEntriesResponse{Term: r.Term, Success: true}
	})
	go func() {
		for rpc := range p.Consumer() {
			req := rpc.Command.(*raft.AppendEntriesRequest)
			p.last.Store(req)
			rpc.Respond((*p.answer.Load())(req), nil)
		}
	}()
	return p
}

func (p *appendPeer) answerWith(f func(*raft.AppendEntriesRequest) *raft.AppendEntriesResponse) {
	p.answer.Store(&f)
}

// serveConsumer answers every RPC raft would see with a canned response and
// counts them by type.
func serveConsumer(t *testing.T, ch <-chan raft.RPC, votes, appends *atomic.Int32) {
	t.Helper()
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		for {
			select {
			case rpc := <-ch:
				switch rpc.Command.(type) {
				case *raft.RequestVoteRequest:
					votes.Add(1)
					rpc.Respond(&raft.RequestVoteResponse{Granted: true}, nil)
				case *raft.AppendEntriesRequest:
					appends.Add(1)
					rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
				default:
					rpc.Respond(nil, nil)
				}
			case <-stop:
				return
			}
		}
	}()
}

func TestVoteGuard(t *testing.T) {
	peer := newTCPTransport(t)
	inner := newTCPTransport(t)
	g := NewVoteGuard(inner, "me", true, slog.New(slog.DiscardHandler))
	var last atomic.Uint64
	g.Start(last.Load, 0)
	t.Cleanup(func() { g.Close() })
	var votes, appends atomic.Int32
	serveConsumer(t, g.Consumer(), &votes, &appends)

	vote := func() bool {
		t.Helper()
		var resp raft.RequestVoteResponse
		req := &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("peer")},
			Term: 7, LastLogIndex: 1, LastLogTerm: 1}
		if err := peer.RequestVote("me", g.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Granted
	}
	preVote := func() bool {
		t.Helper()
		var resp raft.RequestPreVoteResponse
		req := &raft.RequestPreVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("peer")}, Term: 7}
		if err := peer.RequestPreVote("me", g.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Granted
	}
	appendEntries := func(commit uint64) {
		t.Helper()
		var resp raft.AppendEntriesResponse
		req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("peer")},
			Term: 7, PrevLogEntry: 3, PrevLogTerm: 1, LeaderCommitIndex: commit,
			Entries: []*raft.Log{{Index: 4, Term: 7, Type: raft.LogNoop}}}
		if err := peer.AppendEntries("me", g.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
	}

	var out raft.RequestVoteResponse
	if err := g.RequestVote("peer", peer.LocalAddr(), &raft.RequestVoteRequest{Term: 8}, &out); err == nil {
		t.Fatalf("a replica catching up campaigned")
	}
	if vote() || preVote() || votes.Load() != 0 {
		t.Fatalf("a replica without state granted or forwarded a vote before any leader contact")
	}
	var tresp raft.TimeoutNowResponse
	if err := peer.TimeoutNow("me", g.LocalAddr(), &raft.TimeoutNowRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax}}, &tresp); err == nil {
		t.Fatalf("TimeoutNow accepted while catching up")
	}
	appendEntries(10)
	if appends.Load() != 1 {
		t.Fatalf("AppendEntries not passed to raft while catching up: %d", appends.Load())
	}
	last.Store(9)
	appendEntries(12) // the target stays the first commit index seen: 10
	if vote() || !g.Guarding() {
		t.Fatalf("voted with last index 9 < leader commit 10")
	}
	last.Store(10)
	if !vote() || votes.Load() != 1 || g.Guarding() {
		t.Fatalf("after catching up the vote was not passed to raft (votes %d, guarding %v)", votes.Load(), g.Guarding())
	}
}

func TestVoteGuardPassThroughAndRelease(t *testing.T) {
	peer := newTCPTransport(t)
	for _, tc := range []struct {
		name     string
		guarding bool
		release  bool
	}{
		{"has state", false, false},
		{"bootstrapped", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewVoteGuard(newTCPTransport(t), "me", tc.guarding, slog.New(slog.DiscardHandler))
			g.Start(func() uint64 { return 0 }, 0)
			t.Cleanup(func() { g.Close() })
			if tc.release {
				g.Release()
			}
			var votes, appends atomic.Int32
			serveConsumer(t, g.Consumer(), &votes, &appends)
			var resp raft.RequestVoteResponse
			req := &raft.RequestVoteRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("peer")}, Term: 2}
			if err := peer.RequestVote("me", g.LocalAddr(), req, &resp); err != nil {
				t.Fatal(err)
			}
			if !resp.Granted || votes.Load() != 1 {
				t.Fatalf("vote not passed through: granted %v, seen %d", resp.Granted, votes.Load())
			}
		})
	}
}

func TestVoteGuardTimeout(t *testing.T) {
	g := NewVoteGuard(newTCPTransport(t), "me", true, slog.New(slog.DiscardHandler))
	g.Start(func() uint64 { return 0 }, 50*time.Millisecond)
	t.Cleanup(func() { g.Close() })
	testutil.Eventually(t, 5*time.Second, "the guard votes without any leader contact", func() error {
		if !g.Voting() {
			return errors.New("not voting")
		}
		return nil
	})
	// It votes now, but still does not campaign: it has not caught up.
	var out raft.RequestVoteResponse
	if err := g.RequestVote("peer", "127.0.0.1:1", &raft.RequestVoteRequest{Term: 8}, &out); err == nil || !g.Guarding() {
		t.Fatalf("campaigned before catching up (err %v, guarding %v)", err, g.Guarding())
	}
}

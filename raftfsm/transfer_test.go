package raftfsm

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestTransferWithTimeoutNow checks leadership transfers on a real
// transport (sendTimeoutNow): to a named voter, to any voter, and to a
// voter that stopped. The last fails within about an election timeout,
// twice in a row, the leader commits an entry right after each, and raft
// never enters its own transfer state: it takes barriers all along (it
// refuses every entry while it transfers, and a transfer of its own can
// wedge it in that state for good, hashicorp/raft#696, see
// sendTimeoutNow).
func TestTransferWithTimeoutNow(t *testing.T) {
	gs := tcpNodes(t, 3, func(c *Config) {
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 300*time.Millisecond, 300*time.Millisecond, 150*time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := func(g *Group) string { return string(g.cfg.Transport.LocalAddr()) }
	for _, g := range gs[1:] {
		if err := gs[0].AddVoter(ctx, string(g.cfg.NodeID), addr(g)); err != nil {
			t.Fatalf("AddVoter(%s): %v", g.cfg.NodeID, err)
		}
	}
	write := func(g *Group, what string) {
		t.Helper()
		if _, err := g.Propose(ctx, [][][]byte{cmd("SET", "k", what)}); err != nil {
			t.Fatalf("write %s on %s: %v", what, g.cfg.NodeID, err)
		}
	}
	write(gs[0], "before")

	if err := gs[0].TransferLeadership(ctx, "n2", addr(gs[1])); err != nil {
		t.Fatalf("TransferLeadership(n2): %v", err)
	}
	testutil.Until(t, 10*time.Second, "n2 to lead", gs[1].Ready)
	write(gs[1], "on n2")
	if err := gs[1].TransferLeadership(ctx, "", ""); err != nil {
		t.Fatalf("TransferLeadership to any voter: %v", err)
	}
	var leader, stopped *Group
	testutil.Until(t, 10*time.Second, "n1 or n3 to lead", func() bool {
		switch {
		case gs[0].Ready():
			leader, stopped = gs[0], gs[2]
		case gs[2].Ready():
			leader, stopped = gs[2], gs[0]
		}
		return leader != nil
	})

	// A stopped voter, as a paused process looks: its address takes
	// connections and reads calls, but nothing answers them (the leader's
	// transport gives a call up after 5 s).
	shutdown(t, stopped)
	blackHole(t, addr(stopped))
	write(leader, "without "+string(stopped.cfg.NodeID))
	for i := range 2 {
		// Raft never enters its transfer state: entries that do not pass
		// the gate (barriers here) are taken all along.
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- leader.TransferLeadership(ctx, string(stopped.cfg.NodeID), addr(stopped)) }()
		var err error
		barriers := 0
	wait:
		for {
			select {
			case err = <-done:
				break wait
			default:
			}
			if berr := leader.raft.Barrier(time.Second).Error(); berr != nil {
				t.Fatalf("barrier during transfer %d: %v", i+1, berr)
			}
			barriers++
		}
		if !errors.Is(err, ErrTransferFailed) {
			t.Fatalf("transfer %d to the stopped voter: %v, want ErrTransferFailed", i+1, err)
		}
		t.Logf("transfer %d to the stopped voter failed after %v (%d barriers meanwhile): %v",
			i+1, time.Since(start).Round(time.Millisecond), barriers, err)
		if !leader.IsLeader() {
			t.Fatalf("%s lost its leadership", leader.cfg.NodeID)
		}
		write(leader, "after a failed transfer")
	}
}

// blackHole listens on addr until the test ends, reading whatever its
// connections send and answering nothing.
func blackHole(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
}

// TestProbeLog checks the transfer's log probe: it sends an AppendEntries
// of the given term with no entries, the leader's last index and term as
// the previous entry and the leader's commit index (a replica that
// restarted empty takes the first commit index it sees as the one to
// catch up to before voting), and counts only a success in that term.
func TestProbeLog(t *testing.T) {
	peer := newAppendPeer(t)
	g := NewVoteGuard(newTCPTransport(t), "me", false, slog.New(slog.DiscardHandler))
	g.Start(func() uint64 { return 0 }, 0)
	t.Cleanup(func() { g.Close() })
	srv := raft.Server{ID: "p", Address: peer.LocalAddr()}

	if !g.probeLog(7, srv, 42, 6, 40, time.Second) {
		t.Fatal("a success in the probe's term counted as no")
	}
	req := peer.last.Load()
	if req.Term != 7 || req.PrevLogEntry != 42 || req.PrevLogTerm != 6 || req.LeaderCommitIndex != 40 ||
		len(req.Entries) != 0 || string(req.ID) != "me" {
		t.Fatalf("probe sent %+v", req)
	}
	for name, resp := range map[string]raft.AppendEntriesResponse{
		"refused":         {Term: 7, Success: false},
		"from a new term": {Term: 8, Success: true},
	} {
		peer.answerWith(func(*raft.AppendEntriesRequest) *raft.AppendEntriesResponse { return &resp })
		if g.probeLog(7, srv, 42, 6, 40, time.Second) {
			t.Errorf("an answer %s counted as yes", name)
		}
	}
}

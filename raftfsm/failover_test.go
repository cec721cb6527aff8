package raftfsm

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/shard"
)

// fastNodes starts a group of 3 voters over TCP, bootstrapped together,
// whose raft timers are slow (HeartbeatTimeout 4 s: raft's own timer
// starts an election 4-12 s after the last contact) and whose watchers
// suspect the leader after 2 s, so that every election within the test's
// waits comes from a watcher. It returns once one leads and the others
// know it, the leader first.
func fastNodes(t *testing.T) []*Group {
	t.Helper()
	gs := startFastNodes(t)
	testutil.Until(t, 20*time.Second, "a leader all three know", func() bool {
		_, l0 := gs[0].Leader()
		_, l1 := gs[1].Leader()
		_, l2 := gs[2].Leader()
		return l0 != "" && l0 == l1 && l1 == l2
	})
	sort.Slice(gs, func(i, j int) bool { return gs[i].raft.State() == raft.Leader })
	return gs
}

// startFastNodes starts fastNodes' group and returns at once.
func startFastNodes(t *testing.T) []*Group {
	t.Helper()
	trans := make([]*raft.NetworkTransport, 3)
	var voters []raft.Server
	for i := range trans {
		trans[i] = newTCPTransport(t)
		voters = append(voters, raft.Server{ID: raft.ServerID(fmt.Sprintf("n%d", i+1)), Address: trans[i].LocalAddr()})
	}
	gs := make([]*Group, 3)
	for i := range gs {
		cfg := testConfig("")
		cfg.NodeID, cfg.Transport, cfg.Bootstrap = voters[i].ID, trans[i], voters
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 4*time.Second, 4*time.Second, time.Second
		cfg.ReadLease, cfg.SuspectAfter = 0, 2*time.Second
		cfg.Logger = testutil.Logger(t).With("node", string(cfg.NodeID))
		g, err := NewGroup(cfg, shard.New(), &fakeExec{})
		if err != nil {
			t.Fatalf("NewGroup %s: %v", cfg.NodeID, err)
		}
		t.Cleanup(func() { shutdown(t, g) })
		gs[i] = g
	}
	return gs
}

// TestFastElection checks that when a leader dies the survivors elect a new
// one through the watcher (a pre-vote probe, then a TimeoutNow), well before
// raft's own timer could, in one election.
func TestFastElection(t *testing.T) {
	gs := fastNodes(t)
	if n := gs[0].guard.FastElections() + gs[1].guard.FastElections() + gs[2].guard.FastElections(); n < 1 {
		t.Fatalf("the group's first leader was elected without a watcher (%d elections started)", n)
	}
	term := gs[1].raft.CurrentTerm()
	before := gs[1].guard.FastElections() + gs[2].guard.FastElections()
	shutdown(t, gs[0])
	testutil.Until(t, 20*time.Second, "a survivor to lead", func() bool {
		return gs[1].raft.State() == raft.Leader || gs[2].raft.State() == raft.Leader
	})
	started := gs[1].guard.FastElections() + gs[2].guard.FastElections() - before
	if started != 1 {
		t.Fatalf("the watchers started %d elections, want 1", started)
	}
	if m := gs[1].Metrics().FastElections + gs[2].Metrics().FastElections - before; m != 1 {
		t.Fatalf("Metrics().FastElections grew by %d, want 1", m)
	}
	if got := max(gs[1].raft.CurrentTerm(), gs[2].raft.CurrentTerm()); got != term+1 {
		t.Fatalf("term after the election %d, want %d (one election)", got, term+1)
	}
}

// TestFastElectionLeaderAlive checks that voters that hear from their
// leader refuse a follower's probe and a vote without the transfer flag,
// and that the watcher's own candidacy sends its votes without it.
func TestFastElectionLeaderAlive(t *testing.T) {
	gs := fastNodes(t)
	n2 := gs[1]
	fe := n2.guard.fast.Load()
	if _, ok := n2.guard.probe(fe); ok {
		t.Fatal("a probe passed while the leader is alive")
	}
	// A vote for the next term from a follower, with a log as good as
	// anyone's: the other follower knows a leader it hears from, so it refuses; with the transfer
	// flag (a leader's transfer) it would grant it.
	term, lastIndex, lastTerm := logState(n2.raft)
	vote := func(transfer bool) bool {
		t.Helper()
		req := &raft.RequestVoteRequest{RPCHeader: n2.guard.header(), Term: term + 1,
			LastLogIndex: lastIndex, LastLogTerm: lastTerm, LeadershipTransfer: transfer}
		var resp raft.RequestVoteResponse
		if err := n2.guard.RaftTransport.RequestVote(gs[2].cfg.NodeID, gs[2].cfg.Transport.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Granted
	}
	if vote(false) {
		t.Fatal("a follower granted a vote while it hears from its leader")
	}
	if gs[0].raft.State() != raft.Leader {
		t.Fatal("a refused vote deposed the leader")
	}
}

// TestFastElectionTogether checks that two replicas campaigning at once
// cost one election: the loser steps down as soon as the winner leads. A
// candidacy started with a TimeoutNow would not: raft keeps such a
// candidate (a leadership transfer's) a candidate until its election timer
// fires, 4-8 s here, refusing pre-votes all along.
func TestFastElectionTogether(t *testing.T) {
	// Both must become candidates; one that grants the other's vote
	// before its own raft loop wakes does not, and then the attempt is
	// void and runs again on a new group.
	for attempt := 1; attempt <= 5; attempt++ {
		gs := startFastNodes(t)
		if campaignTogether(t, gs) {
			testutil.Until(t, 2*time.Second, "one leader and two followers", func() bool {
				var n [3]int // leaders, followers, others
				for _, g := range gs {
					switch g.raft.State() {
					case raft.Leader:
						n[0]++
					case raft.Follower:
						n[1]++
					default:
						n[2]++
					}
				}
				return n[0] == 1 && n[1] == 2
			})
			for _, g := range gs {
				if hb := g.raft.ReloadableConfig().HeartbeatTimeout; hb != 4*time.Second {
					t.Fatalf("%s: raft's heartbeat timeout after the campaign: %v, want 4s back", g.cfg.NodeID, hb)
				}
			}
			return
		}
		t.Logf("attempt %d: one replica did not campaign; again", attempt)
		for _, g := range gs {
			shutdown(t, g)
		}
	}
	t.Fatal("no attempt had both replicas campaign: the test is void")
}

// campaignTogether has gs[0] and gs[1] campaign at once (their watchers
// off) and reports whether both became candidates.
func campaignTogether(t *testing.T, gs []*Group) bool {
	t.Helper()
	// Raft's own record of the candidacies: a candidate may step down
	// within a millisecond (a newer term), too fast to poll.
	var became [2]chan raft.Observation
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, g := range gs[:2] {
		g.guard.fast.Load().suspect.Store(int64(time.Hour))
		became[i] = make(chan raft.Observation, 16)
		obs := raft.NewObserver(became[i], false, func(o *raft.Observation) bool { return o.Data == raft.Candidate })
		g.raft.RegisterObserver(obs)
		t.Cleanup(func() { g.raft.DeregisterObserver(obs) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			g.guard.campaign(g.guard.fast.Load(), time.Second)
		}()
	}
	gs[2].guard.fast.Load().suspect.Store(int64(time.Hour))
	close(start)
	wg.Wait()
	// campaign returns once raft acts; raft reports the candidacy a moment
	// later, on its own goroutine.
	wait := time.NewTimer(time.Second)
	defer wait.Stop()
	for _, ch := range became {
		select {
		case <-ch:
		case <-wait.C:
			return false
		}
	}
	return true
}

// TestFastElectionSilentVoter checks the voter's side once its leader has
// been silent for Sticky: it grants a pre-vote and a vote without the
// transfer flag that raft alone would refuse for knowing a leader, and
// still refuses a candidate whose log is behind.
func TestFastElectionSilentVoter(t *testing.T) {
	gs := fastNodes(t)
	n2, n3 := gs[1], gs[2]
	// Stop n3's watcher from campaigning itself, and silence the leader.
	n2.guard.fast.Load().suspect.Store(int64(time.Hour))
	n3.guard.fast.Load().suspect.Store(int64(time.Hour))
	leader, _ := n3.Leader()
	shutdown(t, gs[0])
	fe := n3.guard.fast.Load()
	testutil.Until(t, 5*time.Second, "n3 to find its leader silent", func() bool { return n3.guard.leaderSilent(fe) })
	if id, _ := n3.Leader(); id != leader {
		t.Fatalf("n3's leader is %q, not %q: raft's timer fired, the test is void", id, leader)
	}
	term, lastIndex, lastTerm := logState(n2.raft)
	pre := func(index uint64) bool {
		t.Helper()
		req := &raft.RequestPreVoteRequest{RPCHeader: n2.guard.header(), Term: term + 1, LastLogIndex: index, LastLogTerm: lastTerm}
		var resp raft.RequestPreVoteResponse
		if err := n2.guard.RaftTransport.RequestPreVote(n3.cfg.NodeID, n3.cfg.Transport.LocalAddr(), req, &resp); err != nil {
			t.Fatal(err)
		}
		return resp.Granted
	}
	if lastIndex > 0 && pre(lastIndex-1) {
		t.Fatal("a pre-vote with a shorter log was granted")
	}
	if !pre(lastIndex) {
		t.Fatal("a pre-vote was refused although the leader is silent")
	}
	req := &raft.RequestVoteRequest{RPCHeader: n2.guard.header(), Term: term + 1, LastLogIndex: lastIndex, LastLogTerm: lastTerm}
	var resp raft.RequestVoteResponse
	if err := n2.guard.RaftTransport.RequestVote(n3.cfg.NodeID, n3.cfg.Transport.LocalAddr(), req, &resp); err != nil {
		t.Fatal(err)
	}
	if !resp.Granted {
		t.Fatal("a vote was refused although the leader is silent")
	}
}

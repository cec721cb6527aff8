package raftfsm

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Fast elections: a follower that stops hearing from its leader starts an
// election after a bounded, short silence, instead of waiting for raft's
// own heartbeat timer.
//
// Why raft alone is slow. hashicorp/raft's follower timer is re-armed with
// a random HeartbeatTimeout to 2x HeartbeatTimeout every time it fires, and
// an election starts at the first firing that finds the leader silent for
// HeartbeatTimeout: HeartbeatTimeout to 3x after the last contact. The
// first survivor to time out then asks the others for a pre-vote, and they
// refuse while they still know a leader, that is until their own timers
// fire. So a dead leader's group waited for the second survivor's timer:
// 624-1306 ms with a 500 ms HeartbeatTimeout (BENCHMARKS.md, failover).
//
// What the guard adds (the VoteGuard wraps the transport, see voteguard.go):
//   - The watcher (watchLeader) checks, every SuspectAfter/5, how long the
//     follower has not heard from a leader (raft's LastContact). Past
//     SuspectAfter, plus a random quarter of it drawn per silence so that
//     followers do not campaign at once, it asks the other voters for a
//     pre-vote itself (probe), unless it granted another's probe within
//     SuspectAfter/2. If a quorum grants it, it makes raft's own follower
//     timer fire at once (campaign): raft becomes a candidate and runs its
//     pre-vote and vote as after any heartbeat timeout.
//   - A voter that has not heard from a leader for Sticky answers a
//     pre-vote itself (raft would refuse it while it knows a leader) with
//     raft's own checks of term and log, and sets the transfer flag on an
//     incoming vote request so that raft does not refuse it for knowing a
//     leader; raft still checks the term, the log and its earlier vote.
//
// Safety. Nothing here changes which votes raft may grant by term and log,
// so Raft's election safety holds as before. The read lease (lease.go)
// rests on voters not helping elect anyone within ReadLease of the last
// AppendEntries they accepted from the leader. A voter now grants such a
// vote only after Sticky of silence, and Sticky lies halfway between
// ReadLease and HeartbeatTimeout, which keeps half of the former margin for
// the clocks' rates. A voter that still hears from its leader refuses, so
// a follower cut off from the leader alone (its pre-vote probe fails) does
// not disturb the group; a probe that passes just before the leader is
// heard from again costs at most one election.
//
// The watcher is one goroutine per replica, waking 5 times per SuspectAfter.

// fastElection is the state the guard keeps for fast elections; zero
// while they are off.
type fastElection struct {
	r *raft.Raft
	// suspect is the silence (ns) after which the watcher probes; sticky
	// the silence after which a voter grants a vote although it knows a
	// leader.
	suspect atomic.Int64
	sticky  time.Duration
	// started counts the elections the watcher started.
	started atomic.Uint64
	// low is the heartbeat timeout (ns) the watcher sets while it
	// campaigns: raft's LeaderLeaseTimeout, the lowest raft accepts.
	low time.Duration
	// yieldUntil: until then (monoNow ns) the watcher does not probe,
	// because this replica granted another's probe.
	yieldUntil atomic.Int64
	// waitFor bounds how long a probe waits for answers.
	waitFor time.Duration
}

// StickyFor returns the silence after which a voter grants a vote although
// it knows a leader: halfway between readLease and heartbeat.
func StickyFor(heartbeat, readLease time.Duration) time.Duration {
	return readLease + (heartbeat-readLease)/2
}

// EnableFastElection starts the watcher of fast elections (see above) on
// raft r once the guard has started; suspect is the silence after which
// it probes (at least sticky), sticky the one after which this replica
// grants votes although it knows a leader (StickyFor), and leaderLease
// raft's LeaderLeaseTimeout. Call it once, after Start.
func (v *VoteGuard) EnableFastElection(r *raft.Raft, suspect, sticky, leaderLease time.Duration) {
	fe := &fastElection{r: r, sticky: sticky, waitFor: suspect / 2, low: max(leaderLease, 5*time.Millisecond)}
	fe.suspect.Store(int64(suspect))
	v.fast.Store(fe)
	go v.watchLeader(fe, suspect/5)
}

// FastElections returns how many elections this replica's watcher started.
func (v *VoteGuard) FastElections() uint64 {
	if fe := v.fast.Load(); fe != nil {
		return fe.started.Load()
	}
	return 0
}

// fastElections returns how many elections this replica's watcher started
// (0 without a guard).
func (g *Group) fastElections() uint64 {
	if g.guard == nil {
		return 0
	}
	return g.guard.FastElections()
}

// silentFor reports how long this follower has not heard from a leader,
// and false when it is not a follower that may vote.
func (v *VoteGuard) silentFor(fe *fastElection, since time.Time) (time.Duration, bool) {
	if fe.r.State() != raft.Follower || !v.caughtUp.Load() || !v.voting.Load() || v.holding() {
		return 0, false
	}
	last := fe.r.LastContact()
	if last.Before(since) {
		last = since
	}
	return time.Since(last), true
}

// holding reports whether the start-up vote hold is still on.
func (v *VoteGuard) holding() bool {
	h := v.holdUntil.Load()
	return h != 0 && monoNow() < h
}

func (v *VoteGuard) watchLeader(fe *fastElection, every time.Duration) {
	start := time.Now()
	// A timer, not a ticker: each replica wakes at its own drawn time, so
	// that the draws, not a shared tick, decide who probes first.
	t := time.NewTimer(every)
	defer t.Stop()
	suspect := func() time.Duration { return time.Duration(fe.suspect.Load()) }
	jitter := func() time.Duration { return time.Duration(rand.Int64N(fe.suspect.Load()/4 + 1)) }
	after := suspect() + jitter()
	var probed time.Time
	for {
		select {
		case <-t.C:
		case <-v.stop:
			return
		}
		t.Reset(every)
		silent, ok := v.silentFor(fe, start)
		if !ok {
			continue
		}
		if silent < every {
			after = suspect() + jitter() // heard again: draw anew
		}
		if d := max(after, suspect()) - silent; d > 0 {
			t.Reset(min(d, every))
			continue
		}
		if time.Since(probed) < suspect() || monoNow() < fe.yieldUntil.Load() {
			continue
		}
		probed = time.Now()
		term, ok := v.probe(fe)
		if !ok {
			continue
		}
		if silent, ok = v.silentFor(fe, start); !ok || silent < max(fe.sticky, fe.low) || monoNow() < fe.yieldUntil.Load() {
			continue
		}
		fe.started.Add(1)
		v.log.Info("no word from the leader; a quorum agrees: starting an election",
			"silent", silent.Round(time.Millisecond).String(), "term", term+1)
		v.campaign(fe, every)
	}
}

// campaign makes raft start an election now through its own follower
// timer: it lowers raft's HeartbeatTimeout to fe.low, below the silence,
// which makes raft's follower loop check the leader's silence at once, and
// puts the timeout back once raft has acted on it, or after wait.
//
// Not a TimeoutNow, which also starts a candidacy at once: raft marks that
// candidacy as a leadership transfer, and such a candidate does not step
// down when another candidate wins its term. When two watchers campaigned
// together, the loser stayed a candidate, refusing pre-votes, until its
// election timer fired, up to 2x ElectionTimeout later.
//
// The compactor reloads raft's configuration too (TrailingLogs): both go
// through reloadRaft, and the restore puts back the heartbeat timeout
// alone.
func (v *VoteGuard) campaign(fe *fastElection, wait time.Duration) {
	var hb time.Duration
	err := v.reloadRaft(fe.r, func(rc *raft.ReloadableConfig) {
		hb, rc.HeartbeatTimeout = rc.HeartbeatTimeout, fe.low
	})
	if err != nil {
		v.log.Warn("cannot start an election", "err", err)
		return
	}
	defer func() {
		if err := v.reloadRaft(fe.r, func(rc *raft.ReloadableConfig) { rc.HeartbeatTimeout = hb }); err != nil {
			v.log.Error("cannot restore raft's heartbeat timeout", "err", err)
		}
	}()
	term := fe.r.CurrentTerm()
	leader, _ := fe.r.LeaderWithID()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		// Raft acted: it campaigns, or it already stepped down again (a
		// newer term), or it forgot the silent leader (it does so as it
		// becomes a candidate) or follows another.
		if addr, _ := fe.r.LeaderWithID(); fe.r.State() != raft.Follower || fe.r.CurrentTerm() != term || addr != leader {
			return
		}
		select {
		case <-tick.C:
		case <-v.stop:
			return
		}
	}
}

// header is the RPC header of this replica's own requests and answers.
func (v *VoteGuard) header() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(v.local),
		Addr: v.EncodePeer(v.local, v.LocalAddr())}
}

// logState returns raft's current term and its last log index and term.
func logState(r *raft.Raft) (term, lastIndex, lastTerm uint64) {
	s := r.Stats()
	term, _ = strconv.ParseUint(s["term"], 10, 64)
	lastIndex, _ = strconv.ParseUint(s["last_log_index"], 10, 64)
	lastTerm, _ = strconv.ParseUint(s["last_log_term"], 10, 64)
	return term, lastIndex, lastTerm
}

// probe asks the other voters for a pre-vote for the next term and reports
// whether a quorum (this replica included) granted it, with raft's term.
func (v *VoteGuard) probe(fe *fastElection) (uint64, bool) {
	cf := fe.r.GetConfiguration()
	if cf.Error() != nil {
		return 0, false
	}
	var peers []raft.Server
	voters, self := 0, false
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage != raft.Voter {
			continue
		}
		voters++
		if s.ID == v.local {
			self = true
		} else {
			peers = append(peers, s)
		}
	}
	if !self || len(peers) == 0 {
		return 0, false
	}
	term, lastIndex, lastTerm := logState(fe.r)
	req := &raft.RequestPreVoteRequest{RPCHeader: v.header(), Term: term + 1,
		LastLogIndex: lastIndex, LastLogTerm: lastTerm}
	answers := make(chan bool, len(peers))
	for _, p := range peers {
		go func(p raft.Server) {
			var resp raft.RequestPreVoteResponse
			err := v.RaftTransport.RequestPreVote(p.ID, p.Address, req, &resp)
			answers <- err == nil && resp.Granted && resp.Term <= req.Term
		}(p)
	}
	need, granted := voters/2+1, 1
	deadline := time.NewTimer(fe.waitFor)
	defer deadline.Stop()
	for range peers {
		select {
		case ok := <-answers:
			if ok {
				granted++
			}
		case <-deadline.C:
			return term, false
		case <-v.stop:
			return term, false
		}
		if granted >= need {
			return term, true
		}
	}
	return term, false
}

// stale handles a vote or pre-vote request to a follower that has not heard
// from its leader for Sticky (see fastElection): it answers a pre-vote
// itself and marks a vote so that raft does not refuse it for knowing a
// leader. It reports whether it answered rpc. Called on the guard's
// forwarding goroutine.
func (v *VoteGuard) stale(rpc raft.RPC) bool {
	fe := v.fast.Load()
	if fe == nil {
		return false
	}
	switch req := rpc.Command.(type) {
	case *raft.RequestVoteRequest:
		if !req.LeadershipTransfer && v.leaderSilent(fe) {
			req.LeadershipTransfer = true
		}
	case *raft.RequestPreVoteRequest:
		if v.leaderSilent(fe) {
			resp := v.preVote(fe, req)
			if resp.Granted {
				// Let that candidate go first.
				fe.yieldUntil.Store(monoNow() + fe.suspect.Load()/2)
			}
			rpc.Respond(resp, nil)
			return true
		}
	}
	return false
}

// leaderSilent reports whether raft knows a leader it has not heard from
// for Sticky.
func (v *VoteGuard) leaderSilent(fe *fastElection) bool {
	if addr, _ := fe.r.LeaderWithID(); addr == "" {
		return false // raft itself grants what it may
	}
	silent, ok := v.silentFor(fe, time.Time{})
	return ok && silent >= fe.sticky
}

// preVote answers req as raft would if it knew no leader.
func (v *VoteGuard) preVote(fe *fastElection, req *raft.RequestPreVoteRequest) *raft.RequestPreVoteResponse {
	term, lastIndex, lastTerm := logState(fe.r)
	resp := &raft.RequestPreVoteResponse{RPCHeader: v.header(), Term: max(term, req.Term)}
	voter := false
	if cf := fe.r.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			voter = voter || (s.ID == raft.ServerID(req.ID) && s.Suffrage == raft.Voter)
		}
	}
	resp.Granted = voter && req.Term >= term &&
		(req.LastLogTerm > lastTerm || (req.LastLogTerm == lastTerm && req.LastLogIndex >= lastIndex))
	if resp.Granted {
		v.log.Debug("leader silent: pre-vote granted", "candidate", string(req.ID), "term", req.Term)
	}
	return resp
}

package raftfsm

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// TransferLeadership hands r's leadership to the voter id at addr (addr ""
// for the configuration's), or with id "" to any other voter: it waits, up
// to timeout (an election timeout), until the target holds this leader's
// whole log, then sends it TimeoutNow, which makes it campaign at once,
// and returns. ErrTransferFailed: the target did not catch up or did not
// answer in time. r must use v as its transport.
//
// It is raft's own transfer (LeadershipTransferToServer) without raft's
// replication trigger, which can wedge a leader for good (hashicorp/raft
// #696, open in v1.7.3): a transfer that times out while the follower's
// replication goroutine is busy (in a call to a peer that does not answer,
// or in a backoff after failed sends, up to 10 s) leaves its trigger in
// that goroutine's one-slot channel; the next transfer in the term then
// blocks sending its own; and if the goroutine stops first (the leader
// steps down), that transfer never ends and raft's "transfer in progress"
// flag stays set in every later term, failing every write of the group.
// A Jepsen partition-ring run found it: a leader refused writes for 90 s,
// to the end of the run.
//
// Whether a voter holds the log is asked the way raft's replication asks
// it: an AppendEntries without entries whose previous entry is this
// leader's last one succeeds only on a log that matches this one up to
// there (probeLog). Entries proposed meanwhile make the target catch up
// further; a caller that can should hold them back. With id "", raft's
// transfer picks the voter furthest along; this takes the first that has
// everything.
//
// Called from any goroutine but raft's; it returns within about three
// timeouts (the probes and TimeoutNow run on goroutines of their own,
// which a peer that does not answer holds until the transport's timeout).
func (v *VoteGuard) TransferLeadership(ctx context.Context, r *raft.Raft, id, addr string, timeout time.Duration) error {
	term := r.CurrentTerm()
	cf := r.GetConfiguration()
	if err := cf.Error(); err != nil {
		return err
	}
	var voters []raft.Server
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter && s.ID != v.local && (id == "" || string(s.ID) == id) {
			if addr != "" {
				s.Address = raft.ServerAddress(addr)
			}
			voters = append(voters, s)
		}
	}
	if len(voters) == 0 {
		if id == "" {
			return fmt.Errorf("%w: no other voter", ErrTransferFailed)
		}
		return fmt.Errorf("%w: %s is not a voter of the group", ErrTransferFailed, id)
	}
	deadline := time.Now().Add(timeout)
	for {
		if r.State() != raft.Leader || r.CurrentTerm() != term {
			return ErrNotLeader
		}
		_, last, lastTerm := logState(r)
		commit := r.CommitIndex()
		for _, s := range voters {
			if v.probeLog(term, s, last, lastTerm, commit, timeout) {
				return v.timeoutNow(ctx, s.ID, s.Address, timeout)
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: no voter caught up with index %d within %v", ErrTransferFailed, last, timeout)
		}
		time.Sleep(probeEvery)
	}
}

// probeEvery is how often TransferLeadership asks its target whether it
// holds the whole log; a follower that does not logs a warning ("failed to
// get previous log") for each ask.
const probeEvery = 25 * time.Millisecond

// probeLog reports whether s holds this leader's log up to index last (of
// term lastTerm), asking it with an AppendEntries of term that carries no
// entries: a follower accepts it only if its entry at last has lastTerm,
// and by Raft's log matching every entry before it then matches too. It
// carries the leader's commit index, as raft's own AppendEntries do when
// a follower has everything (a replica that restarted empty takes the
// first one it sees as the index to catch up to before it votes, see
// VoteGuard.intercept). A call unanswered within timeout counts as no.
func (v *VoteGuard) probeLog(term uint64, s raft.Server, last, lastTerm, commit uint64, timeout time.Duration) bool {
	hdr := v.header()
	req := &raft.AppendEntriesRequest{RPCHeader: hdr, Term: term, Leader: hdr.Addr,
		PrevLogEntry: last, PrevLogTerm: lastTerm, LeaderCommitIndex: commit}
	var resp raft.AppendEntriesResponse
	answered, err := callWithin(context.Background(), timeout, func() error {
		return v.RaftTransport.AppendEntries(s.ID, s.Address, req, &resp)
	})
	return answered && err == nil && resp.Success && resp.Term == term
}

// timeoutNow sends TimeoutNow to id at addr and waits for the answer up to
// timeout: a peer that takes longer (a stopped process holds the call
// until the transport's timeout) fails the transfer, while the call goes
// on in the background and may still make the peer campaign, which is
// harmless.
func (v *VoteGuard) timeoutNow(ctx context.Context, id raft.ServerID, addr raft.ServerAddress, timeout time.Duration) error {
	req := &raft.TimeoutNowRequest{RPCHeader: v.header()}
	answered, err := callWithin(ctx, timeout, func() error {
		return v.RaftTransport.TimeoutNow(id, addr, req, &raft.TimeoutNowResponse{})
	})
	switch {
	case !answered && ctx.Err() != nil:
		return ctx.Err()
	case !answered:
		return fmt.Errorf("%w: %s did not answer TimeoutNow within %v", ErrTransferFailed, id, timeout)
	case err != nil:
		return fmt.Errorf("%w: send TimeoutNow to %s: %w", ErrTransferFailed, id, err)
	}
	return nil
}

// callWithin runs call on a goroutine of its own and waits for it until
// timeout passes or ctx ends; answered is false when it stopped waiting
// (the call then goes on, and what it writes must not be read).
func callWithin(ctx context.Context, timeout time.Duration, call func() error) (answered bool, err error) {
	done := make(chan error, 1)
	go func() { done <- call() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return true, err
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, nil
	}
}

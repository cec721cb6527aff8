package raftfsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one server of a group's Raft configuration.
type Member struct {
	// ID is the member's Raft server ID (the node ID).
	ID string
	// Addr is the member's Raft transport address.
	Addr string
	// Voter is false for non-voting members (staging or non-voter).
	Voter bool
}

// Membership API.
//
// Leader, Members, AddVoter, RemoveVoter and TransferLeadership are safe for
// concurrent use from any goroutine (they are meant for a controller's own
// goroutine, not for connection goroutines on the request path). They hold
// no lock of this package while they wait: each hands a request to raft and
// waits for raft's answer, for ctx to end, or for the group to shut down,
// whichever comes first. Raft itself serializes configuration changes: a
// change waits until the previous one has committed.
//
// Errors: ErrNotLeader when this node does not lead the group (nothing was
// changed); ErrShutdown when the group is shutting down; ctx.Err() (wrapped)
// when ctx ends first, in which case the change may still take effect; any
// other raft error is wrapped with what was attempted (errors.Is finds the
// raft error, e.g. raft.ErrLeadershipLost, after which the change may or may
// not have committed).

// Leader returns the ID and address of the group's current leader as this
// node knows it, or empty strings when it knows none.
func (g *Group) Leader() (id, addr string) {
	a, i := g.raft.LeaderWithID()
	return string(i), string(a)
}

// Members returns the group's latest Raft configuration (which may not be
// committed yet). It works on followers too, and after Shutdown it returns
// the last configuration this node knew.
func (g *Group) Members(ctx context.Context) ([]Member, error) {
	if err := ctx.Err(); err != nil {
		return nil, g.memberError("read configuration", err)
	}
	f := g.raft.GetConfiguration()
	if err := g.waitFuture(ctx, f); err != nil {
		return nil, g.memberError("read configuration", err)
	}
	servers := f.Configuration().Servers
	out := make([]Member, len(servers))
	for i, s := range servers {
		out[i] = Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter}
	}
	return out, nil
}

// AddVoter adds the server id at addr to the group as a voter, or updates
// its address if it is already a member, and waits until the configuration
// change has committed. The new member then catches up from the leader.
func (g *Group) AddVoter(ctx context.Context, id, addr string) error {
	what := "add voter " + id + " at " + addr
	if err := g.mayChange(ctx); err != nil {
		return g.memberError(what, err)
	}
	f := g.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, enqueueTimeout(ctx))
	return g.memberError(what, g.waitFuture(ctx, f))
}

// RemoveVoter removes the server id from the group and waits until the
// configuration change has committed. Removing an ID that is not a member
// succeeds without change. A leader that removes itself steps down once the
// change commits.
func (g *Group) RemoveVoter(ctx context.Context, id string) error {
	what := "remove voter " + id
	if err := g.mayChange(ctx); err != nil {
		return g.memberError(what, err)
	}
	f := g.raft.RemoveServer(raft.ServerID(id), 0, enqueueTimeout(ctx))
	return g.memberError(what, g.waitFuture(ctx, f))
}

// TransferLeadership hands the group's leadership to the voter id at addr,
// or, with id "", to a follower that holds the whole log, and waits until
// the target has been told to start its election (sendTimeoutNow; raft's
// own transfer on a transport without a VoteGuard) and this node stepped
// down. ErrTransferFailed means the target did not catch up, answer or
// take over in time. The new leader is known once Leader reports it.
func (g *Group) TransferLeadership(ctx context.Context, id, addr string) error {
	what := "transfer leadership to " + id
	if id == "" {
		what = "transfer leadership to any follower"
	}
	if err := g.mayChange(ctx); err != nil {
		return g.memberError(what, err)
	}
	g.transferMu.Lock()
	defer g.transferMu.Unlock()
	// Hold new entries back and let those in flight commit: raft fails
	// the futures still pending when the transfer completes, and their
	// writers would get an indeterminate answer for entries the new
	// leader then commits. The entries held back are answered
	// ErrNotLeader once the transfer succeeded (never proposed), or
	// proposed as usual if it failed.
	gate := make(chan struct{})
	g.applyMu.Lock()
	g.gate = gate
	g.applyMu.Unlock()
	defer func() {
		g.applyMu.Lock()
		g.gate = nil
		g.applyMu.Unlock()
		close(gate)
	}()
	drain, cancel := context.WithTimeout(ctx, transferDrain)
	for g.pending.Load() > 0 && drain.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	cancel()
	// The target campaigns at once and voters grant a transfer's votes
	// although they know this leader: no read lease from here on.
	g.holdLease()
	defer g.releaseLease()
	var err error
	if g.guard != nil {
		err = g.sendTimeoutNow(ctx, id, addr)
	} else {
		var f raft.Future
		if id == "" {
			f = g.raft.LeadershipTransfer()
		} else {
			f = g.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
		}
		err = g.waitFuture(ctx, f)
	}
	if err == nil {
		// The target has been told to campaign; this node leads until it
		// hears the new term. Entries proposed before then would be lost
		// with its leadership: keep them held back until it steps down.
		settle, cancel := context.WithTimeout(ctx, transferSettle)
		for g.IsLeader() && settle.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if g.IsLeader() && ctx.Err() == nil {
			err = fmt.Errorf("%w: the target did not take over within %v", ErrTransferFailed, transferSettle)
		}
	}
	return g.memberError(what, err)
}

// sendTimeoutNow is the leadership transfer of a group with a VoteGuard
// (every group on a real transport): VoteGuard.TransferLeadership, bounded
// by an election timeout. The caller holds new entries back (the gate),
// so the log it waits for does not grow.
func (g *Group) sendTimeoutNow(ctx context.Context, id, addr string) error {
	return g.guard.TransferLeadership(ctx, g.raft, id, addr, g.cfg.ElectionTimeout)
}

// transferSettle bounds how long a successful transfer waits for this node
// to step down before it lets entries through again.
const transferSettle = 2 * time.Second

// transferDrain bounds how long a leadership transfer waits for the
// entries in flight to commit before it starts.
const transferDrain = 500 * time.Millisecond

// mayChange checks, before a configuration change, that ctx is live and
// this node leads.
func (g *Group) mayChange(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !g.IsLeader() {
		return ErrNotLeader
	}
	return nil
}

// enqueueTimeout is the time raft may take to accept a configuration change:
// until ctx's deadline, or unbounded.
func enqueueTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		if t := time.Until(d); t > 0 {
			return t
		}
		return time.Nanosecond
	}
	return 0
}

// waitFuture waits for f's error, for ctx to end (ctx.Err()) or for raft to
// shut down without answering (errUnanswered).
func (g *Group) waitFuture(ctx context.Context, f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-g.raftDown:
		select {
		case err := <-errc:
			return err
		case <-time.After(100 * time.Millisecond):
			return errUnanswered
		}
	}
}

// memberError maps raft's errors to this package's and says what was
// attempted; nil stays nil.
func (g *Group) memberError(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, ErrNotLeader):
		err = ErrNotLeader
	case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, ErrShutdown):
		err = ErrShutdown
	case errors.Is(err, errUnanswered):
		err = fmt.Errorf("%w: %w", ErrShutdown, err)
	}
	return fmt.Errorf("raftfsm: group %s: %s: %w", g.cfg.GroupID, what, err)
}

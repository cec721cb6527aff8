package raftfsm

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// Direct apply: the entries of a group that is its own only replica and
// keeps no data directory (Config.SoleReplica without DataDir, a
// standalone node in memory) are applied by the batcher itself, instead of
// going through raft's log.
//
// Such a group's raft has one voter and an in-memory log: an entry is
// committed the moment raft appends it, nothing ever reads the log back
// (no follower, no restart) and its snapshots are discarded. What raft
// adds is the path: the batcher hands the entry to raft's leader loop,
// which hands it to raft's FSM goroutine, whose future a goroutine of
// waitFuture waits for on behalf of the waiter, which answers the
// proposers: four hand-offs and a goroutine per entry that decide nothing.
// In direct mode the batcher encodes the entry as before (the one codec),
// applies it to the FSM with the next index and answers the proposers.
//
// Raft still runs: it elects its one voter, and the group's first
// entries (the bootstrap configuration, the election's no-op, the barrier
// of watchLeadership) go through it. The batcher applies nothing before
// that barrier has succeeded (readyCh), so every index raft used is
// applied by then, and a single voter never loses leadership nor appends
// another entry: from there on the batcher is the FSM's only caller, and
// the indexes it gives continue raft's. Entries proposed outside the
// batcher (typed entries, scripts) are sent to it (raw) and applied in
// turn, so that the FSM is still called from one goroutine at a time, as
// raft's FSM contract has it. raft's snapshots are not taken (there is no
// log to compact): SAVE and the compactor skip them.

// directFuture is the raft.ApplyFuture of an entry applied directly. Its
// fields are written before done is closed.
type directFuture struct {
	data  []byte
	done  chan struct{}
	index uint64
	resp  interface{}
	err   error
}

func (f *directFuture) Error() error {
	<-f.done
	return f.err
}

func (f *directFuture) Index() uint64 { return f.index }

func (f *directFuture) Response() interface{} { return f.resp }

// closedDone is the done channel of futures answered when made.
var closedDone = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// failedFuture returns a direct future answered with err.
func failedFuture(err error) *directFuture {
	return &directFuture{done: closedDone, err: err}
}

// raftApply hands data to raft, or in direct mode to the batcher, as
// raft.Apply(data, timeout) does (timeout 0: no limit on the wait to be
// queued; raft.ErrEnqueueTimeout after it).
func (g *Group) raftApply(data []byte, timeout time.Duration) raft.ApplyFuture {
	if !g.direct {
		return g.raft.Apply(data, timeout)
	}
	f := &directFuture{data: data, done: make(chan struct{})}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case g.raw <- f:
		return f
	case <-expired:
		return failedFuture(raft.ErrEnqueueTimeout)
	case <-g.stop:
		return failedFuture(raft.ErrRaftShutdown)
	}
}

// waitDirect is waitFuture for a direct future: no goroutine, since the
// batcher answers every future it took before it exits.
func (g *Group) waitDirect(ctx context.Context, f *directFuture) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitDirectStart blocks the batcher until raft has applied its own
// entries (the barrier after the election) and sets the next index. It
// returns false when the group stops first.
func (g *Group) awaitDirectStart() bool {
	select {
	case <-g.readyCh:
	case <-g.stop:
		return false
	}
	g.directIndex = max(g.raft.LastIndex(), g.fsm.AppliedIndex())
	return true
}

// applyDirect applies data as the next entry on the batcher goroutine and
// returns its answered future.
func (g *Group) applyDirect(data []byte) *directFuture {
	g.directIndex++
	l := &g.directLog
	*l = raft.Log{Index: g.directIndex, Term: g.directTerm, Type: raft.LogCommand, Data: data}
	g.directLogs[0] = l
	resp := g.fsm.ApplyBatch(g.directLogs[:])[0]
	*l = raft.Log{}
	return &directFuture{done: closedDone, index: g.directIndex, resp: resp}
}

// applyRaw applies an entry sent by raftApply and answers its future.
func (g *Group) applyRaw(f *directFuture) {
	a := g.applyDirect(f.data)
	f.index, f.resp, f.data = a.index, a.resp, nil
	close(f.done)
}

// failRaw answers the entries sent to the batcher while it stops.
func (g *Group) failRaw() {
	for {
		select {
		case f := <-g.raw:
			f.err, f.data = raft.ErrRaftShutdown, nil
			close(f.done)
		default:
			return
		}
	}
}

package raftfsm

import (
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// The batcher's wait for a cohort.
//
// With one entry in flight (Config.MaxInflight 1), the requests queued while
// an entry commits form the next entry. Under a closed-loop load, where each
// client sends its next command once it has the reply (redis-benchmark -P 1,
// and most applications), the proposers then split into two cohorts that
// alternate: the proposers entry N answers come back while N+1, which holds
// the others, commits, so they go out in N+2. Each entry carries about half
// of the proposers, and every entry costs the same on each replica whatever
// it carries: an AppendEntries and its answer per follower (a write and
// reads on both ends), raft's hand-offs between its goroutines, the FSM's
// per-entry work.
//
// So when entry N is answered, the batcher waits up to Config.CohortWait
// for N's proposers to come back and proposes them in one entry with the
// requests queued meanwhile: entry N+1 then holds every proposer, and so
// does each entry after it. Under a closed loop this lowers the latency
// too: a cycle is one commit plus the clients' turnaround instead of two
// commits (BENCHMARKS.md, "The batcher waits for its cohort").
//
// The batcher tells a returning proposer from a request that was already
// queued by the count of answered entries (gen) that each request records
// when it is queued. It does not wait
//   - when the group has no other voter (a standalone node): an entry is
//     cheap there, and waiting would only stop the node from overlapping
//     its work with the clients';
//   - when the last entry was answered more than CohortWait ago (a request
//     after a quiet spell does not wait for proposers that left);
//   - for cohortSkip entries after a wait that timed out: under an
//     open-loop load (clients that send one command and go, or whose next
//     command does not depend on the reply) the answered proposers do not
//     come back, and a wait that never fills must not tax every entry.

// cohortSkip is how many entries the batcher proposes without waiting after
// a wait for a cohort timed out.
const cohortSkip = 16

// cohort is the state of the batcher's wait for a cohort.
type cohort struct {
	// gen counts the entries answered. A request records it when queued
	// (request.gen). The waiter increments it before it answers an entry.
	gen atomic.Uint64
	// answered is how many requests the last answered entry held, and
	// answeredAt when it was answered (monoNow ns). Written by the waiter
	// before it answers the entry, read and cleared by the batcher.
	answered   atomic.Int64
	answeredAt atomic.Int64
	// peers is whether the group has voters besides this one; refreshed
	// on election and by the compactor's tick while leading.
	peers atomic.Bool

	// timer and skip belong to the batcher goroutine.
	timer *time.Timer
	skip  int
}

// pack is an entry being packed by the batcher: its requests, their
// command count and encoded size, and whether one runs in a database other
// than 0.
type pack struct {
	batch []*request
	ncmds int
	size  int
	dbs   bool
}

func (p *pack) add(r *request) {
	p.batch = append(p.batch, r)
	p.ncmds += len(r.cmds)
	p.size += encodedSizeAll(r.cmds)
	p.dbs = p.dbs || r.db != 0
}

// full reports whether p has reached MaxBatchCommands or MaxBatchBytes.
func (p *pack) full(cfg *Config) bool {
	return p.ncmds >= cfg.MaxBatchCommands || p.size >= cfg.MaxBatchBytes
}

// answer records, before the waiter answers them, that an entry of n
// requests was answered at now (monoNow ns).
func (c *cohort) answer(n int, now int64) {
	c.gen.Add(1)
	c.answeredAt.Store(now)
	c.answered.Store(int64(n))
}

// cohortWant returns how many requests the entry being packed should hold:
// the requests queued before the last entry was answered plus that entry's
// proposers (those back already count among them); len(p.batch) when the
// batcher should not wait. Called by the batcher only.
func (g *Group) cohortWant(p *pack) int {
	c := &g.cohort
	n := len(p.batch)
	k := int(c.answered.Swap(0))
	if k == 0 || g.cfg.CohortWait <= 0 || g.cfg.MaxInflight != 1 || !c.peers.Load() {
		return n
	}
	if c.skip > 0 {
		c.skip--
		return n
	}
	if monoNow()-c.answeredAt.Load() > int64(g.cfg.CohortWait) {
		return n
	}
	gen := c.gen.Load()
	older := 0
	for _, r := range p.batch {
		if r.gen != gen {
			older++
		}
	}
	return older + k
}

// awaitCohort adds queued requests to p until it holds want, is full, or
// CohortWait has passed. Called by the batcher only.
func (g *Group) awaitCohort(p *pack, want int) {
	c := &g.cohort
	if c.timer == nil {
		c.timer = time.NewTimer(g.cfg.CohortWait)
	} else {
		c.timer.Reset(g.cfg.CohortWait)
	}
	defer c.timer.Stop()
	for len(p.batch) < want && !p.full(&g.cfg) {
		select {
		case r := <-g.reqs:
			p.add(r)
		case <-c.timer.C:
			c.skip = cohortSkip
			g.stats.cohortTimeouts.Add(1)
			return
		case <-g.stop:
			return
		}
	}
	g.stats.cohortWaits.Add(1)
}

// refreshPeers records whether the group's configuration has a voter
// besides this node. It waits for raft's main loop: not for the batcher.
func (g *Group) refreshPeers() {
	f := g.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	peers := false
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter && srv.ID != g.cfg.NodeID {
			peers = true
			break
		}
	}
	g.cohort.peers.Store(peers)
}

package raftfsm

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// The log kept after a snapshot, in bytes.
//
// raft keeps TrailingLogs entries after each snapshot so that a follower a
// little behind catches up from the log rather than from a snapshot. The
// count alone does not bound memory: an entry carries a whole
// group-committed batch, a few small commands at redis-benchmark -P 1 and
// hundreds under pipelined load, where 4096 entries were 110 MB per group,
// three groups' worth per node, all of it marked by every garbage collection
// (BENCHMARKS.md, "The log kept after a snapshot"). So the compactor lowers
// raft's TrailingLogs, a reloadable setting that raft applies at its next
// compaction, to Config.TrailingBytes over the mean size of the entries
// applied since the last snapshot.

// minTrailingLogs is the fewest entries kept after a snapshot, whatever
// their size.
const minTrailingLogs = 16

// minTrailingSample is the fewest entries since the last snapshot from
// which the compactor takes their mean size.
const minTrailingSample = 32

// trailingFor returns the TrailingLogs that keeps about cfg.TrailingBytes
// of entries of the mean size logBytes/entries, within [minTrailingLogs,
// cfg.TrailingLogs]; cfg.TrailingLogs when TrailingBytes is 0, and 0 (keep
// the current setting) when the sample is too small to judge, as right
// after a snapshot.
func trailingFor(cfg *Config, logBytes, entries int64) uint64 {
	if cfg.TrailingBytes <= 0 {
		return cfg.TrailingLogs
	}
	if entries < minTrailingSample || logBytes <= 0 {
		return 0
	}
	mean := max(logBytes/entries, 1)
	n := uint64(max(cfg.TrailingBytes/mean, 1))
	return min(max(n, minTrailingLogs), cfg.TrailingLogs)
}

// boundTrailingLogs sets raft's TrailingLogs from the entries applied since
// the last snapshot, when it moved by more than a quarter (reloads are
// cheap, but not free). Called by the compactor goroutine.
func (g *Group) boundTrailingLogs() {
	want := trailingFor(&g.cfg, g.fsm.LogBytesSinceSnapshot(), g.fsm.LogEntriesSinceSnapshot())
	if want == 0 {
		return
	}
	cur := g.trailing
	if cur == 0 {
		cur = g.cfg.TrailingLogs
	}
	if want > cur*3/4 && want < cur*5/4 {
		return
	}
	err := g.guard.reloadRaft(g.raft, func(rc *raft.ReloadableConfig) { rc.TrailingLogs = want })
	if err != nil {
		g.log.Warn("cannot set raft's trailing logs", "trailing-logs", want, "err", err)
		return
	}
	g.trailing = want
}

// reloadRaft applies f to raft's reloadable configuration under v's reload
// lock; a nil v (a group without a vote guard, hence without the
// fast-election watcher) needs no lock.
func (v *VoteGuard) reloadRaft(r *raft.Raft, f func(*raft.ReloadableConfig)) error {
	if v != nil {
		v.reloadMu.Lock()
		defer v.reloadMu.Unlock()
	}
	rc := r.ReloadableConfig()
	f(&rc)
	return r.ReloadConfig(rc)
}

// lastFreeOS is when freeOSMemory last ran (monoNow ns), process-wide.
var lastFreeOS atomic.Int64

// freeOSInterval is the least time between two freeOSMemory calls of a
// process.
const freeOSInterval = 10 * time.Second

// freeOSMemory hands the heap's free memory back to the OS
// (debug.FreeOSMemory: a full collection, then the scavenge of every free
// page), at most once per freeOSInterval in the process. The heap is the
// process's, not a group's: every group of a node ends a write burst at
// the same moment, and one such call per group, back to back, held a
// node with GOMAXPROCS 1 off its heartbeats long enough for its peers to
// call elections (BENCHMARKS.md, "The log kept after a snapshot").
//
// The scavenge runs on the runtime's system stack, where it holds its P
// until every free page is returned: after a burst, 100-260 ms on this
// kind of machine. At GOMAXPROCS 1 that froze the whole node (a PING
// waited up to 110 ms, and one node missed its leader lease and stepped
// down), so for the call's length the process gets a second P, on which
// raft, the transport and the clients keep running (BENCHMARKS.md,
// "Returning memory without freezing the node").
func freeOSMemory(log *slog.Logger) {
	last := lastFreeOS.Load()
	now := monoNow()
	if last != 0 && now-last < int64(freeOSInterval) {
		return
	}
	if !lastFreeOS.CompareAndSwap(last, now) {
		return
	}
	start := time.Now()
	if runtime.GOMAXPROCS(0) == 1 {
		runtime.GOMAXPROCS(2)
		defer runtime.GOMAXPROCS(1)
	}
	debug.FreeOSMemory()
	log.Debug("returned free memory to the OS", "took", time.Since(start))
}

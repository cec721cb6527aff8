package node

import (
	"time"
)

// Pacing a migration against the clients' load.
//
// A mover copies as fast as it can (up to RateBytes) while its source node
// serves few client commands. When clients are busy there, the copy
// (reading on the source, ingesting on the target's replicas, the garbage
// collection of both) competes with them for CPU, and the work it causes
// goes on for a while after each chunk (replication, apply, collection),
// so a pause of the copy shows the cost only late. The mover therefore
// has two speeds: every paceEvery it measures the node's client command
// rate, and once that is at least paceMinRate it sends at most
// BusyRateBytes per second for the rest of the job (the way CockroachDB
// and TiKV cap rebalancing snapshots; it stays there because a copy at
// full speed can starve the clients below any threshold), otherwise at
// full speed. BENCHMARKS.md has the measurements behind the default.

const (
	paceEvery   = 100 * time.Millisecond
	paceMinRate = 200 // client commands per second
)

// pacer tells a mover whether the node's clients are busy (mover goroutine
// only). counter returns the node's client commands so far; clock is
// time.Now but for tests.
type pacer struct {
	counter func() int64
	clock   func() time.Time

	busy    bool
	since   time.Time
	atSince int64
}

// newPacer returns a pacer of the node's command counter, or nil when the
// node has none (no RESP server yet).
func newPacer(counter func() int64) *pacer {
	if counter == nil {
		return nil
	}
	return &pacer{counter: counter, clock: time.Now}
}

// Busy reports whether the node's clients have sent at least paceMinRate
// commands per second over a measured period (about paceEvery) since the
// pacer started.
func (p *pacer) Busy() bool {
	if p.busy {
		return true
	}
	now := p.clock()
	if p.since.IsZero() {
		p.since, p.atSince = now, p.counter()
		return p.busy
	}
	if d := now.Sub(p.since); d >= paceEvery {
		c := p.counter()
		p.busy = float64(c-p.atSince)/d.Seconds() >= paceMinRate
		p.since, p.atSince = now, c
	}
	return p.busy
}

package server

import (
	"sync/atomic"
	"time"
)

// wallClock turns readings of the monotonic clock (nanotime) into Unix
// milliseconds, without reading the wall clock. A connection reads the
// monotonic clock for its commands' statistics anyway, and time.Now costs
// a wall clock read on top (two vDSO calls, about 50 ns): three per batch
// were a per-request cost at -P 1. The wall time of a reading is the
// wall time of the last refresh plus the monotonic time since, so a step
// of the wall clock shows at the next refresh: the clients cron refreshes
// it ten times a second (Redis too caches its clock, once per event loop
// iteration).
//
// Concurrency: any goroutine; refresh is called by the clients cron.
type wallClock struct {
	base atomic.Pointer[clockBase]
}

// clockBase is a wall clock reading and the monotonic one taken with it.
type clockBase struct {
	wallNs, mono int64
}

// refresh takes a new base.
func (w *wallClock) refresh() {
	wall := time.Now().UnixNano()
	w.base.Store(&clockBase{wallNs: wall, mono: nanotime()})
}

// unixMilli returns the Unix time in milliseconds at the monotonic
// reading mono (a nanotime() value).
func (w *wallClock) unixMilli(mono int64) int64 {
	b := w.base.Load()
	return (b.wallNs + mono - b.mono) / int64(time.Millisecond)
}

package server

import (
	"testing"
	"time"
)

// TestWallClock: a reading converts to the wall clock's time, within a
// millisecond of time.Now around it, and moves with the monotonic clock
// from the base.
func TestWallClock(t *testing.T) {
	var w wallClock
	w.refresh()
	before := time.Now().UnixMilli()
	got := w.unixMilli(nanotime())
	end := time.Now().UnixMilli()
	if got < before-1 || got > end+1 {
		t.Fatalf("unixMilli = %d, want within [%d, %d]", got, before-1, end+1)
	}
	b := w.base.Load()
	for _, d := range []time.Duration{0, 999 * time.Microsecond, time.Millisecond, 90 * time.Second} {
		want := (b.wallNs + int64(d)) / int64(time.Millisecond)
		if got := w.unixMilli(b.mono + int64(d)); got != want {
			t.Fatalf("%v after the base: unixMilli = %d, want %d", d, got, want)
		}
	}
}

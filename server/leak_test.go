package server

import (
	"runtime"
	"testing"
	"time"
)

// TestServerIsCollected: nothing global keeps a Server alive once its user
// drops it. The INFO and SAVE state (serverExtra) used to live in a global
// map keyed by *Server that was never cleared, so every Server ever made
// (one per test, per node restart in-process) stayed in memory.
func TestServerIsCollected(t *testing.T) {
	freed := make(chan struct{})
	func() {
		s, err := New(DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = s.extra() // what INFO, SAVE and CONFIG RESETSTAT use
		runtime.SetFinalizer(s, func(*Server) { close(freed) })
	}()
	deadline := time.After(5 * time.Second)
	for {
		runtime.GC()
		select {
		case <-freed:
			return
		case <-deadline:
			t.Fatal("a Server nobody references was not collected: something global keeps it")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

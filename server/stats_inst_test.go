package server

import (
	"testing"
	"time"
)

// TestInstMetric: the rate is the average of the last 16 samples, as
// Redis's instantaneous_ops_per_sec.
func TestInstMetric(t *testing.T) {
	var m instMetric
	t0 := time.Unix(1000, 0)
	m.track(t0, 0)
	if v := m.value(); v != 0 {
		t.Fatalf("before any period: %d", v)
	}
	// 8 periods at 100 commands per 100 ms (1000/s): half the window.
	for i := 1; i <= 8; i++ {
		m.track(t0.Add(time.Duration(i)*instPeriod), int64(i*100))
	}
	if v := m.value(); v != 500 {
		t.Fatalf("half a window at 1000/s: %d, want 500", v)
	}
	// 16 more at 50 per period (500/s) fill the window.
	for i := 9; i <= 24; i++ {
		m.track(t0.Add(time.Duration(i)*instPeriod), 800+int64(i-8)*50)
	}
	if v := m.value(); v != 500 {
		t.Fatalf("a full window at 500/s: %d, want 500", v)
	}
}

package server

import (
	"sync"
	"time"
)

// instSamples is how many samples an instantaneous metric averages, and
// instPeriod how often it is sampled: Redis's STATS_METRIC_SAMPLES (16)
// and its cron's 100 ms.
const (
	instSamples = 16
	instPeriod  = 100 * time.Millisecond
)

// instMetric is a rate over the last instSamples periods, as Redis's
// trackInstantaneousMetric computes instantaneous_ops_per_sec. track runs
// on the housekeeping goroutine, value on any; mu guards both.
type instMetric struct {
	mu      sync.Mutex
	samples [instSamples]int64 // per-second rates
	idx     int
	lastAt  time.Time
	lastVal int64
}

// track records the counter's value v at now.
func (m *instMetric) track(now time.Time, v int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.lastAt.IsZero() {
		if ms := now.Sub(m.lastAt).Milliseconds(); ms > 0 {
			m.samples[m.idx] = (v - m.lastVal) * 1000 / ms
			m.idx = (m.idx + 1) % instSamples
		}
	}
	m.lastAt, m.lastVal = now, v
}

// value returns the average rate per second.
func (m *instMetric) value() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum int64
	for _, s := range m.samples {
		sum += s
	}
	return sum / instSamples
}

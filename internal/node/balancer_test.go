package node

import (
	"slices"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/topology"
	"github.com/shoalcache/shoal/placement"
)

// TestStalledJobs: a job is given up once its source group has had no
// leader for the timeout; a leader seen again resets the count, and ended
// jobs are forgotten.
func TestStalledJobs(t *testing.T) {
	m := &placement.Map{Groups: []placement.Group{{ID: "g0", Members: []string{"a"}}, {ID: "g1", Members: []string{"a"}}}}
	for s := range m.Slots {
		m.Slots[s] = 0
	}
	m.Jobs = []topology.Job{
		{ID: "j1", Slots: []topology.SlotRange{{Start: 0, End: 9}}, Source: "g0", Target: "g1", Phase: topology.JobCopying},
		{ID: "j2", Slots: []topology.SlotRange{{Start: 10, End: 19}}, Source: "g0", Target: "g1", Phase: topology.JobDone},
	}
	leader := ""
	leaderOf := func(string) string { return leader }
	since := map[string]time.Time{"j2": {}}
	t0 := time.Unix(1000, 0)
	const timeout = 30 * time.Second
	steps := []struct {
		at     time.Duration
		leader string
		want   []string
	}{
		{0, "", nil},                // first seen leaderless
		{29 * time.Second, "", nil}, // not yet
		{30 * time.Second, "", []string{"j1"}},
		{31 * time.Second, "a", nil}, // a leader again: the count restarts
		{40 * time.Second, "", nil},
		{69 * time.Second, "", nil},
		{70 * time.Second, "", []string{"j1"}},
	}
	for _, st := range steps {
		leader = st.leader
		if got := stalledJobs(m, leaderOf, since, t0.Add(st.at), timeout); !slices.Equal(got, st.want) {
			t.Fatalf("at %v with leader %q: %v, want %v", st.at, st.leader, got, st.want)
		}
	}
	if _, ok := since["j2"]; ok {
		t.Fatal("an ended job is still tracked")
	}
}

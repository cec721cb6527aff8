package node

import "testing"

// TestJobPredates: a node ends a job's state in its groups only when its
// map is at least as new as the job (a job missing from an older map is one
// the node has not heard of yet, not one that ended).
func TestJobPredates(t *testing.T) {
	for _, tc := range []struct {
		id    string
		epoch uint64
		want  bool
	}{
		{"j5", 4, false}, {"j5", 5, true}, {"j5", 9, true},
		{"j", 9, false}, {"x5", 9, false}, {"j5x", 9, false}, {"", 9, false},
	} {
		if got := jobPredates(tc.id, tc.epoch); got != tc.want {
			t.Errorf("jobPredates(%q, %d) = %v, want %v", tc.id, tc.epoch, got, tc.want)
		}
	}
}

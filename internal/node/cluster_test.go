package node

import (
	"testing"

	"github.com/shoalcache/shoal/placement"
)

func TestMapBehind(t *testing.T) {
	m := &placement.Map{Epoch: 3}
	for _, tc := range []struct {
		name    string
		members []placement.Member
		want    bool
	}{
		{"no members", nil, false},
		{"same epoch", []placement.Member{{ID: "a", Status: placement.StatusAlive, Epoch: 3}}, false},
		{"older epochs", []placement.Member{{ID: "a", Status: placement.StatusAlive, Epoch: 1}}, false},
		// A restarted node replaying the meta log holds epoch 1 while the
		// others gossip the current one: it must not act on its map yet.
		{"alive member ahead", []placement.Member{{ID: "a", Status: placement.StatusAlive, Epoch: 2},
			{ID: "b", Status: placement.StatusAlive, Epoch: 4}}, true},
		{"failed member ahead", []placement.Member{{ID: "b", Status: placement.StatusFailed, Epoch: 9}}, false},
	} {
		if got := mapBehind(m, tc.members); got != tc.want {
			t.Errorf("%s: mapBehind = %v, want %v", tc.name, got, tc.want)
		}
	}
}

package placement

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestTagsSentAgainAfterFailure: when serf.SetTags fails (memberlist can
// drop a tag update and time out, see tagLoop), the tag loop sends the
// same tags again; without that the node's gossip would show the epoch
// before the map until its tags changed for another reason. The fake drops
// the first update that carries the map's epoch without passing it to
// serf, as memberlist does when a refutation overtakes it.
func TestTagsSentAgainAfterFailure(t *testing.T) {
	lg := testLogger(t)
	var (
		mu      sync.Mutex
		dropped int
		sent    int
	)
	n := newTestNode(t, lg, nodeID('a'), nil, func(c *Config) {
		c.BootstrapExpect, c.Groups, c.Replicas = 1, 1, 1
		c.setTags = func(sf *serf.Serf, tags map[string]string) error {
			mu.Lock()
			defer mu.Unlock()
			if tags[tagEpoch] != "0" && dropped == 0 {
				dropped++
				return errors.New("timeout waiting for update broadcast")
			}
			sent++
			return sf.SetTags(tags)
		}
	})
	testutil.Eventually(t, 10*time.Second, "the map's epoch in the node's gossip", func() error {
		m := n.svc.Map()
		if m == nil {
			return errors.New("no map yet")
		}
		mb, ok := memberOf(n.svc.Members(), n.id)
		if !ok || mb.Epoch != m.Epoch {
			return errors.New("gossip shows another epoch than the map's")
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if dropped != 1 {
		t.Fatalf("the fake dropped %d updates, want 1", dropped)
	}
	t.Logf("updates sent to serf: %d", sent)
}

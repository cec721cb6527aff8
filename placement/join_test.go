package placement

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/serf/serf"

	"github.com/shoalcache/shoal/internal/testutil"
)

// TestUnknownGossipAddrs: the join loop fills in exactly the nodes the map
// lists that serf has no member for, whatever their state, never this
// node, and nothing while the map does not list this node.
func TestUnknownGossipAddrs(t *testing.T) {
	nodes := testNodes(4)
	m := formedMap(t, nodes[:3], 3, 3)
	m = addNodes(m, nodes[3])
	self := nodes[0].ID
	member := func(n Node, st serf.MemberStatus) serf.Member { return serf.Member{Name: n.ID, Status: st} }
	cases := []struct {
		name    string
		m       *Map
		self    string
		members []serf.Member
		want    []string
	}{
		{"knows only itself", m, self, []serf.Member{member(nodes[0], serf.StatusAlive)},
			[]string{nodes[1].GossipAddr, nodes[2].GossipAddr, nodes[3].GossipAddr}},
		{"knows one other", m, self, []serf.Member{member(nodes[0], serf.StatusAlive), member(nodes[1], serf.StatusAlive)},
			[]string{nodes[2].GossipAddr, nodes[3].GossipAddr}},
		{"failed and left members are known", m, self, []serf.Member{member(nodes[0], serf.StatusAlive),
			member(nodes[1], serf.StatusFailed), member(nodes[2], serf.StatusLeft), member(nodes[3], serf.StatusAlive)}, nil},
		{"no map", nil, self, nil, nil},
		{"the map does not list this node", m, "ffff", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := unknownGossipAddrs(tc.m, tc.self, tc.members)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("unknownGossipAddrs = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFormedClusterKnowsEveryMapNode: in a formed cluster serf names every
// member by its node ID, so no node finds a map node unknown and the join
// loop makes no fill-in joins.
func TestFormedClusterKnowsEveryMapNode(t *testing.T) {
	nodes := formCluster(t, 0)
	testutil.Eventually(t, 15*time.Second, "every node's serf knows every map node", func() error {
		for _, n := range nodes {
			if addrs := n.svc.unknownMapAddrs(n.svc.serfAgent()); len(addrs) > 0 {
				return fmt.Errorf("node %s: unknown map nodes at %v", n.id[:4], addrs)
			}
		}
		return nil
	})
}

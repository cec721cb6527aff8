package node

import (
	"context"
	"fmt"
	"slices"

	"strings"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
	"github.com/shoalcache/shoal/placement"
)

// TestControllerMembershipChange runs four in-process nodes with one group
// of three members, then moves the group from {a b c} to {a b d} with
// UpdateMap called on a node outside the group: d starts a replica and
// becomes a voter, c is removed from the configuration and stops its
// replica; moving the group back undoes it.
func TestControllerMembershipChange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four nodes")
	}
	ids := []string{nid('a'), nid('b'), nid('c'), nid('d')}
	nodes := startNodes(t, ids, 3, nil).nodes
	byID := func(id string) *Node { return nodes[slices.Index(ids, id)] }
	// members returns the voters of g0 as its leader sees them.
	voters := func() ([]string, error) {
		for _, n := range nodes {
			g := n.cluster.rt.Load().hosted
			for _, r := range g {
				if !r.IsLeader() {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				ms, err := r.Members(ctx)
				cancel()
				if err != nil {
					return nil, err
				}
				var out []string
				for _, m := range ms {
					if m.Voter {
						out = append(out, m.ID)
					}
				}
				slices.Sort(out)
				return out, nil
			}
		}
		return nil, fmt.Errorf("no leader of g0")
	}
	hosts := func(n *Node) bool { return len(n.cluster.rt.Load().hosted) == 1 }
	check := func(want []string) func() error {
		return func() error {
			got, err := voters()
			if err != nil {
				return err
			}
			w := slices.Sorted(slices.Values(want))
			if !slices.Equal(got, w) {
				return fmt.Errorf("voters %v, want %v", short(got), short(w))
			}
			for _, id := range ids {
				if hosts(byID(id)) != slices.Contains(want, id) {
					return fmt.Errorf("%s hosts g0: %v", id[:4], hosts(byID(id)))
				}
			}
			m := nodes[0].cluster.pl.Map()
			if m == nil || !m.Groups[0].Formed {
				return fmt.Errorf("g0 not formed in the map")
			}
			return nil
		}
	}
	first := nodes[0].cluster.pl
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := first.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}
	initial := first.Map().Groups[0].Members
	testutil.Eventually(t, 30*time.Second, "g0 formed with its members", check(initial))

	// Replace the last member by the node outside the group, asking that
	// node (not a member, maybe not the meta leader).
	var outside string
	for _, id := range ids {
		if !slices.Contains(initial, id) {
			outside = id
		}
	}
	leaving := initial[len(initial)-1]
	moved := append(slices.Clone(initial[:len(initial)-1]), outside)
	setMembers := func(members []string) func(*placement.Map) (*placement.Map, error) {
		return func(m *placement.Map) (*placement.Map, error) {
			if slices.Equal(m.Groups[0].Members, members) {
				return nil, nil
			}
			m.Groups[0].Members = slices.Clone(members)
			return m, nil
		}
	}
	if err := byID(outside).cluster.pl.UpdateMap(ctx, setMembers(moved)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "g0 moved to the new members", check(moved))
	if got := byID(leaving).cluster.rt.Load().local[0]; got != nil {
		t.Fatalf("%s still routes to its g0 replica", leaving[:4])
	}

	// And back, asked from the node that left.
	if err := byID(leaving).cluster.pl.UpdateMap(ctx, setMembers(initial)); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "g0 back to its first members", check(initial))
}

func short(ids []string) string {
	var s []string
	for _, id := range ids {
		s = append(s, id[:4])
	}
	return strings.Join(s, ",")
}

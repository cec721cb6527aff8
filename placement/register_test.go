package placement

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoalcache/shoal/internal/testutil"
)

func memberOfNode(n Node) Member {
	return Member{ID: n.ID, RESPAddr: n.RESPAddr, ClusterAddr: n.ClusterAddr, GossipAddr: n.GossipAddr, Status: StatusAlive}
}

func TestRegisterMembers(t *testing.T) {
	all := testNodes(5)
	m, err := InitialMap(all[1:4], 2, 2) // nodes 1, 2, 3 (indexes); 0 and 4 are new
	if err != nil {
		t.Fatal(err)
	}
	known := func() []Member {
		var out []Member
		for _, n := range all[1:4] {
			out = append(out, memberOfNode(n))
		}
		return out
	}
	with := func(edit func(ms []Member) []Member) []Member { return edit(known()) }
	moved := all[2]
	moved.ClusterAddr, moved.GossipAddr = "127.0.0.1:1", "127.0.0.1:2"

	cases := []struct {
		name             string
		members          []Member
		added, updated   []string
		wantNodes        []Node // nil: no change
		wantNoChangeNote string
	}{
		{name: "every member known", members: known()},
		{name: "new members, sorted in", members: with(func(ms []Member) []Member {
			return append(ms, memberOfNode(all[4]), memberOfNode(all[0]))
		}), added: []string{all[4].ID, all[0].ID}, wantNodes: all},
		{name: "changed addresses", members: with(func(ms []Member) []Member {
			ms[1] = memberOfNode(moved)
			return ms
		}), updated: []string{moved.ID}, wantNodes: []Node{all[1], moved, all[3]}},
		{name: "not alive or not usable", members: with(func(ms []Member) []Member {
			suspect, failed, left := memberOfNode(all[0]), memberOfNode(all[4]), memberOfNode(moved)
			suspect.Status, failed.Status, left.Status = StatusSuspect, StatusFailed, StatusLeft
			noRESP, noGossip, badID := memberOfNode(all[0]), memberOfNode(all[4]), memberOfNode(all[4])
			noRESP.RESPAddr, noGossip.GossipAddr, badID.ID = "", "", "node-x"
			ms[1] = left // a known node whose gossip says it left keeps its entry
			return append(ms, suspect, failed, noRESP, noGossip, badID)
		})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := mapJSON(m)
			next, added, updated := registerMembers(m, tc.members)
			if mapJSON(m) != before {
				t.Fatal("registerMembers modified its argument")
			}
			if !reflect.DeepEqual(added, tc.added) || !reflect.DeepEqual(updated, tc.updated) {
				t.Fatalf("added %v updated %v, want %v %v", added, updated, tc.added, tc.updated)
			}
			if tc.wantNodes == nil {
				if next != nil {
					t.Fatalf("changed the map: %s", mapJSON(next))
				}
				return
			}
			if next == nil || !reflect.DeepEqual(next.Nodes, tc.wantNodes) {
				t.Fatalf("nodes %+v, want %+v", next, tc.wantNodes)
			}
			if err := next.Validate(); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(next.Groups, m.Groups) || next.Slots != m.Slots {
				t.Fatal("groups or slots changed")
			}
			// Idempotent: the same members change nothing more.
			if again, a, u := registerMembers(next, tc.members); again != nil || a != nil || u != nil {
				t.Fatalf("second pass changed %v %v", a, u)
			}
		})
	}
}

// TestJoinFormedCluster starts a fourth node with Join into a formed
// cluster of three: the meta leader registers it in the map, which every
// node then holds. The new node then takes part in a migration job's
// lifecycle, where a flip and an abort race from different nodes.
func TestJoinFormedCluster(t *testing.T) {
	nodes := formCluster(t, 0)
	m1 := nodes[0].svc.Map()
	if len(m1.Nodes) != 3 {
		t.Fatalf("initial map lists %d nodes", len(m1.Nodes))
	}
	lg := testLogger(t)
	seed := nodes[0].svc.GossipAddr()
	n4 := newTestNode(t, lg, nodeID('4'), nil, func(c *Config) {
		c.BootstrapExpect, c.Groups, c.Replicas = 3, 3, 3
		c.Join = []string{seed}
	})
	nodes = append(nodes, n4)
	var listed *Map
	testutil.Eventually(t, 15*time.Second, "every node's map lists the new node", func() error {
		for _, n := range nodes {
			m := n.svc.Map()
			if m == nil || m.Node(n4.id) == nil {
				return fmt.Errorf("%s's map does not list %s", n.id[:4], n4.id[:4])
			}
		}
		listed = n4.svc.Map()
		return checkSameMap(nodes, listed.Epoch)
	})
	want := Node{ID: n4.id, RESPAddr: n4.svc.cfg.RESPAddr, ClusterAddr: n4.mux.Addr().String(), GossipAddr: n4.svc.GossipAddr()}
	if got := *listed.Node(n4.id); got != want || listed.Epoch <= m1.Epoch || len(listed.Nodes) != 4 {
		t.Fatalf("new node %+v at epoch %d, want %+v after epoch %d", got, listed.Epoch, want, m1.Epoch)
	}
	if !reflect.DeepEqual(listed.Groups, m1.Groups) || listed.Slots != m1.Slots {
		t.Fatal("registering a node changed groups or slots")
	}
	// Idempotent: another leader round with the same members changes
	// nothing.
	leader, err := metaLeader(nodes)
	if err != nil {
		t.Fatal(err)
	}
	leader.svc.registerNodes(leader.svc.Members())
	if m := leader.svc.Map(); m.Epoch != listed.Epoch {
		t.Fatalf("second registration moved the epoch to %d", m.Epoch)
	}

	// A job created on the new node (a meta non-voter: it forwards), then
	// a flip and an abort from two nodes at once: exactly one wins.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	job, err := n4.svc.CreateJob(ctx, []SlotRange{{Start: 0, End: 99}}, "g1", 4)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var flipErr, abortErr error
	wg.Add(2)
	go func() { defer wg.Done(); flipErr = n4.svc.FlipJob(ctx, job.ID) }()
	go func() { defer wg.Done(); abortErr = nodes[1].svc.AbortJob(ctx, job.ID, "race") }()
	wg.Wait()
	if (flipErr == nil) == (abortErr == nil) {
		t.Fatalf("flip: %v, abort: %v; want exactly one success", flipErr, abortErr)
	}
	if !errors.Is(flipErr, ErrJobNotActive) && !errors.Is(abortErr, ErrJobNotActive) {
		t.Fatalf("loser's error: flip %v, abort %v", flipErr, abortErr)
	}
	wantPhase, wantGroup := JobDone, "g1"
	if abortErr == nil {
		wantPhase, wantGroup = JobAborted, "g0"
	}
	testutil.Eventually(t, 10*time.Second, "job outcome everywhere", func() error {
		for _, n := range nodes {
			m := n.svc.Map()
			if j := m.Job(job.ID); j == nil || j.Phase != wantPhase || m.SlotGroup(50).ID != wantGroup {
				return fmt.Errorf("%s: job %+v, slot 50 in %s", n.id[:4], j, m.SlotGroup(50).ID)
			}
		}
		return nil
	})
	t.Logf("flip: %v; abort: %v", flipErr, abortErr)
}

// TestRegisterKeepsDrainingAndRemoved: gossip neither undoes a drain (it
// does not carry the mark) nor brings a removed node back.
func TestRegisterKeepsDrainingAndRemoved(t *testing.T) {
	all := testNodes(4)
	m, err := InitialMap(all[:3], 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	m.Nodes[1].Draining = true
	m.Removed = []string{all[3].ID}
	var members []Member
	for _, n := range all {
		mem := memberOfNode(n)
		mem.MetaState = true // the removed node's process runs on with its meta replica
		members = append(members, mem)
	}
	if next, added, updated := registerMembers(m, members); next != nil {
		t.Fatalf("registered %v, updated %v, want no change", added, updated)
	}
	// Restarted without meta state, the removed node comes back.
	back := slices.Clone(members)
	back[3].MetaState = false
	next, added, _ := registerMembers(m, back)
	if next == nil || !slices.Equal(added, []string{all[3].ID}) || len(next.Removed) != 0 || next.Validate() != nil {
		t.Fatalf("restarted removed node: added %v, removed list %v", added, next.Removed)
	}
	moved := all[1]
	moved.RESPAddr = "127.0.0.1:1"
	members[1] = memberOfNode(moved)
	next, _, updated := registerMembers(m, members)
	if next == nil || len(updated) != 1 || !next.Nodes[1].Draining || next.Nodes[1].RESPAddr != "127.0.0.1:1" {
		t.Fatalf("address change of a draining node: %+v, updated %v", next, updated)
	}
}

// TestRegisterAutoRebalance: with --auto-rebalance, registering a node
// requests a rebalance in the same map; an address update does not.
func TestRegisterAutoRebalance(t *testing.T) {
	all := testNodes(4)
	m, err := InitialMap(all[:3], 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	var members []Member
	for _, n := range all {
		members = append(members, memberOfNode(n))
	}
	for _, auto := range []bool{false, true} {
		next, added, _ := registerAndRequest(m, members, auto)
		if next == nil || len(added) != 1 || next.Rebalance != auto {
			t.Errorf("auto %v: added %v, rebalance %v", auto, added, next != nil && next.Rebalance)
		}
	}
	moved := all[1]
	moved.RESPAddr = "127.0.0.1:1"
	members = []Member{memberOfNode(moved)}
	if next, _, updated := registerAndRequest(m, members, true); next == nil || len(updated) != 1 || next.Rebalance {
		t.Errorf("an address update requested a rebalance")
	}
}
